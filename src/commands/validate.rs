//! `validate`: check policy files, reporting every problem of every file.

use std::io::Write;
use std::path::PathBuf;

use crate::error::{RunError, exit};
use crate::policy::Policy;

/// Writes `FILE: ok` lines to `out` and diagnostics to `err`; exit 2 if any file is bad.
/// Under GitHub Actions (`annotate`), every diagnostic is also an `::error` annotation on
/// its file, line and column.
pub fn run(
    files: &[PathBuf],
    annotate: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    let mut bad = 0;
    let mut problems = 0;
    for path in files {
        match Policy::load(path) {
            Ok(policy) => {
                let _ = writeln!(
                    out,
                    "{}: ok ({} rule{})",
                    path.display(),
                    policy.rules.len(),
                    if policy.rules.len() == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                bad += 1;
                problems += e.diagnostics.len();
                let _ = writeln!(err, "{e}");
                if annotate {
                    for d in &e.diagnostics {
                        let _ = writeln!(out, "{}", crate::actions::annotation(d));
                    }
                }
            }
        }
    }
    if bad > 0 {
        let _ = writeln!(
            err,
            "{problems} problem{} in {bad} of {} file{}",
            if problems == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        return Ok(exit::USAGE);
    }
    Ok(exit::OK)
}
