//! Review and re-review (复查 / 复核, 信访工作条例): what a valid request is, and whether a case
//! may be reviewed now — a REPLIED or CLOSED case, within the window after the answer it
//! contests (the reply, or the review decision), at most two stages, never a matter closed for
//! good. The reason may hold personal data, so it stays in intake's store; the event
//! (`case.review_requested`) says only the stage and the department whose answer is contested.

use yimen_platform::calendar::{self, Holidays};
use yimen_platform::error::{Error, Violations};
use yimen_platform::validate;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{CaseReviewRequested, CaseStatus, RequestReviewRequest, ReviewStage};

use super::CaseRef;
use super::progress;

/// The longest reason kept, in characters.
pub const REASON_MAX: usize = 2000;

/// A checked RequestReview request. `Debug` leaves the reason out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReviewRequest {
    pub case_ref: CaseRef,
    /// Trimmed, not empty. Stored, never published.
    pub reason: String,
}

impl std::fmt::Debug for ReviewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewRequest")
            .field("case_ref", &self.case_ref)
            .field("reason", &"<redacted>")
            .finish()
    }
}

impl ReviewRequest {
    /// Every broken field at once.
    pub fn parse(request: &RequestReviewRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_ref = v.check(CaseRef::parse(&request.case_ref));
        let reason = v.check(validate::required_text(
            "reason",
            &request.reason,
            REASON_MAX,
        ));
        v.finish_with(
            case_ref
                .zip(reason)
                .map(|(case_ref, reason)| Self { case_ref, reason }),
        )
    }
}

/// Where a case stands for a review: what [`next_stage`] decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewStanding {
    pub case_number: String,
    pub status: CaseStatus,
    /// A re-review was decided: the matter is closed for good.
    pub finally_closed: bool,
    /// How many reviews were asked for so far (0, 1 or 2).
    pub stages_so_far: u32,
    /// When the latest answer (reply or review decision) was given; `None` before any.
    pub answered_at: Option<i64>,
}

/// The window for asking: `days` after the answer, its last day moved past rest days.
#[derive(Debug, Clone)]
pub struct ReviewWindow {
    pub days: u32,
    pub holidays: Holidays,
}

impl ReviewWindow {
    /// The last instant a review of an answer given at `answered_at` may be asked for.
    pub fn closes(&self, answered_at: i64) -> i64 {
        self.holidays.period_end(answered_at, self.days)
    }
}

/// The stage a review asked for at `now` would be, or FAILED_PRECONDITION naming what stands
/// in the way.
pub fn next_stage(
    case: &ReviewStanding,
    window: &ReviewWindow,
    now: i64,
) -> Result<ReviewStage, Error> {
    let number = &case.case_number;
    if case.finally_closed {
        return Err(Error::precondition(format!(
            "case {number} is closed for good after its re-review (复核); it is not reviewed again"
        )));
    }
    if !matches!(case.status, CaseStatus::Replied | CaseStatus::Closed) {
        return Err(Error::precondition(format!(
            "case {number} is {}; only a replied or closed case may be reviewed",
            progress::status_words(case.status)
        )));
    }
    if case.stages_so_far >= 2 {
        return Err(Error::precondition(format!(
            "case {number} has had its review and re-review; there is no further stage"
        )));
    }
    let Some(answered_at) = case.answered_at else {
        return Err(Error::precondition(format!(
            "case {number} has no answer to review"
        )));
    };
    let closes = window.closes(answered_at);
    if now > closes {
        return Err(Error::precondition(format!(
            "case {number} was answered on {}; a review could be asked for until {}, {} days on",
            calendar::date(answered_at),
            calendar::date(closes),
            window.days
        )));
    }
    Ok(if case.stages_so_far == 0 {
        ReviewStage::Review
    } else {
        ReviewStage::ReReview
    })
}

/// The event announcing a review of `department`'s answer.
pub fn requested(stage: ReviewStage, department: &str) -> Payload {
    Payload::CaseReviewRequested(CaseReviewRequested {
        stage: stage as i32,
        department: department.to_string(),
    })
}

/// Whether `event` closes its matter for good: a re-review (复核) was decided.
pub fn closes_for_good(event: &yimen_proto::v1::Event) -> bool {
    matches!(&event.payload, Some(Payload::CaseReviewed(r)) if r.stage == ReviewStage::ReReview as i32)
}

/// `REVIEW_STAGE_RE_REVIEW` → `re-review (复核)`.
pub fn stage_words(stage: i32) -> &'static str {
    match ReviewStage::try_from(stage) {
        Ok(ReviewStage::Review) => "review (复查)",
        Ok(ReviewStage::ReReview) => "re-review (复核)",
        Ok(ReviewStage::Unspecified) | Err(_) => "review",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-03-02 10:00 in China, a Monday.
    const MONDAY: i64 = 1_772_445_600_000;

    fn window() -> ReviewWindow {
        ReviewWindow {
            days: 30,
            holidays: Holidays::none(),
        }
    }

    fn standing(status: CaseStatus, stages_so_far: u32) -> ReviewStanding {
        ReviewStanding {
            case_number: "YM-2026-000001".into(),
            status,
            finally_closed: false,
            stages_so_far,
            answered_at: Some(MONDAY),
        }
    }

    fn refused(result: Result<ReviewStage, Error>) -> String {
        match result {
            Err(Error::FailedPrecondition(m)) => m,
            other => panic!("should be refused: {other:?}"),
        }
    }

    #[test]
    fn a_request_names_every_broken_field_and_keeps_its_reason_out_of_debug() {
        let e = ReviewRequest::parse(&RequestReviewRequest {
            case_ref: " ".into(),
            reason: "x".repeat(REASON_MAX + 1),
        })
        .unwrap_err();
        match e {
            Error::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["case_ref", "reason"]);
            }
            other => panic!("{other:?}"),
        }
        let ok = ReviewRequest::parse(&RequestReviewRequest {
            case_ref: "YM-2026-000001".into(),
            reason: " 王某不服答复 ".into(),
        })
        .unwrap();
        assert_eq!(ok.reason, "王某不服答复");
        assert!(!format!("{ok:?}").contains("王某"));
    }

    #[test]
    fn a_replied_or_closed_case_is_reviewed_within_the_window() {
        for status in [CaseStatus::Replied, CaseStatus::Closed] {
            let stage = next_stage(&standing(status, 0), &window(), MONDAY + 30 * DAY);
            assert_eq!(stage.unwrap(), ReviewStage::Review);
        }
    }

    #[test]
    fn past_the_window_a_review_is_refused_with_the_dates() {
        let m = refused(next_stage(
            &standing(CaseStatus::Replied, 0),
            &window(),
            MONDAY + 30 * DAY + 1,
        ));
        assert!(m.contains("2026-03-02") && m.contains("2026-04-01"), "{m}");
    }

    #[test]
    fn a_window_ending_on_a_rest_day_runs_to_the_next_working_day() {
        // 30 days after Monday 2026-03-02 is Wednesday 04-01; 33 days on is Saturday 04-04.
        let window = ReviewWindow {
            days: 33,
            holidays: Holidays::parse("").unwrap(),
        };
        let closes = window.closes(MONDAY);
        assert!(closes > MONDAY + 33 * DAY, "moved past the weekend");
        assert!(
            next_stage(
                &standing(CaseStatus::Replied, 0),
                &window,
                MONDAY + 34 * DAY
            )
            .is_ok()
        );
    }

    #[test]
    fn the_second_request_is_the_re_review_and_there_is_no_third() {
        let now = MONDAY + DAY;
        assert_eq!(
            next_stage(&standing(CaseStatus::Closed, 1), &window(), now).unwrap(),
            ReviewStage::ReReview
        );
        let m = refused(next_stage(&standing(CaseStatus::Closed, 2), &window(), now));
        assert!(m.contains("review and re-review"), "{m}");
        let mut closed_for_good = standing(CaseStatus::Closed, 2);
        closed_for_good.finally_closed = true;
        let m = refused(next_stage(&closed_for_good, &window(), now));
        assert!(m.contains("closed for good"), "{m}");
    }

    #[test]
    fn a_case_not_answered_yet_is_refused_naming_its_state() {
        for status in [
            CaseStatus::Assigned,
            CaseStatus::Accepted,
            CaseStatus::UnderReview,
            CaseStatus::Refused,
        ] {
            let m = refused(next_stage(&standing(status, 0), &window(), MONDAY));
            assert!(m.contains(&progress::status_words(status)), "{m}");
        }
    }
}
