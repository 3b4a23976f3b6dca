//! The one yimen binary's library: settings, composing services into a process, and the
//! operator client. `main.rs` only parses the command line and calls these.

pub mod bench;
pub mod cli;
pub mod client;
pub mod run;
pub mod scenarios;
pub mod settings;
