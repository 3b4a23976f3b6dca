//! Review and re-review (复查 / 复核): which body reviews a department's answer, what a valid
//! decision is, and what a review assignment says. A department names its review body when it
//! joins (`review_body`); none named, or one no longer at the center, means the city center
//! (终点站), which also reviews its own answers: nothing in the system sits above it. A
//! re-review goes to the review body of the body that decided the review.

use yimen_platform::error::{Error, Violations};
use yimen_platform::validate;
use yimen_proto::v1::{self as pb, ReviewOutcome, ReviewStage};

use super::assignment::REPLY_MAX;
use super::department::{CITY_CENTER, CITY_CENTER_NAME, Department};

/// The body that reviews `contested`'s answers among `departments`: its review body when that
/// one is active (and not itself), else the city center. Answers its code and name.
pub fn review_body(contested: &str, departments: &[Department]) -> (String, String) {
    let active = |code: &str| departments.iter().find(|d| d.active && d.code() == code);
    let named = active(contested)
        .map(|d| d.spec.review_body.as_str())
        .filter(|body| !body.is_empty() && *body != contested)
        .and_then(active);
    match named {
        Some(body) => (body.code().to_string(), body.spec.name.clone()),
        None => {
            let name =
                active(CITY_CENTER).map_or(CITY_CENTER_NAME.to_string(), |d| d.spec.name.clone());
            (CITY_CENTER.to_string(), name)
        }
    }
}

/// Why a review assignment went to its body, as its `reason` says.
pub fn reason(stage: ReviewStage, contested: &str) -> String {
    match stage {
        ReviewStage::ReReview => format!("re-review (复核) of the review decision of {contested}"),
        _ => format!("review (复查) of the answer of {contested}"),
    }
}

/// A checked DecideReview request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewDecision {
    pub assignment_id: String,
    pub outcome: ReviewOutcome,
    /// Trimmed, not empty; told to the petitioner.
    pub decision: String,
}

impl ReviewDecision {
    /// Every broken field at once.
    pub fn parse(request: &pb::DecideReviewRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let outcome = v.check(validate::known::<ReviewOutcome>("outcome", request.outcome));
        let decision = v.check(validate::required_text(
            "decision",
            &request.decision,
            REPLY_MAX,
        ));
        v.finish()?;
        match (id, outcome, decision) {
            (Some(assignment_id), Some(outcome), Some(decision)) => Ok(Self {
                assignment_id,
                outcome,
                decision,
            }),
            _ => Err(Error::Internal(anyhow::anyhow!(
                "a checked field went missing"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DepartmentCode, DepartmentSpec, Level};

    fn department(code: &str, review_body: &str, active: bool) -> Department {
        Department {
            spec: DepartmentSpec {
                code: DepartmentCode::parse(code).unwrap(),
                name: format!("{code} office"),
                level: Level::Town,
                town: "洋梓镇".into(),
                village: String::new(),
                categories: Vec::new(),
                review_body: review_body.into(),
            },
            active,
            joined_at: 0,
        }
    }

    #[test]
    fn a_named_review_body_reviews_and_the_city_center_otherwise() {
        let departments = [
            department(CITY_CENTER, "", true),
            department("village-mediation", "town-petition", true),
            department("town-petition", "", true),
            department("town-police", "gone-office", true),
            department("gone-office", "", false),
        ];
        assert_eq!(
            review_body("village-mediation", &departments).0,
            "town-petition"
        );
        // The re-review: the review body of the body that reviewed.
        assert_eq!(review_body("town-petition", &departments).0, CITY_CENTER);
        assert_eq!(
            review_body("town-police", &departments).0,
            CITY_CENTER,
            "a review body that left"
        );
        assert_eq!(review_body("unknown", &departments).0, CITY_CENTER);
        assert_eq!(review_body(CITY_CENTER, &departments).0, CITY_CENTER);
        assert_eq!(
            review_body("town-petition", &departments).1,
            "city-center office"
        );
    }

    #[test]
    fn a_decision_names_every_broken_field() {
        let e = ReviewDecision::parse(&pb::DecideReviewRequest {
            assignment_id: "nope".into(),
            outcome: 0,
            decision: " ".into(),
        })
        .unwrap_err();
        match e {
            Error::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["assignment_id", "outcome", "decision"]);
            }
            other => panic!("{other:?}"),
        }
        let ok = ReviewDecision::parse(&pb::DecideReviewRequest {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            outcome: ReviewOutcome::Rehandle as i32,
            decision: " 事实不清，重新办理 ".into(),
        })
        .unwrap();
        assert_eq!(ok.outcome, ReviewOutcome::Rehandle);
        assert_eq!(ok.decision, "事实不清，重新办理");
    }

    #[test]
    fn the_reason_names_the_stage_and_the_contested_department() {
        assert_eq!(
            reason(ReviewStage::Review, "civil-affairs"),
            "review (复查) of the answer of civil-affairs"
        );
        assert!(reason(ReviewStage::ReReview, "city-center").starts_with("re-review (复核)"));
    }
}
