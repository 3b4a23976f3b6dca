//! Joint handling (主办 / 协办) and a leader's instruction (批示): the lead department holds
//! the case and answers it; co-handling departments each reply their part to the lead first.
//! A leader's written instruction on a case has its own deadline, met when the lead replies
//! (反馈). The pure rules; the use cases are in `crate::joint`.

use std::collections::BTreeSet;

use yimen_platform::error::{Error, Violations};
use yimen_platform::paging::Page;
use yimen_platform::validate::{self, optional_text, required_text};
use yimen_proto::v1 as pb;

use super::{Action, Transition};

/// The most co-handlers one request enlists.
pub const CO_HANDLERS_MAX: usize = 10;
/// The longest note to co-handlers.
pub const NOTE_MAX: usize = 1000;
/// The longest leader's name (or title) and instruction.
pub const LEADER_MAX: usize = 100;
pub const INSTRUCTION_MAX: usize = 2000;
/// The days an instruction may give to report back.
pub const DUE_DAYS: std::ops::RangeInclusive<u32> = 1..=90;

/// An assignment's part in handling its case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 主办: holds the case and answers it.
    Lead,
    /// 协办: replies its part to the lead.
    CoHandler,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lead => "LEAD",
            Self::CoHandler => "CO_HANDLER",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Lead, Self::CoHandler]
            .into_iter()
            .find(|r| r.as_str() == name)
    }

    pub fn to_proto(self) -> pb::AssignmentRole {
        match self {
            Self::Lead => pb::AssignmentRole::Lead,
            Self::CoHandler => pb::AssignmentRole::CoHandler,
        }
    }

    /// Ok when an assignment in this role may take `transition`: a co-handler accepts and
    /// replies its part (or is handed back when it leaves), but the case is not its to return,
    /// refuse or forward: those are the lead's decisions.
    pub fn allows(self, transition: Transition) -> Result<(), Error> {
        match (self, transition) {
            (Self::Lead, _)
            | (Self::CoHandler, Transition::Accept | Transition::Reply | Transition::HandOver) => {
                Ok(())
            }
            (Self::CoHandler, t) => Err(Error::precondition(format!(
                "the assignment is CO_HANDLER (协办): {} is the lead department's decision",
                match t {
                    Transition::Return => "returning the case",
                    Transition::Refuse => "not accepting the case (不予受理)",
                    _ => "forwarding the case (转送)",
                }
            ))),
        }
    }

    /// Ok when an assignment in this role may be followed up by `action`: the case's
    /// mediation and supplements go through the lead, so a co-handler neither refers the case
    /// nor stops the case's clock; it may be extended and escalated like any assignment.
    pub fn allows_action(self, action: Action) -> Result<(), Error> {
        match (self, action) {
            (Self::CoHandler, Action::Refer | Action::RequestSupplement) => {
                Err(Error::precondition(format!(
                    "the assignment is CO_HANDLER (协办): {} goes through the lead department",
                    if action == Action::Refer {
                        "referring the case to mediation"
                    } else {
                        "asking the petitioner for material"
                    }
                )))
            }
            _ => Ok(()),
        }
    }
}

/// AddCoHandlers, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoHandlers {
    pub assignment_id: String,
    /// Distinct department codes, in the order asked.
    pub departments: Vec<String>,
    pub note: String,
}

impl CoHandlers {
    pub fn parse(request: &pb::AddCoHandlersRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let mut departments = Vec::with_capacity(request.departments.len());
        if request.departments.is_empty() {
            v.push(validate::empty("departments"));
        } else if request.departments.len() > CO_HANDLERS_MAX {
            v.add(
                "departments",
                format!("at most {CO_HANDLERS_MAX} co-handlers at once"),
            );
        }
        for (i, raw) in request.departments.iter().enumerate() {
            let field = format!("departments[{i}]");
            match validate::department_code(&field, raw) {
                Ok(code) if departments.contains(&code) => {
                    v.add(field, format!("{code} is named twice"));
                }
                Ok(code) => departments.push(code),
                Err(e) => v.push(e),
            }
        }
        let note = v.check(optional_text("note", &request.note, NOTE_MAX));
        v.finish_with(id.zip(note).map(|(assignment_id, note)| Self {
            assignment_id,
            departments,
            note,
        }))
    }
}

/// Ok when every one of `wanted` may co-handle the case the `lead` department holds: not the
/// lead itself, not a department already on the case (`on_case`: co-handling it, or having
/// replied its part), and one at the center now (`active`). Otherwise FAILED_PRECONDITION
/// naming each that may not.
pub fn may_enlist(
    lead: &str,
    on_case: &BTreeSet<String>,
    active: &BTreeSet<String>,
    wanted: &[String],
) -> Result<(), Error> {
    let problems: Vec<String> = wanted
        .iter()
        .filter_map(|d| {
            if d == lead {
                Some(format!("{d} is the lead department (主办)"))
            } else if on_case.contains(d) {
                Some(format!("{d} already co-handles the case"))
            } else if !active.contains(d) {
                Some(format!("{d} is not at the center"))
            } else {
                None
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::precondition(format!(
            "co-handlers (协办) not enlisted: {}",
            problems.join("; ")
        )))
    }
}

/// Ok when no co-handler's part is missing (`missing`: the departments whose co-handling
/// assignments are still open); otherwise FAILED_PRECONDITION naming them: the lead answers
/// the case once every part is in.
pub fn parts_complete(missing: &[String]) -> Result<(), Error> {
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::precondition(format!(
            "the case is AWAITING_PARTS: the lead (主办) replies once every co-handler (协办) has replied its part; missing: {}",
            missing.join(", ")
        )))
    }
}

/// RecordInstruction, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionRequest {
    pub assignment_id: String,
    pub leader: String,
    pub text: String,
    pub due_days: u32,
}

impl InstructionRequest {
    pub fn parse(request: &pb::RecordInstructionRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let leader = v.check(required_text("leader", &request.leader, LEADER_MAX));
        let text = v.check(required_text(
            "instruction",
            &request.instruction,
            INSTRUCTION_MAX,
        ));
        let due_days = v.check(validate::within("due_days", request.due_days, DUE_DAYS));
        v.finish_with(id.zip(leader).zip(text).zip(due_days).map(
            |(((assignment_id, leader), text), due_days)| Self {
                assignment_id,
                leader,
                text,
                due_days,
            },
        ))
    }
}

/// ListInstructions, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionsQuery {
    pub overdue_only: bool,
    pub page: Page,
}

impl InstructionsQuery {
    pub fn parse(request: &pb::ListInstructionsRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let page = v.check(Page::parse(request.page.as_ref()));
        v.finish_with(page.map(|page| Self {
            overdue_only: request.overdue_only,
            page,
        }))
    }
}

/// An instruction is overdue when it was not reported back by its deadline: still open past
/// it at `now`, or reported after it.
pub fn overdue(due_at: i64, reported_at: Option<i64>, now: i64) -> bool {
    reported_at.unwrap_or(now) > due_at
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190f3c4-0000-7000-8000-000000000001";

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    fn precondition(e: Result<(), Error>) -> String {
        match e {
            Err(Error::FailedPrecondition(m)) => m,
            other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
        }
    }

    fn set(codes: &[&str]) -> BTreeSet<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn co_handlers_are_named_once_each_and_every_bad_field_is_reported() {
        let ok = CoHandlers::parse(&pb::AddCoHandlersRequest {
            assignment_id: ID.into(),
            departments: vec![" civil-affairs ".into(), "human-resources".into()],
            note: "低保与就业".into(),
        })
        .unwrap();
        assert_eq!(ok.departments, ["civil-affairs", "human-resources"]);
        let e = CoHandlers::parse(&pb::AddCoHandlersRequest {
            assignment_id: "nope".into(),
            departments: vec![
                "civil-affairs".into(),
                "Bad Code".into(),
                "civil-affairs".into(),
            ],
            note: "x".repeat(NOTE_MAX + 1),
        })
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["assignment_id", "departments[1]", "departments[2]", "note"]
        );
        let e = CoHandlers::parse(&pb::AddCoHandlersRequest {
            assignment_id: ID.into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(fields(e), ["departments"]);
    }

    #[test]
    fn a_co_handler_is_not_the_lead_not_already_on_the_case_and_at_the_center() {
        let active = set(&["street", "civil-affairs", "human-resources", "police"]);
        let on_case = set(&["police"]);
        assert!(
            may_enlist(
                "street",
                &on_case,
                &active,
                &["civil-affairs".into(), "human-resources".into()]
            )
            .is_ok()
        );
        let m = precondition(may_enlist(
            "street",
            &on_case,
            &active,
            &["street".into(), "police".into(), "gone".into()],
        ));
        assert!(m.contains("street is the lead department"), "{m}");
        assert!(m.contains("police already co-handles"), "{m}");
        assert!(m.contains("gone is not at the center"), "{m}");
    }

    #[test]
    fn the_lead_replies_only_once_every_part_is_in_and_the_refusal_names_the_missing() {
        assert!(parts_complete(&[]).is_ok());
        let m = precondition(parts_complete(&[
            "civil-affairs".into(),
            "human-resources".into(),
        ]));
        assert!(m.contains("AWAITING_PARTS"), "{m}");
        assert!(m.contains("civil-affairs, human-resources"), "{m}");
    }

    #[test]
    fn a_co_handler_accepts_and_replies_but_the_lead_decides_the_case() {
        for t in [Transition::Accept, Transition::Reply, Transition::HandOver] {
            assert!(Role::CoHandler.allows(t).is_ok(), "{t:?}");
        }
        for t in [Transition::Return, Transition::Refuse, Transition::Forward] {
            assert!(Role::Lead.allows(t).is_ok(), "{t:?}");
            let m = precondition(Role::CoHandler.allows(t));
            assert!(m.contains("CO_HANDLER"), "{m}");
        }
        for a in [Action::Refer, Action::RequestSupplement] {
            assert!(Role::Lead.allows_action(a).is_ok());
            assert!(precondition(Role::CoHandler.allows_action(a)).contains("CO_HANDLER"));
        }
        for a in [Action::Extend, Action::Escalate] {
            assert!(Role::CoHandler.allows_action(a).is_ok());
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Lead, Role::CoHandler] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::Lead.to_proto(), pb::AssignmentRole::Lead);
        assert_eq!(Role::parse("x"), None);
    }

    #[test]
    fn an_instruction_names_its_leader_its_text_and_days_to_report_back() {
        let ok = InstructionRequest::parse(&pb::RecordInstructionRequest {
            assignment_id: ID.into(),
            leader: " 市委书记 ".into(),
            instruction: "责成郢中街道会同民政、人社部门迅速办理".into(),
            due_days: 10,
        })
        .unwrap();
        assert_eq!((ok.leader.as_str(), ok.due_days), ("市委书记", 10));
        let e = InstructionRequest::parse(&pb::RecordInstructionRequest {
            assignment_id: String::new(),
            leader: " ".into(),
            instruction: "x".repeat(INSTRUCTION_MAX + 1),
            due_days: 0,
        })
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["assignment_id", "leader", "instruction", "due_days"]
        );
        let e = InstructionRequest::parse(&pb::RecordInstructionRequest {
            due_days: 91,
            ..pb::RecordInstructionRequest {
                assignment_id: ID.into(),
                leader: "书记".into(),
                instruction: "办理".into(),
                due_days: 0,
            }
        })
        .unwrap_err();
        assert_eq!(fields(e), ["due_days"]);
    }

    #[test]
    fn an_instruction_is_overdue_when_not_reported_back_by_its_deadline() {
        assert!(!overdue(100, None, 100));
        assert!(overdue(100, None, 101));
        assert!(!overdue(100, Some(90), 500));
        assert!(overdue(100, Some(120), 500));
    }

    #[test]
    fn a_bad_page_token_is_named() {
        let e = InstructionsQuery::parse(&pb::ListInstructionsRequest {
            overdue_only: true,
            page: Some(pb::PageRequest {
                page_size: 10,
                page_token: "x".into(),
            }),
        })
        .unwrap_err();
        assert_eq!(fields(e), ["page.page_token"]);
    }
}
