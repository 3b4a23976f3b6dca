//! What the services answer, shown to an operator: one table renderer (it measures the width
//! of Chinese text, so names align), one JSON printer for scripts, times in the center's zone
//! with the zone named, amounts in yuan and the contract's enums by their short names.

use comfy_table::{CellAlignment, ContentLineStyle, LineStyle, TableStyle};
use serde_json::Value;
use yimen_proto::v1::*;

use super::parse::short_name;

/// Prints `value` as JSON (`--json`) or `text`.
pub fn print(json: bool, value: Value, text: String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{text}");
    }
}

/// A table of rows under a header, columns apart by two spaces, the header underlined.
pub struct Table {
    inner: comfy_table::Table,
}

impl Table {
    pub fn new<'a>(header: impl IntoIterator<Item = &'a str>) -> Self {
        let mut inner = comfy_table::Table::new();
        inner
            .load_style(
                TableStyle::new()
                    .header_lines(ContentLineStyle::none())
                    .header_separator(LineStyle::none().fill('─').junction(' ')),
            )
            .set_header(header.into_iter().collect::<Vec<_>>());
        for column in inner.column_iter_mut() {
            column.set_padding((0, 1));
        }
        Self { inner }
    }

    /// Aligns these columns (counted from 0) to the right: figures.
    pub fn right(mut self, columns: &[usize]) -> Self {
        for &i in columns {
            if let Some(column) = self.inner.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        self
    }

    /// A row; a cell with line breaks spans as many lines.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) -> &mut Self {
        self.inner.add_row(cells.into_iter().collect::<Vec<_>>());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The table, each line ending in a line break, `indent` before each.
    pub fn render(&self, indent: &str) -> String {
        self.inner
            .lines()
            .map(|line| format!("{indent}{}\n", line.trim_end()))
            .collect()
    }
}

/// How the center reads its clock: China Standard Time, which is UTC+8 all year.
const ZONE: &str = "CST (UTC+8)";

/// An instant as the center reads it: `2026-12-01 14:03 CST (UTC+8)`; empty when unset.
pub fn time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .map(|t| {
            let china = yimen_platform::calendar::china_time(yimen_platform::time::millis(t));
            format!("{} {ZONE}", china.format("%Y-%m-%d %H:%M"))
        })
        .unwrap_or_default()
}

/// An instant for `--json`: UTC as `2026-12-01 06:03:00`, the form scripts already read.
pub fn json_time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp_millis(yimen_platform::time::millis(t)))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `-50` fen → `-0.50 yuan`.
pub fn yuan(m: &Money) -> String {
    yimen_platform::money::yuan(m.fen)
}

/// `-50` fen → `-0.50`, for `--json`.
pub fn json_yuan(m: &Money) -> String {
    yimen_platform::money::decimal(m.fen)
}

/// A change against the previous period, signed.
pub fn change(c: i64) -> String {
    if c >= 0 {
        format!("+{c}")
    } else {
        c.to_string()
    }
}

/// `town village`, or the town alone.
pub fn place(l: &Option<Location>) -> String {
    match l {
        Some(l) if !l.village.is_empty() => format!("{} {}", l.town, l.village),
        Some(l) => l.town.clone(),
        None => String::new(),
    }
}

/// One short-name renderer per contract enum; a value this build does not know shows as its
/// number.
macro_rules! enum_names {
    ($($name:ident -> $ty:ident, $prefix:literal;)*) => {$(
        pub fn $name(v: i32) -> String {
            $ty::try_from(v)
                .map(|v| short_name($prefix, v.as_str_name()))
                .unwrap_or_else(|_| v.to_string())
        }
    )*};
}

enum_names! {
    status_name -> CaseStatus, "CASE_STATUS_";
    category_name -> Category, "CATEGORY_";
    channel_name -> Channel, "CHANNEL_";
    level_name -> DepartmentLevel, "DEPARTMENT_LEVEL_";
    state_name -> AssignmentState, "ASSIGNMENT_STATE_";
    alert_kind_name -> AlertKind, "ALERT_KIND_";
    linkage_name -> Linkage, "LINKAGE_";
    mediation_state_name -> MediationState, "MEDIATION_STATE_";
    negative_kind_name -> NegativeKind, "NEGATIVE_KIND_";
    satisfaction_name -> Satisfaction, "SATISFACTION_";
}

/// Categories as `a, b, c`.
pub fn categories(categories: &[i32]) -> String {
    categories
        .iter()
        .map(|c| category_name(*c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many terminal columns `s` takes: a CJK character takes two. The tests' own measure, apart
/// from the table crate's.
#[cfg(test)]
pub(crate) fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_chinese_names_aligns() {
        let mut table = Table::new(["code", "name", "open"]).right(&[2]);
        table.row(["civil-affairs".into(), "民政局".into(), "3".into()]);
        table.row(["yangzi-town".into(), "洋梓镇人民政府".into(), "12".into()]);
        table.row(["justice".into(), "司法局".into(), "0".into()]);
        let text = table.render("");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[1].starts_with('─'),
            "the header is underlined: {text}"
        );
        // Each column starts at the same display column on every line.
        let starts = |line: &str, cell: &str| display_width(&line[..line.find(cell).unwrap()]);
        assert_eq!(
            starts(lines[2], "民政局"),
            starts(lines[3], "洋梓镇人民政府")
        );
        assert_eq!(starts(lines[2], "民政局"), starts(lines[0], "name"));
        // Figures end at the same display column.
        let ends = |line: &str| display_width(line);
        assert_eq!(ends(lines[2]), ends(lines[3]));
        assert_eq!(ends(lines[3]), ends(lines[4]));
    }

    #[test]
    fn an_indented_table_has_no_trailing_spaces() {
        let mut table = Table::new(["key", "cases"]);
        table.row(["洋梓镇".into(), "2".into()]);
        let text = table.render("    ");
        assert!(
            text.lines()
                .all(|l| l.starts_with("    ") && !l.ends_with(' '))
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn times_show_in_china_with_the_zone_named() {
        // 2026-12-01T06:03:00Z is 14:03 in China.
        let t = Some(prost_types::Timestamp {
            seconds: 1_796_104_980,
            nanos: 0,
        });
        assert_eq!(time(&t), "2026-12-01 14:03 CST (UTC+8)");
        assert_eq!(json_time(&t), "2026-12-01 06:03:00");
        assert_eq!(time(&None), "");
    }

    #[test]
    fn the_day_turns_at_midnight_in_china() {
        // 2026-11-30T16:00:00Z is already 1 December in China.
        let t = Some(prost_types::Timestamp {
            seconds: 1_796_054_400,
            nanos: 0,
        });
        assert_eq!(time(&t), "2026-12-01 00:00 CST (UTC+8)");
    }

    #[test]
    fn money_keeps_the_sign_below_one_yuan() {
        assert_eq!(yuan(&Money { fen: -50 }), "-0.50 yuan");
        assert_eq!(json_yuan(&Money { fen: -50 }), "-0.50");
        assert_eq!(json_yuan(&Money { fen: 5_400_000 }), "54000.00");
    }

    #[test]
    fn unknown_enum_values_show_as_numbers() {
        assert_eq!(category_name(Category::LabourWages as i32), "labour-wages");
        assert_eq!(status_name(99), "99");
    }
}
