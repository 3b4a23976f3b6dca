//! `yimen mediation`: the mediation center — committees, mediation files, mediators.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::Conn;
use super::render::{self, Table, category_name, linkage_name, mediation_state_name};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct MediationArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: MediationCommand,
}

#[derive(Subcommand)]
enum MediationCommand {
    /// The eight committees and the categories each takes.
    Committees,
    /// Mediation files, newest first.
    List {
        /// Only this case's files (its UUID).
        #[arg(long, default_value = "")]
        case: String,
        #[arg(long, default_value = "")]
        committee: String,
    },
    /// One mediation file.
    Get { id: String },
    /// Register a mediator to a committee.
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        committee: String,
    },
}

impl MediationArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut mediation = client::mediation(&self.conn.urls()).await?;
        match self.command {
            MediationCommand::Committees => {
                let committees = mediation
                    .list_committees(ListCommitteesRequest {})
                    .await
                    .map_err(status_error)?
                    .into_inner()
                    .committees;
                render::print(
                    json,
                    json!(committees.iter().map(|c| json!({
                        "code": c.code, "name": c.name,
                        "categories": c.categories.iter().map(|k| category_name(*k)).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>()),
                    committees_text(&committees),
                );
            }
            MediationCommand::List { case, committee } => {
                let files = mediation
                    .list_mediations(ListMediationsRequest {
                        case_id: case,
                        committee,
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner()
                    .mediations;
                render::print(
                    json,
                    json!(files.iter().map(mediation_json).collect::<Vec<_>>()),
                    mediations_text(&files),
                );
            }
            MediationCommand::Get { id } => {
                let file = mediation
                    .get_mediation(GetMediationRequest { mediation_id: id })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(
                    json,
                    mediation_json(&file),
                    mediations_text(std::slice::from_ref(&file)),
                );
            }
            MediationCommand::Register { name, committee } => {
                let m = mediation
                    .register_mediator(RegisterMediatorRequest { name, committee })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(
                    json,
                    json!({"mediator_id": m.mediator_id, "name": m.name, "committee": m.committee}),
                    format!(
                        "registered mediator {} ({}) to {}\n",
                        m.name, m.mediator_id, m.committee
                    ),
                );
            }
        }
        Ok(())
    }
}

/// `54,000.00 yuan, payer → payee: terms (3 installments)`.
pub fn agreement_text(a: &Agreement) -> String {
    let mut out = format!(
        "{}, {} → {}: {}",
        render::yuan(&a.amount.unwrap_or_default()),
        a.payer,
        a.payee,
        a.terms
    );
    if !a.installments.is_empty() {
        out.push_str(&format!(" ({} installments)", a.installments.len()));
    }
    out
}

pub fn mediation_json(m: &MediationFile) -> Value {
    json!({
        "mediation_id": m.mediation_id, "case_id": m.case_id, "case_number": m.case_number,
        "committee": m.committee, "linkage": linkage_name(m.linkage),
        "state": mediation_state_name(m.state), "category": category_name(m.category),
        "summary": m.summary, "referred_by": m.referred_by, "mediators": m.mediators,
        "sessions": m.sessions.len(),
        "agreement": m.agreement.as_ref().map(|a| json!({
            "amount": a.amount.as_ref().map(render::json_yuan), "payer": a.payer, "payee": a.payee,
            "terms": a.terms,
            "installments": a.installments.iter().map(|i| json!({
                "due": render::json_time(&i.due), "amount": i.amount.as_ref().map(render::json_yuan),
            })).collect::<Vec<_>>(),
        })),
        "opened_at": render::json_time(&m.opened_at), "concluded_at": render::json_time(&m.concluded_at),
    })
}

/// Mediation files, each agreement under its file's summary.
pub fn mediations_text(files: &[MediationFile]) -> String {
    if files.is_empty() {
        return "no mediation files\n".into();
    }
    let mut table = Table::new([
        "mediation",
        "case",
        "committee",
        "linkage",
        "state",
        "summary",
    ]);
    for m in files {
        let mut summary = m.summary.clone();
        if let Some(a) = &m.agreement {
            summary.push_str(&format!("\nagreement: {}", agreement_text(a)));
        }
        table.row([
            m.mediation_id.clone(),
            m.case_number.clone(),
            m.committee.clone(),
            linkage_name(m.linkage),
            mediation_state_name(m.state),
            summary,
        ]);
    }
    table.render("")
}

pub fn committees_text(committees: &[Committee]) -> String {
    let mut table = Table::new(["committee", "name", "categories"]);
    for c in committees {
        table.row([
            c.code.clone(),
            c.name.clone(),
            render::categories(&c.categories),
        ]);
    }
    table.render("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agreement_below_one_yuan_keeps_its_sign() {
        let a = Agreement {
            amount: Some(Money { fen: -50 }),
            payer: "甲".into(),
            payee: "乙".into(),
            terms: "refund".into(),
            ..Default::default()
        };
        assert_eq!(agreement_text(&a), "-0.50 yuan, 甲 → 乙: refund");
        let file = MediationFile {
            agreement: Some(a),
            ..Default::default()
        };
        assert_eq!(mediation_json(&file)["agreement"]["amount"], "-0.50");
    }
}
