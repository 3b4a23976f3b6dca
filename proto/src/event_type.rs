//! The event types of `yimen/v1/events.proto`, spelled once: each is the routing key of its
//! `Event`, and the `Event.payload` field it carries is the type with `.` written `_`
//! (`case.registered` carries `case_registered`).
//!
//! Events about a department's own work are published per department, under the routing key
//! `<type>.<department code>` (`case.assigned.civil-affairs`), so a department's system binds
//! only its own: [`for_department`] spells such a key, the `*_ANY` patterns bind all of them,
//! and [`kind`] reads the type back from a key.

/// Defines a per-department event type and its binding pattern for every department.
macro_rules! per_department {
    ($($(#[$doc:meta])* $name:ident, $any:ident = $key:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: &str = $key;
            #[doc = concat!("Binds `", $key, "` of every department.")]
            pub const $any: &str = concat!($key, ".*");
        )*
        /// The event types published per department.
        pub const PER_DEPARTMENT: &[&str] = &[$($name),*];
    };
}

per_department! {
    /// dispatch: a department is given the case (分办).
    CASE_ASSIGNED, CASE_ASSIGNED_ANY = "case.assigned";
    /// dispatch: the department accepted the case (受理).
    CASE_ACCEPTED, CASE_ACCEPTED_ANY = "case.accepted";
    /// dispatch: the department returned the case as not its own.
    CASE_RETURNED, CASE_RETURNED_ANY = "case.returned";
    /// dispatch: the department replied (答复).
    CASE_REPLIED, CASE_REPLIED_ANY = "case.replied";
    /// dispatch: the department referred the case to mediation as a dispute.
    CASE_REFERRED, CASE_REFERRED_ANY = "case.referred";
    /// dispatch: the case was escalated (催办 → 督办 → 包案).
    CASE_ESCALATED, CASE_ESCALATED_ANY = "case.escalated";
    /// dispatch: the handling deadline was extended.
    CASE_EXTENDED, CASE_EXTENDED_ANY = "case.extended";
    /// dispatch: the case is not accepted (不予受理).
    CASE_REFUSED, CASE_REFUSED_ANY = "case.refused";
    /// dispatch: the case went to an authority outside the system (转送).
    CASE_FORWARDED, CASE_FORWARDED_ANY = "case.forwarded";
    /// dispatch: the department waits for material; its clock is stopped.
    CASE_SUPPLEMENT_REQUESTED, CASE_SUPPLEMENT_REQUESTED_ANY = "case.supplement_requested";
    /// dispatch: the material came; the clock runs again.
    CASE_RESUMED, CASE_RESUMED_ANY = "case.resumed";
    /// dispatch: the review body holds a review (复查) or re-review (复核).
    CASE_REVIEW_STARTED, CASE_REVIEW_STARTED_ANY = "case.review_started";
    /// dispatch: the review body decided the review or re-review.
    CASE_REVIEWED, CASE_REVIEWED_ANY = "case.reviewed";
    /// dispatch: the center took the case over (提级) or handed it down (交办).
    CASE_TRANSFERRED, CASE_TRANSFERRED_ANY = "case.transferred";
    /// dispatch: the department let a running deadline pass (催办, or 督办 for handling).
    CASE_OVERDUE, CASE_OVERDUE_ANY = "case.overdue";
    /// dispatch: a co-handler (协办) replied its part to the lead (主办); keyed by the lead.
    CASE_PART_REPLIED, CASE_PART_REPLIED_ANY = "case.part_replied";
    /// dispatch: a leader's written instruction (批示) on the case, with its deadline.
    CASE_INSTRUCTED, CASE_INSTRUCTED_ANY = "case.instructed";
}

/// intake: a case was registered (登记).
pub const CASE_REGISTERED: &str = "case.registered";
/// intake: the petitioner evaluated the reply.
pub const CASE_EVALUATED: &str = "case.evaluated";
/// intake: the case was closed (办结).
pub const CASE_CLOSED: &str = "case.closed";
/// intake: the petitioner was unsatisfied; the case is assigned again.
pub const CASE_REOPENED: &str = "case.reopened";
/// intake: the material a department asked for was added.
pub const CASE_SUPPLEMENTED: &str = "case.supplemented";
/// intake: the petitioner asked for a review (复查) or re-review (复核).
pub const CASE_REVIEW_REQUESTED: &str = "case.review_requested";
/// intake: the petitioner withdrew the case (撤回).
pub const CASE_WITHDRAWN: &str = "case.withdrawn";
/// dispatch: a department joined the center.
pub const DEPARTMENT_JOINED: &str = "department.joined";
/// dispatch: a department left the center, handing its open cases over.
pub const DEPARTMENT_LEFT: &str = "department.left";
/// mediation: a mediation file was opened.
pub const MEDIATION_OPENED: &str = "mediation.opened";
/// mediation: a mediation ended (agreed, failed or withdrawn).
pub const MEDIATION_CONCLUDED: &str = "mediation.concluded";
/// mediation: the court confirmed an agreement (司法确认), or refused to.
pub const MEDIATION_COURT_CONFIRMED: &str = "mediation.court_confirmed";
/// analysis: an alert was raised.
pub const ALERT_RAISED: &str = "alert.raised";
/// every service: the head of its audit chain, for analysis to keep (see `platform::audit`).
pub const AUDIT_ANCHORED: &str = "audit.anchored";

/// Binds every event about cases.
pub const ALL_CASE: &str = "case.#";
/// Binds every event about departments.
pub const ALL_DEPARTMENT: &str = "department.#";

/// Every event type of the contract, one per `Event.payload` variant.
pub const ALL: &[&str] = &[
    CASE_REGISTERED,
    CASE_ASSIGNED,
    CASE_ACCEPTED,
    CASE_RETURNED,
    CASE_REPLIED,
    DEPARTMENT_JOINED,
    DEPARTMENT_LEFT,
    CASE_REFERRED,
    CASE_ESCALATED,
    MEDIATION_OPENED,
    MEDIATION_CONCLUDED,
    MEDIATION_COURT_CONFIRMED,
    CASE_EVALUATED,
    CASE_CLOSED,
    CASE_REOPENED,
    ALERT_RAISED,
    CASE_EXTENDED,
    AUDIT_ANCHORED,
    CASE_REFUSED,
    CASE_FORWARDED,
    CASE_SUPPLEMENT_REQUESTED,
    CASE_SUPPLEMENTED,
    CASE_RESUMED,
    CASE_REVIEW_REQUESTED,
    CASE_REVIEW_STARTED,
    CASE_REVIEWED,
    CASE_WITHDRAWN,
    CASE_TRANSFERRED,
    CASE_OVERDUE,
    CASE_PART_REPLIED,
    CASE_INSTRUCTED,
];

/// The routing key of a per-department event: `case.assigned.<department>`.
pub fn for_department(event_type: &str, department: &str) -> String {
    format!("{event_type}.{department}")
}

/// The event type of a routing key: the key itself, or the per-department type it was
/// published under (`case.assigned.housing` → `case.assigned`). Unknown keys come back as they
/// are.
pub fn kind(routing_key: &str) -> &str {
    PER_DEPARTMENT
        .iter()
        .find(|t| {
            routing_key
                .strip_prefix(**t)
                .is_some_and(|rest| rest.starts_with('.'))
        })
        .copied()
        .unwrap_or(routing_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::BTreeSet;

    /// The payload variants of `Event`, as the compiled contract names them.
    fn payload_fields() -> BTreeSet<String> {
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set the build wrote");
        let event = set
            .file
            .iter()
            .filter(|f| f.package() == "yimen.v1")
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == "Event")
            .expect("events.proto defines Event");
        let payload = event
            .oneof_decl
            .iter()
            .position(|o| o.name() == "payload")
            .expect("Event has a payload oneof");
        event
            .field
            .iter()
            .filter(|f| f.oneof_index == Some(payload as i32))
            .map(|f| f.name().to_string())
            .collect()
    }

    #[test]
    fn every_payload_variant_has_its_event_type() {
        let from_contract = payload_fields();
        let from_constants: BTreeSet<String> =
            ALL.iter().map(|t| t.replacen('.', "_", 1)).collect();
        assert_eq!(from_constants, from_contract);
        assert_eq!(ALL.len(), from_contract.len(), "a type is listed twice");
    }

    #[test]
    fn per_department_types_are_event_types_and_bind_every_department() {
        for t in PER_DEPARTMENT {
            assert!(ALL.contains(t), "{t}");
        }
        assert_eq!(CASE_REFERRED_ANY, "case.referred.*");
        assert_eq!(
            for_department(CASE_ASSIGNED, "civil-affairs"),
            "case.assigned.civil-affairs"
        );
    }

    #[test]
    fn kind_strips_the_department() {
        assert_eq!(kind("case.assigned.civil-affairs"), CASE_ASSIGNED);
        assert_eq!(kind("case.registered"), CASE_REGISTERED);
        assert_eq!(kind("case.assignedx.housing"), "case.assignedx.housing");
        assert_eq!(kind("case.anything.housing"), "case.anything.housing");
    }

    #[test]
    fn family_patterns_cover_their_types() {
        for t in ALL {
            let family = if t.starts_with("department.") {
                ALL_DEPARTMENT
            } else if t.starts_with("case.") {
                ALL_CASE
            } else {
                continue;
            };
            assert_eq!(family.strip_suffix('#'), t.get(..family.len() - 1));
        }
    }
}
