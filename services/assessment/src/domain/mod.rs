//! The pure rules of assessment (综治中心): what an event tells about a department's work,
//! the negative list, the scorecard's figures and the bulletin's notes. No I/O here; the store, the reports, the API and the consumer call in.

pub mod attendance;
pub mod bulletin;
pub mod facts;
pub mod negative;
pub mod scorecard;
pub mod subsidy;

pub use facts::{Fact, Observed};
pub use scorecard::Figures;
pub use yimen_platform::period::Period;
