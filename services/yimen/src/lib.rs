//! The one yimen binary's library: settings, composing services into a process, reaching a
//! running installation (`client`) and the command line by noun (`cli`). `main.rs` only parses
//! the command line and hands off to `cli`.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod keys;
pub mod progress;
pub mod run;
pub mod scenarios;
pub mod settings;
