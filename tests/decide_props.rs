//! Property tests of the pure judgment `decide(&Policy, &Facts) -> Decision`: arbitrary
//! facts against arbitrary (valid) policies, checked against the safety rules of
//! SPEC.md, "Decision".

use std::collections::{BTreeMap, BTreeSet};

use codebuild_retry_gate::decide::decide;
use codebuild_retry_gate::decision::{BATCH_ITSELF, Decision, DecisionCode, Outcome, VerdictCode};
use codebuild_retry_gate::facts::{
    Batch, Build, BuildSummary, Context, Facts, Group, Phase, Status, Timestamp,
};
use codebuild_retry_gate::policy::Policy;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

const BATCH_STATUSES: [&str; 9] = [
    "SUCCEEDED",
    "FAILED",
    "FAULT",
    "TIMED_OUT",
    "IN_PROGRESS",
    "STOPPED",
    "PENDING",
    "CLIENT_ERROR",
    "RETRY",
];
const PROJECTS: [&str; 5] = ["web", "api", "api-v2", "Web", "w"];
const GROUP_IDS: [&str; 6] = ["DOWNLOAD_SOURCE", "a", "b", "c", "build_linux", "test-2"];
const PHASE_TYPES: [&str; 12] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "BUILD",
    "POST_BUILD",
    "COMPLETED",
    "DOWNLOAD_BATCHSPEC",
    "IN_PROGRESS",
    "COMBINE_ARTIFACTS",
    "FAILED",
    "WARP_DRIVE",
];
const CODES: [&str; 6] = [
    "",
    "CLIENT_ERROR",
    "COMMAND_EXECUTION_ERROR",
    "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE",
    "YAML_FILE_ERROR",
    "tab\there",
];
const MESSAGES: [&str; 6] = [
    "",
    "Too Many Requests",
    "exit status 1",
    "line one\nline two\r",
    "ünïcödé ☃",
    "\u{7}bell\u{1b}[31m",
];
const SHAS: [&str; 2] = [
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
];
const BATCH_IDS: [&str; 4] = ["web:1", "web:2", "web:3", "api:1"];
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_750_000_000_000;

// Policy selector pools (globs and values).
const P_PROJECTS: [&str; 7] = ["*", "web", "api-*", "[aw]*", "{web,api}", "W?b", "nothing"];
const P_GROUPS: [&str; 6] = ["*", "a", "b*", "DOWNLOAD_*", "?", "build_*"];
const P_STATUSES: [&str; 4] = ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"];
const P_PHASES: [&str; 8] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "BUILD",
    "POST_BUILD",
    "DOWNLOAD_BATCHSPEC",
    "IN_PROGRESS",
];
const P_CODES: [&str; 5] = [
    "*",
    "CLIENT_ERROR",
    "*_ERROR",
    "BUILD_CONTAINER_*",
    "YAML_FILE_ERROR",
];
const P_MESSAGES: [&str; 5] = ["*", "*too many*", "exit*", "*LINE*", "*☃*"];

// ---------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------

fn status_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&BATCH_STATUSES[..]).prop_map(String::from),
        1 => "[A-Za-z_\\n]{0,6}",
    ]
}

fn opt_status() -> impl Strategy<Value = Option<Status>> {
    prop::option::weighted(0.9, status_text().prop_map(|s| Status::parse(&s)))
}

/// Failure statuses more often than the rest, so that judgments happen.
fn group_status() -> impl Strategy<Value = Option<Status>> {
    prop_oneof![
        4 => select(&["FAILED", "FAULT", "TIMED_OUT", "STOPPED"][..]).prop_map(|s| Some(Status::parse(s))),
        3 => opt_status(),
    ]
}

fn context() -> impl Strategy<Value = Context> {
    (select(&CODES[..]), select(&MESSAGES[..])).prop_map(|(c, m)| Context {
        status_code: c.into(),
        message: m.into(),
    })
}

fn phase() -> impl Strategy<Value = Phase> {
    (
        select(&PHASE_TYPES[..]),
        prop_oneof![
            3 => Just(Some(Status::Succeeded)),
            2 => opt_status(),
        ],
        prop::collection::vec(context(), 0..3),
        // Ends close together, so that fast-fail stops are found and missed.
        prop::option::weighted(0.7, 0i64..8),
    )
        .prop_map(|(t, status, contexts, end)| Phase {
            phase_type: t.into(),
            status,
            contexts,
            end_time: end.map(|e| Timestamp(1_741_000_000_000 + e * 1000)),
            ..Phase::default()
        })
}

fn retry_marker() -> Phase {
    Phase {
        phase_type: "FAILED".into(),
        status: Some(Status::parse("RETRY")),
        ..Phase::default()
    }
}

/// Batch phases: random phases with retry markers mixed in.
fn batch_phases() -> impl Strategy<Value = Vec<Phase>> {
    prop::collection::vec(prop_oneof![5 => phase(), 1 => Just(retry_marker())], 0..6)
}

fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    prop_oneof![
        8 => (T0 - 100 * DAY_MS..T0 + DAY_MS).prop_map(|t| Some(Timestamp(t))),
        1 => Just(None),
        // Far-off times; the extremes are in `extreme_timestamps_do_not_panic`.
        1 => (i64::MIN / 2..i64::MAX / 2).prop_map(|t| Some(Timestamp(t))),
    ]
}

/// A group and, perhaps, its current build's phases.
fn group() -> impl Strategy<Value = (Group, Option<Vec<Phase>>)> {
    (
        select(&GROUP_IDS[..]),
        prop::option::weighted(0.9, group_status()),
        subsequence(&GROUP_IDS[..], 0..3),
        prop::bool::weighted(0.15),
        prop_oneof![5 => Just(0usize), 1 => 1usize..4],
        prop::option::weighted(0.7, prop::collection::vec(phase(), 0..6)),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(id, current, deps, ignore, prior, phases, odd_arn)| {
            let build_id = format!("web:{id}-build");
            let arn = if odd_arn {
                Some(build_id.clone())
            } else {
                Some(format!("arn:aws:codebuild:eu-west-1:1:build/{build_id}"))
            };
            let group = Group {
                identifier: id.into(),
                depends_on: deps.into_iter().map(String::from).collect(),
                ignore_failure: ignore,
                current: current.map(|status| BuildSummary {
                    arn,
                    status,
                    requested_on: None,
                }),
                prior: (0..prior)
                    .map(|i| BuildSummary {
                        arn: Some(format!(
                            "arn:aws:codebuild:eu-west-1:1:build/{build_id}-{i}"
                        )),
                        status: Some(Status::Failed),
                        requested_on: None,
                    })
                    .collect(),
            };
            (group, phases)
        })
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        select(&BATCH_IDS[..]),
        select(&PROJECTS[..]),
        prop_oneof![
            // FAILED most often: fast-fail and unfinished batches are judged there.
            8 => select(&["FAILED", "FAILED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"][..]).prop_map(|s| Some(Status::parse(s))),
            3 => opt_status(),
        ],
        prop::option::weighted(0.9, select(&SHAS[..])),
        timestamp(),
        batch_phases(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(id, project, status, sha, start, phases, complete)| Batch {
            id: id.into(),
            arn: None,
            project: project.into(),
            status,
            complete,
            source_version: None,
            resolved_source_version: sha.map(String::from),
            source_location: None,
            start_time: start,
            end_time: None,
            phases,
            groups: Vec::new(),
        })
}

fn facts() -> impl Strategy<Value = Facts> {
    (
        batch(),
        prop::collection::vec(group(), 0..5),
        prop::collection::vec(batch(), 0..4),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(mut batch, groups, history, same_project)| {
            let mut builds = BTreeMap::new();
            for (group, phases) in groups {
                if let (Some(phases), Some(id)) =
                    (phases, group.current.as_ref().and_then(|c| c.build_id()))
                {
                    builds.insert(
                        id.to_string(),
                        Build {
                            id: id.to_string(),
                            status: group.status().cloned(),
                            phases,
                            ..Build::default()
                        },
                    );
                }
                batch.groups.push(group);
            }
            let history = history
                .into_iter()
                .map(|mut h| {
                    // Mostly the same project, so that per-commit counting has work to do.
                    if same_project {
                        h.project = batch.project.clone();
                    }
                    h
                })
                .collect();
            Facts {
                batch,
                builds,
                history,
                ..Facts::default()
            }
        })
}

// ---------------------------------------------------------------------------------------
// Policies (YAML text)
// ---------------------------------------------------------------------------------------

fn list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn selector(
    pool: &'static [&'static str],
    p_some: f64,
) -> impl Strategy<Value = Option<Vec<&'static str>>> {
    prop::option::weighted(p_some, subsequence(pool, 1..=3.min(pool.len())))
}

/// One rule's YAML lines (without its name).
fn rule() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.4, select(&["retry", "refuse"][..])),
        selector(&P_PROJECTS, 0.4),
        selector(&P_GROUPS, 0.3),
        // Statuses: mostly given; an empty list now and then (invalid: skipped).
        prop::option::weighted(
            0.5,
            prop_oneof![40 => subsequence(&P_STATUSES[..], 1..=4), 1 => Just(Vec::new())],
        ),
        selector(&P_PHASES, 0.3),
        selector(&P_CODES, 0.25),
        selector(&P_MESSAGES, 0.2),
        prop::option::weighted(0.4, number(1, 10, 3)),
    )
        .prop_map(
            |(action, projects, groups, statuses, phases, codes, messages, max)| {
                let mut y = String::new();
                if let Some(a) = action {
                    y.push_str(&format!("    action: {a}\n"));
                }
                for (key, value) in [
                    ("projects", projects),
                    ("groups", groups),
                    ("statuses", statuses),
                    ("phases", phases),
                    ("status-codes", codes),
                    ("messages", messages),
                ] {
                    if let Some(v) = value {
                        y.push_str(&format!("    {key}: {}\n", list(&v)));
                    }
                }
                if let Some(n) = max {
                    y.push_str(&format!("    max-retries: {n}\n"));
                }
                y
            },
        )
}

/// Mostly `min..=typical` (small budgets run out), now and then just out of range (the
/// policy is then invalid and skipped).
fn number(min: u32, max: u32, typical: u32) -> impl Strategy<Value = u32> {
    prop_oneof![30 => min..=typical, 1 => Just(min - 1), 1 => Just(max + 1)]
}

fn policy_text() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.7, (number(1, 10, 4), number(1, 50, 6), number(1, 90, 90))),
        prop::collection::vec(rule(), 0..5),
        prop::bool::weighted(0.03),
        // Issue 11's controls, sometimes.
        prop::option::weighted(0.2, 1u32..4),
        prop::option::weighted(0.2, (1u32..3, 1u32..2000)),
    )
        .prop_map(|(budget, rules, duplicate_names, per_day, outage)| {
            let mut y = String::from("version: 1\n");
            if let Some((per_batch, per_commit, lookback)) = budget {
                y.push_str(&format!(
                    "budget:\n  per-batch: {per_batch}\n  per-commit: {per_commit}\n  lookback-days: {lookback}\n"
                ));
                if let Some(n) = per_day {
                    y.push_str(&format!("  per-project-per-day: {n}\n"));
                }
            }
            if let Some((failed, minutes)) = outage {
                y.push_str(&format!(
                    "outage:\n  failed-batches: {failed}\n  within-minutes: {minutes}\n"
                ));
            }
            if rules.is_empty() {
                y.push_str("rules: []\n");
            } else {
                y.push_str("rules:\n");
                for (i, r) in rules.iter().enumerate() {
                    let n = if duplicate_names { 0 } else { i };
                    y.push_str(&format!("  - name: r{n}\n{r}"));
                }
            }
            y
        })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn is_retry_marker(p: &Phase) -> bool {
    p.phase_type == "FAILED" && p.status.as_ref().is_some_and(|s| s.as_str() == "RETRY")
}

/// Retries of a batch per the SPEC: FAILED/RETRY batch phases, or prior builds, whichever
/// is larger.
fn retries_of(b: &Batch) -> u32 {
    let phases = b.phases.iter().filter(|p| is_retry_marker(p)).count();
    let prior = b.groups.iter().map(|g| g.prior.len()).max().unwrap_or(0);
    phases.max(prior) as u32
}

/// Retries of the commit per the SPEC: this batch, plus every other batch (counted once)
/// of the same project and resolved commit started within the look-back. Undated batches
/// count (fail closed).
fn commit_retries_of(facts: &Facts, lookback_days: u32) -> u64 {
    let b = &facts.batch;
    let mut total = u64::from(retries_of(b));
    let Some(sha) = b.resolved_source_version.as_deref() else {
        return total;
    };
    let window = i128::from(lookback_days) * i128::from(DAY_MS);
    let mut seen = BTreeSet::from([b.id.as_str()]);
    for h in &facts.history {
        let recent = match (b.start_time, h.start_time) {
            (Some(now), Some(then)) => i128::from(then.0) >= i128::from(now.0) - window,
            _ => true,
        };
        if h.project == b.project
            && h.resolved_source_version.as_deref() == Some(sha)
            && recent
            && seen.insert(h.id.as_str())
        {
            total += u64::from(retries_of(h));
        }
    }
    total
}

fn check(policy: &Policy, facts: &Facts, d: &Decision) -> Result<(), TestCaseError> {
    let batch = &facts.batch;
    let used = retries_of(batch);
    let commit_used = commit_retries_of(facts, policy.budget.lookback_days);

    // The reason is one line of text.
    prop_assert!(!d.reason.is_empty());
    prop_assert!(
        !d.reason.chars().any(char::is_control),
        "control character in reason {:?}",
        d.reason
    );

    // Budgets as CodeBuild records them.
    prop_assert_eq!(d.budget.per_batch.used, used);
    prop_assert_eq!(d.budget.per_batch.limit, policy.budget.per_batch);
    prop_assert_eq!(u64::from(d.budget.per_commit.used), commit_used);
    prop_assert_eq!(d.budget.per_commit.limit, policy.budget.per_commit);

    // Each group is shown once, in order; the batch itself at most once, last.
    let names: Vec<&str> = d.groups.iter().map(|g| g.group.as_str()).collect();
    let expected: Vec<&str> = batch.groups.iter().map(|g| g.identifier.as_str()).collect();
    prop_assert!(
        names == expected || names.split_last() == Some((&BATCH_ITSELF, &expected[..])),
        "groups {names:?} for {expected:?}"
    );
    for (v, g) in d.groups.iter().zip(&batch.groups) {
        prop_assert_eq!(v.verdict, v.code.verdict());
        let status = g.status();
        match v.code {
            VerdictCode::Collateral => prop_assert_eq!(status, Some(&Status::Stopped)),
            VerdictCode::IgnoredFailure => {
                prop_assert!(g.ignore_failure && status.is_some_and(Status::is_failure))
            }
            VerdictCode::UnknownStatus => {
                prop_assert!(status.is_some_and(Status::is_unknown));
                prop_assert_eq!(v.verdict.as_str(), "refuse");
            }
            c if c.is_root_failure() => {
                prop_assert!(
                    !g.ignore_failure && status.is_some_and(Status::is_failure),
                    "root failure {:?} with status {:?}",
                    c,
                    status
                )
            }
            _ => {}
        }
    }

    // Outcome by batch status.
    match batch.status.as_ref() {
        Some(Status::Succeeded) => prop_assert_eq!(d.decision, Outcome::Pass),
        Some(Status::InProgress) => prop_assert_eq!(d.decision, Outcome::Wait),
        Some(s) if s.is_failure() => {
            let unfinished = !batch.complete
                || batch
                    .groups
                    .iter()
                    .any(|g| g.status() == Some(&Status::InProgress));
            match d.decision {
                Outcome::Wait => {
                    prop_assert!(unfinished, "wait for a complete batch");
                    prop_assert_eq!(d.code, DecisionCode::BatchNotComplete);
                }
                Outcome::Retry => prop_assert!(!unfinished, "retry of an unfinished batch"),
                Outcome::Refuse => {}
                Outcome::Pass => prop_assert!(false, "pass for a failed batch"),
            }
        }
        _ => {
            prop_assert_eq!(d.decision, Outcome::Refuse);
            prop_assert_eq!(d.code, DecisionCode::UnknownBatchStatus);
        }
    }

    if d.decision != Outcome::Retry {
        prop_assert_eq!(d.attempt, None);
        return Ok(());
    }

    // Retry: safety.
    prop_assert_eq!(d.code, DecisionCode::AllFailuresAllowed);
    prop_assert!(
        policy
            .rules
            .iter()
            .any(|r| r.covers_project(&batch.project)),
        "retried project {} that no rule covers",
        batch.project
    );
    prop_assert!(batch.status.as_ref().is_some_and(Status::is_failure));
    prop_assert!(batch.complete, "retry of a batch that is not complete");
    prop_assert!(
        !batch
            .groups
            .iter()
            .any(|g| g.status().is_some_and(Status::is_unknown)),
        "retry with a group of unknown status"
    );
    if batch.status == Some(Status::Stopped) {
        let row = d.groups.iter().find(|g| g.group == BATCH_ITSELF);
        let rule = row.and_then(|g| g.rule.as_ref()).map(|r| &r.name);
        prop_assert!(
            rule.is_some_and(|name| policy
                .rules
                .iter()
                .any(|r| &r.name == name && r.statuses.contains(&Status::Stopped))),
            "a STOPPED batch retried without a rule naming STOPPED for it"
        );
    }
    prop_assert!(used < policy.budget.per_batch, "per-batch budget spent");
    // Issue 11: a spent daily budget or a braking outage never retries.
    if let Some(day) = d.budget.per_project_per_day {
        prop_assert!(day.used < day.limit, "daily project budget spent: {day:?}");
    }
    if let Some(o) = d.budget.outage {
        prop_assert!(!o.braking, "retried while the outage brake is on: {o:?}");
    }
    prop_assert!(
        commit_used < u64::from(policy.budget.per_commit),
        "per-commit budget spent"
    );
    prop_assert_eq!(d.attempt, Some(used + 1));
    prop_assert!(d.attempt.unwrap() <= d.attempt_limit);
    prop_assert!(d.budget.remaining >= 1);
    let roots: Vec<_> = d
        .groups
        .iter()
        .filter(|g| g.code.is_root_failure())
        .collect();
    prop_assert!(!roots.is_empty(), "retry with no root failure");
    for g in roots {
        prop_assert_eq!(g.code, VerdictCode::AllowedByRule, "group {}", g.group);
        let name = &g.rule.as_ref().expect("an allowing rule").name;
        let rule = policy.rules.iter().find(|r| &r.name == name).unwrap();
        prop_assert!(rule.covers_project(&batch.project));
        if let Some(cap) = rule.max_retries {
            prop_assert!(used < cap, "rule {} max-retries {} spent", name, cap);
        }
        if g.status.as_deref() == Some("STOPPED") {
            prop_assert!(
                rule.statuses.contains(&Status::Stopped),
                "STOPPED retried by rule {} that does not name it",
                name
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decide_is_safe(text in policy_text(), facts in facts()) {
        // Policies that fail to validate are the validator's business, not the judgment's.
        let Ok(policy) = Policy::from_yaml(&text, "prop.yml") else { return Ok(()) };
        let d = decide(&policy, &facts);
        check(&policy, &facts, &d)?;
    }
}

/// The generators are not vacuous: most policies validate, and every outcome (and the
/// interesting refusals) happens often enough for the properties above to bite.
#[test]
fn generators_reach_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = (policy_text(), facts());
    let (mut valid, mut total) = (0, 0);
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..2000 {
        let (text, facts) = strategy.new_tree(&mut runner).unwrap().current();
        total += 1;
        let Ok(policy) = Policy::from_yaml(&text, "prop.yml") else {
            continue;
        };
        valid += 1;
        *codes
            .entry(decide(&policy, &facts).code.as_str())
            .or_default() += 1;
    }
    assert!(
        valid * 10 >= total * 7,
        "only {valid}/{total} policies validate"
    );
    for code in [
        "all-failures-allowed",
        "failure-not-allowed",
        "rule-budget-spent",
        "batch-budget-spent",
        "commit-budget-spent",
        "project-not-covered",
        "no-failure-found",
        "unknown-batch-status",
        "batch-succeeded",
        "batch-in-progress",
        "batch-stopped",
        "batch-not-complete",
    ] {
        let n = codes.get(code).copied().unwrap_or(0);
        assert!(n >= 5, "{code} reached {n} times in {valid}: {codes:?}");
    }
    let retries = codes.get("all-failures-allowed").copied().unwrap_or(0);
    assert!(
        retries * 20 >= valid,
        "only {retries}/{valid} retries: {codes:?}"
    );
}

/// `explain` turns an absurd epoch-seconds `startTime` (e.g. `-1e300`) into
/// `Timestamp(i64::MIN)` (a saturating cast), so the extremes reach `decide`.
#[test]
fn extreme_timestamps_do_not_panic() {
    let policy = Policy::from_yaml(
        "version: 1\nbudget: {per-batch: 3, per-commit: 3}\nrules: [{name: any}]\n",
        "prop.yml",
    )
    .unwrap();
    let sha = Some(SHAS[0].to_string());
    let batch = |id: &str, start: i64, retries: usize| Batch {
        id: id.into(),
        project: "web".into(),
        status: Some(Status::Failed),
        resolved_source_version: sha.clone(),
        start_time: Some(Timestamp(start)),
        phases: (0..retries).map(|_| retry_marker()).collect(),
        ..Batch::default()
    };
    for (now, then) in [
        (i64::MIN, i64::MIN),
        (i64::MIN, T0),
        (i64::MAX, i64::MIN),
        (i64::MAX, i64::MAX),
    ] {
        let facts = Facts {
            batch: batch("web:1", now, 1),
            builds: BTreeMap::new(),
            history: vec![batch("web:2", then, 2)],
            ..Facts::default()
        };
        let d = decide(&policy, &facts);
        let expected = commit_retries_of(&facts, policy.budget.lookback_days);
        assert_eq!(
            u64::from(d.budget.per_commit.used),
            expected,
            "now {now}, then {then}"
        );
        if expected >= 3 {
            assert_ne!(d.decision, Outcome::Retry, "now {now}, then {then}");
        }
    }
}
