//! `yimen scorecard`: how each department did in a period, and the negative list.

use clap::Args;
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::render::{self, Table, negative_kind_name};
use super::{Conn, PeriodArgs};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct ScorecardArgs {
    #[command(flatten)]
    conn: Conn,
    #[arg(long, default_value = "")]
    department: String,
    #[command(flatten)]
    period: PeriodArgs,
    /// Also list the negative-list entries of the period.
    #[arg(long)]
    negative: bool,
}

impl ScorecardArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut assessment = client::assessment(&self.conn.urls()).await?;
        let period = self.period.period()?;
        let cards = assessment
            .get_scorecard(GetScorecardRequest {
                department: self.department.clone(),
                period,
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .scorecards;
        let entries = if self.negative {
            assessment
                .list_negative_list(ListNegativeListRequest {
                    period,
                    department: self.department,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .entries
        } else {
            Vec::new()
        };
        let mut text = scorecards_text(&cards);
        if self.negative {
            text.push_str("negative list:\n");
            text.push_str(&negative_list_text(&entries));
        }
        render::print(
            json,
            json!({
                "scorecards": cards.iter().map(scorecard_json).collect::<Vec<_>>(),
                "negative_list": entries.iter().map(|e| json!({
                    "department": e.department, "case_id": e.case_id, "case_number": e.case_number, "kind": e.kind,
                    "at": render::json_time(&e.at), "reason": e.reason,
                })).collect::<Vec<_>>(),
            }),
            text,
        );
        Ok(())
    }
}

pub fn scorecard_json(c: &Scorecard) -> Value {
    json!({
        "department": c.department, "name": c.department_name, "assigned": c.assigned,
        "accepted": c.accepted, "accepted_in_time": c.accepted_in_time, "replied": c.replied,
        "replied_in_time": c.replied_in_time, "returned": c.returned, "evaluated": c.evaluated,
        "satisfied": c.satisfied, "satisfaction_rate": c.satisfaction_rate,
        "closed": c.closed, "reopened": c.reopened,
        "negative_entries": c.negative_entries,
    })
}

/// One row a department: in time of all accepted and replied, satisfied of all evaluated.
pub fn scorecards_text(cards: &[Scorecard]) -> String {
    let mut table = Table::new([
        "department",
        "name",
        "assigned",
        "accepted in time",
        "replied in time",
        "returned",
        "satisfied",
        "rate",
        "negative",
    ])
    .right(&[2, 3, 4, 5, 6, 7, 8]);
    for c in cards {
        table.row([
            c.department.clone(),
            c.department_name.clone(),
            c.assigned.to_string(),
            format!("{}/{}", c.accepted_in_time, c.accepted),
            format!("{}/{}", c.replied_in_time, c.replied),
            c.returned.to_string(),
            format!("{}/{}", c.satisfied, c.evaluated),
            format!("{:.0}%", c.satisfaction_rate * 100.0),
            c.negative_entries.to_string(),
        ]);
    }
    table.render("")
}

pub fn negative_list_text(entries: &[NegativeEntry]) -> String {
    if entries.is_empty() {
        return "  none\n".into();
    }
    let mut table = Table::new(["at", "department", "kind", "case", "reason"]);
    for e in entries {
        table.row([
            render::time(&e.at),
            e.department.clone(),
            negative_kind_name(e.kind),
            if e.case_number.is_empty() {
                e.case_id.clone()
            } else {
                e.case_number.clone()
            },
            e.reason.clone(),
        ]);
    }
    table.render("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scorecard_row_shows_ratios_and_the_rate() {
        let card = Scorecard {
            department: "civil-affairs".into(),
            department_name: "民政局".into(),
            assigned: 4,
            accepted: 4,
            accepted_in_time: 3,
            replied: 2,
            replied_in_time: 2,
            evaluated: 2,
            satisfied: 1,
            satisfaction_rate: 0.5,
            ..Default::default()
        };
        let text = scorecards_text(&[card]);
        let row = text.lines().nth(2).unwrap_or_default();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "civil-affairs",
                "民政局",
                "4",
                "3/4",
                "2/2",
                "0",
                "1/2",
                "50%",
                "0"
            ],
            "{text}"
        );
    }
}
