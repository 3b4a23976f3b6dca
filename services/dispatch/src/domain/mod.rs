//! The pure rules of triage and assignment (分流交办): what a department is, who owns a case,
//! how an assignment may move, and how it is followed up (mediation, extension, escalation).
//! No I/O here; the store, the API and the consumer call in.

pub mod access;
pub mod assignment;
pub mod category;
pub mod decision;
pub mod department;
pub mod escalation;
pub mod extension;
pub mod joint;
pub mod mediation;
pub mod requests;
pub mod review;
pub mod routing;
pub mod rules;
pub mod supervision;
pub mod transfer;

pub use assignment::{Action, AssignmentState, Transition};
pub use department::{
    CITY_CENTER, CITY_CENTER_NAME, Department, DepartmentCode, DepartmentSpec, Level,
};
pub use extension::Extension;
pub use routing::{CaseFacts, Route, Trigger, route};
pub use rules::{RoutingRule, RuleSet};
