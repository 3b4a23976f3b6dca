//! How the rest of the process moves a case, as the petitioner sees it: the status an event
//! sets (and who holds the case in it), and the line it adds to the timeline. Decided by the
//! payload, not the routing key, so a department code can never be mistaken for an event type.
//!
//! The same rules serve the events intake consumes (dispatch's, mediation's, analysis's) and
//! the ones it publishes itself when a petitioner evaluates a reply.

use yimen_proto::event_type::{
    ALERT_RAISED, CASE_ACCEPTED, CASE_ASSIGNED, CASE_CLOSED, CASE_ESCALATED, CASE_EVALUATED,
    CASE_EXTENDED, CASE_FORWARDED, CASE_INSTRUCTED, CASE_OVERDUE, CASE_PART_REPLIED, CASE_REFERRED,
    CASE_REFUSED, CASE_REGISTERED, CASE_REOPENED, CASE_REPLIED, CASE_RESUMED, CASE_RETURNED,
    CASE_REVIEW_REQUESTED, CASE_REVIEW_STARTED, CASE_REVIEWED, CASE_SUPPLEMENT_REQUESTED,
    CASE_SUPPLEMENTED, CASE_TRANSFERRED, CASE_WITHDRAWN, MEDIATION_CONCLUDED,
    MEDIATION_COURT_CONFIRMED, MEDIATION_OPENED,
};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{
    Agreement, AlertKind, AssignmentCause, CaseStatus, Category, Channel, EscalationLevel, Event,
    Linkage, MediationState, OverdueStage, RefusalReason, ReviewOutcome, ReviewStage, Satisfaction,
};

use super::review;

use yimen_platform::calendar;
use yimen_platform::money;

/// What one event does to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The status it sets, if it sets one.
    pub holding: Option<Holding>,
    pub line: TimelineLine,
    /// A co-handler (协办) the event enlists: it may read the case, which stays with the lead
    /// (主办) in the status it has.
    pub co_handler: Option<String>,
}

/// A status and the department holding the case in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub status: CaseStatus,
    /// `None` keeps the department holding the case now: mediation's events name a committee,
    /// while the department keeps the case (and dispatch its assignment).
    pub department: Option<String>,
}

/// One timeline line: readable and free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    /// The event kind without the department: `case.assigned`, `case.replied`, ...
    pub kind: String,
    pub summary: String,
    /// The department involved, when there is one; empty otherwise.
    pub department: String,
}

impl Progress {
    /// The department this event gives the case to, if it names one: from then on that
    /// department holds or held the case, and may read it. Known from the event alone, so a
    /// late or out-of-order event still grants what it says.
    pub fn holder(&self) -> Option<&str> {
        self.holding
            .as_ref()
            .and_then(|h| h.department.as_deref())
            .or(self.co_handler.as_deref())
            .filter(|d| !d.is_empty())
    }

    /// A line that leaves the status as it is.
    fn line(kind: &str, department: &str, summary: impl Into<String>) -> Self {
        Self {
            holding: None,
            line: TimelineLine {
                kind: kind.into(),
                summary: summary.into(),
                department: department.into(),
            },
            co_handler: None,
        }
    }

    /// ... and lets the line's department, a co-handler, read the case.
    fn co_handled(self) -> Self {
        Self {
            co_handler: Some(self.line.department.clone()),
            ..self
        }
    }

    /// ... and moves the case to `status`, held by the line's department.
    fn sets(self, status: CaseStatus) -> Self {
        let department = Some(self.line.department.clone());
        Self {
            holding: Some(Holding { status, department }),
            ..self
        }
    }

    /// ... and moves the case to `status`, held by whoever holds it now.
    fn sets_keeping_department(self, status: CaseStatus) -> Self {
        Self {
            holding: Some(Holding {
                status,
                department: None,
            }),
            ..self
        }
    }
}

/// What `event` does to its case; `None` for events that do not move a case.
pub fn of(event: &Event) -> Option<Progress> {
    Some(match event.payload.as_ref()? {
        Payload::CaseAssigned(a) if a.cause == AssignmentCause::CoHandling as i32 => {
            let to = match a.department_name.as_str() {
                "" => a.department.clone(),
                name => format!("{name} ({})", a.department),
            };
            Progress::line(
                CASE_ASSIGNED,
                &a.department,
                format!("{to} co-handles a part (协办): {}", a.reason),
            )
            .co_handled()
        }
        Payload::CaseAccepted(a) if a.co_handling => Progress::line(
            CASE_ACCEPTED,
            &a.department,
            format!("{} accepted its part (协办)", a.department),
        )
        .co_handled(),
        Payload::CasePartReplied(r) => {
            let late = if r.within_deadline {
                ""
            } else {
                " (after the deadline)"
            };
            Progress::line(
                CASE_PART_REPLIED,
                &r.department,
                format!(
                    "{} replied its part to {}{late}: {}",
                    r.department, r.lead_department, r.reply
                ),
            )
        }
        Payload::CaseInstructed(i) => Progress::line(
            CASE_INSTRUCTED,
            &i.department,
            format!(
                "{INSTRUCTED}{}: {}: {}",
                i.due_at
                    .as_ref()
                    .map(|by| format!("; to be reported back by {}", date_of(by)))
                    .unwrap_or_default(),
                i.leader,
                i.instruction
            ),
        ),
        Payload::CaseAssigned(a) => {
            let to = match a.department_name.as_str() {
                "" => a.department.clone(),
                name => format!("{name} ({})", a.department),
            };
            let summary = match a.reason.as_str() {
                "" => format!("assigned to {to}"),
                reason => format!("assigned to {to}: {reason}"),
            };
            // Also a reopened case's way back: REOPENED → ASSIGNED.
            Progress::line(CASE_ASSIGNED, &a.department, summary).sets(CaseStatus::Assigned)
        }
        Payload::CaseAccepted(a) => {
            let summary = match &a.handle_by {
                Some(by) => format!(
                    "accepted by {}; to be handled by {}",
                    a.department,
                    calendar::date(yimen_platform::time::millis(by))
                ),
                None => format!("accepted by {}", a.department),
            };
            Progress::line(CASE_ACCEPTED, &a.department, summary).sets(CaseStatus::Accepted)
        }
        // The case stays assigned: dispatch follows with the next department's assignment.
        Payload::CaseReturned(r) => Progress::line(
            CASE_RETURNED,
            &r.department,
            format!("returned by {}: {}", r.department, r.reason),
        ),
        Payload::CaseReplied(r) => {
            let late = if r.within_deadline {
                ""
            } else {
                " (after the deadline)"
            };
            Progress::line(
                CASE_REPLIED,
                &r.department,
                format!("replied by {}{late}: {}", r.department, r.reply),
            )
            .sets(CaseStatus::Replied)
        }
        // The department keeps the case until mediation opens it.
        Payload::CaseReferred(r) => Progress::line(
            CASE_REFERRED,
            &r.department,
            format!("referred to mediation by {}", r.department),
        ),
        Payload::CaseEscalated(e) => {
            let summary = match EscalationLevel::try_from(e.level) {
                Ok(EscalationLevel::Reminder) => "reminder (催办)".to_string(),
                Ok(EscalationLevel::Supervision) => "supervision (督办)".to_string(),
                Ok(EscalationLevel::Leader) if e.leader.is_empty() => {
                    "a leader took the case (包案)".to_string()
                }
                Ok(EscalationLevel::Leader) => {
                    format!("a leader took the case (包案): {}", e.leader)
                }
                Ok(EscalationLevel::Unspecified) | Err(_) => "escalated".to_string(),
            };
            // An escalation nobody asked for says why (a problem case, a deadline passed).
            let summary = match (e.cause, e.reason.trim()) {
                (0, _) | (_, "") => summary,
                (_, reason) => format!("{summary}: {reason}"),
            };
            Progress::line(CASE_ESCALATED, &e.department, summary)
        }
        Payload::CaseOverdue(o) => {
            let by = o.deadline.as_ref().map_or_else(String::new, |at| {
                format!(" ({})", calendar::date(yimen_platform::time::millis(at)))
            });
            let summary = match OverdueStage::try_from(o.stage) {
                Ok(OverdueStage::Handling) => format!(
                    "the handling deadline{by} passed without a reply from {}",
                    o.department
                ),
                _ => format!(
                    "the acceptance deadline{by} passed: reminder (催办) to {}",
                    o.department
                ),
            };
            Progress::line(CASE_OVERDUE, &o.department, summary)
        }
        Payload::CaseExtended(e) => {
            let unit = if e.days == 1 { "day" } else { "days" };
            let summary = match &e.handle_by {
                Some(by) => format!(
                    "handling deadline extended by {} {unit}; to be handled by {}",
                    e.days,
                    calendar::date(yimen_platform::time::millis(by))
                ),
                None => format!("handling deadline extended by {} {unit}", e.days),
            };
            Progress::line(CASE_EXTENDED, &e.department, summary)
        }
        Payload::CaseRefused(r) => {
            let mut summary = format!(
                "not accepted (不予受理) by {}: {}",
                r.department,
                refusal_words(r.reason)
            );
            if !r.channel.is_empty() {
                summary.push_str(&format!("; take it to {}", r.channel));
            }
            if !r.explanation.is_empty() {
                summary.push_str(&format!(": {}", r.explanation));
            }
            Progress::line(CASE_REFUSED, &r.department, summary).sets(CaseStatus::Refused)
        }
        Payload::CaseForwarded(f) => Progress::line(
            CASE_FORWARDED,
            &f.department,
            format!(
                "forwarded (转送) by {} to {}: {}",
                f.department, f.authority, f.reason
            ),
        )
        .sets(CaseStatus::Forwarded),
        Payload::CaseSupplementRequested(s) => Progress::line(
            CASE_SUPPLEMENT_REQUESTED,
            &s.department,
            format!(
                "{} asked for material: {}; the deadline is stopped until it is added",
                s.department, s.requested
            ),
        )
        .sets(CaseStatus::AwaitingSupplement),
        // The status waits for dispatch's case.resumed, which says which deadline runs again.
        Payload::CaseSupplemented(s) => {
            Progress::line(CASE_SUPPLEMENTED, &s.department, "material added")
        }
        Payload::CaseResumed(r) => {
            let days = r.paused.as_ref().map_or(0, |d| d.seconds) as f64 / 86_400.0;
            let paused = format!("the deadline runs again after a pause of {days:.1} days");
            let (status, summary) = match (&r.handle_by, &r.accept_by) {
                (Some(by), _) => (
                    CaseStatus::Accepted,
                    format!("{paused}; to be handled by {}", date_of(by)),
                ),
                (None, Some(by)) => (
                    CaseStatus::Assigned,
                    format!("{paused}; to be accepted by {}", date_of(by)),
                ),
                (None, None) => (CaseStatus::Assigned, paused),
            };
            Progress::line(CASE_RESUMED, &r.department, summary).sets(status)
        }
        Payload::MediationOpened(m) => {
            let committee = match m.committee_name.as_str() {
                "" => &m.committee,
                name => name,
            };
            let summary = match linkage_words(m.linkage) {
                Some(linkage) => format!("mediation opened at {committee} ({linkage})"),
                None => format!("mediation opened at {committee}"),
            };
            Progress::line(MEDIATION_OPENED, &m.referred_by, summary)
                .sets_keeping_department(CaseStatus::InMediation)
        }
        Payload::MediationConcluded(m) => match MediationState::try_from(m.outcome) {
            // The case stays in mediation: dispatch replies it with the agreement's terms, and
            // its case.replied sets REPLIED.
            Ok(MediationState::Agreed) => {
                Progress::line(MEDIATION_CONCLUDED, "", agreement(m.agreement.as_ref()))
            }
            // The department still handles the matter.
            Ok(MediationState::Failed) => {
                Progress::line(MEDIATION_CONCLUDED, "", "mediation failed")
                    .sets_keeping_department(CaseStatus::Accepted)
            }
            Ok(MediationState::Withdrawn) => {
                Progress::line(MEDIATION_CONCLUDED, "", "mediation withdrawn")
                    .sets_keeping_department(CaseStatus::Accepted)
            }
            // Not an outcome the contract allows; the line still shows it ended.
            _ => Progress::line(MEDIATION_CONCLUDED, "", "mediation concluded"),
        },
        Payload::MediationCourtConfirmed(c) => Progress::line(
            MEDIATION_COURT_CONFIRMED,
            "",
            if c.confirmed {
                "court confirmed the agreement (司法确认)"
            } else {
                "court refused to confirm the agreement"
            },
        ),
        Payload::AlertRaised(a) => {
            let kind = a.alert.as_ref().map_or(0, |alert| alert.kind);
            let summary = match AlertKind::try_from(kind) {
                Ok(AlertKind::Collective) => "alert: collective petition",
                Ok(AlertKind::RepeatPetitioner) => "alert: repeat petitioner",
                Ok(AlertKind::NoOwner) => "alert: no department owns the matter",
                Ok(AlertKind::Overdue) => "alert: overdue",
                Ok(AlertKind::ProblemCase) => "alert: problem case (问题件)",
                Ok(AlertKind::Unspecified) | Err(_) => "alert",
            };
            Progress::line(ALERT_RAISED, "", summary)
        }
        Payload::CaseEvaluated(e) => Progress::line(
            CASE_EVALUATED,
            &e.department,
            format!("evaluated: {}", satisfaction_words(e.satisfaction)),
        ),
        Payload::CaseClosed(c) => {
            Progress::line(CASE_CLOSED, &c.department, "closed (办结)").sets(CaseStatus::Closed)
        }
        Payload::CaseReopened(r) => {
            let summary = match r.reason.as_str() {
                "" => "reopened; dispatch assigns it again".to_string(),
                reason => format!("reopened: {reason}; dispatch assigns it again"),
            };
            Progress::line(CASE_REOPENED, &r.department, summary).sets(CaseStatus::Reopened)
        }
        // The contested answer's department keeps the case until the review body takes it.
        Payload::CaseReviewRequested(r) => Progress::line(
            CASE_REVIEW_REQUESTED,
            &r.department,
            format!("{} asked for", review::stage_words(r.stage)),
        )
        .sets_keeping_department(CaseStatus::UnderReview),
        // The review body holds the case from now on, and may read it.
        Payload::CaseReviewStarted(r) => {
            let body = match r.department_name.as_str() {
                "" => r.department.clone(),
                name => format!("{name} ({})", r.department),
            };
            let by = r
                .decide_by
                .as_ref()
                .map(|t| format!("; to be decided by {}", date_of(t)))
                .unwrap_or_default();
            Progress::line(
                CASE_REVIEW_STARTED,
                &r.department,
                format!("{} by {body}{by}", review::stage_words(r.stage)),
            )
            .sets(CaseStatus::UnderReview)
        }
        // Upheld or changed, the decision answers the case; handled again, the new assignment
        // (case.assigned) moves it.
        Payload::CaseReviewed(r) => {
            let outcome = match ReviewOutcome::try_from(r.outcome) {
                Ok(ReviewOutcome::Uphold) => "the answer upheld",
                Ok(ReviewOutcome::Change) => "the answer changed",
                Ok(ReviewOutcome::Rehandle) => "the matter is to be handled again",
                _ => "decided",
            };
            let last = if r.stage == ReviewStage::ReReview as i32 {
                "; closed for good (终结)"
            } else {
                ""
            };
            let line = Progress::line(
                CASE_REVIEWED,
                &r.department,
                format!(
                    "{} decided by {}: {outcome}: {}{last}",
                    review::stage_words(r.stage),
                    r.department,
                    r.decision
                ),
            );
            if r.outcome == ReviewOutcome::Rehandle as i32 {
                line
            } else {
                line.sets(CaseStatus::Closed)
            }
        }
        Payload::CaseWithdrawn(w) => Progress::line(
            CASE_WITHDRAWN,
            &w.department,
            format!("withdrawn by the petitioner (撤回): {}", w.reason),
        )
        .sets_keeping_department(CaseStatus::Withdrawn),
        // The status follows with the next department's case.assigned.
        Payload::CaseTransferred(t) => {
            let how = if t.cause == AssignmentCause::HandedDown as i32 {
                "handed down (交办)"
            } else {
                "taken over (提级)"
            };
            Progress::line(
                CASE_TRANSFERRED,
                &t.department,
                format!(
                    "{how} from {} to {}: {}",
                    t.department, t.to_department, t.reason
                ),
            )
        }
        Payload::CaseRegistered(_)
        | Payload::DepartmentJoined(_)
        | Payload::DepartmentLeft(_)
        | Payload::AuditAnchored(_) => {
            return None;
        }
    })
}

/// The agreement as one line: amount, who pays whom, in how many installments.
fn agreement(agreement: Option<&Agreement>) -> String {
    let mut terms = Vec::new();
    if let Some(a) = agreement {
        if let Some(amount) = &a.amount {
            terms.push(money::yuan(amount.fen));
        }
        if !a.payer.is_empty() && !a.payee.is_empty() {
            terms.push(format!("{} → {}", a.payer, a.payee));
        }
        match a.installments.len() {
            0 => {}
            1 => terms.push("1 installment".into()),
            n => terms.push(format!("{n} installments")),
        }
    }
    if terms.is_empty() {
        "mediation agreement reached".into()
    } else {
        format!("mediation agreement: {}", terms.join(", "))
    }
}

/// The four linkages (四通) in words; `None` when not stated.
fn linkage_words(linkage: i32) -> Option<&'static str> {
    match Linkage::try_from(linkage).ok()? {
        Linkage::Court => Some("court-entrusted 诉调"),
        Linkage::Petition => Some("petition 访调"),
        Linkage::Administrative => Some("administrative 行调"),
        Linkage::Guidance => Some("guidance 上下"),
        Linkage::Unspecified => None,
    }
}

fn date_of(at: &prost_types::Timestamp) -> String {
    calendar::date(yimen_platform::time::millis(at))
}

/// Why a case was not accepted, in words (诉访分离 names the legal channel).
pub fn refusal_words(reason: i32) -> &'static str {
    match RefusalReason::try_from(reason) {
        Ok(RefusalReason::Litigation) => "a matter for the courts (诉讼)",
        Ok(RefusalReason::Arbitration) => "a matter for arbitration (仲裁)",
        Ok(RefusalReason::AdministrativeReconsideration) => {
            "a matter for administrative reconsideration (行政复议)"
        }
        Ok(RefusalReason::AlreadyHandled) => "already handled or being handled",
        Ok(RefusalReason::NotAPetition) => "not a petition matter",
        Ok(RefusalReason::Unspecified) | Err(_) => "no reason stated",
    }
}

/// Why a case was not accepted, as a notice to the petitioner says it.
pub fn refusal_words_zh(reason: i32) -> &'static str {
    match RefusalReason::try_from(reason) {
        Ok(RefusalReason::Litigation) => "属于诉讼范围",
        Ok(RefusalReason::Arbitration) => "属于仲裁范围",
        Ok(RefusalReason::AdministrativeReconsideration) => "属于行政复议范围",
        Ok(RefusalReason::AlreadyHandled) => "该事项已经受理或者正在办理",
        Ok(RefusalReason::NotAPetition) => "不属于信访事项",
        Ok(RefusalReason::Unspecified) | Err(_) => "未说明",
    }
}

/// `SATISFACTION_BASICALLY_SATISFIED` → `basically satisfied`.
pub fn satisfaction_words(satisfaction: i32) -> String {
    match Satisfaction::try_from(satisfaction) {
        Ok(Satisfaction::Unspecified) | Err(_) => "not stated".into(),
        Ok(s) => readable(s.as_str_name(), "SATISFACTION_"),
    }
}

/// `CASE_STATUS_IN_MEDIATION` → `in mediation`.
pub fn status_words(status: CaseStatus) -> String {
    readable(status.as_str_name(), "CASE_STATUS_")
}

/// A timeline line as the petitioner's own view shows it: the leader who took the case (包案)
/// is a person, so only the fact is told, not the name.
pub fn for_petitioner(kind: &str, summary: &str) -> String {
    const LEADER: &str = "a leader took the case (包案)";
    if kind == CASE_ESCALATED && summary.starts_with(LEADER) {
        LEADER.to_string()
    } else if kind == CASE_INSTRUCTED {
        // The deadline is told; the leader and the instruction (after it) are not.
        summary
            .split_once(": ")
            .map_or(INSTRUCTED, |(told, _)| told)
            .to_string()
    } else {
        summary.to_string()
    }
}

/// How an instruction's line begins: then its deadline, and after `: ` the leader and the
/// instruction.
const INSTRUCTED: &str = "a leader's written instruction (批示) on the case";

/// Events may arrive out of order: a status set at `status_at` gives way only to an event not
/// older than it, so a late `case.assigned` never rolls a replied case back.
pub fn supersedes(event_at: i64, status_at: i64) -> bool {
    event_at >= status_at
}

/// The first timeline line of every case.
pub fn registered(
    case_number: &str,
    channel: Channel,
    category: Category,
    headcount: u32,
) -> TimelineLine {
    let collective = if super::submission::is_collective(headcount) {
        format!("; collective petition of {headcount} people")
    } else {
        String::new()
    };
    TimelineLine {
        kind: CASE_REGISTERED.into(),
        summary: format!(
            "registered {case_number}: {} about {}{collective}",
            readable(channel.as_str_name(), "CHANNEL_"),
            readable(category.as_str_name(), "CATEGORY_"),
        ),
        department: String::new(),
    }
}

/// `CATEGORY_SOCIAL_ASSISTANCE` → `social assistance`.
fn readable(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .replace('_', " ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use yimen_proto::v1::{
        Alert, AlertRaised, CaseAccepted, CaseAssigned, CaseClosed, CaseEscalated, CaseEvaluated,
        CaseExtended, CaseInstructed, CasePartReplied, CaseReferred, CaseReopened, CaseReplied,
        CaseReturned, CaseReviewRequested, CaseReviewStarted, CaseReviewed, DepartmentLeft,
        Installment, MediationConcluded, MediationCourtConfirmed, MediationOpened, Money,
    };

    use super::*;

    fn event(payload: Payload) -> Event {
        Event {
            id: "e".into(),
            r#type: "case.anything.civil-affairs".into(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    fn progress(payload: Payload) -> Progress {
        of(&event(payload)).expect("moves the case")
    }

    fn held_by(status: CaseStatus, department: &str) -> Option<Holding> {
        Some(Holding {
            status,
            department: Some(department.into()),
        })
    }

    fn keeping_department(status: CaseStatus) -> Option<Holding> {
        Some(Holding {
            status,
            department: None,
        })
    }

    // 2026-03-01T00:00:00+08:00
    const MARCH_FIRST: prost_types::Timestamp = prost_types::Timestamp {
        seconds: 1_772_294_400,
        nanos: 0,
    };

    #[test]
    fn assignment_sets_assigned_and_names_department_and_reason() {
        let p = progress(Payload::CaseAssigned(CaseAssigned {
            department: "civil-affairs".into(),
            department_name: "民政局".into(),
            reason: "owns social assistance".into(),
            ..Default::default()
        }));
        assert_eq!(p.holding, held_by(CaseStatus::Assigned, "civil-affairs"));
        assert_eq!(p.line.kind, CASE_ASSIGNED);
        assert_eq!(
            p.line.summary,
            "assigned to 民政局 (civil-affairs): owns social assistance"
        );
        assert_eq!(p.line.department, "civil-affairs");
    }

    #[test]
    fn a_co_handler_reads_the_case_which_stays_with_the_lead() {
        let assigned = progress(Payload::CaseAssigned(CaseAssigned {
            department: "civil-affairs".into(),
            cause: AssignmentCause::CoHandling as i32,
            reason: "co-handling (协办) with 郢中街道 leading (主办)".into(),
            ..Default::default()
        }));
        let accepted = progress(Payload::CaseAccepted(CaseAccepted {
            department: "civil-affairs".into(),
            co_handling: true,
            ..Default::default()
        }));
        for p in [&assigned, &accepted] {
            assert_eq!(p.holding, None, "{:?}", p.line);
            assert_eq!(p.holder(), Some("civil-affairs"));
        }
        assert!(assigned.line.summary.contains("co-handles a part (协办)"));
        let part = progress(Payload::CasePartReplied(CasePartReplied {
            department: "civil-affairs".into(),
            lead_department: "yingzhong-office".into(),
            reply: "低保已恢复".into(),
            within_deadline: true,
            ..Default::default()
        }));
        assert_eq!((&part.holding, part.holder()), (&None, None));
        assert_eq!(
            part.line.summary,
            "civil-affairs replied its part to yingzhong-office: 低保已恢复"
        );
    }

    #[test]
    fn an_instruction_tells_the_petitioner_its_deadline_but_not_the_leader() {
        let p = progress(Payload::CaseInstructed(CaseInstructed {
            department: "yingzhong-office".into(),
            leader: "市委书记".into(),
            instruction: "迅速办理: 民政、人社协办".into(),
            due_at: Some(MARCH_FIRST),
            ..Default::default()
        }));
        assert_eq!(p.holding, None);
        assert_eq!(
            p.line.summary,
            "a leader's written instruction (批示) on the case; to be reported back by 2026-03-01: 市委书记: 迅速办理: 民政、人社协办"
        );
        assert_eq!(
            for_petitioner(CASE_INSTRUCTED, &p.line.summary),
            "a leader's written instruction (批示) on the case; to be reported back by 2026-03-01"
        );
    }

    #[test]
    fn an_assignment_gives_the_case_to_its_department() {
        let p = progress(Payload::CaseAssigned(CaseAssigned {
            department: "civil-affairs".into(),
            ..Default::default()
        }));
        assert_eq!(p.holder(), Some("civil-affairs"));
    }

    #[test]
    fn returns_mediation_and_alerts_give_the_case_to_no_one() {
        let returned = progress(Payload::CaseReturned(CaseReturned {
            department: "transport".into(),
            ..Default::default()
        }));
        let opened = progress(Payload::MediationOpened(MediationOpened {
            committee: "civil-commercial".into(),
            referred_by: "transport".into(),
            ..Default::default()
        }));
        let alert = progress(Payload::AlertRaised(AlertRaised::default()));
        for p in [returned, opened, alert] {
            assert_eq!(p.holder(), None, "{:?}", p.line.kind);
        }
    }

    #[test]
    fn acceptance_sets_accepted_and_gives_the_handle_by_date() {
        let p = progress(Payload::CaseAccepted(CaseAccepted {
            department: "civil-affairs".into(),
            handle_by: Some(MARCH_FIRST),
            ..Default::default()
        }));
        assert_eq!(p.holding, held_by(CaseStatus::Accepted, "civil-affairs"));
        assert_eq!(
            p.line.summary,
            "accepted by civil-affairs; to be handled by 2026-03-01"
        );
    }

    #[test]
    fn return_adds_a_line_but_keeps_the_status() {
        let p = progress(Payload::CaseReturned(CaseReturned {
            department: "transport".into(),
            reason: "a road matter for the town".into(),
            ..Default::default()
        }));
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_RETURNED);
        assert_eq!(
            p.line.summary,
            "returned by transport: a road matter for the town"
        );
    }

    #[test]
    fn reply_sets_replied_and_carries_the_reply() {
        let p = progress(Payload::CaseReplied(CaseReplied {
            department: "civil-affairs".into(),
            reply: "allowance restored".into(),
            within_deadline: false,
            ..Default::default()
        }));
        assert_eq!(p.holding, held_by(CaseStatus::Replied, "civil-affairs"));
        assert_eq!(
            p.line.summary,
            "replied by civil-affairs (after the deadline): allowance restored"
        );
    }

    #[test]
    fn referral_names_the_department_and_keeps_the_status() {
        let p = progress(Payload::CaseReferred(CaseReferred {
            department: "civil-affairs".into(),
            linkage: Linkage::Petition as i32,
            summary: "deposits kept after a cancelled expo".into(),
            ..Default::default()
        }));
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_REFERRED);
        assert_eq!(p.line.summary, "referred to mediation by civil-affairs");
        assert_eq!(p.line.department, "civil-affairs");
    }

    #[test]
    fn mediation_opened_sets_in_mediation_and_names_committee_and_linkage() {
        let opened = |linkage: Linkage| {
            progress(Payload::MediationOpened(MediationOpened {
                mediation_id: "m".into(),
                committee: "civil-commercial".into(),
                committee_name: "民商事纠纷调解委员会".into(),
                linkage: linkage as i32,
                referred_by: "civil-affairs".into(),
                ..Default::default()
            }))
        };
        let p = opened(Linkage::Court);
        assert_eq!(p.holding, keeping_department(CaseStatus::InMediation));
        assert_eq!(p.line.kind, MEDIATION_OPENED);
        assert_eq!(
            p.line.summary,
            "mediation opened at 民商事纠纷调解委员会 (court-entrusted 诉调)"
        );
        assert_eq!(
            p.line.department, "civil-affairs",
            "the referring department"
        );
        let words: Vec<String> = [
            Linkage::Petition,
            Linkage::Administrative,
            Linkage::Guidance,
        ]
        .into_iter()
        .map(|l| opened(l).line.summary)
        .collect();
        assert_eq!(
            words,
            [
                "mediation opened at 民商事纠纷调解委员会 (petition 访调)",
                "mediation opened at 民商事纠纷调解委员会 (administrative 行调)",
                "mediation opened at 民商事纠纷调解委员会 (guidance 上下)",
            ]
        );
    }

    #[test]
    fn mediation_opened_directly_without_a_name_or_linkage_still_reads() {
        let p = progress(Payload::MediationOpened(MediationOpened {
            committee: "labour".into(),
            ..Default::default()
        }));
        assert_eq!(p.line.summary, "mediation opened at labour");
        assert_eq!(p.line.department, "");
        assert_eq!(p.holding, keeping_department(CaseStatus::InMediation));
    }

    fn concluded(outcome: MediationState, agreement: Option<Agreement>) -> Progress {
        progress(Payload::MediationConcluded(MediationConcluded {
            mediation_id: "m".into(),
            committee: "civil-commercial".into(),
            outcome: outcome as i32,
            agreement,
            ..Default::default()
        }))
    }

    #[test]
    fn agreement_gives_its_terms_and_leaves_the_status_to_the_reply() {
        let installment = |fen| Installment {
            due: Some(MARCH_FIRST),
            amount: Some(Money { fen }),
        };
        let p = concluded(
            MediationState::Agreed,
            Some(Agreement {
                amount: Some(Money { fen: 5_400_000 }),
                payer: "the expo company".into(),
                payee: "the exhibitors".into(),
                terms: "paid in three parts".into(),
                installments: vec![
                    installment(1_800_000),
                    installment(1_800_000),
                    installment(1_800_000),
                ],
            }),
        );
        assert_eq!(p.holding, None, "dispatch's case.replied sets REPLIED");
        assert_eq!(p.line.kind, MEDIATION_CONCLUDED);
        assert_eq!(
            p.line.summary,
            "mediation agreement: 54,000.00 yuan, the expo company → the exhibitors, 3 installments"
        );
    }

    #[test]
    fn agreement_without_installments_or_parties_says_what_it_has() {
        let p = concluded(
            MediationState::Agreed,
            Some(Agreement {
                amount: Some(Money { fen: 12_050 }),
                ..Default::default()
            }),
        );
        assert_eq!(p.line.summary, "mediation agreement: 120.50 yuan");
        let p = concluded(MediationState::Agreed, None);
        assert_eq!(p.line.summary, "mediation agreement reached");
    }

    #[test]
    fn failed_or_withdrawn_mediation_returns_the_case_to_its_department() {
        let p = concluded(MediationState::Failed, None);
        assert_eq!(p.holding, keeping_department(CaseStatus::Accepted));
        assert_eq!(p.line.summary, "mediation failed");
        let p = concluded(MediationState::Withdrawn, None);
        assert_eq!(p.holding, keeping_department(CaseStatus::Accepted));
        assert_eq!(p.line.summary, "mediation withdrawn");
    }

    #[test]
    fn a_conclusion_without_a_valid_outcome_changes_no_status() {
        let p = concluded(MediationState::Open, None);
        assert_eq!(p.holding, None);
        assert_eq!(p.line.summary, "mediation concluded");
    }

    #[test]
    fn court_decision_on_the_agreement() {
        let decided = |confirmed| {
            progress(Payload::MediationCourtConfirmed(MediationCourtConfirmed {
                mediation_id: "m".into(),
                confirmed,
            }))
        };
        let p = decided(true);
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, MEDIATION_COURT_CONFIRMED);
        assert_eq!(p.line.summary, "court confirmed the agreement (司法确认)");
        assert_eq!(
            decided(false).line.summary,
            "court refused to confirm the agreement"
        );
    }

    #[test]
    fn escalations_read_as_reminder_supervision_or_leader_and_keep_the_status() {
        let escalated = |level: EscalationLevel, leader: &str| {
            progress(Payload::CaseEscalated(CaseEscalated {
                department: "medical-insurance".into(),
                level: level as i32,
                reason: "no progress in 20 days".into(),
                leader: leader.into(),
                ..Default::default()
            }))
        };
        let p = escalated(EscalationLevel::Reminder, "");
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_ESCALATED);
        assert_eq!(p.line.summary, "reminder (催办)");
        assert_eq!(p.line.department, "medical-insurance");
        assert_eq!(
            escalated(EscalationLevel::Supervision, "").line.summary,
            "supervision (督办)"
        );
        let p = escalated(EscalationLevel::Leader, "executive vice mayor");
        assert_eq!(p.holding, None);
        assert_eq!(
            p.line.summary,
            "a leader took the case (包案): executive vice mayor"
        );
    }

    #[test]
    fn an_escalation_nobody_asked_for_says_why_and_a_passed_deadline_is_a_line() {
        let p = progress(Payload::CaseEscalated(CaseEscalated {
            department: "city-center".into(),
            level: EscalationLevel::Supervision as i32,
            reason: "problem case (问题件): returned 3 times".into(),
            cause: yimen_proto::v1::EscalationCause::ProblemCase as i32,
            ..Default::default()
        }));
        assert_eq!(
            p.line.summary,
            "supervision (督办): problem case (问题件): returned 3 times"
        );
        let overdue = |stage: OverdueStage| {
            progress(Payload::CaseOverdue(yimen_proto::v1::CaseOverdue {
                department: "housing".into(),
                stage: stage as i32,
                deadline: Some(MARCH_FIRST),
                ..Default::default()
            }))
        };
        let p = overdue(OverdueStage::Acceptance);
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_OVERDUE);
        assert_eq!(
            p.line.summary,
            format!(
                "the acceptance deadline ({}) passed: reminder (催办) to housing",
                calendar::date(yimen_platform::time::millis(&MARCH_FIRST))
            )
        );
        assert!(
            overdue(OverdueStage::Handling)
                .line
                .summary
                .ends_with("passed without a reply from housing")
        );
    }

    #[test]
    fn extension_gives_the_days_and_the_new_date() {
        let p = progress(Payload::CaseExtended(CaseExtended {
            department: "housing".into(),
            days: 30,
            handle_by: Some(MARCH_FIRST),
            ..Default::default()
        }));
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_EXTENDED);
        assert_eq!(
            p.line.summary,
            "handling deadline extended by 30 days; to be handled by 2026-03-01"
        );
        assert_eq!(p.line.department, "housing");
        let p = progress(Payload::CaseExtended(CaseExtended {
            days: 1,
            ..Default::default()
        }));
        assert_eq!(p.line.summary, "handling deadline extended by 1 day");
    }

    #[test]
    fn alerts_name_their_kind_and_keep_the_status() {
        let alert = |kind: AlertKind| {
            progress(Payload::AlertRaised(AlertRaised {
                alert: Some(Alert {
                    alert_id: "a".into(),
                    kind: kind as i32,
                    facts: vec!["19 people came together".into()],
                    ..Default::default()
                }),
            }))
        };
        let p = alert(AlertKind::Collective);
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, ALERT_RAISED);
        assert_eq!(p.line.department, "");
        let summaries: Vec<String> = [
            AlertKind::Collective,
            AlertKind::RepeatPetitioner,
            AlertKind::NoOwner,
            AlertKind::Overdue,
        ]
        .into_iter()
        .map(|k| alert(k).line.summary)
        .collect();
        assert_eq!(
            summaries,
            [
                "alert: collective petition",
                "alert: repeat petitioner",
                "alert: no department owns the matter",
                "alert: overdue",
            ]
        );
    }

    #[test]
    fn evaluation_adds_a_line_with_the_satisfaction() {
        let evaluated = |s: Satisfaction| {
            progress(Payload::CaseEvaluated(CaseEvaluated {
                satisfaction: s as i32,
                department: "civil-affairs".into(),
            }))
        };
        let p = evaluated(Satisfaction::Satisfied);
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, CASE_EVALUATED);
        assert_eq!(p.line.summary, "evaluated: satisfied");
        assert_eq!(p.line.department, "civil-affairs");
        assert_eq!(
            evaluated(Satisfaction::BasicallySatisfied).line.summary,
            "evaluated: basically satisfied"
        );
        assert_eq!(
            evaluated(Satisfaction::Unsatisfied).line.summary,
            "evaluated: unsatisfied"
        );
    }

    #[test]
    fn closing_sets_closed() {
        let p = progress(Payload::CaseClosed(CaseClosed {
            department: "civil-affairs".into(),
            satisfaction: Satisfaction::Satisfied as i32,
        }));
        assert_eq!(p.holding, held_by(CaseStatus::Closed, "civil-affairs"));
        assert_eq!(p.line.kind, CASE_CLOSED);
        assert_eq!(p.line.summary, "closed (办结)");
    }

    #[test]
    fn reopening_sets_reopened_and_says_why() {
        let p = progress(Payload::CaseReopened(CaseReopened {
            department: "civil-affairs".into(),
            reason: "the petitioner was unsatisfied with the reply".into(),
        }));
        assert_eq!(p.holding, held_by(CaseStatus::Reopened, "civil-affairs"));
        assert_eq!(p.line.kind, CASE_REOPENED);
        assert_eq!(
            p.line.summary,
            "reopened: the petitioner was unsatisfied with the reply; dispatch assigns it again"
        );
        assert_eq!(p.line.department, "civil-affairs");
    }

    #[test]
    fn events_that_do_not_move_a_case_are_ignored() {
        assert_eq!(
            of(&event(Payload::DepartmentLeft(DepartmentLeft::default()))),
            None
        );
        assert_eq!(of(&Event::default()), None);
    }

    #[test]
    fn an_older_event_does_not_supersede_a_newer_status() {
        assert!(!supersedes(99, 100));
        assert!(supersedes(100, 100));
        assert!(supersedes(101, 100));
    }

    #[test]
    fn registration_line_says_channel_category_and_collective() {
        let line = registered(
            "YM-2026-000001",
            Channel::Visit,
            Category::CivilCommercial,
            19,
        );
        assert_eq!(
            line.summary,
            "registered YM-2026-000001: visit about civil commercial; collective petition of 19 people"
        );
        assert_eq!(line.kind, CASE_REGISTERED);
    }

    #[test]
    fn statuses_and_satisfactions_in_words() {
        assert_eq!(status_words(CaseStatus::InMediation), "in mediation");
        assert_eq!(status_words(CaseStatus::Replied), "replied");
        assert_eq!(
            satisfaction_words(Satisfaction::BasicallySatisfied as i32),
            "basically satisfied"
        );
        assert_eq!(satisfaction_words(0), "not stated");
        assert_eq!(satisfaction_words(99), "not stated");
    }

    #[test]
    fn the_petitioners_view_leaves_out_the_leaders_name() {
        assert_eq!(
            for_petitioner(CASE_ESCALATED, "a leader took the case (包案): 张局长"),
            "a leader took the case (包案)"
        );
        assert_eq!(
            for_petitioner(CASE_ESCALATED, "reminder (催办)"),
            "reminder (催办)"
        );
        assert_eq!(
            for_petitioner(CASE_CLOSED, "closed (办结)"),
            "closed (办结)"
        );
    }

    #[test]
    fn a_review_puts_the_case_under_review_with_the_body_and_its_decision_closes_it() {
        let asked = progress(Payload::CaseReviewRequested(CaseReviewRequested {
            stage: ReviewStage::Review as i32,
            department: "civil-affairs".into(),
        }));
        assert_eq!(asked.holding, keeping_department(CaseStatus::UnderReview));
        assert_eq!(asked.line.summary, "review (复查) asked for");
        let started = progress(Payload::CaseReviewStarted(CaseReviewStarted {
            department: "city-center".into(),
            department_name: "市信访超市".into(),
            stage: ReviewStage::ReReview as i32,
            decide_by: Some(MARCH_FIRST),
            ..Default::default()
        }));
        assert_eq!(
            started.holder(),
            Some("city-center"),
            "the body may read the case"
        );
        assert_eq!(
            started.line.summary,
            "re-review (复核) by 市信访超市 (city-center); to be decided by 2026-03-01"
        );
        let decided = |stage: ReviewStage, outcome: ReviewOutcome| {
            progress(Payload::CaseReviewed(CaseReviewed {
                department: "city-center".into(),
                stage: stage as i32,
                outcome: outcome as i32,
                decision: "facts confirmed".into(),
                ..Default::default()
            }))
        };
        let upheld = decided(ReviewStage::Review, ReviewOutcome::Uphold);
        assert_eq!(upheld.holding, held_by(CaseStatus::Closed, "city-center"));
        assert_eq!(
            upheld.line.summary,
            "review (复查) decided by city-center: the answer upheld: facts confirmed"
        );
        let last = decided(ReviewStage::ReReview, ReviewOutcome::Change);
        assert!(
            last.line.summary.ends_with("closed for good (终结)"),
            "{}",
            last.line.summary
        );
        let again = decided(ReviewStage::Review, ReviewOutcome::Rehandle);
        assert_eq!(again.holding, None, "the new assignment moves the case");
    }
}
