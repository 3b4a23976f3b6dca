//! `yimen dept`: the department registry — join, import a file, leave, list.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use yimen_proto::v1::*;

use super::render::{self, Table, category_name, level_name, place};
use super::{Conn, parse};
use crate::client::{self, CliError, status_error};

#[derive(Args)]
pub struct DeptArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: DeptCommand,
}

#[derive(Subcommand)]
enum DeptCommand {
    /// Register a department (or bring a departed one back).
    Join {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// city, town or village
        #[arg(long, default_value = "city")]
        level: String,
        #[arg(long, default_value = "")]
        town: String,
        #[arg(long, default_value = "")]
        village: String,
        /// A category it owns; repeat for more.
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// Join every department of a file (the format of deploy/departments.toml) that is not
    /// registered yet; run again, it joins none twice.
    Import {
        /// The departments file; `builtin` (the default): the list built into the binary.
        #[arg(default_value = yimen_dispatch::seed::BUILTIN_NAME)]
        file: String,
    },
    /// A department leaves; its open cases go to the new owner of their category.
    Leave {
        code: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List departments.
    List {
        /// Include departments that left.
        #[arg(long)]
        all: bool,
    },
}

impl DeptArgs {
    pub async fn run(self, json: bool) -> Result<(), CliError> {
        let mut dispatch = client::dispatch(&self.conn.urls()).await?;
        match self.command {
            DeptCommand::Join {
                code,
                name,
                level,
                town,
                village,
                categories,
            } => {
                let categories = categories
                    .iter()
                    .map(|c| parse::category(c).map(|c| c as i32))
                    .collect::<Result<Vec<_>, _>>()?;
                let d = dispatch
                    .join_department(JoinDepartmentRequest {
                        code,
                        name,
                        level: parse::level(&level)? as i32,
                        area: Some(Location { town, village }),
                        categories,
                        review_body: String::new(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, department_json(&d), departments_text(&[d]));
            }
            DeptCommand::Import { file } => {
                let departments =
                    yimen_dispatch::seed::load(&file).map_err(|e| CliError(format!("{e:#}")))?;
                let (mut joined, mut present) = (Vec::new(), Vec::new());
                for department in departments {
                    let code = department.code.clone();
                    match dispatch.join_department(department).await {
                        Ok(_) => joined.push(code),
                        Err(status) if status.code() == tonic::Code::AlreadyExists => {
                            present.push(code)
                        }
                        Err(status) => {
                            return Err(CliError(format!(
                                "department {code}: {}",
                                status_error(status)
                            )));
                        }
                    }
                }
                let text = format!(
                    "joined {} department(s){}; {} already registered\n",
                    joined.len(),
                    if joined.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", joined.join(", "))
                    },
                    present.len()
                );
                render::print(
                    json,
                    json!({ "joined": joined, "already_registered": present }),
                    text,
                );
            }
            DeptCommand::Leave { code, reason } => {
                let r = dispatch
                    .leave_department(LeaveDepartmentRequest { code, reason })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(json, leave_json(&r), leave_text(&r));
            }
            DeptCommand::List { all } => {
                let r = dispatch
                    .list_departments(ListDepartmentsRequest {
                        include_inactive: all,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                render::print(
                    json,
                    json!(
                        r.departments
                            .iter()
                            .map(department_json)
                            .collect::<Vec<_>>()
                    ),
                    departments_text(&r.departments),
                );
            }
        }
        Ok(())
    }
}

pub fn department_json(d: &Department) -> Value {
    json!({
        "code": d.code, "name": d.name, "level": level_name(d.level),
        "town": d.area.as_ref().map(|a| a.town.clone()).unwrap_or_default(),
        "village": d.area.as_ref().map(|a| a.village.clone()).unwrap_or_default(),
        "categories": d.categories.iter().map(|c| category_name(*c)).collect::<Vec<_>>(),
        "active": d.active, "open_assignments": d.open_assignments,
    })
}

pub fn departments_text(departments: &[Department]) -> String {
    if departments.is_empty() {
        return "no departments\n".into();
    }
    let mut table = Table::new([
        "code",
        "name",
        "level",
        "state",
        "open",
        "area",
        "categories",
    ])
    .right(&[4]);
    for d in departments {
        table.row([
            d.code.clone(),
            d.name.clone(),
            level_name(d.level),
            if d.active { "active" } else { "left" }.into(),
            d.open_assignments.to_string(),
            place(&d.area),
            render::categories(&d.categories),
        ]);
    }
    table.render("")
}

fn leave_json(r: &LeaveDepartmentResponse) -> Value {
    let handovers: Vec<_> = r
        .handovers
        .iter()
        .map(|h| json!({"case_id": h.case_id, "from": h.from_department, "to": h.to_department, "assignment_id": h.assignment_id}))
        .collect();
    json!({"department": r.department.as_ref().map(department_json), "handovers": handovers})
}

/// The department that left, then where each of its open cases went.
fn leave_text(r: &LeaveDepartmentResponse) -> String {
    let mut out = r
        .department
        .as_ref()
        .map(|d| departments_text(std::slice::from_ref(d)))
        .unwrap_or_default();
    if !r.handovers.is_empty() {
        let mut table = Table::new(["case", "handed over to", "assignment"]);
        for h in &r.handovers {
            table.row([
                h.case_id.clone(),
                h.to_department.clone(),
                h.assignment_id.clone(),
            ]);
        }
        out.push_str("handed over:\n");
        out.push_str(&table.render("  "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departments_with_chinese_names_line_up() {
        let d = |code: &str, name: &str, open: u32| Department {
            code: code.into(),
            name: name.into(),
            level: DepartmentLevel::City as i32,
            active: true,
            open_assignments: open,
            categories: vec![Category::SocialAssistance as i32],
            ..Default::default()
        };
        let text = departments_text(&[
            d("civil-affairs", "民政局", 3),
            d("yangzi", "洋梓镇人民政府", 12),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        let level_at = |line: &str| {
            let at = line
                .find("city")
                .or_else(|| line.find("level"))
                .unwrap_or(0);
            render::display_width(&line[..at])
        };
        assert_eq!(level_at(lines[0]), level_at(lines[2]), "{text}");
        assert_eq!(level_at(lines[2]), level_at(lines[3]), "{text}");
    }
}
