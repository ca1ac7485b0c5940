//! `validate`: check policy files, reporting every problem of every file. Also a `command`
//! of the Action: without files on the command line it checks the `policy` input's files
//! (one per line), else the default policy path, in the workspace.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::actions;
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::commands::common::DEFAULT_POLICY_PATH;
use crate::commands::inputs::Env;
use crate::error::{RunError, exit};
use crate::policy::{DEFAULT_POLICY_NAME, Policy};
use crate::policy::{Diagnostic, MAX_POLICY_BYTES, PolicyError, Pos};

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
    args: &ValidateArgs,
    env: Env<'_>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    let options = Options {
        annotate: env("GITHUB_ACTIONS").as_deref() == Some("true"),
        format: args.format,
        strict: args.strict,
    };
    match files(&args.files, env) {
        Files::Named(files) => run(&files, &options, stdin, out, err),
        Files::DefaultAbsent => {
            let message = format!(
                "no policy file given and no {DEFAULT_POLICY_PATH}: the gate uses the {DEFAULT_POLICY_NAME}; nothing to check"
            );
            let line = if options.annotate {
                actions::command("notice", &[], &message)
            } else {
                format!("note: {message}")
            };
            let _ = writeln!(err, "{line}");
            if options.format == ValidateFormat::Json {
                let _ = writeln!(out, "{}", report(&[], 0, 0));
            }
            Ok(exit::OK)
        }
    }
}

/// How to check and report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Under GitHub Actions: every problem is also an annotation on its file and line.
    pub annotate: bool,
    pub format: ValidateFormat,
    /// Warnings fail too (exit 2).
    pub strict: bool,
}

/// The name a policy read from stdin (`-`) goes by in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// One checked file.
struct Checked {
    file: String,
    rules: Option<usize>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// Checks every file (`-` is stdin). Text: `FILE: ok` lines on `out`, problems on `err`;
/// JSON: one report on `out`. Under Actions every problem is also an annotation (`::error`,
/// `::warning`). Exit 2 when a file has an error, or a warning with `--strict`.
pub fn run(
    files: &[PathBuf],
    options: &Options,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    let checked: Vec<Checked> = files.iter().map(|path| check(path, stdin)).collect();
    let errors: usize = checked.iter().map(|c| c.errors.len()).sum();
    let warnings: usize = checked.iter().map(|c| c.warnings.len()).sum();
    match options.format {
        ValidateFormat::Json => {
            let _ = writeln!(out, "{}", report(&checked, errors, warnings));
        }
        ValidateFormat::Text => text(&checked, out, err),
    }
    if options.annotate {
        for c in &checked {
            for d in &c.errors {
                let _ = writeln!(out, "{}", actions::annotation_as("error", d));
            }
            for d in &c.warnings {
                let _ = writeln!(out, "{}", actions::annotation_as("warning", d));
            }
        }
    }
    if options.format == ValidateFormat::Text && (errors > 0 || warnings > 0) {
        let bad = checked
            .iter()
            .filter(|c| !c.errors.is_empty() || !c.warnings.is_empty())
            .count();
        let mut counts = Vec::new();
        if errors > 0 {
            counts.push(plural(errors, "problem"));
        }
        if warnings > 0 {
            counts.push(plural(warnings, "warning"));
        }
        let mut line = format!(
            "{} in {bad} of {}",
            counts.join(" and "),
            plural(files.len(), "file")
        );
        if errors == 0 && !options.strict {
            line.push_str(" (warnings do not fail validation; --strict makes them)");
        }
        let _ = writeln!(err, "{line}");
    }
    Ok(if errors > 0 || (options.strict && warnings > 0) {
        exit::USAGE
    } else {
        exit::OK
    })
}

fn check(path: &Path, stdin: &mut dyn Read) -> Checked {
    let (file, bytes) = if path == Path::new("-") {
        let mut bytes = Vec::new();
        let read = stdin
            .take(MAX_POLICY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the policy from stdin: {e}"));
        (STDIN_NAME.to_string(), read.map(|_| bytes))
    } else {
        let file = path.display().to_string();
        let bytes = Policy::read_file(path).map_err(|e| e.diagnostics[0].message.clone());
        (file, bytes)
    };
    let result = bytes
        .map_err(|message| PolicyError::single(&file, Pos::default(), "unreadable-file", message))
        .and_then(|bytes| Policy::check_bytes(&bytes, &file));
    match result {
        Ok((policy, warnings)) => Checked {
            file,
            rules: Some(policy.rules.len()),
            errors: Vec::new(),
            warnings,
        },
        Err(e) => Checked {
            file,
            rules: None,
            errors: e.diagnostics,
            warnings: Vec::new(),
        },
    }
}

fn text(checked: &[Checked], out: &mut dyn Write, err: &mut dyn Write) {
    for c in checked {
        for d in &c.errors {
            let _ = writeln!(err, "{}", d.render("error"));
        }
        for d in &c.warnings {
            let _ = writeln!(err, "{}", d.render("warning"));
        }
        if let Some(rules) = c.rules {
            let warned = match c.warnings.len() {
                0 => String::new(),
                n => format!(", {}", plural(n, "warning")),
            };
            let _ = writeln!(
                out,
                "{}: ok ({}{warned})",
                crate::text::clean(&c.file, 500),
                plural(rules, "rule")
            );
        }
    }
}

/// The JSON report (version 1): every file with its errors and warnings.
fn report(checked: &[Checked], errors: usize, warnings: usize) -> String {
    let item = |d: &Diagnostic| {
        serde_json::json!({
            "line": d.pos.is_known().then_some(d.pos.line),
            "column": d.pos.is_known().then_some(d.pos.column),
            "code": d.code,
            "message": d.message,
            "help": d.help,
        })
    };
    let files: Vec<serde_json::Value> = checked
        .iter()
        .map(|c| {
            serde_json::json!({
                "file": c.file,
                "ok": c.errors.is_empty(),
                "rules": c.rules,
                "errors": c.errors.iter().map(item).collect::<Vec<_>>(),
                "warnings": c.warnings.iter().map(item).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 1,
        "files": files,
        "errors": errors,
        "warnings": warnings,
    }))
    .unwrap_or_default()
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
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
