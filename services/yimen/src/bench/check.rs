//! `yimen chaos`'s checker: what every service's store holds of each case (one PostgreSQL
//! database, a schema per service), and the verdict on a case the load was told was
//! registered — lost, applied twice, or its timeline incomplete.
//!
//! The load's cases are registered and never touched again, so each must end with exactly one
//! first assignment (routed, or to the city center when nobody owns its category), one more
//! per department that left holding it, exactly one open assignment held by a department
//! still there, and every service knowing it: intake's timeline a line for its registration
//! and one for each assignment, mediation its number, analysis and assessment the case and
//! each assignment.

use std::collections::HashMap;

use sqlx::PgPool;
use yimen_proto::event_type::{CASE_ASSIGNED, CASE_REGISTERED};
use yimen_proto::v1::AssignmentCause;

/// What the stores hold of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseState {
    /// intake: the case row, the department it shows, and its timeline's lines of each kind.
    pub registered: bool,
    pub intake_department: String,
    pub registered_lines: u32,
    pub assigned_lines: u32,
    /// When intake registered it, and when dispatch first assigned it (unix milliseconds).
    pub registered_at: Option<i64>,
    pub first_assigned_at: Option<i64>,
    /// dispatch: its assignments, those that routed it first (ROUTED or NO_OWNER), those open,
    /// the department holding it and whether that one is still active.
    pub assignments: u32,
    pub first_assignments: u32,
    pub open_assignments: u32,
    pub holder: String,
    pub holder_active: bool,
    /// analysis and assessment: the case known from `case.registered`, and its assignments.
    pub analysis_registered: bool,
    pub analysis_assignments: u32,
    pub assessment_registered: bool,
    pub assessment_assignments: u32,
    /// mediation: its number known.
    pub mediation_numbered: bool,
}

/// What is wrong with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted, but not registered, not assigned, or unknown to a service that must know it.
    Lost,
    /// Something of it applied more than once.
    Double,
    /// Intake's timeline misses a line, or shows another holder than dispatch's.
    Incomplete,
}

/// A finding: the verdict and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub why: &'static str,
}

/// Everything wrong with an accepted case in `state` (none: it went through every service
/// once). `None` for a case no store holds.
pub fn findings(state: Option<&CaseState>) -> Vec<Finding> {
    let Some(s) = state else {
        return vec![lost("no service holds it")];
    };
    let mut found = Vec::new();
    let mut check = |failed: bool, finding: Finding| {
        if failed {
            found.push(finding);
        }
    };
    check(!s.registered, lost("intake has no such case"));
    check(s.assignments == 0, lost("dispatch never assigned it"));
    check(
        s.assignments > 0 && s.open_assignments == 0,
        lost("no department holds it"),
    );
    check(
        s.open_assignments > 0 && !s.holder_active,
        lost("held by a department that left"),
    );
    check(
        !s.mediation_numbered,
        lost("mediation never learnt its number"),
    );
    check(
        !s.analysis_registered,
        lost("analysis never saw it registered"),
    );
    check(
        s.analysis_assignments < s.assignments,
        lost("analysis misses an assignment"),
    );
    check(
        !s.assessment_registered,
        lost("assessment never saw it registered"),
    );
    check(
        s.assessment_assignments < s.assignments,
        lost("assessment misses an assignment"),
    );
    check(s.first_assignments > 1, double("routed more than once"));
    check(s.open_assignments > 1, double("held by two departments"));
    check(s.registered_lines > 1, double("two registration lines"));
    check(
        s.assigned_lines > s.assignments,
        double("more assignment lines than assignments"),
    );
    check(
        s.analysis_assignments > s.assignments || s.assessment_assignments > s.assignments,
        double("an assignment counted twice"),
    );
    check(
        s.registered && s.registered_lines == 0,
        incomplete("no registration line"),
    );
    check(
        s.assigned_lines < s.assignments,
        incomplete("an assignment has no line"),
    );
    check(
        s.open_assignments == 1 && s.registered && s.intake_department != s.holder,
        incomplete("intake shows another holder"),
    );
    found
}

fn lost(why: &'static str) -> Finding {
    Finding {
        verdict: Verdict::Lost,
        why,
    }
}

fn double(why: &'static str) -> Finding {
    Finding {
        verdict: Verdict::Double,
        why,
    }
}

fn incomplete(why: &'static str) -> Finding {
    Finding {
        verdict: Verdict::Incomplete,
        why,
    }
}

impl CaseState {
    /// From its registration at intake to its first assignment at dispatch, once both are
    /// known.
    pub fn to_assignment(&self) -> Option<std::time::Duration> {
        let waited = self.first_assigned_at? - self.registered_at?;
        Some(std::time::Duration::from_millis(
            u64::try_from(waited).unwrap_or(0),
        ))
    }
}

/// Reads what the stores hold of the cases `only` names (all cases when `None`).
pub async fn read(
    pool: &PgPool,
    only: Option<&[String]>,
) -> anyhow::Result<HashMap<String, CaseState>> {
    let only: Option<Vec<String>> = only.map(<[String]>::to_vec);
    let mut cases: HashMap<String, CaseState> = HashMap::new();

    let intake: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.case_id, c.department, c.registered_at, \
                count(t.seq) FILTER (WHERE t.kind = $2), \
                count(t.seq) FILTER (WHERE t.kind = $3) \
         FROM intake.cases c LEFT JOIN intake.timeline t ON t.case_id = c.case_id \
         WHERE $1::text[] IS NULL OR c.case_id = ANY($1) \
         GROUP BY c.case_id, c.department, c.registered_at",
    )
    .bind(&only)
    .bind(CASE_REGISTERED)
    .bind(CASE_ASSIGNED)
    .fetch_all(pool)
    .await?;
    for (case_id, department, registered_at, registered, assigned) in intake {
        let s = cases.entry(case_id).or_default();
        s.registered = true;
        s.registered_at = Some(registered_at);
        s.intake_department = department;
        s.registered_lines = count(registered);
        s.assigned_lines = count(assigned);
    }

    let open = "a.state IN ('PENDING', 'ACCEPTED')";
    // case, assignments, first ones, open ones, the holder, whether it is active, the first
    // assignment's time.
    type DispatchRow = (
        String,
        i64,
        i64,
        i64,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let dispatch: Vec<DispatchRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.case_id, count(*), count(*) FILTER (WHERE a.cause IN ($2, $3)), \
                    count(*) FILTER (WHERE {open}), \
                    max(a.department) FILTER (WHERE {open}), \
                    min(d.active) FILTER (WHERE {open}), min(a.assigned_at) \
             FROM dispatch.assignments a JOIN dispatch.departments d ON d.code = a.department \
             WHERE $1::text[] IS NULL OR a.case_id = ANY($1) \
             GROUP BY a.case_id"
    )))
    .bind(&only)
    .bind(AssignmentCause::Routed as i64)
    .bind(AssignmentCause::NoOwner as i64)
    .fetch_all(pool)
    .await?;
    for (case_id, all, first, open, holder, active, assigned_at) in dispatch {
        let s = cases.entry(case_id).or_default();
        s.assignments = count(all);
        s.first_assignments = count(first);
        s.open_assignments = count(open);
        s.holder = holder.unwrap_or_default();
        s.holder_active = active == Some(1);
        s.first_assigned_at = assigned_at;
    }

    for (schema, registered) in [
        ("analysis", "c.registered_at IS NOT NULL"),
        ("assessment", "c.headcount > 0"),
    ] {
        let rows: Vec<(String, bool, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT c.case_id, bool_or({registered}), \
                    count(a.assignment_id) FILTER (WHERE a.assigned_at IS NOT NULL) \
             FROM {schema}.cases c LEFT JOIN {schema}.assignments a ON a.case_id = c.case_id \
             WHERE $1::text[] IS NULL OR c.case_id = ANY($1) \
             GROUP BY c.case_id"
        )))
        .bind(&only)
        .fetch_all(pool)
        .await?;
        for (case_id, known, assignments) in rows {
            let s = cases.entry(case_id).or_default();
            if schema == "analysis" {
                s.analysis_registered = known;
                s.analysis_assignments = count(assignments);
            } else {
                s.assessment_registered = known;
                s.assessment_assignments = count(assignments);
            }
        }
    }

    let numbered: Vec<(String,)> = sqlx::query_as(
        "SELECT case_id FROM mediation.case_numbers WHERE $1::text[] IS NULL OR case_id = ANY($1)",
    )
    .bind(&only)
    .fetch_all(pool)
    .await?;
    for (case_id,) in numbered {
        cases.entry(case_id).or_default().mediation_numbered = true;
    }
    Ok(cases)
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A case that went through every service once, held by `holder`.
#[cfg(test)]
pub(crate) fn through(holder: &str) -> CaseState {
    CaseState {
        registered: true,
        intake_department: holder.into(),
        registered_lines: 1,
        assigned_lines: 1,
        registered_at: Some(0),
        first_assigned_at: Some(0),
        assignments: 1,
        first_assignments: 1,
        open_assignments: 1,
        holder: holder.into(),
        holder_active: true,
        analysis_registered: true,
        analysis_assignments: 1,
        assessment_registered: true,
        assessment_assignments: 1,
        mediation_numbered: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(state: &CaseState) -> Vec<(Verdict, &'static str)> {
        findings(Some(state))
            .into_iter()
            .map(|f| (f.verdict, f.why))
            .collect()
    }

    #[test]
    fn a_case_through_every_service_once_has_no_finding() {
        assert_eq!(verdicts(&through("labour")), vec![]);
        // Handed over once when its department left: two assignments, two lines, one open.
        let handed_over = CaseState {
            assigned_lines: 2,
            assignments: 2,
            analysis_assignments: 2,
            assessment_assignments: 2,
            ..through("city-center")
        };
        assert_eq!(verdicts(&handed_over), vec![]);
    }

    #[test]
    fn a_case_no_store_holds_is_lost() {
        assert_eq!(
            findings(None),
            vec![Finding {
                verdict: Verdict::Lost,
                why: "no service holds it"
            }]
        );
    }

    #[test]
    fn a_case_a_service_never_learnt_of_is_lost() {
        let unassigned = CaseState {
            assigned_lines: 0,
            assignments: 0,
            first_assignments: 0,
            open_assignments: 0,
            holder: String::new(),
            holder_active: false,
            analysis_assignments: 0,
            assessment_assignments: 0,
            intake_department: String::new(),
            ..through("")
        };
        assert_eq!(
            verdicts(&unassigned),
            vec![(Verdict::Lost, "dispatch never assigned it")]
        );
        let unknown_to_assessment = CaseState {
            assessment_registered: false,
            assessment_assignments: 0,
            ..through("labour")
        };
        assert_eq!(
            verdicts(&unknown_to_assessment),
            vec![
                (Verdict::Lost, "assessment never saw it registered"),
                (Verdict::Lost, "assessment misses an assignment"),
            ]
        );
        let stranded = CaseState {
            holder_active: false,
            ..through("labour")
        };
        assert_eq!(
            verdicts(&stranded),
            vec![(Verdict::Lost, "held by a department that left")]
        );
    }

    #[test]
    fn a_case_routed_twice_or_held_twice_is_double() {
        let routed_twice = CaseState {
            first_assignments: 2,
            assignments: 2,
            assigned_lines: 2,
            analysis_assignments: 2,
            assessment_assignments: 2,
            ..through("labour")
        };
        assert_eq!(
            verdicts(&routed_twice),
            vec![(Verdict::Double, "routed more than once")]
        );
        let two_lines = CaseState {
            assigned_lines: 2,
            ..through("labour")
        };
        assert_eq!(
            verdicts(&two_lines),
            vec![(Verdict::Double, "more assignment lines than assignments")]
        );
    }

    /// Rows as the services write them, in a PostgreSQL database with every service's schema:
    /// `whole` went through every service; `stranded` was routed to a department that left
    /// since and never reached analysis; `unrouted` is only at intake; `twice` was routed twice.
    #[tokio::test]
    async fn reads_each_services_rows_of_a_case() {
        let Some(database) = yimen_testkit::stores::fresh_postgres_database().await else {
            return;
        };
        let mut settings: crate::settings::Settings =
            yimen_platform::config::load_from(None, vec![]).unwrap();
        settings.database.url = database.url().to_string();
        for (_, db) in crate::run::migrate(&settings, &crate::run::Target::ALL)
            .await
            .unwrap()
        {
            db.close().await;
        }
        let pool = PgPool::connect(database.url()).await.unwrap();
        let (routed, no_owner) = (
            AssignmentCause::Routed as i64,
            AssignmentCause::NoOwner as i64,
        );
        let mut statements = vec![
            "INSERT INTO dispatch.departments (code, name, level, active, joined_at) \
             VALUES ('labour', 'L', 1, 1, 0), ('gone', 'G', 1, 0, 0)"
                .to_string(),
        ];
        for (n, case) in ["whole", "stranded", "unrouted", "twice"]
            .iter()
            .enumerate()
        {
            statements.push(format!(
                "INSERT INTO intake.cases (case_id, case_number, status, status_at, department, \
                 channel, category, headcount, subject, description, town, registered_at) \
                 VALUES ('{case}', 'YM-2026-{n}', 1, 0, '', 1, 1, 1, 's', 'd', 't', 0)"
            ));
            statements.push(format!(
                "INSERT INTO intake.timeline (case_id, event_id, occurred_at, kind, summary) \
                 VALUES ('{case}', 'r-{case}', 0, '{CASE_REGISTERED}', '')"
            ));
        }
        for (case, department, assignment, cause, state) in [
            ("whole", "labour", "a1", routed, "PENDING"),
            ("stranded", "gone", "a2", routed, "PENDING"),
            ("twice", "city-center", "a3", no_owner, "RETURNED"),
            ("twice", "labour", "a4", routed, "PENDING"),
        ] {
            statements.extend([
                format!(
                    "INSERT INTO dispatch.cases (case_id, case_number, category, town, village, \
                     subject, registered_at) VALUES ('{case}', 'n', 1, 't', '', 's', 0) \
                     ON CONFLICT DO NOTHING"
                ),
                format!(
                    "INSERT INTO dispatch.assignments (assignment_id, case_id, department, state, \
                     cause, reason, assigned_at, accept_by) \
                     VALUES ('{assignment}', '{case}', '{department}', '{state}', {cause}, '', 0, 0)"
                ),
                format!(
                    "INSERT INTO intake.timeline (case_id, event_id, occurred_at, kind, summary, \
                     department) VALUES ('{case}', '{assignment}', 0, '{CASE_ASSIGNED}', '', \
                     '{department}')"
                ),
                format!("UPDATE intake.cases SET department = '{department}' WHERE case_id = '{case}'"),
            ]);
        }
        for case in ["whole", "stranded", "twice"] {
            statements.extend([
                format!("INSERT INTO mediation.case_numbers VALUES ('{case}', 'n')"),
                format!("INSERT INTO assessment.cases (case_id, headcount) VALUES ('{case}', 1)"),
            ]);
        }
        for (case, assignment) in [
            ("whole", "a1"),
            ("stranded", "a2"),
            ("twice", "a3"),
            ("twice", "a4"),
        ] {
            statements.push(format!(
                "INSERT INTO assessment.assignments (assignment_id, case_id, department, \
                 assigned_at) VALUES ('{assignment}', '{case}', 'd', 0)"
            ));
            if case != "stranded" {
                statements.push(format!(
                    "INSERT INTO analysis.assignments (assignment_id, case_id, assigned_at, \
                     known_at) VALUES ('{assignment}', '{case}', 0, 0)"
                ));
            }
        }
        statements.push(
            "INSERT INTO analysis.cases (case_id, registered_at) \
             VALUES ('whole', 0), ('twice', 0)"
                .into(),
        );
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .unwrap();
        }

        let state = read(&pool, None).await.unwrap();
        let whys = |case: &str| -> Vec<&'static str> {
            findings(state.get(case)).iter().map(|f| f.why).collect()
        };
        assert_eq!(state["whole"], through("labour"));
        assert_eq!(whys("whole"), Vec::<&str>::new());
        assert_eq!(
            whys("stranded"),
            vec![
                "held by a department that left",
                "analysis never saw it registered",
                "analysis misses an assignment",
            ]
        );
        assert_eq!(
            whys("unrouted"),
            vec![
                "dispatch never assigned it",
                "mediation never learnt its number",
                "analysis never saw it registered",
                "assessment never saw it registered"
            ]
        );
        assert_eq!(whys("twice"), vec!["routed more than once"]);
        assert_eq!(whys("missing"), vec!["no service holds it"]);

        let only = read(&pool, Some(&["whole".to_string()])).await.unwrap();
        assert_eq!(only.keys().collect::<Vec<_>>(), vec!["whole"]);
        pool.close().await;
    }

    #[test]
    fn a_timeline_missing_a_line_or_a_holder_is_incomplete() {
        let no_line = CaseState {
            assigned_lines: 0,
            intake_department: String::new(),
            ..through("labour")
        };
        assert_eq!(
            verdicts(&no_line),
            vec![
                (Verdict::Incomplete, "an assignment has no line"),
                (Verdict::Incomplete, "intake shows another holder"),
            ]
        );
    }
}
