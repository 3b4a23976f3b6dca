//! `yimen case`: cases at the one door — submit, get, list, evaluate, and the petitioner's
//! own status query.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::render::{self, Table, category_name, channel_name, place, status_name};
use super::{Conn, parse};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct CaseArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: CaseCommand,
}

#[derive(Subcommand)]
enum CaseCommand {
    /// Register a matter; prints its case number and the query code (查询码) to give the
    /// petitioner. The code is shown once: a retry with the same request id prints none.
    Submit(Submit),
    /// The petitioner's own view of a case: status, timeline and reply, by its number and
    /// query code. Needs no token.
    Status {
        case_number: String,
        /// The query code (查询码) given at registration.
        #[arg(long)]
        code: String,
    },
    /// Show a case's status and timeline (by number or id).
    Get { case: String },
    /// List cases, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        town: Option<String>,
        /// Registered on or after (2026-11-01, midnight China time, or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Registered before.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// The material the department asked for: its deadline runs again.
    Supplement {
        case: String,
        #[arg(long)]
        text: String,
    },
    /// 撤回: the petitioner withdraws an open case; its department's assignment ends.
    Withdraw {
        case: String,
        #[arg(long)]
        reason: String,
    },
    /// The petitioner's evaluation of the reply: satisfied or basically-satisfied closes the
    /// case, unsatisfied reopens it.
    Evaluate {
        case: String,
        /// satisfied, basically-satisfied or unsatisfied
        #[arg(long)]
        satisfaction: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Args)]
struct Submit {
    /// visit, letter, phone, online, court-referral, government-referral
    #[arg(long)]
    channel: String,
    /// How many people came (5 or more: a collective petition).
    #[arg(long, default_value_t = 1)]
    headcount: u32,
    /// "Name[,ID number[,phone]]"; repeat for each (at most five representatives).
    #[arg(long = "petitioner", required = true)]
    petitioners: Vec<String>,
    #[arg(long)]
    subject: String,
    #[arg(long)]
    description: String,
    /// e.g. labour-wages, social-assistance, civil-commercial
    #[arg(long)]
    category: String,
    #[arg(long)]
    town: String,
    #[arg(long, default_value = "")]
    village: String,
    /// Amount claimed in yuan, e.g. 54000 or 1200.50.
    #[arg(long)]
    amount: Option<String>,
    /// Idempotency key: resubmitting with it returns the same case.
    #[arg(long, default_value = "")]
    request_id: String,
    /// The code of a department the matter complains about: it sees the petitioners masked.
    #[arg(long, default_value = "")]
    complained_about: String,
    /// Confidential (保密): the handling department too sees the petitioners masked.
    #[arg(long)]
    confidential: bool,
    /// New facts about a matter closed for good after its re-review: without them the same
    /// matter is not taken again (不再受理).
    #[arg(long, default_value = "")]
    new_facts: String,
    /// 当场答复: the reply given at the desk; the case is registered replied, never assigned.
    #[arg(long)]
    desk_reply: Option<String>,
    /// 当场调处: the desk mediated the dispute on the spot (with --desk-reply).
    #[arg(long, requires = "desk_reply")]
    mediated_at_desk: bool,
}

impl Submit {
    fn request(self) -> Result<SubmitCaseRequest, CliError> {
        Ok(SubmitCaseRequest {
            channel: parse::channel(&self.channel)? as i32,
            headcount: self.headcount,
            petitioners: self.petitioners.iter().map(|p| parse::person(p)).collect(),
            subject: self.subject,
            description: self.description,
            category: parse::category(&self.category)? as i32,
            location: Some(Location {
                town: self.town,
                village: self.village,
            }),
            amount_claimed: self.amount.as_deref().map(parse::yuan).transpose()?,
            request_id: self.request_id,
            complained_about: self.complained_about,
            confidential: self.confidential,
            new_facts: self.new_facts,
            settled_at_desk: self.desk_reply.map(|reply| DeskSettlement {
                reply,
                mediated: self.mediated_at_desk,
            }),
        })
    }
}

impl CaseArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut intake = client::intake(&self.conn.urls()).await?;
        match self.command {
            CaseCommand::Submit(s) => {
                let r = intake
                    .submit_case(s.request()?)
                    .await
                    .map_err(status_error)?
                    .into_inner();
                let code = if r.query_code.is_empty() {
                    "query code: not shown again (already registered under this request id)"
                        .to_string()
                } else {
                    format!("query code: {}", r.query_code)
                };
                render::print(
                    json,
                    json!({"case_id": r.case_id, "case_number": r.case_number, "query_code": r.query_code}),
                    format!("registered {} ({})\n{code}\n", r.case_number, r.case_id),
                );
            }
            CaseCommand::Status { case_number, code } => {
                let v = intake
                    .get_case_status(GetCaseStatusRequest {
                        case_number,
                        query_code: code,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, status_view_json(&v), status_view_text(&v));
            }
            CaseCommand::Get { case } => {
                let c = intake
                    .get_case(GetCaseRequest {
                        case_ref: case,
                        after_position: 0,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, case_json(&c), case_text(&c));
            }
            CaseCommand::List {
                status,
                category,
                town,
                from,
                to,
                page_size,
                page_token,
            } => {
                let request = ListCasesRequest {
                    status: status
                        .as_deref()
                        .map(parse::status)
                        .transpose()?
                        .map_or(0, |s| s as i32),
                    category: category
                        .as_deref()
                        .map(parse::category)
                        .transpose()?
                        .map_or(0, |c| c as i32),
                    town: town.unwrap_or_default(),
                    registered_from: from.as_deref().map(parse::time).transpose()?,
                    registered_to: to.as_deref().map(parse::time).transpose()?,
                    page: Some(PageRequest {
                        page_size,
                        page_token,
                    }),
                };
                let r = intake
                    .list_cases(request)
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, case_list_json(&r), case_list_text(&r));
            }
            CaseCommand::Supplement { case, text } => {
                let c = intake
                    .add_supplement(AddSupplementRequest {
                        case_ref: case,
                        text,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, case_json(&c), case_text(&c));
            }
            CaseCommand::Withdraw { case, reason } => {
                let c = intake
                    .withdraw_case(WithdrawCaseRequest {
                        case_ref: case,
                        reason,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, case_json(&c), case_text(&c));
            }
            CaseCommand::Evaluate {
                case,
                satisfaction,
                comment,
            } => {
                let c = intake
                    .submit_evaluation(SubmitEvaluationRequest {
                        case_ref: case,
                        satisfaction: parse::satisfaction(&satisfaction)? as i32,
                        comment,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, case_json(&c), case_text(&c));
            }
        }
        Ok(())
    }
}

pub fn case_json(c: &Case) -> Value {
    json!({
        "case_id": c.case_id,
        "case_number": c.case_number,
        "status": status_name(c.status),
        "channel": channel_name(c.channel),
        "category": category_name(c.category),
        "town": c.location.as_ref().map(|l| l.town.clone()).unwrap_or_default(),
        "village": c.location.as_ref().map(|l| l.village.clone()).unwrap_or_default(),
        "headcount": c.headcount,
        "collective": c.collective,
        "petitioners": c.petitioners.iter().map(|p| json!({"name": p.name, "id_number": p.id_number, "phone": p.phone})).collect::<Vec<_>>(),
        "subject": c.subject,
        "description": c.description,
        "amount_claimed": c.amount_claimed.as_ref().map(render::json_yuan),
        "department": c.department,
        "registered_at": render::json_time(&c.registered_at),
        "timeline": c.timeline.iter().map(|t| json!({
            "at": render::json_time(&t.at), "kind": t.kind, "summary": t.summary, "department": t.department,
        })).collect::<Vec<_>>(),
    })
}

/// A case's facts, then its timeline.
pub fn case_text(c: &Case) -> String {
    let mut out = format!(
        "{}  {}{}\n  subject:    {}\n  category:   {}   place: {}\n  channel:    {}   headcount: {}{}\n  registered: {}\n",
        c.case_number,
        status_name(c.status),
        if c.department.is_empty() {
            String::new()
        } else {
            format!(" → {}", c.department)
        },
        c.subject,
        category_name(c.category),
        place(&c.location),
        channel_name(c.channel),
        c.headcount,
        if c.collective { " (collective)" } else { "" },
        render::time(&c.registered_at),
    );
    if let Some(m) = &c.amount_claimed {
        out.push_str(&format!("  claimed:    {}\n", render::yuan(m)));
    }
    out.push_str("  timeline:\n");
    let mut timeline = Table::new(["at", "event", "summary"]);
    for t in &c.timeline {
        timeline.row([render::time(&t.at), t.kind.clone(), t.summary.clone()]);
    }
    out.push_str(&timeline.render("    "));
    out
}

pub fn status_view_json(v: &CaseStatusView) -> Value {
    json!({
        "case_number": v.case_number,
        "status": status_name(v.status),
        "registered_at": render::json_time(&v.registered_at),
        "reply": v.reply,
        "replied_at": render::json_time(&v.replied_at),
        "timeline": v.timeline.iter().map(|t| json!({
            "at": render::json_time(&t.at), "kind": t.kind, "summary": t.summary,
        })).collect::<Vec<_>>(),
    })
}

/// The petitioner's view: status, the reply when there is one, then the timeline.
pub fn status_view_text(v: &CaseStatusView) -> String {
    let mut out = format!(
        "{}  {}\n  registered: {}\n",
        v.case_number,
        status_name(v.status),
        render::time(&v.registered_at),
    );
    if !v.reply.is_empty() {
        out.push_str(&format!(
            "  reply:      {} ({})\n",
            v.reply,
            render::time(&v.replied_at)
        ));
    }
    out.push_str("  timeline:\n");
    let mut timeline = Table::new(["at", "event", "summary"]);
    for t in &v.timeline {
        timeline.row([render::time(&t.at), t.kind.clone(), t.summary.clone()]);
    }
    out.push_str(&timeline.render("    "));
    out
}

pub fn case_list_json(r: &ListCasesResponse) -> Value {
    json!({
        "cases": r.cases.iter().map(|c| json!({
            "case_id": c.case_id, "case_number": c.case_number, "status": status_name(c.status),
            "category": category_name(c.category), "town": c.location.as_ref().map(|l| l.town.clone()).unwrap_or_default(),
            "subject": c.subject, "department": c.department, "registered_at": render::json_time(&c.registered_at),
            "headcount": c.headcount,
        })).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })
}

pub fn case_list_text(r: &ListCasesResponse) -> String {
    if r.cases.is_empty() {
        return "no cases\n".into();
    }
    let mut table = Table::new([
        "case",
        "status",
        "category",
        "town",
        "department",
        "registered",
        "subject",
    ]);
    for c in &r.cases {
        table.row([
            c.case_number.clone(),
            status_name(c.status),
            category_name(c.category),
            place(&c.location),
            c.department.clone(),
            render::time(&c.registered_at),
            c.subject.clone(),
        ]);
    }
    let mut out = table.render("");
    if !r.next_page_token.is_empty() {
        out.push_str(&format!("more: --page-token {}\n", r.next_page_token));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_petitioners_view_shows_status_reply_and_timeline() {
        let at = Some(prost_types::Timestamp {
            seconds: 1_796_104_980,
            nanos: 0,
        });
        let v = CaseStatusView {
            case_number: "YM-2026-000001".into(),
            status: CaseStatus::Replied as i32,
            registered_at: at,
            reply: "replied by civil-affairs: restored".into(),
            replied_at: at,
            timeline: vec![CaseStatusLine {
                at,
                kind: yimen_proto::event_type::CASE_REPLIED.into(),
                summary: "replied by civil-affairs: restored".into(),
            }],
        };
        let text = status_view_text(&v);
        assert!(text.starts_with("YM-2026-000001  replied\n"), "{text}");
        assert!(
            text.contains(
                "  reply:      replied by civil-affairs: restored (2026-12-01 14:03 CST (UTC+8))\n"
            ),
            "{text}"
        );
        assert!(text.contains("case.replied"), "{text}");
        let json = status_view_json(&v);
        assert_eq!(json["status"], "replied");
        assert_eq!(json["timeline"][0]["kind"], "case.replied");
    }

    #[test]
    fn a_case_shows_its_claim_in_yuan_and_its_times_in_china() {
        let c = Case {
            case_number: "YM-2026-000001".into(),
            status: CaseStatus::Assigned as i32,
            department: "civil-affairs".into(),
            amount_claimed: Some(Money { fen: 5_400_000 }),
            registered_at: Some(prost_types::Timestamp {
                seconds: 1_796_104_980,
                nanos: 0,
            }),
            timeline: vec![TimelineEntry {
                at: Some(prost_types::Timestamp {
                    seconds: 1_796_104_980,
                    nanos: 0,
                }),
                kind: yimen_proto::event_type::CASE_REGISTERED.into(),
                summary: "登记".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = case_text(&c);
        assert!(
            text.starts_with("YM-2026-000001  assigned → civil-affairs\n"),
            "{text}"
        );
        assert!(text.contains("  claimed:    54,000.00 yuan\n"), "{text}");
        assert!(
            text.contains("registered: 2026-12-01 14:03 CST (UTC+8)\n"),
            "{text}"
        );
        assert!(
            text.contains("    2026-12-01 14:03 CST (UTC+8)  case.registered  登记\n"),
            "{text}"
        );
        let json = case_json(&c);
        assert_eq!(json["amount_claimed"], "54000.00");
        assert_eq!(json["registered_at"], "2026-12-01 06:03:00");
    }

    #[test]
    fn an_empty_page_says_so_and_a_next_page_is_offered() {
        let empty = ListCasesResponse::default();
        assert_eq!(case_list_text(&empty), "no cases\n");
        let more = ListCasesResponse {
            cases: vec![CaseSummary::default()],
            next_page_token: "abc".into(),
        };
        assert!(case_list_text(&more).ends_with("more: --page-token abc\n"));
    }
}
