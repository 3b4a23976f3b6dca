//! The pure rules of the dispute-resolution center: the eight committees and which takes a
//! dispute, the life of a mediation file, what a valid agreement is, and what each request
//! must carry. No I/O here; the store, the API and the consumer call in.

pub mod access;
pub mod agreement;
pub mod committee;
pub mod request;
pub mod state;

pub use agreement::{Agreement, Installment};
pub use committee::{COMMITTEES, Committee, committee_for};
pub use request::{Conclusion, Credit, MediationFilter, NewMediation, NewMediator, NewSession};
pub use state::{MediationState, Outcome, Standing, Transition};
