//! `explain`: the gate's decision, offline, from AWS CLI captures (and GitHub's facts about
//! the commit, from `--github FILE`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{ExplainArgs, Format};
use crate::commands::common::{self, at};
use crate::decide::{decide, needs};
use crate::decision::Outcome;
use crate::error::{RunError, exit};
use crate::facts::awscli::{
    batches_from_json, builds_from_json, history_from_json, reports_from_json, test_cases_from_json,
};
use crate::facts::captured_logs;
use crate::facts::github::Captured;
use crate::facts::{Batch, Facts};
use crate::policy::Policy;
use crate::render;

/// Captures larger than this are refused: a real `batch-get-*` answer is a few hundred KiB.
pub const MAX_CAPTURE_BYTES: u64 = 64 * 1024 * 1024;

pub fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<i32, RunError> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::builtin(),
    };
    let (batch, builds, history) = captures(args)?;
    let mut facts = load_facts(&batch, &builds, &history)?;
    let (reports, test_cases) = report_captures(args)?;
    load_reports(&mut facts, &reports, &test_cases)?;
    // Without --now, the latest moment recorded in the captures (see `Facts::moment`).
    facts.now = args.now;
    // Facts that cost a read come from files offline: only those a rule could use.
    let wanted = needs(&policy, &facts);
    let logs = args.logs.clone().or_else(|| {
        let dir = args.batch.join("logs");
        (args.batch.is_dir() && dir.is_dir()).then_some(dir)
    });
    if let Some(dir) = logs.filter(|_| !wanted.logs.is_empty()) {
        if !dir.is_dir() {
            return Err(at(
                &dir,
                "not a directory; --logs takes a directory of captured logs",
            ));
        }
        facts.logs = captured_logs::read_dir(&dir, &wanted.logs);
        // As the gate: at most ten builds' logs for one decision.
        facts
            .logs
            .extend(crate::facts::expensive::logs_over_the_cap(&wanted.logs));
    }
    if let Some(path) = &args.github {
        let captured = load_github(path)?;
        if let Some(commit) = facts.batch.commit() {
            facts.github = captured.facts_for(commit, &path.display().to_string());
        }
    }
    let decision = decide(&policy, &facts);
    let text = match args.format {
        Format::Text => render::text::render(&decision),
        Format::Json => render::json::render(&decision, false),
        Format::Markdown => render::markdown::render(&decision, false),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| RunError::Runtime(format!("cannot write the report: {e}")))?;
    Ok(
        if args.fail_on_refusal && decision.decision == Outcome::Refuse {
            exit::REFUSED
        } else {
            exit::OK
        },
    )
}

/// The capture files: BATCH itself, or in a directory like `examples/batches/NAME` its
/// `batch.json` with `builds.json` and `history.json` when present, in addition to the
/// files given with `--builds` and `--history`.
fn captures(args: &ExplainArgs) -> Result<(PathBuf, Vec<PathBuf>, Vec<PathBuf>), RunError> {
    let mut builds = args.builds.clone();
    let mut history = args.history.clone();
    if !args.batch.is_dir() {
        return Ok((args.batch.clone(), builds, history));
    }
    let batch = args.batch.join("batch.json");
    if !batch.is_file() {
        return Err(at(
            &args.batch,
            "a directory without batch.json; give a batch-get-build-batches capture, or a directory holding one as batch.json (with builds.json and history.json when there are)",
        ));
    }
    for (name, list) in [("builds.json", &mut builds), ("history.json", &mut history)] {
        let path = args.batch.join(name);
        if path.is_file() {
            list.insert(0, path);
        }
    }
    Ok((batch, builds, history))
}

/// The test report captures: `--reports` and `--test-cases`, and in a directory BATCH its
/// `reports.json` and `test-cases*.json` (in name order) too.
fn report_captures(args: &ExplainArgs) -> Result<(Vec<PathBuf>, Vec<PathBuf>), RunError> {
    let mut reports = args.reports.clone();
    let mut test_cases = args.test_cases.clone();
    if args.batch.is_dir() {
        let path = args.batch.join("reports.json");
        if path.is_file() {
            reports.insert(0, path);
        }
        let entries = std::fs::read_dir(&args.batch)
            .map_err(|e| at(&args.batch, format!("cannot list the directory: {e}")))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("test-cases") && n.ends_with(".json"))
            })
            .collect();
        found.sort();
        test_cases.splice(0..0, found);
    }
    Ok((reports, test_cases))
}

/// Adds captured test reports (`batch-get-reports` output) and test cases
/// (`describe-test-cases` output) to the facts. A report named by a build but in no capture
/// stays unread: a `tests` condition on it could not be judged.
pub fn load_reports(
    facts: &mut Facts,
    reports: &[impl AsRef<Path>],
    test_cases: &[impl AsRef<Path>],
) -> Result<(), RunError> {
    for path in reports {
        let path = path.as_ref();
        let read = reports_from_json(&read(path)?).map_err(|e| at(path, e))?;
        facts.reports.extend(read);
    }
    for path in test_cases {
        let path = path.as_ref();
        let cases = test_cases_from_json(&read(path)?).map_err(|e| at(path, e))?;
        facts.reports.add_cases(cases);
    }
    Ok(())
}

/// Reads the batch (the first batch of the file), builds and history captures into facts.
pub fn load_facts(
    batch: &Path,
    builds: &[impl AsRef<Path>],
    history: &[impl AsRef<Path>],
) -> Result<Facts, RunError> {
    let mut batches = batches_from_json(&read(batch)?).map_err(|e| at(batch, e))?;
    let main: Batch = batches.remove(0);
    let mut facts = Facts {
        batch: main,
        ..Facts::default()
    };
    // Further batches in the same file count as history.
    facts.history.extend(batches);
    for path in builds {
        let path = path.as_ref();
        for build in builds_from_json(&read(path)?).map_err(|e| at(path, e))? {
            facts.builds.insert(build.id.clone(), build);
        }
    }
    for path in history {
        let path = path.as_ref();
        facts
            .history
            .extend(history_from_json(&read(path)?).map_err(|e| at(path, e))?);
    }
    Ok(facts)
}

/// GitHub's facts about commits (`--github FILE`), for `branches` and `pull-request-bases`.
pub fn load_github(path: &Path) -> Result<Captured, RunError> {
    Captured::from_json(&read(path)?).map_err(|e| at(path, e))
}

fn read(path: &Path) -> Result<String, RunError> {
    common::read_capture(path, MAX_CAPTURE_BYTES, "64 MiB")
}
