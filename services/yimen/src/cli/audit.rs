//! `yimen audit`: the services' tamper-evident trails — verify their hash chains (against the
//! anchors analysis keeps), and list who did what to a case.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::Conn;
use super::render::{self, Table};
use crate::client::{self, CliError, Urls, status_error};
use crate::run::Target;

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk each service's chain: every hash recomputed, positions checked for gaps and extra
    /// rows, the latest anchor (kept by analysis) still in the chain. Exits non-zero naming the
    /// first bad entry.
    Verify {
        /// The services to verify (default: all five); repeat or separate with commas.
        #[arg(long = "target", value_enum, value_delimiter = ',')]
        targets: Vec<Target>,
    },
    /// Who did what to a case, in every service, oldest first.
    List {
        /// The case number (YM-2026-000001) or id.
        #[arg(long)]
        case: String,
    },
}

impl AuditArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let urls = self.conn.urls();
        match self.command {
            AuditCommand::Verify { targets } => verify(&urls, targets, json).await,
            AuditCommand::List { case } => list(&urls, case, json).await,
        }
    }
}

/// A service's report, and what became of the anchor lookup.
struct Verified {
    report: ChainReport,
    /// Why no anchor was checked, when one could not be asked for.
    anchor_note: Option<String>,
}

async fn verify(urls: &Urls, targets: Vec<Target>, json: bool) -> Result<(), CliError> {
    let targets = if targets.is_empty() {
        Target::ALL.to_vec()
    } else {
        targets
    };
    let mut verified = Vec::new();
    for target in targets {
        let (anchor, anchor_note) = match latest_anchor(urls, target).await {
            Ok(anchor) => (anchor, None),
            Err(e) => (None, Some(format!("not checked: {e}"))),
        };
        let request = VerifyChainRequest {
            anchored_position: anchor.as_ref().map_or(0, |a| a.position),
            anchored_hash: anchor.map(|a| a.hash).unwrap_or_default(),
        };
        let report = client::audit(target, urls)
            .await?
            .verify_chain(request)
            .await
            .map_err(status_error)?
            .into_inner();
        verified.push(Verified {
            report,
            anchor_note,
        });
    }
    render::print(json, verified_json(&verified), verified_text(&verified));
    let failed: Vec<&str> = verified
        .iter()
        .filter(|v| v.report.problem.is_some())
        .map(|v| v.report.service.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError(format!(
            "the audit trail of {} failed verification",
            failed.join(", ")
        )))
    }
}

/// The latest anchor of `target`'s chain, from the service that keeps anchors (analysis).
async fn latest_anchor(urls: &Urls, target: Target) -> Result<Option<Anchor>, CliError> {
    Ok(client::audit(Target::Analysis, urls)
        .await?
        .list_anchors(ListAnchorsRequest {
            service: target.name().into(),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .anchors
        .into_iter()
        .next())
}

fn problem_kind(kind: i32) -> &'static str {
    match ChainProblemKind::try_from(kind) {
        Ok(ChainProblemKind::Altered) => "altered",
        Ok(ChainProblemKind::Inserted) => "inserted",
        Ok(ChainProblemKind::Deleted) => "deleted",
        Ok(ChainProblemKind::MissingTail) => "missing tail",
        _ => "broken",
    }
}

fn anchor_text(v: &Verified) -> String {
    match (&v.anchor_note, v.report.anchor_checked) {
        (Some(note), _) => note.clone(),
        (None, true) => format!("position {}", v.report.anchored_position),
        (None, false) => "none yet".into(),
    }
}

fn result_text(r: &ChainReport) -> String {
    match &r.problem {
        None => "OK".into(),
        Some(p) => format!(
            "FAILED at position {}: {} ({})",
            p.position,
            problem_kind(p.kind),
            p.detail
        ),
    }
}

fn verified_text(verified: &[Verified]) -> String {
    let mut table = Table::new([
        "SERVICE",
        "ENTRIES",
        "HEAD",
        "UNCHAINED",
        "ANCHOR",
        "RESULT",
    ])
    .right(&[1, 2, 3]);
    for v in verified {
        let r = &v.report;
        table.row([
            r.service.clone(),
            r.entries_checked.to_string(),
            r.head_position.to_string(),
            r.unchained.to_string(),
            anchor_text(v),
            result_text(r),
        ]);
    }
    table.render("")
}

fn verified_json(verified: &[Verified]) -> Value {
    Value::Array(
        verified
            .iter()
            .map(|v| {
                let r = &v.report;
                json!({
                    "service": r.service, "entries_checked": r.entries_checked,
                    "head_position": r.head_position, "head_hash": r.head_hash,
                    "unchained": r.unchained, "anchor_checked": r.anchor_checked,
                    "anchored_position": r.anchored_position, "anchor_note": v.anchor_note,
                    "ok": r.problem.is_none(),
                    "problem": r.problem.as_ref().map(|p| json!({
                        "position": p.position, "kind": problem_kind(p.kind), "detail": p.detail,
                    })),
                })
            })
            .collect(),
    )
}

async fn list(urls: &Urls, case: String, json: bool) -> Result<(), CliError> {
    let case = client::intake(urls)
        .await?
        .get_case(GetCaseRequest {
            case_ref: case,
            after_position: 0,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut entries = Vec::new();
    for target in Target::ALL {
        let mut audit = client::audit(target, urls).await?;
        let mut page_token = String::new();
        loop {
            let page = audit
                .list_audit_entries(ListAuditEntriesRequest {
                    case_id: case.case_id.clone(),
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token,
                    }),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    entries.sort_by_key(|e| e.at.as_ref().map_or(0, yimen_platform::time::millis));
    render::print(
        json,
        entries_json(&entries),
        entries_text(&case.case_number, &entries),
    );
    Ok(())
}

/// `AcceptAssignment` of `/yimen.v1.DispatchService/AcceptAssignment`; an event's key as is.
fn action_name(e: &AuditEntry) -> &str {
    e.action.rsplit('/').next().unwrap_or(&e.action)
}

/// `department housing`, `reception`; an event's producer has no role.
fn role_text(e: &AuditEntry) -> String {
    match (e.role.as_str(), e.binding.as_str()) {
        ("", _) => "-".into(),
        (role, "") => role.into(),
        (role, binding) => format!("{role} {binding}"),
    }
}

fn entries_text(case_number: &str, entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return format!("{case_number}: no audit entries\n");
    }
    let mut table = Table::new(["TIME", "SERVICE", "SUBJECT", "ROLE", "ACTION", "OUTCOME"]);
    for e in entries {
        table.row([
            render::time(&e.at),
            e.service.clone(),
            e.subject.clone(),
            role_text(e),
            action_name(e).to_string(),
            e.outcome.clone(),
        ]);
    }
    format!("{case_number}\n{}", table.render(""))
}

fn entries_json(entries: &[AuditEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "at": render::json_time(&e.at), "service": e.service, "kind": e.kind,
                    "action": e.action, "subject": e.subject, "role": e.role,
                    "binding": e.binding, "outcome": e.outcome, "position": e.position,
                    "case_ids": e.case_ids, "objects": e.objects,
                })
            })
            .collect(),
    )
}
