//! Requests checked at the edge: each `parse` answers a value that keeps every rule, or
//! INVALID_ARGUMENT naming every broken field at once, before anything is read or written.

use std::ops::RangeInclusive;

use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::paging::Page;
use yimen_platform::validate;
use yimen_proto::v1::{self as pb, Category, Linkage};

use super::agreement::Agreement;
use super::committee::{self, Committee, committee_for};
use super::state::{MediationState, Outcome};

pub const SUMMARY_MAX: usize = 500;
pub const MEDIATOR_NAME_MAX: usize = 50;
pub const ROOM_MAX: usize = 100;
/// 以案定补: a case's difficulty, as the quarterly expert review scores it.
pub const DIFFICULTY_POINTS: RangeInclusive<u32> = 1..=10;

/// A committee code that must name one of the eight committees.
fn known_committee(field: &str, code: &str) -> Result<&'static Committee, FieldViolation> {
    let code = validate::required(field, code)?;
    committee::find(code)
        .ok_or_else(|| FieldViolation::new(field, format!("no committee has the code `{code}`")))
}

/// A committee code to filter by: empty for every committee.
fn committee_filter(code: &str, v: &mut Violations) -> String {
    let code = code.trim();
    if !code.is_empty() {
        v.check(known_committee("committee", code));
    }
    code.to_string()
}

/// The `mediation_id` of a request that names only the file.
pub fn mediation_id(value: &str) -> Result<String, Error> {
    Ok(validate::uuid("mediation_id", value)?)
}

/// A file to open: what OpenMediation and a department's referral both come down to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediation {
    pub case_id: String,
    /// Empty when unknown (OpenMediation does not carry it).
    pub case_number: String,
    pub committee: &'static Committee,
    pub linkage: Linkage,
    pub category: Category,
    pub summary: String,
    /// The referring department; empty when opened directly.
    pub referred_by: String,
}

impl NewMediation {
    /// OpenMediation: the committee is the override when given, else the one for the category.
    pub fn from_request(request: &pb::OpenMediationRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_id = v.check(validate::uuid("case_id", &request.case_id));
        let linkage = v.check(validate::known::<Linkage>("linkage", request.linkage));
        let category = v.check(validate::known::<Category>("category", request.category));
        let summary = v.check(validate::optional_text(
            "summary",
            &request.summary,
            SUMMARY_MAX,
        ));
        let committee = if request.committee.trim().is_empty() {
            category.map(committee_for)
        } else {
            v.check(known_committee("committee", &request.committee))
        };
        v.finish()?;
        match (case_id, linkage, category, summary, committee) {
            (Some(case_id), Some(linkage), Some(category), Some(summary), Some(committee)) => {
                Ok(Self {
                    case_id,
                    case_number: String::new(),
                    committee,
                    linkage,
                    category,
                    summary,
                    referred_by: String::new(),
                })
            }
            // Unreachable: each missing value was recorded as a violation above.
            _ => Err(Error::invalid("case_id", "invalid request")),
        }
    }

    /// `case.referred.<dept>`: a department marked its case a dispute. A referral is never
    /// refused for its wording: an unset linkage is a petition (访调), a category no committee
    /// lists goes to the civil and commercial committee, and an over-long summary is cut.
    pub fn from_referral(case_id: &str, referral: &pb::CaseReferred) -> anyhow::Result<Self> {
        let case_id = validate::uuid("case_id", case_id)
            .map_err(|v| anyhow::anyhow!("referral of case `{case_id}`: {}", v.description))?;
        let department = referral.department.trim();
        anyhow::ensure!(
            !department.is_empty(),
            "referral of case {case_id} names no department"
        );
        let linkage = match Linkage::try_from(referral.linkage) {
            Ok(Linkage::Unspecified) | Err(_) => Linkage::Petition,
            Ok(linkage) => linkage,
        };
        let category = Category::try_from(referral.category).unwrap_or(Category::Unspecified);
        Ok(Self {
            case_id,
            case_number: referral.case_number.trim().to_string(),
            committee: committee_for(category),
            linkage,
            category,
            summary: referral.summary.trim().chars().take(SUMMARY_MAX).collect(),
            referred_by: department.to_string(),
        })
    }
}

/// RegisterMediator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediator {
    pub name: String,
    pub committee: &'static Committee,
}

impl NewMediator {
    pub fn parse(request: &pb::RegisterMediatorRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let name = v.check(validate::required_text(
            "name",
            &request.name,
            MEDIATOR_NAME_MAX,
        ));
        let committee = v.check(known_committee("committee", &request.committee));
        v.finish()?;
        match (name, committee) {
            (Some(name), Some(committee)) => Ok(Self { name, committee }),
            _ => Err(Error::invalid("name", "invalid request")),
        }
    }
}

/// ListMediators: the committee to list, empty for every committee.
pub fn mediators_filter(request: &pb::ListMediatorsRequest) -> Result<String, Error> {
    let mut v = Violations::new();
    let committee = committee_filter(&request.committee, &mut v);
    v.finish()?;
    Ok(committee)
}

/// ScheduleSession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub mediation_id: String,
    /// Unix millis.
    pub at: i64,
    /// Mediator ids, each once, in the order given.
    pub mediators: Vec<String>,
    pub room: String,
}

impl NewSession {
    pub fn parse(request: &pb::ScheduleSessionRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let mediation_id = v.check(validate::uuid("mediation_id", &request.mediation_id));
        let at = v.check(validate::time("at", request.at.as_ref()));
        if request.mediators.is_empty() {
            v.add("mediators", "at least one mediator must sit");
        }
        let mut mediators: Vec<String> = Vec::with_capacity(request.mediators.len());
        for (i, id) in request.mediators.iter().enumerate() {
            let field = format!("mediators[{i}]");
            match validate::uuid(&field, id) {
                Ok(id) if mediators.contains(&id) => v.add(field, "is listed twice"),
                Ok(id) => mediators.push(id),
                Err(violation) => v.add(violation.field, violation.description),
            }
        }
        let room = v.check(validate::optional_text("room", &request.room, ROOM_MAX));
        v.finish()?;
        match (mediation_id, at, room) {
            (Some(mediation_id), Some(at), Some(room)) => Ok(Self {
                mediation_id,
                at,
                mediators,
                room,
            }),
            _ => Err(Error::invalid("mediation_id", "invalid request")),
        }
    }
}

/// RecordOutcome: an AGREED outcome carries its agreement; the others carry none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conclusion {
    pub mediation_id: String,
    pub outcome: Outcome,
    pub agreement: Option<Agreement>,
    /// 以案定补: 1 to 10 as the mediators judge the file; 0 not stated.
    pub difficulty: u32,
}

impl Conclusion {
    pub fn parse(request: &pb::RecordOutcomeRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let mediation_id = v.check(validate::uuid("mediation_id", &request.mediation_id));
        let outcome = Outcome::from_proto(request.outcome);
        if outcome.is_none() {
            v.add("outcome", "must be AGREED, FAILED or WITHDRAWN");
        }
        let agreement = match (outcome, &request.agreement) {
            (Some(Outcome::Agreed), Some(agreement)) => {
                Agreement::parse(agreement, "agreement", &mut v)
            }
            (Some(Outcome::Agreed), None) => {
                v.add("agreement", "an AGREED outcome must carry its agreement");
                None
            }
            (Some(_), Some(_)) => {
                v.add("agreement", "only an AGREED outcome carries an agreement");
                None
            }
            (_, _) => None,
        };
        if request.difficulty != 0 {
            v.check(validate::within(
                "difficulty",
                request.difficulty,
                DIFFICULTY_POINTS,
            ));
        }
        v.finish()?;
        match (mediation_id, outcome) {
            (Some(mediation_id), Some(outcome)) => Ok(Self {
                mediation_id,
                outcome,
                agreement,
                difficulty: request.difficulty,
            }),
            _ => Err(Error::invalid("mediation_id", "invalid request")),
        }
    }
}

/// RecordPerformance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub mediator_id: String,
    pub mediation_id: String,
    pub difficulty_points: u32,
}

impl Credit {
    pub fn parse(request: &pb::RecordPerformanceRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let mediator_id = v.check(validate::uuid("mediator_id", &request.mediator_id));
        let mediation_id = v.check(validate::uuid("mediation_id", &request.mediation_id));
        v.check(validate::within(
            "difficulty_points",
            request.difficulty_points,
            DIFFICULTY_POINTS,
        ));
        v.finish()?;
        match (mediator_id, mediation_id) {
            (Some(mediator_id), Some(mediation_id)) => Ok(Self {
                mediator_id,
                mediation_id,
                difficulty_points: request.difficulty_points,
            }),
            _ => Err(Error::invalid("mediator_id", "invalid request")),
        }
    }
}

/// ListMediations: filters (empty or `None` for any) and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediationFilter {
    pub case_id: String,
    pub committee: String,
    pub state: Option<MediationState>,
    pub page: Page,
}

impl MediationFilter {
    pub fn parse(request: &pb::ListMediationsRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_id = if request.case_id.trim().is_empty() {
            String::new()
        } else {
            v.check(validate::uuid("case_id", &request.case_id))
                .unwrap_or_default()
        };
        let committee = committee_filter(&request.committee, &mut v);
        let state = match request.state {
            0 => None,
            value => {
                let state = MediationState::from_proto(value);
                if state.is_none() {
                    v.push(validate::unknown("state", value));
                }
                state
            }
        };
        let page = v.check(Page::parse(request.page.as_ref()));
        v.finish()?;
        Ok(Self {
            case_id,
            committee,
            state,
            page: page.ok_or_else(|| Error::invalid("page", "invalid"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    const CASE: &str = "0190a0a0-0000-7000-8000-000000000001";
    const FILE: &str = "0190a0a0-0000-7000-8000-0000000000f1";
    const MEDIATOR: &str = "0190a0a0-0000-7000-8000-0000000000a1";

    fn fields_of(result: Result<impl std::fmt::Debug, Error>) -> Vec<String> {
        match result {
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    fn open(category: Category) -> pb::OpenMediationRequest {
        pb::OpenMediationRequest {
            case_id: CASE.into(),
            linkage: Linkage::Court as i32,
            category: category as i32,
            summary: "粮款纠纷".into(),
            committee: String::new(),
        }
    }

    #[test]
    fn open_request_goes_to_the_committee_of_its_category() {
        let new = NewMediation::from_request(&open(Category::Agriculture)).expect("valid");
        assert_eq!(new.committee.code, "civil-commercial");
        assert_eq!(new.linkage, Linkage::Court);
        assert_eq!(new.referred_by, "");
        let new = NewMediation::from_request(&open(Category::Transport)).expect("valid");
        assert_eq!(new.committee.code, "traffic");
    }

    #[test]
    fn committee_override_wins_over_the_category() {
        let mut r = open(Category::Agriculture);
        r.committee = "housing".into();
        let new = NewMediation::from_request(&r).expect("valid");
        assert_eq!(new.committee.code, "housing");
        assert_eq!(new.category, Category::Agriculture);
    }

    #[test]
    fn unknown_committee_override_is_refused_on_committee() {
        let mut r = open(Category::Agriculture);
        r.committee = "weather".into();
        assert_eq!(fields_of(NewMediation::from_request(&r)), ["committee"]);
    }

    #[test]
    fn open_request_names_every_bad_field() {
        let r = pb::OpenMediationRequest {
            case_id: "YM-2026-000001".into(),
            linkage: 0,
            category: 0,
            summary: "概".repeat(SUMMARY_MAX + 1),
            committee: String::new(),
        };
        assert_eq!(
            fields_of(NewMediation::from_request(&r)),
            ["case_id", "linkage", "category", "summary"]
        );
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let mut r = open(Category::Agriculture);
        r.linkage = 99;
        r.category = 99;
        assert_eq!(
            fields_of(NewMediation::from_request(&r)),
            ["linkage", "category"]
        );
    }

    fn referral(linkage: Linkage, category: Category) -> pb::CaseReferred {
        pb::CaseReferred {
            assignment_id: FILE.into(),
            case_number: "YM-2026-000001".into(),
            department: "agriculture".into(),
            category: category as i32,
            linkage: linkage as i32,
            summary: "粮款".into(),
            location: None,
        }
    }

    #[test]
    fn referral_without_linkage_is_a_petition() {
        let new = NewMediation::from_referral(
            CASE,
            &referral(Linkage::Unspecified, Category::Agriculture),
        )
        .expect("valid");
        assert_eq!(new.linkage, Linkage::Petition);
        assert_eq!(new.referred_by, "agriculture");
        assert_eq!(new.case_number, "YM-2026-000001");
        assert_eq!(new.committee.code, "civil-commercial");
    }

    #[test]
    fn referral_keeps_its_linkage_and_routes_by_category() {
        let new =
            NewMediation::from_referral(CASE, &referral(Linkage::Court, Category::HealthMedical))
                .expect("valid");
        assert_eq!(new.linkage, Linkage::Court);
        assert_eq!(new.committee.code, "medical");
    }

    #[test]
    fn referral_with_a_long_summary_is_cut_not_refused() {
        let mut r = referral(Linkage::Petition, Category::Land);
        r.summary = "概".repeat(SUMMARY_MAX + 10);
        let new = NewMediation::from_referral(CASE, &r).expect("valid");
        assert_eq!(new.summary.chars().count(), SUMMARY_MAX);
    }

    #[test]
    fn referral_needs_a_case_id_and_a_department() {
        let r = referral(Linkage::Petition, Category::Land);
        assert!(NewMediation::from_referral("", &r).is_err());
        assert!(NewMediation::from_referral("not-a-uuid", &r).is_err());
        let mut r = r;
        r.department = " ".into();
        assert!(NewMediation::from_referral(CASE, &r).is_err());
    }

    #[test]
    fn mediator_needs_a_short_name_and_a_known_committee() {
        let ok = NewMediator::parse(&pb::RegisterMediatorRequest {
            name: " 王调解 ".into(),
            committee: "labour".into(),
        })
        .expect("valid");
        assert_eq!((ok.name.as_str(), ok.committee.code), ("王调解", "labour"));
        let bad = pb::RegisterMediatorRequest {
            name: "名".repeat(MEDIATOR_NAME_MAX + 1),
            committee: "court".into(),
        };
        assert_eq!(fields_of(NewMediator::parse(&bad)), ["name", "committee"]);
        let empty = pb::RegisterMediatorRequest::default();
        assert_eq!(fields_of(NewMediator::parse(&empty)), ["name", "committee"]);
    }

    #[test]
    fn session_needs_time_and_distinct_mediators() {
        let mut r = pb::ScheduleSessionRequest {
            mediation_id: FILE.into(),
            at: Some(Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            mediators: vec![MEDIATOR.into()],
            room: "视频调解室".into(),
        };
        let session = NewSession::parse(&r).expect("valid");
        assert_eq!(session.at, 1_767_225_600_000);
        r.mediators = vec![MEDIATOR.into(), "x".into(), MEDIATOR.to_uppercase()];
        r.at = None;
        assert_eq!(
            fields_of(NewSession::parse(&r)),
            ["at", "mediators[1]", "mediators[2]"]
        );
        r.mediators.clear();
        r.room = "室".repeat(ROOM_MAX + 1);
        assert_eq!(
            fields_of(NewSession::parse(&r)),
            ["at", "mediators", "room"]
        );
    }

    fn outcome(
        state: pb::MediationState,
        agreement: Option<pb::Agreement>,
    ) -> pb::RecordOutcomeRequest {
        pb::RecordOutcomeRequest {
            mediation_id: FILE.into(),
            outcome: state as i32,
            agreement,
            difficulty: 0,
        }
    }

    fn agreement() -> pb::Agreement {
        pb::Agreement {
            amount: Some(pb::Money { fen: 5_400_000 }),
            payer: "会展公司".into(),
            payee: "参展商".into(),
            terms: "一次性支付".into(),
            installments: vec![],
        }
    }

    #[test]
    fn agreed_outcome_requires_an_agreement() {
        let done = Conclusion::parse(&outcome(pb::MediationState::Agreed, Some(agreement())))
            .expect("valid");
        assert_eq!(done.outcome, Outcome::Agreed);
        assert_eq!(done.agreement.map(|a| a.amount_fen), Some(5_400_000));
        assert_eq!(
            fields_of(Conclusion::parse(&outcome(
                pb::MediationState::Agreed,
                None
            ))),
            ["agreement"]
        );
    }

    #[test]
    fn failed_and_withdrawn_outcomes_carry_no_agreement() {
        for state in [pb::MediationState::Failed, pb::MediationState::Withdrawn] {
            assert!(Conclusion::parse(&outcome(state, None)).is_ok());
            assert_eq!(
                fields_of(Conclusion::parse(&outcome(state, Some(agreement())))),
                ["agreement"]
            );
        }
    }

    #[test]
    fn open_and_court_confirmed_are_not_outcomes() {
        for state in [
            pb::MediationState::Unspecified,
            pb::MediationState::Open,
            pb::MediationState::CourtConfirmed,
        ] {
            assert_eq!(
                fields_of(Conclusion::parse(&outcome(state, None))),
                ["outcome"]
            );
        }
    }

    #[test]
    fn bad_agreement_fields_are_named_under_agreement() {
        let mut a = agreement();
        a.payee = String::new();
        assert_eq!(
            fields_of(Conclusion::parse(&outcome(
                pb::MediationState::Agreed,
                Some(a)
            ))),
            ["agreement.payee"]
        );
    }

    #[test]
    fn difficulty_points_run_from_one_to_ten() {
        let mut r = pb::RecordPerformanceRequest {
            mediator_id: MEDIATOR.into(),
            mediation_id: FILE.into(),
            difficulty_points: 10,
        };
        assert_eq!(Credit::parse(&r).expect("valid").difficulty_points, 10);
        for points in [0, 11] {
            r.difficulty_points = points;
            assert_eq!(fields_of(Credit::parse(&r)), ["difficulty_points"]);
        }
        r.mediator_id = String::new();
        assert_eq!(
            fields_of(Credit::parse(&r)),
            ["mediator_id", "difficulty_points"]
        );
    }

    #[test]
    fn list_filters_are_checked() {
        let ok = MediationFilter::parse(&pb::ListMediationsRequest::default()).expect("valid");
        assert_eq!(
            (ok.case_id.as_str(), ok.committee.as_str(), ok.state),
            ("", "", None)
        );
        let bad = pb::ListMediationsRequest {
            case_id: "nope".into(),
            committee: "nope".into(),
            state: 42,
            page: Some(pb::PageRequest {
                page_size: 0,
                page_token: "nope".into(),
            }),
        };
        assert_eq!(
            fields_of(MediationFilter::parse(&bad)),
            ["case_id", "committee", "state", "page.page_token"]
        );
    }

    #[test]
    fn mediator_list_filter_must_name_a_committee() {
        let all = pb::ListMediatorsRequest::default();
        assert_eq!(mediators_filter(&all).unwrap(), "");
        let bad = pb::ListMediatorsRequest {
            committee: "nope".into(),
        };
        assert_eq!(fields_of(mediators_filter(&bad)), ["committee"]);
    }
}
