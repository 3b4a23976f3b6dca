//! The assessment's answers: scorecards for any period (computed in one place, `scorecards`,
//! which the monthly bulletin and the quarterly assessment reuse), the negative list, and
//! staff check-ins. Requests are validated whole first: every bad field is named and nothing
//! is written.

use sqlx::AnyConnection;
use yimen_platform::db::{Db, now_millis};
use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::time::timestamp;
use yimen_proto::v1 as pb;

use crate::domain::subsidy::{self, Concluded, Rates};
use crate::domain::{Period, attendance, bulletin};
use crate::store;
use yimen_platform::period::check_year;
use yimen_platform::validate;

/// The scorecards of `period`: of `department` alone (NOT_FOUND when assessment has never
/// heard of it), or of every department by code: each active one, even with nothing to show,
/// and each one that has left but has figures in the period.
pub async fn scorecards(
    conn: &mut AnyConnection,
    period: Period,
    department: Option<&str>,
) -> Result<Vec<pb::Scorecard>, Error> {
    let mut figures = store::figures(conn, period, department.unwrap_or("")).await?;
    if let Some(code) = department {
        let Some(known) = store::department(conn, code).await? else {
            return Err(Error::not_found(format!("department {code} not found")));
        };
        let mine = figures.remove(code).unwrap_or_default();
        return Ok(vec![mine.to_proto(&known.code, &known.name)]);
    }
    let mut cards = Vec::new();
    for known in store::departments(conn).await? {
        let theirs = figures.remove(&known.code).unwrap_or_default();
        if known.active || !theirs.is_empty() {
            cards.push(theirs.to_proto(&known.code, &known.name));
        }
    }
    // Figures of a department the registry does not hold (never expected: every event that
    // names a department records it) still count.
    cards.extend(
        figures
            .iter()
            .map(|(code, theirs)| theirs.to_proto(code, "")),
    );
    cards.sort_by(|a, b| a.department.cmp(&b.department));
    Ok(cards)
}

fn requested_period(period: Option<&pb::Period>, violations: &mut Violations) -> Option<Period> {
    violations.check(Period::parse_or_this_month(period, now_millis()))
}

/// A department filter: None when empty.
fn filter(department: &str) -> Option<&str> {
    let department = department.trim();
    (!department.is_empty()).then_some(department)
}

pub async fn get_scorecard(
    db: &Db,
    request: &pb::GetScorecardRequest,
) -> Result<pb::GetScorecardResponse, Error> {
    let mut violations = Violations::new();
    let period = requested_period(request.period.as_ref(), &mut violations);
    let period = violations.finish_with(period)?;

    let mut conn = db.pool().acquire().await?;
    let scorecards = scorecards(&mut conn, period, filter(&request.department)).await?;
    Ok(pb::GetScorecardResponse { scorecards })
}

/// The month's scorecards (China time) with notes on what stands out, and its attendance.
pub async fn monthly_bulletin(
    db: &Db,
    request: &pb::GetMonthlyBulletinRequest,
) -> Result<pb::Bulletin, Error> {
    let mut violations = Violations::new();
    check_year(request.year, &mut violations);
    let month = violations.check(validate::within("month", request.month, 1..=12));
    let period = violations.finish_with(month.and_then(|m| Period::month(request.year, m)))?;

    let mut conn = db.pool().acquire().await?;
    let scorecards = scorecards(&mut conn, period, None).await?;
    let check_ins = store::check_ins(&mut conn, period).await?;
    Ok(pb::Bulletin {
        notes: bulletin::notes(&scorecards, check_ins),
        scorecards,
    })
}

/// The quarter's scorecards (China time), the basis of the quarterly "4+1" scoring.
pub async fn quarterly_assessment(
    db: &Db,
    request: &pb::GetQuarterlyAssessmentRequest,
) -> Result<pb::QuarterlyAssessment, Error> {
    let mut violations = Violations::new();
    check_year(request.year, &mut violations);
    let quarter = violations.check(validate::within("quarter", request.quarter, 1..=4));
    let period = violations.finish_with(quarter.and_then(|q| Period::quarter(request.year, q)))?;

    let mut conn = db.pool().acquire().await?;
    Ok(pb::QuarterlyAssessment {
        scorecards: scorecards(&mut conn, period, None).await?,
    })
}

/// The negative list of a period (of one department, or all), newest first.
pub async fn negative_list(
    db: &Db,
    request: &pb::ListNegativeListRequest,
) -> Result<pb::ListNegativeListResponse, Error> {
    let mut violations = Violations::new();
    let period = requested_period(request.period.as_ref(), &mut violations);
    let period = violations.finish_with(period)?;
    let department = filter(&request.department);

    let mut conn = db.pool().acquire().await?;
    if let Some(code) = department
        && store::department(&mut conn, code).await?.is_none()
    {
        return Err(Error::not_found(format!("department {code} not found")));
    }
    let entries = store::negative_entries(&mut conn, period, department.unwrap_or("")).await?;
    Ok(pb::ListNegativeListResponse {
        entries: entries
            .iter()
            .map(|(entry, case_number)| entry.to_proto(case_number))
            .collect(),
    })
}

/// A stationed official clocks in for a department stationed at the center; answers the time
/// recorded.
pub async fn check_in(db: &Db, request: &pb::CheckInRequest) -> Result<pb::CheckInResponse, Error> {
    let mut violations = Violations::new();
    let staff_id = violations.check(attendance::parse_staff_id(&request.staff_id));
    let department = request.department.trim();

    let mut tx = db.begin().await?;
    if let Err(v) = validate::required("department", department) {
        violations.add(v.field, v.description);
    } else {
        match store::department(&mut tx, department).await? {
            Some(known) if known.active => {}
            Some(_) => violations.add("department", format!("{department} has left the center")),
            None => violations.add(
                "department",
                format!("{department} is not a known department"),
            ),
        }
    }
    let staff_id = violations.finish_with(staff_id)?;

    let at = now_millis();
    let check_in_id = uuid::Uuid::now_v7().to_string();
    store::record_check_in(&mut tx, &check_in_id, &staff_id, department, at).await?;
    db.commit(tx).await?;
    tracing::info!(department, "staff checked in");
    Ok(pb::CheckInResponse {
        at: Some(timestamp(at)),
    })
}

/// The longest mediator or mediation id the review names.
const ID_MAX: usize = 64;

/// A quarter of a year, checked: its period, year and number.
fn checked_quarter(
    year: i32,
    quarter: u32,
    violations: &mut Violations,
) -> Option<(Period, i32, u32)> {
    check_year(year, violations);
    let quarter = violations.check(validate::within("quarter", quarter, 1..=4))?;
    Period::quarter(year, quarter).map(|p| (p, year, quarter))
}

/// An id the review names: required, at most [`ID_MAX`] characters, no comma (the store
/// lists mediators comma-separated).
fn review_id(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let id = validate::required_text(field, raw, ID_MAX)?;
    if id.contains(',') {
        return Err(FieldViolation::new(field, "must not contain ','"));
    }
    Ok(id)
}

/// GetMediatorSubsidies (以案定补): the quarter's stipends and awards by the review's grades.
pub async fn mediator_subsidies(
    db: &Db,
    rates: &Rates,
    request: &pb::GetMediatorSubsidiesRequest,
) -> Result<pb::MediatorSubsidies, Error> {
    let mut violations = Violations::new();
    let quarter = checked_quarter(request.year, request.quarter, &mut violations);
    let (period, year, quarter) = violations.finish_with(quarter)?;
    let mut conn = db.pool().acquire().await?;
    let files: Vec<Concluded> = store::mediations_concluded(&mut conn, period)
        .await?
        .into_iter()
        .map(|m| m.concluded)
        .collect();
    let full_time = store::full_time(&mut conn, year, quarter).await?;
    Ok(subsidy::quarter(&files, &full_time, rates))
}

/// SetSubsidyGrades: the quarterly expert review's grades and full-time mediators, all or
/// nothing: a mediation assessment has not seen is NOT_FOUND, one that did not end in
/// agreement or concluded in another quarter FAILED_PRECONDITION, and nothing is written.
pub async fn set_subsidy_grades(
    db: &Db,
    request: &pb::SetSubsidyGradesRequest,
) -> Result<pb::SetSubsidyGradesResponse, Error> {
    let mut violations = Violations::new();
    let quarter = checked_quarter(request.year, request.quarter, &mut violations);
    let mut grades = Vec::with_capacity(request.grades.len());
    for (i, g) in request.grades.iter().enumerate() {
        let id = violations.check(review_id(
            &format!("grades[{i}].mediation_id"),
            &g.mediation_id,
        ));
        let grade = violations.check(validate::known::<pb::SubsidyGrade>(
            &format!("grades[{i}].grade"),
            g.grade,
        ));
        if let (Some(id), Some(grade)) = (id, grade) {
            grades.push((id, grade));
        }
    }
    let mut full_time = std::collections::BTreeSet::new();
    for (i, m) in request.full_time_mediators.iter().enumerate() {
        if let Some(id) = violations.check(review_id(&format!("full_time_mediators[{i}]"), m)) {
            full_time.insert(id);
        }
    }
    if request.grades.is_empty() && request.full_time_mediators.is_empty() {
        violations.add("grades", "name a grade or the full-time mediators");
    }
    let (period, year, quarter) = violations.finish_with(quarter)?;

    let mut tx = db.begin().await?;
    let now = now_millis();
    for (id, grade) in &grades {
        let Some(stored) = store::mediation(&mut tx, id).await? else {
            return Err(Error::not_found(format!("mediation {id} not found")));
        };
        let in_quarter = period.contains(stored.concluded_at);
        if let Some(why) = subsidy::refuse_grade(
            stored.concluded.agreed,
            stored
                .outcome
                .as_str_name()
                .trim_start_matches("MEDIATION_STATE_"),
            in_quarter,
        ) {
            return Err(Error::FailedPrecondition(format!(
                "mediation {id} cannot be graded for {year} Q{quarter}: {why}"
            )));
        }
        store::set_grade(&mut tx, id, *grade, now).await?;
    }
    if !full_time.is_empty() {
        store::set_full_time(&mut tx, year, quarter, &full_time).await?;
    }
    let ungraded = store::mediations_concluded(&mut tx, period)
        .await?
        .iter()
        .filter(|m| m.concluded.agreed && m.concluded.grade.is_none())
        .count();
    db.commit(tx).await?;
    tracing::info!(year, quarter, graded = grades.len(), "mediations graded");
    Ok(pb::SetSubsidyGradesResponse {
        graded: u32::try_from(grades.len()).unwrap_or(u32::MAX),
        ungraded: u32::try_from(ungraded).unwrap_or(u32::MAX),
    })
}
