//! The subcommands: each reads its inputs, calls the judgment or the validator, and writes
//! to the writers it is given. `main` maps their results to exit codes.

pub mod common;
pub mod explain;
pub mod gate;
pub mod inputs;
pub mod reconcile;
pub mod report;
pub mod schema;
pub mod simulate;
pub mod validate;
