//! How the rest of the process moves a case, as the petitioner sees it: the status and holding
//! department an event sets, and the line it adds to the timeline. Decided by the payload, not
//! the routing key, so a department code can never be mistaken for an event type.

use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{CaseStatus, Category, Channel, Event};

use super::calendar;

/// What one event does to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The status it sets, if it sets one.
    pub holding: Option<Holding>,
    pub line: TimelineLine,
}

/// A status and the department holding the case in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub status: CaseStatus,
    pub department: String,
}

/// One timeline line: readable and free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    /// The event kind without the department: `case.assigned`, `case.replied`, ...
    pub kind: String,
    pub summary: String,
    pub department: String,
}

pub const REGISTERED: &str = "case.registered";

/// What `event` does to its case; `None` for events that do not move a case.
pub fn of(event: &Event) -> Option<Progress> {
    let (status, kind, department, summary) = match event.payload.as_ref()? {
        Payload::CaseAssigned(a) => {
            let to = match a.department_name.as_str() {
                "" => a.department.clone(),
                name => format!("{name} ({})", a.department),
            };
            let summary = match a.reason.as_str() {
                "" => format!("assigned to {to}"),
                reason => format!("assigned to {to}: {reason}"),
            };
            (
                Some(CaseStatus::Assigned),
                "case.assigned",
                &a.department,
                summary,
            )
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
            (
                Some(CaseStatus::Accepted),
                "case.accepted",
                &a.department,
                summary,
            )
        }
        // The case stays assigned: dispatch follows with the next department's assignment.
        Payload::CaseReturned(r) => (
            None,
            "case.returned",
            &r.department,
            format!("returned by {}: {}", r.department, r.reason),
        ),
        Payload::CaseReplied(r) => {
            let late = if r.within_deadline {
                ""
            } else {
                " (after the deadline)"
            };
            (
                Some(CaseStatus::Replied),
                "case.replied",
                &r.department,
                format!("replied by {}{late}: {}", r.department, r.reply),
            )
        }
        _ => return None,
    };
    Some(Progress {
        holding: status.map(|status| Holding {
            status,
            department: department.clone(),
        }),
        line: TimelineLine {
            kind: kind.into(),
            summary,
            department: department.clone(),
        },
    })
}

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
        kind: REGISTERED.into(),
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
    use yimen_proto::v1::{CaseAccepted, CaseAssigned, CaseReplied, CaseReturned, DepartmentLeft};

    use super::*;

    fn event(payload: Payload) -> Event {
        Event {
            id: "e".into(),
            r#type: "case.anything.civil-affairs".into(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn assignment_sets_assigned_and_names_department_and_reason() {
        let p = of(&event(Payload::CaseAssigned(CaseAssigned {
            department: "civil-affairs".into(),
            department_name: "民政局".into(),
            reason: "owns social assistance".into(),
            ..Default::default()
        })))
        .expect("moves the case");
        assert_eq!(
            p.holding,
            Some(Holding {
                status: CaseStatus::Assigned,
                department: "civil-affairs".into()
            })
        );
        assert_eq!(p.line.kind, "case.assigned");
        assert_eq!(
            p.line.summary,
            "assigned to 民政局 (civil-affairs): owns social assistance"
        );
        assert_eq!(p.line.department, "civil-affairs");
    }

    #[test]
    fn acceptance_sets_accepted_and_gives_the_handle_by_date() {
        let p = of(&event(Payload::CaseAccepted(CaseAccepted {
            department: "civil-affairs".into(),
            // 2026-03-01T00:00:00+08:00
            handle_by: Some(prost_types::Timestamp {
                seconds: 1_772_294_400,
                nanos: 0,
            }),
            ..Default::default()
        })))
        .expect("moves the case");
        assert_eq!(p.holding.map(|h| h.status), Some(CaseStatus::Accepted));
        assert_eq!(
            p.line.summary,
            "accepted by civil-affairs; to be handled by 2026-03-01"
        );
    }

    #[test]
    fn return_adds_a_line_but_keeps_the_status() {
        let p = of(&event(Payload::CaseReturned(CaseReturned {
            department: "transport".into(),
            reason: "a road matter for the town".into(),
            ..Default::default()
        })))
        .expect("adds a line");
        assert_eq!(p.holding, None);
        assert_eq!(p.line.kind, "case.returned");
        assert_eq!(
            p.line.summary,
            "returned by transport: a road matter for the town"
        );
    }

    #[test]
    fn reply_sets_replied_and_carries_the_reply() {
        let p = of(&event(Payload::CaseReplied(CaseReplied {
            department: "civil-affairs".into(),
            reply: "allowance restored".into(),
            within_deadline: false,
            ..Default::default()
        })))
        .expect("moves the case");
        assert_eq!(p.holding.map(|h| h.status), Some(CaseStatus::Replied));
        assert_eq!(
            p.line.summary,
            "replied by civil-affairs (after the deadline): allowance restored"
        );
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
        assert_eq!(line.kind, "case.registered");
    }
}
