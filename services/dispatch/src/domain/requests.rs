//! The requests of the dispatch API parsed at the edge: each `parse` answers either a value
//! that keeps every rule of its request or INVALID_ARGUMENT naming every broken field at once,
//! so the use cases only ever see checked requests.

use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::paging::Page;
use yimen_platform::validate::{self, optional_text, required_text};
use yimen_proto::v1::{self as pb, EscalationLevel, Linkage};

use super::assignment::{AssignmentState, REPLY_MAX, RETURN_REASON_MAX};
use super::department::DepartmentCode;
use super::{escalation, extension, mediation};

/// The longest name of the person who accepts a case.
pub const HANDLER_MAX: usize = 100;
/// The longest reason a department gives for leaving.
pub const LEAVE_REASON_MAX: usize = 1000;

fn assignment_id(raw: &str) -> Result<String, FieldViolation> {
    validate::uuid("assignment_id", raw)
}

/// 受理: accept an assignment, naming who handles it (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    pub assignment_id: String,
    pub handler: String,
}

impl Accept {
    pub fn parse(request: &pb::AcceptAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let handler = v.check(optional_text("handler", &request.handler, HANDLER_MAX));
        v.finish_with(id.zip(handler).map(|(assignment_id, handler)| Self {
            assignment_id,
            handler,
        }))
    }
}

/// 答复: the department's answer to the petitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub assignment_id: String,
    pub text: String,
}

impl Reply {
    pub fn parse(request: &pb::ReplyAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let text = v.check(required_text("reply", &request.reply, REPLY_MAX));
        v.finish_with(id.zip(text).map(|(assignment_id, text)| Self {
            assignment_id,
            text,
        }))
    }
}

/// 退回: the wrong department gives a case back, saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub assignment_id: String,
    pub reason: String,
}

impl Return {
    pub fn parse(request: &pb::ReturnAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let reason = v.check(required_text("reason", &request.reason, RETURN_REASON_MAX));
        v.finish_with(id.zip(reason).map(|(assignment_id, reason)| Self {
            assignment_id,
            reason,
        }))
    }
}

/// 访调: a referral of an accepted dispute to the mediation center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub assignment_id: String,
    pub linkage: Linkage,
    pub summary: String,
}

impl Referral {
    pub fn parse(request: &pb::ReferToMediationRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let linkage = v.check(mediation::parse_linkage(request.linkage));
        let summary = v.check(optional_text(
            "summary",
            &request.summary,
            mediation::SUMMARY_MAX,
        ));
        v.finish_with(
            id.zip(linkage)
                .zip(summary)
                .map(|((assignment_id, linkage), summary)| Self {
                    assignment_id,
                    linkage,
                    summary,
                }),
        )
    }
}

/// The department's request for the one extension of its handling deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRequest {
    pub assignment_id: String,
    pub days: u32,
    pub reason: String,
}

impl ExtensionRequest {
    pub fn parse(request: &pb::RequestExtensionRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let days = v.check(extension::check_days(request.days));
        let reason = v.check(required_text(
            "reason",
            &request.reason,
            extension::REASON_MAX,
        ));
        v.finish_with(
            id.zip(days)
                .zip(reason)
                .map(|((assignment_id, days), reason)| Self {
                    assignment_id,
                    days,
                    reason,
                }),
        )
    }
}

/// The center's decision on a requested extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionDecision {
    pub assignment_id: String,
    pub approved: bool,
}

impl ExtensionDecision {
    pub fn parse(request: &pb::DecideExtensionRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        v.finish_with(id.map(|assignment_id| Self {
            assignment_id,
            approved: request.approved,
        }))
    }
}

/// 催办 / 督办 / 包案: pressing a department on an open case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub assignment_id: String,
    pub level: EscalationLevel,
    pub reason: String,
}

impl Escalation {
    pub fn parse(request: &pb::EscalateRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let level = v.check(escalation::parse_level(request.level));
        let reason = v.check(optional_text(
            "reason",
            &request.reason,
            escalation::REASON_MAX,
        ));
        v.finish_with(
            id.zip(level)
                .zip(reason)
                .map(|((assignment_id, level), reason)| Self {
                    assignment_id,
                    level,
                    reason,
                }),
        )
    }
}

/// 包案: the leader who takes an open case personally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAssignment {
    pub assignment_id: String,
    pub leader: String,
}

impl LeaderAssignment {
    pub fn parse(request: &pb::AssignLeaderRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(assignment_id(&request.assignment_id));
        let leader = v.check(required_text(
            "leader",
            &request.leader,
            escalation::LEADER_MAX,
        ));
        v.finish_with(id.zip(leader).map(|(assignment_id, leader)| Self {
            assignment_id,
            leader,
        }))
    }
}

/// A department leaving, with its reason (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    pub code: DepartmentCode,
    pub reason: String,
}

impl Leave {
    pub fn parse(request: &pb::LeaveDepartmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let code = v.check(DepartmentCode::parse(request.code.trim()));
        let reason = v.check(optional_text("reason", &request.reason, LEAVE_REASON_MAX));
        v.finish_with(code.zip(reason).map(|(code, reason)| Self { code, reason }))
    }
}

/// One page of a department's work list, in the states asked for (any when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentsQuery {
    /// As named, trimmed; empty lets a department caller mean its own. Whose list it is, and
    /// whether one must be named, is the caller's scope's question ([`super::access`]).
    pub department: String,
    pub states: Vec<AssignmentState>,
    pub page: Page,
}

/// The states a work-list request asks for, each checked.
fn states(request: &pb::ListAssignmentsRequest, v: &mut Violations) -> Vec<AssignmentState> {
    let mut states = Vec::with_capacity(request.states.len());
    for (i, &value) in request.states.iter().enumerate() {
        match AssignmentState::from_proto(value) {
            Some(state) => states.push(state),
            None => v.add(
                format!("states[{i}]"),
                format!("{value} is not an assignment state"),
            ),
        }
    }
    states
}

impl AssignmentsQuery {
    pub fn parse(request: &pb::ListAssignmentsRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let states = states(request, &mut v);
        let page = v.check(Page::parse(request.page.as_ref()));
        v.finish_with(page.map(|page| Self {
            department: request.department.trim().to_string(),
            states,
            page,
        }))
    }
}

/// WatchAssignments: a department's work from a position on, in the states asked for (any
/// when none). It sends every change, so it takes no page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchQuery {
    /// As in [`AssignmentsQuery::department`].
    pub department: String,
    pub states: Vec<AssignmentState>,
    /// The last position the client received (0: from the start).
    pub after_position: u64,
}

impl WatchQuery {
    pub fn parse(request: &pb::ListAssignmentsRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let states = states(request, &mut v);
        if request.page.is_some() {
            v.add(
                "page",
                "WatchAssignments sends every change: resume with after_position, not a page",
            );
        }
        if i64::try_from(request.after_position).is_err() {
            v.add("after_position", "is beyond any position");
        }
        v.finish()?;
        Ok(Self {
            department: request.department.trim().to_string(),
            states,
            after_position: request.after_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190a0a0-0000-7000-8000-000000000001";

    /// The fields a parse refused, in the order it named them.
    fn fields<T: std::fmt::Debug>(parsed: Result<T, Error>) -> Vec<String> {
        match parsed {
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn accept_names_every_broken_field_or_gives_the_trimmed_handler() {
        let broken = pb::AcceptAssignmentRequest {
            assignment_id: "case-1".into(),
            handler: "x".repeat(HANDLER_MAX + 1),
        };
        assert_eq!(fields(Accept::parse(&broken)), ["assignment_id", "handler"]);
        let ok = pb::AcceptAssignmentRequest {
            assignment_id: ID.to_uppercase(),
            handler: "  李科长 ".into(),
        };
        assert_eq!(
            Accept::parse(&ok).unwrap(),
            Accept {
                assignment_id: ID.into(),
                handler: "李科长".into(),
            }
        );
        let anonymous = pb::AcceptAssignmentRequest {
            assignment_id: ID.into(),
            handler: String::new(),
        };
        assert_eq!(Accept::parse(&anonymous).unwrap().handler, "");
    }

    #[test]
    fn reply_names_every_broken_field_or_gives_the_text() {
        let broken = pb::ReplyAssignmentRequest {
            assignment_id: String::new(),
            reply: " ".into(),
        };
        assert_eq!(fields(Reply::parse(&broken)), ["assignment_id", "reply"]);
        let ok = pb::ReplyAssignmentRequest {
            assignment_id: ID.into(),
            reply: " 已恢复低保 ".into(),
        };
        assert_eq!(
            Reply::parse(&ok).unwrap(),
            Reply {
                assignment_id: ID.into(),
                text: "已恢复低保".into(),
            }
        );
    }

    #[test]
    fn return_names_every_broken_field_or_gives_the_reason() {
        let broken = pb::ReturnAssignmentRequest {
            assignment_id: "x".into(),
            reason: "x".repeat(RETURN_REASON_MAX + 1),
        };
        assert_eq!(fields(Return::parse(&broken)), ["assignment_id", "reason"]);
        let ok = pb::ReturnAssignmentRequest {
            assignment_id: ID.into(),
            reason: "not ours".into(),
        };
        assert_eq!(
            Return::parse(&ok).unwrap(),
            Return {
                assignment_id: ID.into(),
                reason: "not ours".into(),
            }
        );
    }

    #[test]
    fn referral_names_every_broken_field_or_defaults_to_a_petition() {
        let broken = pb::ReferToMediationRequest {
            assignment_id: "x".into(),
            linkage: 99,
            summary: "x".repeat(mediation::SUMMARY_MAX + 1),
        };
        assert_eq!(
            fields(Referral::parse(&broken)),
            ["assignment_id", "linkage", "summary"]
        );
        let ok = pb::ReferToMediationRequest {
            assignment_id: ID.into(),
            linkage: 0,
            summary: String::new(),
        };
        assert_eq!(
            Referral::parse(&ok).unwrap(),
            Referral {
                assignment_id: ID.into(),
                linkage: Linkage::Petition,
                summary: String::new(),
            }
        );
    }

    #[test]
    fn extension_request_names_every_broken_field_or_gives_days_and_reason() {
        let broken = pb::RequestExtensionRequest {
            assignment_id: "x".into(),
            days: extension::MAX_DAYS + 1,
            reason: String::new(),
        };
        assert_eq!(
            fields(ExtensionRequest::parse(&broken)),
            ["assignment_id", "days", "reason"]
        );
        let ok = pb::RequestExtensionRequest {
            assignment_id: ID.into(),
            days: extension::MAX_DAYS,
            reason: "site visit".into(),
        };
        assert_eq!(
            ExtensionRequest::parse(&ok).unwrap(),
            ExtensionRequest {
                assignment_id: ID.into(),
                days: extension::MAX_DAYS,
                reason: "site visit".into(),
            }
        );
    }

    #[test]
    fn extension_decision_names_a_bad_id_or_gives_the_decision() {
        let broken = pb::DecideExtensionRequest {
            assignment_id: " ".into(),
            approved: true,
        };
        assert_eq!(fields(ExtensionDecision::parse(&broken)), ["assignment_id"]);
        let ok = pb::DecideExtensionRequest {
            assignment_id: ID.into(),
            approved: false,
        };
        assert_eq!(
            ExtensionDecision::parse(&ok).unwrap(),
            ExtensionDecision {
                assignment_id: ID.into(),
                approved: false,
            }
        );
    }

    #[test]
    fn escalation_names_every_broken_field_or_gives_the_level() {
        let broken = pb::EscalateRequest {
            assignment_id: "x".into(),
            level: 0,
            reason: "x".repeat(escalation::REASON_MAX + 1),
        };
        assert_eq!(
            fields(Escalation::parse(&broken)),
            ["assignment_id", "level", "reason"]
        );
        let ok = pb::EscalateRequest {
            assignment_id: ID.into(),
            level: EscalationLevel::Supervision as i32,
            reason: String::new(),
        };
        assert_eq!(
            Escalation::parse(&ok).unwrap(),
            Escalation {
                assignment_id: ID.into(),
                level: EscalationLevel::Supervision,
                reason: String::new(),
            }
        );
    }

    #[test]
    fn leader_assignment_names_every_broken_field_or_gives_the_leader() {
        let broken = pb::AssignLeaderRequest {
            assignment_id: "x".into(),
            leader: " ".into(),
        };
        assert_eq!(
            fields(LeaderAssignment::parse(&broken)),
            ["assignment_id", "leader"]
        );
        let ok = pb::AssignLeaderRequest {
            assignment_id: ID.into(),
            leader: "张副市长".into(),
        };
        assert_eq!(
            LeaderAssignment::parse(&ok).unwrap(),
            LeaderAssignment {
                assignment_id: ID.into(),
                leader: "张副市长".into(),
            }
        );
    }

    #[test]
    fn leave_names_every_broken_field_or_gives_the_code() {
        let broken = pb::LeaveDepartmentRequest {
            code: "Housing!".into(),
            reason: "x".repeat(LEAVE_REASON_MAX + 1),
        };
        assert_eq!(fields(Leave::parse(&broken)), ["code", "reason"]);
        let ok = pb::LeaveDepartmentRequest {
            code: " housing ".into(),
            reason: " merged ".into(),
        };
        let leave = Leave::parse(&ok).unwrap();
        assert_eq!(
            (leave.code.as_str(), leave.reason.as_str()),
            ("housing", "merged")
        );
    }

    #[test]
    fn assignments_query_names_every_broken_field_or_gives_states_and_page() {
        // Whether the department must be named depends on the caller: `access::work_list_of`.
        let broken = pb::ListAssignmentsRequest {
            department: " ".into(),
            states: vec![pb::AssignmentState::Pending as i32, 0, 99],
            after_position: 0,
            page: Some(pb::PageRequest {
                page_size: 0,
                page_token: "nonsense".into(),
            }),
        };
        assert_eq!(
            fields(AssignmentsQuery::parse(&broken)),
            ["states[1]", "states[2]", "page.page_token"]
        );
        let ok = pb::ListAssignmentsRequest {
            department: " housing ".into(),
            states: vec![pb::AssignmentState::Accepted as i32],
            after_position: 0,
            page: None,
        };
        let query = AssignmentsQuery::parse(&ok).unwrap();
        assert_eq!(query.department, "housing");
        assert_eq!(query.states, [AssignmentState::Accepted]);
        assert_eq!(query.page.after, None);
    }

    #[test]
    fn watch_takes_a_position_not_a_page_and_checks_its_states() {
        let broken = pb::ListAssignmentsRequest {
            states: vec![99],
            page: Some(pb::PageRequest::default()),
            after_position: u64::MAX,
            ..Default::default()
        };
        assert_eq!(
            fields(WatchQuery::parse(&broken)),
            ["states[0]", "page", "after_position"]
        );
        let ok = pb::ListAssignmentsRequest {
            department: " housing ".into(),
            states: vec![pb::AssignmentState::Pending as i32],
            after_position: 42,
            ..Default::default()
        };
        assert_eq!(
            WatchQuery::parse(&ok).unwrap(),
            WatchQuery {
                department: "housing".into(),
                states: vec![AssignmentState::Pending],
                after_position: 42,
            }
        );
    }
}
