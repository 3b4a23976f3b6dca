//! What an event tells assessment: one fact about a case, an assignment or a department, at
//! the time the event occurred. Events that say nothing assessment scores (referrals,
//! extensions, closing, mediation, alerts) read as nothing.

use anyhow::{Context, bail, ensure};
use yimen_platform::time::millis;
use yimen_proto::v1::{EscalationLevel, Event, Satisfaction, event::Payload};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `case.registered`: how many people brought the case.
    Registered {
        headcount: u32,
        case_number: String,
    },
    /// `case.assigned.<dept>`: the department now holds the case.
    Assigned {
        assignment_id: String,
        department: String,
        department_name: String,
        accept_by: Option<i64>,
    },
    Accepted {
        assignment_id: String,
        department: String,
    },
    Returned {
        assignment_id: String,
        department: String,
    },
    Replied {
        assignment_id: String,
        department: String,
        within_deadline: bool,
    },
    /// `case.resumed.<dept>`: a supplement came for a case not yet accepted; its acceptance
    /// deadline moved by the pause, which is not held against the department.
    AcceptanceResumed {
        assignment_id: String,
        department: String,
        accept_by: i64,
    },
    Escalated {
        assignment_id: String,
        department: String,
        level: EscalationLevel,
    },
    /// `case.overdue.<dept>`: the department let a running deadline pass (acceptance or
    /// handling; dispatch's watcher says so once per assignment and stage).
    Overdue {
        assignment_id: String,
        department: String,
    },
    /// `case.evaluated`: the department is empty when the event does not name it.
    Evaluated {
        department: String,
        satisfaction: Satisfaction,
    },
    DepartmentJoined {
        code: String,
        name: String,
    },
    DepartmentLeft {
        code: String,
    },
}

/// A fact with its case (empty for department facts) and the time it occurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub case_id: String,
    pub at: i64,
    pub fact: Fact,
}

/// The department an event is about: its payload's, else its routing key's suffix
/// (`case.accepted.<dept>`).
fn department_of(event: &Event, named: &str) -> anyhow::Result<String> {
    let named = named.trim();
    if !named.is_empty() {
        return Ok(named.to_string());
    }
    match event.r#type.splitn(3, '.').nth(2) {
        Some(code) if !code.is_empty() => Ok(code.to_string()),
        _ => bail!("{} event {} names no department", event.r#type, event.id),
    }
}

fn assignment_id(event: &Event, id: &str) -> anyhow::Result<String> {
    let id = id.trim();
    ensure!(
        !id.is_empty(),
        "{} event {} names no assignment",
        event.r#type,
        event.id
    );
    Ok(id.to_string())
}

/// Reads `event`; None when it tells assessment nothing. An error means the event is
/// malformed (a case event without its case, an assignment event without its assignment):
/// retrying cannot help, so the consumer loop dead-letters it after the delivery limit.
/// `now` stands in for a missing `occurred_at`.
pub fn read(event: &Event, now: i64) -> anyhow::Result<Option<Observed>> {
    let Some(payload) = &event.payload else {
        return Ok(None);
    };
    let fact = match payload {
        Payload::CaseRegistered(p) => Fact::Registered {
            headcount: p.headcount,
            case_number: p.case_number.trim().to_string(),
        },
        Payload::CaseAssigned(p) => Fact::Assigned {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
            department_name: p.department_name.trim().to_string(),
            accept_by: p.accept_by.as_ref().map(millis),
        },
        Payload::CaseAccepted(p) => Fact::Accepted {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
        },
        Payload::CaseReturned(p) => Fact::Returned {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
        },
        Payload::CaseReplied(p) => Fact::Replied {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
            within_deadline: p.within_deadline,
        },
        // A co-handler's (协办) part, replied on time or late, is its reply to score.
        Payload::CasePartReplied(p) => Fact::Replied {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
            within_deadline: p.within_deadline,
        },
        Payload::CaseEscalated(p) => Fact::Escalated {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
            level: EscalationLevel::try_from(p.level).unwrap_or(EscalationLevel::Unspecified),
        },
        Payload::CaseOverdue(p) => Fact::Overdue {
            assignment_id: assignment_id(event, &p.assignment_id)?,
            department: department_of(event, &p.department)?,
        },
        // A resumed handling deadline is already in the reply's within_deadline.
        Payload::CaseResumed(p) => match (&p.accept_by, &p.handle_by) {
            (Some(accept_by), None) => Fact::AcceptanceResumed {
                assignment_id: assignment_id(event, &p.assignment_id)?,
                department: department_of(event, &p.department)?,
                accept_by: millis(accept_by),
            },
            _ => return Ok(None),
        },
        Payload::CaseEvaluated(p) => Fact::Evaluated {
            department: p.department.trim().to_string(),
            satisfaction: Satisfaction::try_from(p.satisfaction)
                .unwrap_or(Satisfaction::Unspecified),
        },
        Payload::DepartmentJoined(p) => {
            let department = p.department.as_ref().with_context(|| {
                format!("department.joined event {} without department", event.id)
            })?;
            let code = department.code.trim();
            ensure!(
                !code.is_empty(),
                "department.joined event {} without code",
                event.id
            );
            Fact::DepartmentJoined {
                code: code.to_string(),
                name: department.name.trim().to_string(),
            }
        }
        Payload::DepartmentLeft(p) => {
            let code = p.code.trim();
            ensure!(
                !code.is_empty(),
                "department.left event {} without code",
                event.id
            );
            Fact::DepartmentLeft {
                code: code.to_string(),
            }
        }
        _ => return Ok(None),
    };
    let about_a_case = !matches!(
        fact,
        Fact::DepartmentJoined { .. } | Fact::DepartmentLeft { .. }
    );
    ensure!(
        !about_a_case || !event.case_id.trim().is_empty(),
        "{} event {} without case_id",
        event.r#type,
        event.id
    );
    Ok(Some(Observed {
        case_id: event.case_id.trim().to_string(),
        at: event.occurred_at.as_ref().map_or(now, millis),
        fact,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_platform::time::timestamp;
    use yimen_proto::event_type;
    use yimen_proto::v1 as pb;

    fn event(event_type: &str, case_id: &str, payload: Payload) -> Event {
        Event {
            id: "e1".into(),
            r#type: event_type.into(),
            occurred_at: Some(timestamp(1_000)),
            case_id: case_id.into(),
            producer: "dispatch".into(),
            payload: Some(payload),
        }
    }

    #[test]
    fn an_accepted_event_without_its_department_takes_the_routing_key_suffix() {
        let observed = read(
            &event(
                "case.accepted.civil-affairs",
                "c1",
                Payload::CaseAccepted(pb::CaseAccepted {
                    department_name: String::new(),
                    assignment_id: "a1".into(),
                    department: String::new(),
                    handle_by: None,
                    co_handling: false,
                }),
            ),
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            observed,
            Observed {
                case_id: "c1".into(),
                at: 1_000,
                fact: Fact::Accepted {
                    assignment_id: "a1".into(),
                    department: "civil-affairs".into()
                }
            }
        );
    }

    #[test]
    fn an_overdue_reads_as_the_department_letting_a_deadline_pass() {
        let observed = read(
            &event(
                "case.overdue.housing",
                "c1",
                Payload::CaseOverdue(pb::CaseOverdue {
                    assignment_id: "a1".into(),
                    department: String::new(),
                    stage: pb::OverdueStage::Handling as i32,
                    ..Default::default()
                }),
            ),
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            observed.fact,
            Fact::Overdue {
                assignment_id: "a1".into(),
                department: "housing".into()
            }
        );
    }

    #[test]
    fn a_co_handlers_part_is_its_reply_to_score() {
        let observed = read(
            &event(
                "case.part_replied.yingzhong-office",
                "c1",
                Payload::CasePartReplied(pb::CasePartReplied {
                    assignment_id: "a2".into(),
                    department: "civil-affairs".into(),
                    lead_department: "yingzhong-office".into(),
                    within_deadline: true,
                    ..Default::default()
                }),
            ),
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            observed.fact,
            Fact::Replied {
                assignment_id: "a2".into(),
                department: "civil-affairs".into(),
                within_deadline: true
            }
        );
    }

    #[test]
    fn an_assignment_reads_its_acceptance_deadline() {
        let observed = read(
            &event(
                "case.assigned.housing",
                "c1",
                Payload::CaseAssigned(pb::CaseAssigned {
                    assignment_id: "a1".into(),
                    department: "housing".into(),
                    department_name: "住建局".into(),
                    accept_by: Some(timestamp(5_000)),
                    ..Default::default()
                }),
            ),
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            observed.fact,
            Fact::Assigned {
                assignment_id: "a1".into(),
                department: "housing".into(),
                department_name: "住建局".into(),
                accept_by: Some(5_000),
            }
        );
    }

    #[test]
    fn a_missing_time_is_now() {
        let mut e = event(
            event_type::CASE_REGISTERED,
            "c1",
            Payload::CaseRegistered(pb::CaseRegistered {
                headcount: 19,
                ..Default::default()
            }),
        );
        e.occurred_at = None;
        assert_eq!(read(&e, 42).unwrap().unwrap().at, 42);
    }

    #[test]
    fn events_assessment_does_not_score_read_as_nothing() {
        let e = event(
            event_type::CASE_CLOSED,
            "c1",
            Payload::CaseClosed(pb::CaseClosed::default()),
        );
        assert_eq!(read(&e, 0).unwrap(), None);
    }

    /// 撤回 and 提级 / 交办 count against no department: the ended assignment is neither a
    /// return nor a late acceptance, and the new holder's case.assigned is scored as any.
    #[test]
    fn a_withdrawal_or_a_transfer_scores_nothing() {
        let withdrawn = event(
            event_type::CASE_WITHDRAWN,
            "c1",
            Payload::CaseWithdrawn(pb::CaseWithdrawn::default()),
        );
        let transferred = event(
            "case.transferred.housing",
            "c1",
            Payload::CaseTransferred(pb::CaseTransferred {
                assignment_id: "a1".into(),
                department: "housing".into(),
                ..Default::default()
            }),
        );
        for e in [withdrawn, transferred] {
            assert_eq!(read(&e, 0).unwrap(), None, "{}", e.r#type);
        }
    }

    #[test]
    fn malformed_case_events_are_errors() {
        let no_case = event(
            event_type::CASE_REGISTERED,
            "",
            Payload::CaseRegistered(pb::CaseRegistered::default()),
        );
        assert!(read(&no_case, 0).is_err());
        let no_assignment = event(
            "case.replied.housing",
            "c1",
            Payload::CaseReplied(pb::CaseReplied::default()),
        );
        assert!(read(&no_assignment, 0).is_err());
        let no_department = event(
            event_type::CASE_RETURNED,
            "c1",
            Payload::CaseReturned(pb::CaseReturned {
                assignment_id: "a1".into(),
                ..Default::default()
            }),
        );
        assert!(read(&no_department, 0).is_err());
    }

    #[test]
    fn department_events_need_no_case() {
        let e = event(
            event_type::DEPARTMENT_LEFT,
            "",
            Payload::DepartmentLeft(pb::DepartmentLeft {
                code: "environment".into(),
                ..Default::default()
            }),
        );
        assert_eq!(
            read(&e, 0).unwrap().unwrap().fact,
            Fact::DepartmentLeft {
                code: "environment".into()
            }
        );
    }

    #[test]
    fn a_resumed_pending_case_moves_its_acceptance_deadline_and_a_resumed_accepted_one_reads_as_nothing()
     {
        let resumed = |handle_by| {
            event(
                "case.resumed.housing",
                "c1",
                Payload::CaseResumed(pb::CaseResumed {
                    assignment_id: "a1".into(),
                    department: "housing".into(),
                    paused: None,
                    accept_by: Some(timestamp(9_000)),
                    handle_by,
                }),
            )
        };
        let observed = read(&resumed(None), 0).unwrap().unwrap();
        assert_eq!(
            observed.fact,
            Fact::AcceptanceResumed {
                assignment_id: "a1".into(),
                department: "housing".into(),
                accept_by: 9_000,
            }
        );
        assert_eq!(read(&resumed(Some(timestamp(20_000))), 0).unwrap(), None);
    }
}
