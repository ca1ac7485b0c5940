//! The rule a policy may be missing, from the refusals a hand retry fixed: when the same
//! failed test, or the same log line, repeats across those batches of a group, a `tests` or
//! `log` rule would have caught them. Pure: the test reports and logs were read before (live
//! as it replays, or from captures), and a suggestion says on how many batches it rests.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Reads, Replay, Then};
use crate::decision::Outcome;
use crate::facts::reports::CasesRead;
use crate::facts::{Build, Fetched};

/// A test or a line must fail or show in at least this many batches a hand retry fixed.
pub const MIN_REPEATS: usize = 2;
/// Suggestions shown at most per group and kind (tests, log lines).
pub const MAX_PER_GROUP: usize = 3;
/// Longest log line turned into a pattern.
const MAX_LINE: usize = 160;

/// What repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A failed (or errored) test, by identity `PREFIX::NAME`.
    Test,
    /// A line of the failed build's log (digits generalised).
    LogLine,
}

/// A rule that would have caught refusals a hand retry fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub group: String,
    pub kind: Kind,
    /// The test's identity or the log line, cleaned.
    pub what: String,
    /// Batches of the group refused and then fixed by hand in which it failed or showed.
    pub batches: usize,
    /// Such batches of the group whose reports (or logs) could be read.
    pub of: usize,
    /// Batches whose refusal held (not fixed by a retry) in which it showed too: a test or
    /// line that also comes with real failures is not suggested for a log rule.
    pub held: usize,
    /// The rule to add, as policy YAML (one rule of `rules:`).
    pub rule: String,
    pub example_batch: String,
}

/// Suggestions from the refused attempts of `replay` that a hand retry fixed, with the
/// builds and the reports and logs read. Most repeated first.
pub fn suggest(
    replay: &Replay,
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
) -> Vec<Suggestion> {
    // Per group: for tests and for lines, batch sets (fixed by hand; held).
    #[derive(Default)]
    struct Seen {
        tests: BTreeMap<String, BTreeSet<String>>,
        tests_read: BTreeSet<String>,
        lines: BTreeMap<String, (String, BTreeSet<String>)>,
        lines_read: BTreeSet<String>,
        held_lines: BTreeMap<String, BTreeSet<String>>,
        held_tests: BTreeMap<String, BTreeSet<String>>,
    }
    let mut groups: BTreeMap<String, Seen> = BTreeMap::new();
    for a in &replay.attempts {
        if a.decision.decision != Outcome::Refuse || a.could_not_judge() {
            continue;
        }
        let fixed = a.then == Then::RetriedThenSucceeded;
        let held = matches!(a.then, Then::NotRetried | Then::RetriedThenFailed);
        if !fixed && !held {
            continue;
        }
        for g in a
            .decision
            .groups
            .iter()
            .filter(|g| g.code.is_hard_refusal())
        {
            let Some(build) = g.build_id.as_deref().and_then(|id| builds.get(id)) else {
                continue;
            };
            let seen = groups.entry(g.group.clone()).or_default();
            if let Some(tests) = failed_tests(build, reads) {
                if fixed {
                    seen.tests_read.insert(a.batch_id.clone());
                }
                for t in tests {
                    let map = if fixed {
                        &mut seen.tests
                    } else {
                        &mut seen.held_tests
                    };
                    map.entry(t).or_default().insert(a.batch_id.clone());
                }
            }
            if let Some(Fetched::Known(tail)) = reads.logs.get(&build.id) {
                if fixed {
                    seen.lines_read.insert(a.batch_id.clone());
                }
                for line in &tail.lines {
                    let Some(key) = telling(line) else { continue };
                    if fixed {
                        seen.lines
                            .entry(key)
                            .or_insert_with(|| (line.trim().to_string(), BTreeSet::new()))
                            .1
                            .insert(a.batch_id.clone());
                    } else {
                        seen.held_lines
                            .entry(key)
                            .or_default()
                            .insert(a.batch_id.clone());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (group, seen) in groups {
        let mut tests: Vec<Suggestion> = seen
            .tests
            .iter()
            .filter(|(_, b)| b.len() >= MIN_REPEATS)
            .map(|(identity, batches)| {
                let name = identity.rsplit_once("::").map_or(identity.as_str(), |(_, n)| n);
                Suggestion {
                    group: group.clone(),
                    kind: Kind::Test,
                    what: crate::text::clean(identity, 200),
                    batches: batches.len(),
                    of: seen.tests_read.len(),
                    held: seen.held_tests.get(identity).map_or(0, BTreeSet::len),
                    rule: format!(
                        "- name: flaky-tests-{}\n  groups: [{}]\n  tests:\n    known-flaky-days: 14   # or quarantine it: failed: [{}]\n",
                        rule_name(&group),
                        yaml_string(&group),
                        yaml_string(&escape_glob(name))
                    ),
                    example_batch: batches.iter().next_back().cloned().unwrap_or_default(),
                }
            })
            .collect();
        tests.sort_by_key(|s| std::cmp::Reverse(s.batches));
        tests.truncate(MAX_PER_GROUP);
        let mut lines: Vec<Suggestion> = seen
            .lines
            .iter()
            .filter(|(key, (_, b))| b.len() >= MIN_REPEATS && !seen.held_lines.contains_key(*key))
            .map(|(_, (line, batches))| Suggestion {
                group: group.clone(),
                kind: Kind::LogLine,
                what: crate::text::clean(line, MAX_LINE),
                batches: batches.len(),
                of: seen.lines_read.len(),
                held: 0,
                rule: format!(
                    "- name: log-{}\n  groups: [{}]\n  log:\n    matches: [{}]\n",
                    rule_name(&group),
                    yaml_string(&group),
                    yaml_string(&pattern(line))
                ),
                example_batch: batches.iter().next_back().cloned().unwrap_or_default(),
            })
            .collect();
        lines.sort_by_key(|s| std::cmp::Reverse(s.batches));
        lines.truncate(MAX_PER_GROUP);
        out.extend(tests);
        out.extend(lines);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.batches));
    out
}

/// The identities of the failed tests of `build`, when every test report of it was read.
fn failed_tests(build: &Build, reads: &Reads) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut any = false;
    for arn in &build.report_arns {
        match reads.reports.failed_cases.get(arn) {
            Some(CasesRead::Read(cases)) => {
                any = true;
                out.extend(cases.iter().filter(|c| c.is_failed()).map(|c| c.identity()));
            }
            _ => continue,
        }
    }
    any.then_some(out)
}

/// A log line worth suggesting, as the key it is grouped by (digits generalised): one that
/// says something went wrong, not CodeBuild's own `[Container]` lines, and not too long.
fn telling(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.chars().count() > MAX_LINE || line.starts_with("[Container]") {
        return None;
    }
    let lower = line.to_lowercase();
    const WORDS: [&str; 12] = [
        "error",
        "fail",
        "exception",
        "timeout",
        "timed out",
        "refused",
        "denied",
        "reset",
        "too many",
        "unavailable",
        "429",
        "503",
    ];
    if !WORDS.iter().any(|w| lower.contains(w)) {
        return None;
    }
    let mut key = String::with_capacity(line.len());
    let mut digits = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !digits {
                key.push('#');
            }
            digits = true;
        } else {
            digits = false;
            key.push(c);
        }
    }
    Some(key)
}

/// A regex matching `line` with its digits generalised (`\d+`), the rest literal.
fn pattern(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut digits = false;
    for c in line.trim().chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push_str(&regex::escape(&run));
                run.clear();
                out.push_str(r"\d+");
            }
            digits = true;
        } else {
            digits = false;
            run.push(c);
        }
    }
    out.push_str(&regex::escape(&run));
    out
}

/// A glob matching `text` literally (`*`, `?`, `[`, `]`, `{`, `}` in brackets).
fn escape_glob(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' | '{' | '}' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

/// A group identifier as part of a rule name: letters, digits, `-` and `_` only.
fn rule_name(group: &str) -> String {
    group
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A double-quoted YAML string (cleaned: no control characters, no workflow commands).
fn yaml_string(text: &str) -> String {
    let cleaned = crate::text::clean(text, 200);
    format!("\"{}\"", cleaned.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_a_pattern_with_digits_generalised() {
        let line = "npm ERR! 429 Too Many Requests - GET https://registry.npmjs.org/left-pad";
        let p = pattern(line);
        assert_eq!(
            p,
            r"npm ERR! \d+ Too Many Requests \- GET https://registry\.npmjs\.org/left\-pad"
        );
        let re = regex::Regex::new(&p).unwrap();
        assert!(re.is_match(line));
        assert!(re.is_match(&line.replace("429", "503")));
    }

    #[test]
    fn only_lines_that_say_something_failed_are_telling() {
        assert_eq!(
            telling("  Error: connect ECONNRESET 10.0.3.17:6379 "),
            Some("Error: connect ECONNRESET #.#.#.#:#".to_string())
        );
        assert_eq!(telling("> npm test"), None);
        assert_eq!(
            telling("[Container] 2026/11/18 09:47:04 Command did not exit successfully"),
            None
        );
        assert_eq!(telling(&"error ".repeat(40)), None);
    }

    #[test]
    fn globs_and_yaml_are_literal_and_safe() {
        assert_eq!(escape_glob("a*b[1]"), "a[*]b[[]1[]]");
        assert_eq!(yaml_string("say \"hi\"\n::x"), "\"say \\\"hi\\\" ::x\"");
    }
}
