//! Properties of the replay behind `simulate`, against the definition it implements: each
//! failed attempt gets the decision `decide` (what `explain` runs) gives on the batch as it
//! stood when the attempt ended, with all its builds, and the project's other batches as
//! they stood then as history.

#[path = "support/history.rs"]
mod history;

use std::collections::BTreeMap;

use codebuild_retry_gate::decide::decide;
use codebuild_retry_gate::facts::awscli::{
    builds_from_json, history_from_json, reports_from_json, test_cases_from_json,
};
use codebuild_retry_gate::facts::reports::Reports;
use codebuild_retry_gate::facts::{Batch, Build, Facts, Timestamp};
use codebuild_retry_gate::history::{as_of, at_attempt, attempts};
use codebuild_retry_gate::policy::Policy;
use codebuild_retry_gate::replay::{Reads, Window, replay, replay_with};
use history::{End, Fail, HOUR, History, sha};
use proptest::prelude::*;

/// 2026-11-02T00:00:00Z.
const T0: f64 = 1_793_577_600.0;

/// One attempt: which of the two groups fail, and how.
fn attempt() -> impl Strategy<Value = Vec<(&'static str, Fail)>> {
    let fail = prop_oneof![Just(None), Just(Some(Fail::Infra)), Just(Some(Fail::Test))];
    (fail.clone(), fail).prop_map(|(build, test)| {
        let mut fails = Vec::new();
        if let Some(f) = build {
            fails.push(("build", f));
        }
        if let Some(f) = test {
            fails.push(("test", f));
        }
        fails
    })
}

/// A batch: its commit (one of three), start (within two days, so batches overlap), its
/// attempts, the delay before each retry, and whether its last attempt still runs.
#[derive(Debug, Clone)]
struct Spec {
    commit: char,
    start: f64,
    attempts: Vec<Vec<(&'static str, Fail)>>,
    delay: f64,
    running: bool,
}

fn spec(max_attempts: usize) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just('a'), Just('b'), Just('c')],
        0.0..(48.0 * HOUR),
        prop::collection::vec(attempt(), 1..=max_attempts),
        0.0..(4.0 * HOUR),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(commit, start, mut attempts, delay, running)| {
            // A retry follows only a failed attempt.
            if let Some(i) = attempts.iter().position(|a| a.is_empty()) {
                attempts.truncate(i + 1);
            }
            Spec {
                commit,
                start: T0 + start.round(),
                attempts,
                delay: delay.round(),
                running,
            }
        })
}

/// The history as `simulate --batches --builds` reads it.
fn load(specs: &[Spec]) -> (Vec<Batch>, BTreeMap<String, Build>) {
    let (batches, builds, _) = load_with_reports(specs);
    (batches, builds)
}

/// The history with the test reports of its test failures (`--reports`, `--test-cases`):
/// the failed test is `suite::case0`, `suite::case1` or `suite::case2`, in turn.
fn load_with_reports(specs: &[Spec]) -> (Vec<Batch>, BTreeMap<String, Build>, Reports) {
    let mut h = History::new("acme-api");
    h.failing_tests = vec!["case0".into(), "case1".into(), "case2".into()];
    for s in specs {
        let attempts: Vec<&[(&str, Fail)]> = s.attempts.iter().map(Vec::as_slice).collect();
        let end = if s.running { End::Running } else { End::Done };
        h.batch(&sha(s.commit), s.start, &attempts, s.delay, end);
    }
    let batches = history_from_json(&h.batches_json().to_string()).unwrap();
    let builds = builds_from_json(&h.builds_json().to_string())
        .unwrap()
        .into_iter()
        .map(|b| (b.id.clone(), b))
        .collect();
    let mut reports = reports_from_json(&h.reports_json().to_string()).unwrap();
    reports.add_cases(test_cases_from_json(&h.cases_json().to_string()).unwrap());
    (batches, builds, reports)
}

/// What `explain --now AT` decides on `batch` as attempt `k` ended (at `at`), given every
/// build and the other batches as they stood then.
fn explained(
    policy: &Policy,
    batches: &[Batch],
    builds: &BTreeMap<String, Build>,
    reports: &Reports,
    batch: &Batch,
    k: u32,
    at: Timestamp,
) -> codebuild_retry_gate::decision::Decision {
    let facts = Facts {
        batch: at_attempt(batch, k).unwrap(),
        builds: builds.clone(),
        history: batches
            .iter()
            .filter(|b| b.id != batch.id)
            .filter_map(|b| as_of(b, at))
            .collect(),
        history_truncated: false,
        now: Some(at),
        reports: reports.clone(),
        ..Facts::default()
    };
    decide(policy, &facts)
}

/// The built-in policy with every time window in use: a daily project budget and the outage
/// brake, both tight enough to bite in a two-day history of ten batches.
fn windowed() -> Policy {
    Policy::from_yaml(
        "version: 1
budget: {per-batch: 2, per-commit: 3, per-project-per-day: 3}
outage: {failed-batches: 2, within-minutes: 120}
rules:
  - {name: infrastructure-phases, phases: [SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE]}
  - {name: command-failures, action: refuse, status-codes: [COMMAND_EXECUTION_ERROR]}
",
        "windowed.yml",
    )
    .unwrap()
}

fn check(specs: &[Spec]) -> Result<usize, TestCaseError> {
    check_with(&Policy::builtin(), specs)
}

/// Issue 17: `tests` conditions (a quarantine and tests learned flaky from the history's
/// retries), each test failure with its report.
fn with_tests() -> Policy {
    Policy::from_yaml(
        "version: 1
rules:
  - {name: infrastructure-phases, phases: [SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE]}
  - {name: quarantine, tests: {failed: [\"suite::case0\"]}}
  - {name: learned, tests: {known-flaky-days: 1}}
",
        "tests.yml",
    )
    .unwrap()
}

fn check_with(policy: &Policy, specs: &[Spec]) -> Result<usize, TestCaseError> {
    let policy = policy.clone();
    let (batches, builds, reports) = load_with_reports(specs);
    let reads = Reads {
        reports: reports.clone(),
        ..Reads::default()
    };
    let replayed = replay_with(
        &policy,
        batches.clone(),
        &builds,
        &reads,
        Window::default(),
        false,
    );
    let mut judged = 0;
    for b in &batches {
        for a in attempts(b).iter().filter(|a| a.failed(b)) {
            let got = replayed
                .attempts
                .iter()
                .find(|j| j.batch_id == b.id && j.attempt == a.number);
            prop_assert!(got.is_some(), "{} attempt {} not judged", b.id, a.number);
            let want = explained(
                &policy,
                &batches,
                &builds,
                &reports,
                b,
                a.number,
                a.ended.unwrap(),
            );
            prop_assert_eq!(&got.unwrap().decision, &want);
            judged += 1;
        }
    }
    prop_assert_eq!(replayed.attempts.len(), judged);
    Ok(judged)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The property: when every batch has a single attempt, replaying the history
    /// gives each failed batch the decision `explain` gives it with the same history (the
    /// other batches as they stood when it failed).
    #[test]
    fn single_attempt_batches_are_judged_as_explain_judges_them(
        specs in prop::collection::vec(spec(1), 1..10)
    ) {
        check(&specs)?;
    }

    /// The same with retries: every failed attempt, as it stood, with the other batches'
    /// retries counted only once they had been made. (The replay keeps the history up to
    /// date incrementally; this compares it with slicing every batch afresh.)
    #[test]
    fn every_failed_attempt_is_judged_as_it_stood(
        specs in prop::collection::vec(spec(3), 1..10)
    ) {
        check(&specs)?;
    }

    /// Issue 17: with `tests` conditions, each attempt sees the reports of its own failed
    /// builds and learns flaky tests from the retries before it, as `explain --reports
    /// --test-cases --now` does with every report given.
    #[test]
    fn tests_conditions_are_judged_as_explain_judges_them(
        specs in prop::collection::vec(spec(3), 1..10)
    ) {
        check_with(&with_tests(), &specs)?;
    }

    /// Issue 15: with the daily project budget and the outage brake in the policy, the
    /// replay still equals `explain --now` at each attempt's end: the windows end at the
    /// moment of judgment, and the history holds nothing after it.
    #[test]
    fn the_windows_end_at_each_attempts_end(
        specs in prop::collection::vec(spec(3), 1..10)
    ) {
        check_with(&windowed(), &specs)?;
    }
}

#[test]
fn the_properties_judge_real_decisions() {
    // A shared commit, overlapping retries: budgets and both outcomes appear.
    let specs: Vec<Spec> = (0..6)
        .map(|n| Spec {
            commit: 'a',
            start: T0 + n as f64 * HOUR,
            attempts: vec![
                vec![("build", Fail::Infra)],
                vec![("test", Fail::Test)],
                vec![],
            ],
            delay: 2.0 * HOUR,
            running: false,
        })
        .collect();
    assert_eq!(check(&specs).unwrap(), 12);
    let (batches, builds) = load(&specs);
    let r = replay(
        &Policy::builtin(),
        batches,
        &builds,
        Window::default(),
        false,
    );
    let codes: Vec<&str> = r
        .attempts
        .iter()
        .map(|a| a.decision.code.as_str())
        .collect();
    assert!(codes.contains(&"all-failures-allowed"), "{codes:?}");
    assert!(codes.contains(&"commit-budget-spent"), "{codes:?}");
    assert!(codes.contains(&"failure-not-allowed"), "{codes:?}");
}

#[test]
fn the_tests_property_judges_real_decisions() {
    // One commit, test failures retried by hand: case0 is quarantined, case1 and case2
    // become known flaky once a retry fixed them.
    let specs: Vec<Spec> = (0..6)
        .map(|n| Spec {
            commit: 'a',
            start: T0 + n as f64 * HOUR,
            attempts: vec![vec![("test", Fail::Test)], vec![]],
            delay: 600.0,
            running: false,
        })
        .collect();
    assert_eq!(check_with(&with_tests(), &specs).unwrap(), 6);
    let (batches, builds, reports) = load_with_reports(&specs);
    let reads = Reads {
        reports,
        ..Reads::default()
    };
    let r = replay_with(
        &with_tests(),
        batches,
        &builds,
        &reads,
        Window::default(),
        false,
    );
    let rules: Vec<Option<&str>> = r.attempts.iter().map(|a| a.rule()).collect();
    // case0 quarantined; case1, case2 refused the first time; then learned.
    assert_eq!(
        rules,
        [
            Some("quarantine"),
            None,
            None,
            Some("quarantine"),
            Some("learned"),
            Some("learned")
        ]
    );
    // Without the reports: every test failure could not be judged, never a refusal.
    let (batches, builds) = load(&specs);
    let r = replay(&with_tests(), batches, &builds, Window::default(), false);
    let t = r.totals();
    assert_eq!((t.could_not_judge, t.refuse, t.retry), (6, 0, 0));
    assert_eq!(t.could_not_judge_fixed_by_hand, 6);
}

#[test]
fn the_windowed_property_meets_both_windows() {
    // Six batches an hour apart, each failing twice: the daily budget and the brake bite.
    let specs: Vec<Spec> = (0..6)
        .map(|n| Spec {
            commit: ['a', 'b', 'c'][n % 3],
            start: T0 + n as f64 * HOUR,
            attempts: vec![vec![("build", Fail::Infra)], vec![("build", Fail::Infra)]],
            delay: 600.0,
            running: false,
        })
        .collect();
    assert_eq!(check_with(&windowed(), &specs).unwrap(), 12);
    let (batches, builds) = load(&specs);
    let r = replay(&windowed(), batches, &builds, Window::default(), false);
    let codes: Vec<&str> = r
        .attempts
        .iter()
        .map(|a| a.decision.code.as_str())
        .collect();
    assert!(codes.contains(&"project-budget-spent"), "{codes:?}");
    assert!(codes.contains(&"outage-suspected"), "{codes:?}");
    assert!(codes.contains(&"all-failures-allowed"), "{codes:?}");
}

/// Issue 20.3: a history read cut at its page cap is reported, not refused: simulate judges
/// every attempt as it would with the whole history (no `history-incomplete` refusals, unlike
/// the gate) and says in each format that budget counts may be too low.
#[test]
fn a_cut_history_is_reported_not_refused() {
    let specs: Vec<Spec> = (0..6)
        .map(|n| Spec {
            commit: ['a', 'b', 'c'][n % 3],
            start: T0 + n as f64 * HOUR,
            attempts: vec![vec![("build", Fail::Infra)], vec![("build", Fail::Infra)]],
            delay: 600.0,
            running: false,
        })
        .collect();
    let (batches, builds) = load(&specs);
    let whole = replay(
        &windowed(),
        batches.clone(),
        &builds,
        Window::default(),
        false,
    );
    let cut = replay(&windowed(), batches, &builds, Window::default(), true);
    let codes = |r: &codebuild_retry_gate::replay::Replay| -> Vec<String> {
        r.attempts
            .iter()
            .map(|a| a.decision.code.as_str().to_string())
            .collect()
    };
    assert!(!codes(&cut).iter().any(|c| c == "history-incomplete"));
    assert_eq!(codes(&cut), codes(&whole));
    let json: serde_json::Value =
        serde_json::from_str(&codebuild_retry_gate::render::simulate::json::render(&cut)).unwrap();
    assert_eq!(json["history_truncated"], true);
    let markdown = codebuild_retry_gate::render::simulate::markdown::render(&cut);
    assert!(markdown.contains("read up to the page cap"), "{markdown}");
    assert!(
        !codebuild_retry_gate::render::simulate::markdown::render(&whole)
            .contains("read up to the page cap")
    );
}
