//! `yimen assignment`: a department's work — list, accept, refuse, forward, return, reply,
//! refer, escalate, ask for a supplement; and the supervisor's similar-case sweep (全面排查).

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::render::{self, Table, category_name, state_name};
use super::{Conn, parse};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct AssignmentArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: AssignmentCommand,
}

#[derive(Subcommand)]
enum AssignmentCommand {
    /// A department's assignments, oldest first.
    List {
        #[arg(long)]
        dept: String,
        /// pending, accepted, replied, returned, handed-over, refused, forwarded, withdrawn,
        /// transferred; repeat for more.
        #[arg(long = "state")]
        states: Vec<String>,
    },
    /// Accept (受理) an assignment.
    Accept {
        id: String,
        #[arg(long, default_value = "")]
        handler: String,
    },
    /// Do not accept (不予受理) a pending assignment; a matter for the courts, arbitration or
    /// administrative reconsideration names where to go (--channel).
    Refuse {
        id: String,
        /// litigation, arbitration, administrative-reconsideration, already-handled,
        /// not-a-petition
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        channel: String,
        #[arg(long)]
        explanation: String,
    },
    /// Forward (转送) a pending assignment to an authority outside the system.
    Forward {
        id: String,
        #[arg(long)]
        authority: String,
        #[arg(long)]
        reason: String,
    },
    /// Ask for material: the deadline stops until it is added (`yimen case supplement`).
    Supplement {
        id: String,
        #[arg(long)]
        requested: String,
    },
    /// 提级 / 交办 (the center): a city-level department takes over a town or village case, or
    /// a city case is handed down; answers the new assignment.
    Transfer {
        id: String,
        /// The department to take it.
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Return an assignment as not this department's; it is routed elsewhere.
    Return {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Reply (答复) to an accepted assignment.
    Reply {
        id: String,
        #[arg(long)]
        reply: String,
    },
    /// Refer an accepted assignment's matter to the mediation center.
    Refer {
        id: String,
        /// petition, court, administrative or guidance
        #[arg(long, default_value = "petition")]
        linkage: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// Escalate: reminder (催办), supervision (督办) or leader (包案).
    Escalate {
        id: String,
        #[arg(long)]
        level: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// After a systemic fix, search out the answered cases matching every condition given (a
    /// category or at least one word) and send them for handling again (全面排查类似问题).
    Sweep {
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value = "")]
        town: String,
        /// The department that replied.
        #[arg(long, default_value = "")]
        dept: String,
        /// A word the subject holds; repeat for more (all must).
        #[arg(long = "word")]
        words: Vec<String>,
        /// Why they are handled again (required unless --dry-run).
        #[arg(long, default_value = "")]
        reason: String,
        /// The case whose fix prompted the sweep: not swept itself.
        #[arg(long, default_value = "")]
        prompted_by: String,
        /// Only list what matches.
        #[arg(long)]
        dry_run: bool,
    },
}

impl AssignmentArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut dispatch = client::dispatch(&self.conn.urls()).await?;
        let one = match self.command {
            AssignmentCommand::List { dept, states } => {
                let states = states
                    .iter()
                    .map(|s| parse::assignment_state(s).map(|s| s as i32))
                    .collect::<Result<Vec<_>, _>>()?;
                let r = dispatch
                    .list_assignments(ListAssignmentsRequest {
                        department: dept,
                        states,
                        after_position: 0,
                        page: None,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(
                    json,
                    json!(
                        r.assignments
                            .iter()
                            .map(assignment_json)
                            .collect::<Vec<_>>()
                    ),
                    assignments_text(&r.assignments),
                );
                return Ok(());
            }
            AssignmentCommand::Sweep {
                category,
                town,
                dept,
                words,
                reason,
                prompted_by,
                dry_run,
            } => {
                let category = category.as_deref().map(parse::category).transpose()?;
                let r = dispatch
                    .sweep_similar_cases(SweepSimilarCasesRequest {
                        category: category.map_or(0, |c| c as i32),
                        town,
                        department: dept,
                        words,
                        reason,
                        dry_run,
                        prompted_by,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, sweep_json(&r), sweep_text(&r));
                return Ok(());
            }
            AssignmentCommand::Accept { id, handler } => dispatch
                .accept_assignment(AcceptAssignmentRequest {
                    assignment_id: id,
                    handler,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Refuse {
                id,
                reason,
                channel,
                explanation,
            } => dispatch
                .refuse_assignment(RefuseAssignmentRequest {
                    assignment_id: id,
                    reason: parse::refusal_reason(&reason)? as i32,
                    channel,
                    explanation,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Forward {
                id,
                authority,
                reason,
            } => dispatch
                .forward_assignment(ForwardAssignmentRequest {
                    assignment_id: id,
                    authority,
                    reason,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Supplement { id, requested } => dispatch
                .request_supplement(RequestSupplementRequest {
                    assignment_id: id,
                    requested,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Return { id, reason } => dispatch
                .return_assignment(ReturnAssignmentRequest {
                    assignment_id: id,
                    reason,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .reassigned
                .unwrap_or_default(),
            AssignmentCommand::Transfer { id, to, reason } => dispatch
                .transfer_assignment(TransferAssignmentRequest {
                    assignment_id: id,
                    to_department: to,
                    reason,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .assigned
                .unwrap_or_default(),
            AssignmentCommand::Reply { id, reply } => dispatch
                .reply_assignment(ReplyAssignmentRequest {
                    assignment_id: id,
                    reply,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Refer {
                id,
                linkage,
                summary,
            } => dispatch
                .refer_to_mediation(ReferToMediationRequest {
                    assignment_id: id,
                    linkage: parse::linkage(&linkage)? as i32,
                    summary,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
            AssignmentCommand::Escalate { id, level, reason } => dispatch
                .escalate(EscalateRequest {
                    assignment_id: id,
                    level: parse::escalation(&level)? as i32,
                    reason,
                })
                .await
                .map_err(status_error)?
                .into_inner(),
        };
        render::print(
            json,
            assignment_json(&one),
            assignments_text(std::slice::from_ref(&one)),
        );
        Ok(())
    }
}

pub fn assignment_json(a: &Assignment) -> Value {
    json!({
        "assignment_id": a.assignment_id, "case_id": a.case_id, "case_number": a.case_number,
        "department": a.department, "state": state_name(a.state), "reason": a.reason,
        "category": category_name(a.category), "subject": a.subject,
        "assigned_at": render::json_time(&a.assigned_at), "accept_by": render::json_time(&a.accept_by),
        "accepted_at": render::json_time(&a.accepted_at), "handle_by": render::json_time(&a.handle_by),
        "replied_at": render::json_time(&a.replied_at), "reply": a.reply, "return_reason": a.return_reason,
        "refusal_channel": a.refusal_channel, "forwarded_to": a.forwarded_to,
        "decision_note": a.decision_note, "paused_since": render::json_time(&a.paused_since),
        "supplement_requested": a.supplement_requested,
        "paused_secs": a.paused.as_ref().map_or(0, |d| d.seconds),
        "acceptance_overdue_at": render::json_time(&a.acceptance_overdue_at),
        "handling_overdue_at": render::json_time(&a.handling_overdue_at),
    })
}

pub fn assignments_text(assignments: &[Assignment]) -> String {
    if assignments.is_empty() {
        return "no assignments\n".into();
    }
    let mut table = Table::new([
        "assignment",
        "case",
        "state",
        "department",
        "accept by",
        "subject",
    ]);
    for a in assignments {
        table.row([
            a.assignment_id.clone(),
            a.case_number.clone(),
            state_name(a.state),
            a.department.clone(),
            render::time(&a.accept_by),
            a.subject.clone(),
        ]);
    }
    table.render("")
}

fn sweep_json(r: &SweepSimilarCasesResponse) -> Value {
    json!({
        "dry_run": r.dry_run, "truncated": r.truncated,
        "cases": r.cases.iter().map(|c| json!({
            "case_id": c.case_id, "case_number": c.case_number, "subject": c.subject,
            "department": c.department,
            "reassigned": c.reassigned.as_ref().map(assignment_json),
        })).collect::<Vec<_>>(),
    })
}

fn sweep_text(r: &SweepSimilarCasesResponse) -> String {
    if r.cases.is_empty() {
        return "no similar case\n".into();
    }
    let mut table = Table::new(["case", "replied by", "sent to", "subject"]);
    for c in &r.cases {
        table.row([
            c.case_number.clone(),
            c.department.clone(),
            c.reassigned
                .as_ref()
                .map_or_else(|| "(dry run)".to_string(), |a| a.department.clone()),
            c.subject.clone(),
        ]);
    }
    let more = if r.truncated {
        "more matched: sweep again\n"
    } else {
        ""
    };
    format!("{}{more}", table.render(""))
}
