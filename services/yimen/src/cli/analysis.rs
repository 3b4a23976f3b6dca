//! `yimen situation` and `yimen alerts`: what the intelligence center made of the cases.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::render::{self, Table, alert_kind_name, category_name, change};
use super::{Conn, PeriodArgs};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct SituationArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    period: PeriodArgs,
}

impl SituationArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let s = client::analysis(&self.conn.urls())
            .await?
            .get_situation(GetSituationRequest {
                period: self.period.period()?,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        render::print(json, situation_json(&s), situation_text(&s));
        Ok(())
    }
}

#[derive(Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Include acknowledged alerts.
    #[arg(long)]
    all: bool,
    #[command(subcommand)]
    command: Option<AlertCommand>,
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Acknowledge an alert.
    Ack { id: String },
}

impl AlertsArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut analysis = client::analysis(&self.conn.urls()).await?;
        if let Some(AlertCommand::Ack { id }) = self.command {
            let a = analysis
                .acknowledge_alert(AcknowledgeAlertRequest { alert_id: id })
                .await
                .map_err(status_error)?
                .into_inner();
            render::print(json, alert_json(&a), alerts_text(std::slice::from_ref(&a)));
            return Ok(());
        }
        let r = analysis
            .list_alerts(ListAlertsRequest {
                include_acknowledged: self.all,
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        render::print(
            json,
            json!(r.alerts.iter().map(alert_json).collect::<Vec<_>>()),
            alerts_text(&r.alerts),
        );
        Ok(())
    }
}

fn figures_json(figures: &[Figure]) -> Value {
    json!(
        figures
            .iter()
            .map(|f| json!({"key": f.key, "cases": f.cases, "change": f.change}))
            .collect::<Vec<_>>()
    )
}

pub fn situation_json(s: &Situation) -> Value {
    let period = s.period.unwrap_or_default();
    json!({
        "from": render::json_time(&period.from), "to": render::json_time(&period.to),
        "cases": s.cases, "change": s.change, "open": s.open, "overdue": s.overdue,
        "collective": s.collective, "closed": s.closed, "alerts": s.alerts,
        "settled_at_desk": s.settled_at_desk,
        "categories": s.categories.iter().map(|c| json!({
            "category": category_name(c.category), "cases": c.cases, "change": c.change,
        })).collect::<Vec<_>>(),
        "towns": figures_json(&s.towns),
        "departments": figures_json(&s.departments),
        "channels": figures_json(&s.channels),
    })
}

/// The period's figures, then a table for each breakdown that has any.
pub fn situation_text(s: &Situation) -> String {
    let period = s.period.unwrap_or_default();
    let mut out = format!(
        "situation {} → {}\n  cases {} ({} against the previous period)   open {}   overdue {}\n  collective {}   closed {}   alerts {}\n",
        render::time(&period.from),
        render::time(&period.to),
        s.cases,
        change(s.change),
        s.open,
        s.overdue,
        s.collective,
        s.closed,
        s.alerts,
    );
    let mut block = |title: &str, rows: Vec<(String, u64, i64)>| {
        if rows.is_empty() {
            return;
        }
        out.push('\n');
        let mut table = Table::new([title, "cases", "change"]).right(&[1, 2]);
        for (key, cases, delta) in rows {
            table.row([key, cases.to_string(), change(delta)]);
        }
        out.push_str(&table.render("  "));
    };
    block(
        "category",
        s.categories
            .iter()
            .map(|c| (category_name(c.category), c.cases, c.change))
            .collect(),
    );
    let rows = |f: &[Figure]| {
        f.iter()
            .map(|f| (f.key.clone(), f.cases, f.change))
            .collect()
    };
    block("town", rows(&s.towns));
    block("department", rows(&s.departments));
    block("channel", rows(&s.channels));
    out
}

pub fn alert_json(a: &Alert) -> Value {
    json!({
        "alert_id": a.alert_id, "kind": alert_kind_name(a.kind), "case_id": a.case_id,
        "case_number": a.case_number, "category": category_name(a.category), "facts": a.facts,
        "raised_at": render::json_time(&a.raised_at), "acknowledged": a.acknowledged,
    })
}

/// Alerts, newest first as given, each fact on a line of its own.
pub fn alerts_text(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "no alerts\n".into();
    }
    let mut table = Table::new(["raised", "kind", "case", "alert", "facts"]);
    for a in alerts {
        let mut id = a.alert_id.clone();
        if a.acknowledged {
            id.push_str("\n(acknowledged)");
        }
        table.row([
            render::time(&a.raised_at),
            alert_kind_name(a.kind),
            a.case_number.clone(),
            id,
            a.facts.join("\n"),
        ]);
    }
    table.render("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_situation_names_its_period_in_china_time_and_tables_each_breakdown() {
        let s = Situation {
            period: Some(Period {
                from: Some(prost_types::Timestamp {
                    seconds: 1_796_054_400,
                    nanos: 0,
                }),
                to: None,
            }),
            cases: 3,
            change: -1,
            towns: vec![Figure {
                key: "洋梓镇".into(),
                cases: 2,
                change: 2,
            }],
            ..Default::default()
        };
        let text = situation_text(&s);
        assert!(
            text.starts_with("situation 2026-12-01 00:00 CST (UTC+8) → \n"),
            "{text}"
        );
        assert!(
            text.contains("  cases 3 (-1 against the previous period)"),
            "{text}"
        );
        assert!(text.contains("  town"), "{text}");
        assert!(
            !text.contains("category"),
            "empty breakdowns are left out: {text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("  洋梓镇") && l.ends_with("+2")),
            "{text}"
        );
    }

    #[test]
    fn every_fact_of_an_alert_has_its_line() {
        let a = Alert {
            alert_id: "a1".into(),
            kind: AlertKind::Collective as i32,
            facts: vec!["6 petitioners".into(), "labour-wages".into()],
            acknowledged: true,
            ..Default::default()
        };
        let text = alerts_text(&[a]);
        assert!(text.lines().any(|l| l.ends_with("6 petitioners")), "{text}");
        assert!(
            text.lines().any(
                |l| l.trim_start().starts_with("(acknowledged)") && l.ends_with("labour-wages")
            ),
            "{text}"
        );
        assert_eq!(alerts_text(&[]), "no alerts\n");
    }
}
