//! The state carried between sessions: the feature list, the progress notes, git, the config and
//! the journal. Everything here is plain files and git, readable by any other tool.

pub mod config;
pub mod config_edit;
mod config_load;
pub mod evaluation;
pub mod features;
pub mod fsio;
pub mod gitdir;
pub mod history;
pub mod journal;
pub mod last_mode;
pub mod lock;
pub mod mcp;
pub mod mirror;
pub mod prices;
pub mod progress;
pub mod repo;
pub mod report;
pub mod secrets;
pub mod session;
pub mod state;
pub mod summary;
pub mod transcript;
pub mod uncommitted;
pub mod watch;

mod layout;

pub use layout::{BATON_EXCLUDE, Project, ProjectError};
