//! The pure rules of triage and assignment (分流交办): what a department is, who owns a case,
//! and how an assignment may move. No I/O here; the store, the API and the consumer call in.

pub mod assignment;
pub mod category;
pub mod department;
pub mod routing;

pub use assignment::{AssignmentState, Transition};
pub use department::{
    CITY_CENTER, CITY_CENTER_NAME, Department, DepartmentCode, DepartmentSpec, Level,
};
pub use routing::{CaseFacts, Route, Trigger, route};
