//! The pure rules of the intelligence-analysis center: the default periods, figures and their
//! changes, the alert rules, who holds a case and which deadline runs, risk scores and
//! recommendations. No I/O here; the store, the API and the consumer call in.

pub mod alerts;
pub mod figures;
pub mod holding;
pub mod labels;
pub mod listing;
pub mod recommend;
pub mod risk;

pub use alerts::{AlertDraft, KeyMatch, Registration};
pub use figures::{Figure, change, figures};
pub use holding::{AssignmentFacts, Deadline, Holding, holding, is_overdue, passed_deadline};
pub use listing::AlertFilter;
pub use yimen_platform::period::Period;

/// What an unset period means: the last 30 days, ending now.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period a trend is drawn over, one point a day (about ten years).
pub const TREND_DAYS_MAX: i64 = 3700;
