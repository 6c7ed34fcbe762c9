//! baton: run an AI coding agent over a project too big for one context window, one fresh session
//! at a time, with a human in the loop.
//!
//! The core (`project`, and later `harness` and `agent`) knows nothing of the terminal; the command
//! line in `commands` and the screen are consumers of it.

pub mod agent;
pub mod commands;
pub mod fleet;
pub mod harness;
pub mod logging;
pub mod project;
pub mod sandbox;
pub mod shell;
pub mod tui;
pub mod words;
