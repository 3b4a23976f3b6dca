//! The pure rules of the one door: what a valid submission is, how a case is numbered and
//! named, how the process's events move a case, what an evaluation decides, how cases are
//! listed, which cases a caller may read and how much of their petitioners it is shown. No I/O here; the store, the API and the consumer
//! call in.

pub mod access;
pub mod case_number;
pub mod evaluation;
pub mod identity;
pub mod listing;
pub mod masking;
pub mod notice;
pub mod progress;
pub mod query_code;
pub mod review;
pub mod same_matter;
pub mod submission;
pub mod supplement;
pub mod withdrawal;

pub use access::Visibility;
pub use case_number::{CaseNumber, CaseRef, NumberBlock};
pub use evaluation::Evaluation;
pub use identity::{PetitionerKeyer, Phone, ResidentId};
pub use listing::CaseFilter;
pub use masking::Disclosure;
pub use progress::{Holding, Progress, TimelineLine};
pub use submission::{NewCase, Petitioner};
pub use supplement::Supplement;
pub use withdrawal::{DeskReply, Withdrawal};
