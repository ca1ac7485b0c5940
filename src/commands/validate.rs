//! `validate`: check policy files, reporting every problem of every file. Also a `command`
//! of the Action: without files on the command line it checks the `policy` input's files
//! (one per line), else the default policy path, in the workspace.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::actions;
use crate::commands::common::DEFAULT_POLICY_PATH;
use crate::commands::inputs::Env;
use crate::error::{RunError, exit};
use crate::policy::{DEFAULT_POLICY_NAME, Policy};

/// What to check.
#[derive(Debug, PartialEq, Eq)]
pub enum Files {
    /// These files (named on the command line or in the `policy` input).
    Named(Vec<PathBuf>),
    /// Nothing was named and the default path does not exist: the gate would use the
    /// built-in default policy, so there is nothing to check.
    DefaultAbsent,
}

/// The files to check: those named on the command line, else the `policy` input's (one per
/// line; the runner passes it as `INPUT_POLICY`), else the default path when it exists.
/// Never read through `policy-ref`: `validate` checks the workspace's own copy (in a pull
/// request, the pull request's).
pub fn files(given: &[PathBuf], env: Env<'_>) -> Files {
    if !given.is_empty() {
        return Files::Named(given.to_vec());
    }
    if let Some(input) = actions::input(env, "policy") {
        let named: Vec<PathBuf> = input
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect();
        if !named.is_empty() {
            return Files::Named(named);
        }
    }
    if Path::new(DEFAULT_POLICY_PATH).exists() {
        Files::Named(vec![PathBuf::from(DEFAULT_POLICY_PATH)])
    } else {
        Files::DefaultAbsent
    }
}

/// `validate` as the binary runs it: [`files`], then [`run`].
pub fn command(
    given: &[PathBuf],
    env: Env<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    let annotate = env("GITHUB_ACTIONS").as_deref() == Some("true");
    match files(given, env) {
        Files::Named(files) => run(&files, annotate, out, err),
        Files::DefaultAbsent => {
            let message = format!(
                "no policy file given and no {DEFAULT_POLICY_PATH}: the gate uses the {DEFAULT_POLICY_NAME}; nothing to check"
            );
            let line = if annotate {
                actions::command("notice", &[], &message)
            } else {
                format!("note: {message}")
            };
            let _ = writeln!(err, "{line}");
            Ok(exit::OK)
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_from_the_command_line_then_the_policy_input_one_per_line() {
        let none = |_: &str| None;
        let given = vec![PathBuf::from("a.yml")];
        assert_eq!(files(&given, &none), Files::Named(given.clone()));
        let input =
            |k: &str| (k == "INPUT_POLICY").then(|| "ci/a.yml\n\n  ci/b.yml \n".to_string());
        assert_eq!(
            files(&[], &input),
            Files::Named(vec![PathBuf::from("ci/a.yml"), PathBuf::from("ci/b.yml")])
        );
        // The command line wins over the input.
        assert_eq!(files(&given, &input), Files::Named(given));
    }
}
