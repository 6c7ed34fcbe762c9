//! Running agent sessions: one trait for every backend, the built-in tools, the policy that decides
//! which tool calls may run, and the scripted model that lets everything run offline.

pub mod policy;
pub mod shell;
