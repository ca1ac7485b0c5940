//! `simulate` offline: the real binary on AWS CLI captures. Each scenario's expected
//! decision per attempt is worked out by hand in the test (built-in default policy:
//! per-batch 2, per-commit 3, look-back 14 days; `infrastructure-phases` retries an image
//! pull in PROVISIONING, `command-failures` refuses a failed test command).

mod common;
#[path = "support/history.rs"]
mod history;

use history::{DAY, End, Fail, HOUR, History, sha};
use serde_json::Value;

const INFRA: &[(&str, Fail)] = &[("build", Fail::Infra)];
const TEST: &[(&str, Fail)] = &[("test", Fail::Test)];
const OK: &[(&str, Fail)] = &[];
/// 2026-11-02T00:00:00Z.
const T0: f64 = 1_793_577_600.0;

struct Sim {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Sim {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// `(batch, attempt, decision, code, then)` of every judged attempt, in order.
    fn attempts(&self) -> Vec<(String, u64, String, String, String)> {
        self.json()["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["batch_id"].as_str().unwrap().to_string(),
                    a["attempt"].as_u64().unwrap(),
                    a["decision"].as_str().unwrap().to_string(),
                    a["code"].as_str().unwrap().to_string(),
                    a["then"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn simulate(h: &History, extra: &[&str]) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let (batches, builds) = h.write(dir.path());
    let mut cmd = common::gate();
    cmd.current_dir(dir.path())
        .arg("simulate")
        .arg("--batches")
        .arg(&batches)
        .arg("--builds")
        .arg(&builds)
        .args(extra);
    if !extra.contains(&"--format") {
        cmd.args(["--format", "json"]);
    }
    let r = common::run(&mut cmd);
    Sim {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
    }
}

fn row(
    id: &str,
    attempt: u64,
    decision: &str,
    code: &str,
    then: &str,
) -> (String, u64, String, String, String) {
    (
        id.to_string(),
        attempt,
        decision.to_string(),
        code.to_string(),
        then.to_string(),
    )
}

#[test]
fn the_per_batch_budget_bites_at_attempt_3() {
    let mut h = History::new("acme-api");
    // Three image pulls in a row, each retried by hand but the last.
    let b = h.batch(&sha('a'), T0, &[INFRA, INFRA, INFRA], 600.0, End::Done);
    let r = simulate(&h, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Attempt 1: nothing used, retry; the retry failed. Attempt 2: 1 of 2 used, retry;
    // failed again. Attempt 3: 2 of 2 used: refused by the per-batch budget; nobody retried.
    assert_eq!(
        r.attempts(),
        vec![
            row(
                &b,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-failed"
            ),
            row(
                &b,
                2,
                "retry",
                "all-failures-allowed",
                "retried-then-failed"
            ),
            row(&b, 3, "refuse", "batch-budget-spent", "not-retried"),
        ]
    );
    let report = r.json();
    let t = &report["totals"];
    assert_eq!(
        (
            t["failed_attempts"].as_u64(),
            t["retry"].as_u64(),
            t["refuse"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(t["wasted"], 2);
    assert_eq!(t["rescued"], 0);
    assert_eq!(t["refusals_held"], 1);
    assert_eq!(report["budget_stops"]["batch-budget-spent"], 1);
    // Each real retry reran the one failed build, which failed in 29 s: 0.5 minutes each.
    assert_eq!(report["attempts"][0]["real_retry_minutes"], 0.5);
    assert_eq!(report["totals"]["build_minutes"]["real_retries"], 1.0);
}

#[test]
fn the_per_commit_budget_counts_the_commits_batches_as_they_stood() {
    let mut h = History::new("acme-api");
    let c = sha('c');
    // b1: two retries (used when its attempts ended: 0, then 1), then green.
    let b1 = h.batch(&c, T0, &[INFRA, INFRA, OK], 300.0, End::Done);
    // b2, 2 h later: failed at ~02:05; a person retried it only 3 h later (~05:05).
    let b2 = h.batch(&c, T0 + 2.0 * HOUR, &[INFRA, OK], 3.0 * HOUR, End::Done);
    // b3, 4 h after b1: failed at ~04:05, when b2's retry had not been made yet: the commit
    // had used 2 (b1's) of 3, so the gate would have retried. (Counting b2 as it is now
    // would say 3 and refuse: that is the mistake "as it stood" avoids.)
    let b3 = h.batch(&c, T0 + 4.0 * HOUR, &[INFRA, OK], 300.0, End::Done);
    // b4, 6 h after b1: by then b1 2, b2 1, b3 1 = 4 retries of this commit: refused.
    let b4 = h.batch(&c, T0 + 6.0 * HOUR, &[INFRA, OK], 300.0, End::Done);
    // Another commit the same day is not counted: retry (and nobody did).
    let other = h.batch(&sha('d'), T0 + 7.0 * HOUR, &[INFRA], 0.0, End::Done);
    let r = simulate(&h, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.attempts(),
        vec![
            row(
                &b1,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-failed"
            ),
            row(
                &b1,
                2,
                "retry",
                "all-failures-allowed",
                "retried-then-succeeded"
            ),
            row(
                &b2,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-succeeded"
            ),
            row(
                &b3,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-succeeded"
            ),
            row(
                &b4,
                1,
                "refuse",
                "commit-budget-spent",
                "retried-then-succeeded"
            ),
            row(&other, 1, "retry", "all-failures-allowed", "not-retried"),
        ]
    );
    let report = r.json();
    let reasons: Vec<&str> = report["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons[3].split(':').next(),
        Some("Retry 1/1"),
        "{}",
        reasons[3]
    );
    assert_eq!(
        reasons[4],
        "Not retried: commit ccccccc already retried 4 times across 4 batches of acme-api (per-commit budget 3)"
    );
    let t = &report["totals"];
    assert_eq!(t["rescued"], 3);
    assert_eq!(t["wasted"], 1);
    assert_eq!(t["retry_not_tried"], 1);
    // Fixed by hand, but a budget refused it, not a missing rule.
    assert_eq!(t["refused_but_fixed_by_hand"], 1);
    assert_eq!(report["refused_but_fixed_by_hand"], serde_json::json!([]));
    assert_eq!(report["budget_stops"]["commit-budget-spent"], 1);
}

#[test]
fn a_hand_retry_that_rescued_a_refused_failure() {
    let mut h = History::new("acme-web");
    let b = h.batch(&sha('e'), T0, &[TEST, OK], 900.0, End::Done);
    let r = simulate(&h, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // command-failures refuses it; a person retried it and the batch went green.
    assert_eq!(
        r.attempts(),
        vec![row(
            &b,
            1,
            "refuse",
            "failure-not-allowed",
            "retried-then-succeeded"
        )]
    );
    let report = r.json();
    assert_eq!(report["attempts"][0]["rule"], "command-failures");
    assert_eq!(report["totals"]["refused_but_fixed_by_hand"], 1);
    assert_eq!(report["totals"]["refusals_held"], 0);
    assert_eq!(
        report["refused_but_fixed_by_hand"],
        serde_json::json!([{
            "group": "test",
            "phase": "BUILD",
            "status_code": "COMMAND_EXECUTION_ERROR",
            "count": 1,
            "example_message": "Error while executing command: make test. Reason: exit status 2",
            "example_batch": b,
        }])
    );
    // The retry reran `test` (10 minutes, green); the policy made no retry.
    assert_eq!(report["attempts"][0]["real_retry_minutes"], 10.0);
    assert_eq!(report["attempts"][0]["policy_retry_minutes"], Value::Null);

    let text = simulate(&h, &["--format", "text"]).stdout;
    assert!(
        text.contains("Refused, then fixed by a retry by hand"),
        "{text}"
    );
    assert!(
        text.contains("1×  test  BUILD  COMMAND_EXECUTION_ERROR"),
        "{text}"
    );
}

#[test]
fn a_batch_still_running_after_a_retry() {
    let mut h = History::new("acme-web");
    let b = h.batch(&sha('f'), T0, &[INFRA, OK], 120.0, End::Running);
    let r = simulate(&h, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Attempt 1 is judged; attempt 2 runs and is not judged.
    assert_eq!(
        r.attempts(),
        vec![row(
            &b,
            1,
            "retry",
            "all-failures-allowed",
            "retried-still-running"
        )]
    );
    let report = r.json();
    let t = &report["totals"];
    assert_eq!(
        (t["batches"].as_u64(), t["running"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["retry_still_running"], 1);
    assert_eq!(t["rescued"], 0);
    // The retry's build has no end yet: no minutes to show.
    assert_eq!(report["attempts"][0]["real_retry_minutes"], Value::Null);
    assert_eq!(t["build_minutes"]["builds_without_times"], 1);
}

#[test]
fn a_batch_older_than_the_window_is_history_not_replayed() {
    let mut h = History::new("acme-api");
    let c = sha('1');
    let newest = T0 + 40.0 * DAY;
    // 32 days before the newest batch: outside --days 30, but within the 14-day look-back
    // of the batch 12 days after it, on the same commit.
    let old = h.batch(
        &c,
        newest - 32.0 * DAY,
        &[INFRA, INFRA, OK],
        300.0,
        End::Done,
    );
    let mid = h.batch(&c, newest - 20.0 * DAY, &[INFRA, INFRA], 300.0, End::Done);
    h.batch(&sha('2'), newest, &[OK], 0.0, End::Done);

    let r = simulate(&h, &["--days", "30"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // mid attempt 1: the commit used 2 (old's, as history) of 3: retry. Attempt 2: 3 used.
    assert_eq!(
        r.attempts(),
        vec![
            row(
                &mid,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-failed"
            ),
            row(&mid, 2, "refuse", "commit-budget-spent", "not-retried"),
        ]
    );
    let report = r.json();
    assert_eq!(report["totals"]["batches"], 2);
    assert_eq!(report["batches_read"], 3);
    assert_eq!(report["window"]["since"], "2026-11-12T00:00:00.000Z");
    assert_eq!(report["window"]["until"], "2026-12-12T00:00:00.000Z");

    // Without --days every batch given is replayed, the old one too.
    let all = simulate(&h, &[]);
    assert_eq!(
        all.attempts()[..2],
        [
            row(
                &old,
                1,
                "retry",
                "all-failures-allowed",
                "retried-then-failed"
            ),
            row(
                &old,
                2,
                "retry",
                "all-failures-allowed",
                "retried-then-succeeded"
            ),
        ]
    );
    assert_eq!(all.attempts().len(), 4);
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["simulate"], "nothing to replay: give --project NAME"),
        (
            vec!["simulate", "--batches", "no-such-file.json"],
            "no-such-file.json: cannot read",
        ),
        (vec!["simulate", "--project", "p", "--days", "0"], "--days"),
        (
            vec!["simulate", "--batches", "bad.json"],
            "bad.json: not a CodeBuild batch capture",
        ),
        (
            vec!["simulate", "--batches", "empty.json", "--project", "nope"],
            "no batch of project nope in the --batches files",
        ),
    ];
    std::fs::write(dir.path().join("bad.json"), "{\"builds\": []}").unwrap();
    std::fs::write(dir.path().join("empty.json"), "{\"buildBatches\": []}").unwrap();
    for (args, message) in cases {
        let r = common::run(common::gate().current_dir(dir.path()).args(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    // An Action input that is not a number is an input error too.
    let r = common::run(
        common::gate()
            .current_dir(dir.path())
            .args(["simulate", "--batches", "empty.json"])
            .env("INPUT_DAYS", "thirty"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("input `days` is `thirty`; expected 1 to 365 days"),
        "{}",
        r.stderr
    );
}

/// The README's example, on examples/history: its three renderings.
fn example(format: &str) -> String {
    let r = common::run(common::gate().args([
        "simulate",
        "--batches",
        "examples/history/batches.json",
        "--builds",
        "examples/history/builds.json",
        "--policy",
        "policies/examples/flaky-integration-tests.yml",
        "--days",
        "30",
        "--format",
        format,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

#[test]
fn example_history_text() {
    insta::assert_snapshot!(example("text"));
}

#[test]
fn example_history_json() {
    insta::assert_snapshot!(example("json"));
}

#[test]
fn example_history_markdown() {
    insta::assert_snapshot!(example("markdown"));
}

#[test]
fn the_readme_shows_what_the_example_prints() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let text = example("text");
    let shown: Vec<&str> = text.lines().take(12).collect();
    for line in shown {
        assert!(
            readme.contains(line.trim_end()),
            "README.md does not show this line of the example's output:\n{line}"
        );
    }
}

#[test]
fn hostile_text_from_builds_is_shown_never_obeyed() {
    let mut h = History::new("acme-web");
    h.batch(&sha('9'), T0, &[TEST, OK], 900.0, End::Done);
    let evil =
        "x\n::add-mask::secret\r\n::error::boom ##[warning]w | <script>alert(1)</script> `code`";
    for build in &mut h.builds {
        for phase in build["phases"].as_array_mut().unwrap() {
            if let Some(contexts) = phase.get_mut("contexts").and_then(Value::as_array_mut) {
                for c in contexts.iter_mut().filter(|c| c["statusCode"] != "") {
                    c["message"] = serde_json::json!(evil);
                    c["statusCode"] = serde_json::json!("::stop-commands::x");
                }
            }
        }
    }
    for format in ["text", "markdown", "json"] {
        let r = simulate(&h, &["--format", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("add-mask"), "{format}: the text is shown");
        for line in r.stdout.lines() {
            assert!(!line.trim_start().starts_with("::"), "{format}: {line}");
            assert!(!line.contains("##["), "{format}: {line}");
            // Markdown is rendered as HTML; the terminal and JSON show text as text.
            assert!(
                format != "markdown" || !line.contains("<script>"),
                "{format}: {line}"
            );
        }
    }
}

/// Without `--policy` (and without `--policy-ref`) simulate judges with the built-in default
/// policy, exactly as `explain`: a policy file lying in the working directory is not picked
/// up by accident.
#[test]
fn without_policy_it_is_the_built_in_default_as_for_explain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(
        dir.path().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules: []\n",
    )
    .unwrap();
    let root = common::root();
    let r = common::run(
        common::gate()
            .current_dir(dir.path())
            .arg("simulate")
            .arg("--batches")
            .arg(root.join("examples/history/batches.json"))
            .arg("--builds")
            .arg(root.join("examples/history/builds.json"))
            .args(["--format", "json"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["policy"], "built-in default policy",
        "{}",
        report["policy"]
    );
    assert!(
        report["totals"]["retry"].as_u64().unwrap() > 0,
        "the built-in policy retries infrastructure failures; `rules: []` would retry none"
    );
}

// ---------------------------------------------------------------------------------------
// Issue 17: test reports and logs in the replay.

/// `simulate --batches DIR` on a directory holding the history's captures (`batches.json`,
/// `builds.json`, and with `reports` its `reports.json` and `test-cases.json`), with `logs`
/// written under `logs/` as `ID.log`; `policy` (YAML) as `policy.yml` when given.
fn simulate_dir(
    h: &History,
    reports: bool,
    logs: &[(String, String)],
    policy: Option<&str>,
    format: &str,
) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).unwrap();
    h.write(&captures);
    if reports {
        h.write_reports(&captures);
    }
    if !logs.is_empty() {
        std::fs::create_dir(captures.join("logs")).unwrap();
        for (id, text) in logs {
            std::fs::write(captures.join("logs").join(format!("{id}.log")), text).unwrap();
        }
    }
    let mut cmd = common::gate();
    cmd.current_dir(dir.path())
        .args(["simulate", "--batches", "captures", "--format", format]);
    if let Some(policy) = policy {
        std::fs::write(dir.path().join("policy.yml"), policy).unwrap();
        cmd.args(["--policy", "policy.yml"]);
    }
    let r = common::run(&mut cmd);
    Sim {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
    }
}

const LEARNED: &str = "version: 1\nrules:\n  - name: learned\n    groups: [test]\n    tests:\n      known-flaky-days: 14\n";

/// Three batches whose `test` group failed `suite::case0` and a retry by hand fixed, a day
/// apart; and a fourth that failed `suite::case1` (never fixed by a retry).
fn flaky_history() -> (History, Vec<String>) {
    let mut h = History::new("acme-web");
    let mut ids: Vec<String> = (0..3)
        .map(|n| {
            h.batch(
                &sha(['a', 'b', 'c'][n]),
                T0 + n as f64 * DAY,
                &[TEST, OK],
                900.0,
                End::Done,
            )
        })
        .collect();
    h.failing_tests = vec!["case1".into()];
    ids.push(h.batch(&sha('d'), T0 + 3.0 * DAY, &[TEST], 0.0, End::Done));
    (h, ids)
}

#[test]
fn known_flaky_tests_are_learned_as_the_replay_goes_from_a_directory() {
    let (h, ids) = flaky_history();
    let r = simulate_dir(&h, true, &[], Some(LEARNED), "json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let then = "retried-then-succeeded";
    assert_eq!(
        r.attempts(),
        vec![
            // Nothing learned yet: refused, naming the test.
            row(&ids[0], 1, "refuse", "failure-not-allowed", then),
            // The first batch's retry fixed case0: known flaky from then on.
            row(&ids[1], 1, "retry", "all-failures-allowed", then),
            row(&ids[2], 1, "retry", "all-failures-allowed", then),
            // case1 never flipped.
            row(&ids[3], 1, "refuse", "failure-not-allowed", "not-retried"),
        ]
    );
    let report = r.json();
    let reason = report["attempts"][3]["reason"].as_str().unwrap();
    assert!(
        reason.contains("test `suite::case1` failed and is not known flaky in group test"),
        "{reason}"
    );
    assert_eq!(report["totals"]["could_not_judge"], 0);
}

#[test]
fn attempts_whose_reports_are_missing_could_not_be_judged_in_every_format() {
    let (h, _) = flaky_history();
    // No reports: CodeBuild keeps them 30 days, an old history has none.
    let r = simulate_dir(&h, false, &[], Some(LEARNED), "json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["totals"]["could_not_judge"], 4);
    assert_eq!(report["totals"]["could_not_judge_fixed_by_hand"], 3);
    assert_eq!(report["totals"]["refuse"], 0, "never counted as refusals");
    assert_eq!(report["totals"]["refusals_held"], 0);
    assert_eq!(report["totals"]["refused_but_fixed_by_hand"], 0);
    assert_eq!(report["refused_but_fixed_by_hand"], serde_json::json!([]));
    assert_eq!(report["rules"][0]["could_not_judge"], 4);
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("4 failed attempts could not be judged")),
        "{notes:?}"
    );
    for a in report["attempts"].as_array().unwrap() {
        assert_eq!(a["code"], "could-not-judge", "{a}");
    }
    let text = simulate_dir(&h, false, &[], Some(LEARNED), "text").stdout;
    assert!(
        text.contains("would retry 0 and refuse 0, and could not judge 4"),
        "{text}"
    );
    assert!(
        text.contains("could not judge  4 (3 then fixed by hand"),
        "{text}"
    );
    assert!(
        text.contains("4 failed attempts could not be judged"),
        "{text}"
    );
    let md = simulate_dir(&h, false, &[], Some(LEARNED), "markdown").stdout;
    assert!(md.contains("and could not judge 4.**"), "{md}");
    assert!(
        md.contains("| could not judge | 4 | 3 fixed by hand |"),
        "{md}"
    );
    assert!(md.contains("4 failed attempts could not be judged"), "{md}");
}

#[test]
fn a_test_that_repeats_in_refusals_fixed_by_hand_suggests_a_tests_rule() {
    let (h, _) = flaky_history();
    // The built-in policy refuses test commands: three refusals a hand retry fixed.
    let r = simulate_dir(&h, true, &[], None, "json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["totals"]["refused_but_fixed_by_hand"], 3);
    let suggestions = report["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    let s = &suggestions[0];
    assert_eq!(s["kind"], "test");
    assert_eq!(s["group"], "test");
    assert_eq!(s["what"], "suite::case0");
    assert_eq!(
        (s["batches"].as_u64(), s["of"].as_u64()),
        (Some(3), Some(3))
    );
    // case1 failed once, in a refusal that held: not suggested.
    let text = simulate_dir(&h, true, &[], None, "text").stdout;
    assert!(
        text.contains("test `suite::case0` failed in 3 of 3 such batches of group test"),
        "{text}"
    );
    // The suggested rule is a valid policy rule that retries them.
    let policy = format!("version: 1\nrules:\n{}", s["rule"].as_str().unwrap());
    let again = simulate_dir(&h, true, &[], Some(&policy), "json").json();
    assert_eq!(again["totals"]["retry"], 2, "{again}");
    assert_eq!(again["totals"]["rescued"], 2);
}

#[test]
fn a_log_line_that_repeats_in_refusals_fixed_by_hand_suggests_a_log_rule() {
    let (h, ids) = flaky_history();
    // The failed builds' logs: the rescued ones show a registry rate limit, the held one a
    // real assertion; every log has the line CodeBuild writes.
    let failed: Vec<(String, String)> = h
        .builds
        .iter()
        .filter(|b| b["buildStatus"] == "FAILED")
        .map(|b| b["id"].as_str().unwrap().to_string())
        .zip([
            "npm ERR! 429 Too Many Requests - GET https://registry.npmjs.org/left-pad (attempt 1)",
            "npm ERR! 429 Too Many Requests - GET https://registry.npmjs.org/left-pad (attempt 2)",
            "npm ERR! 429 Too Many Requests - GET https://registry.npmjs.org/left-pad (attempt 3)",
            "AssertionError: expected 200, got 500",
        ])
        .map(|(id, line)| {
            (
                id,
                format!("> npm test\n{line}\n[Container] 2026/11/02 10:00:00 Command did not exit successfully npm test exit status 1\nerror Command failed with exit code 1.\n"),
            )
        })
        .collect();
    assert_eq!(failed.len(), 4);
    let r = simulate_dir(&h, false, &failed, None, "json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let suggestions = r.json()["suggestions"].as_array().unwrap().clone();
    // `error Command failed…` shows in the held refusal too: not suggested.
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    let s = &suggestions[0];
    assert_eq!(s["kind"], "log-line");
    assert_eq!(s["batches"], 3);
    assert!(
        s["what"]
            .as_str()
            .unwrap()
            .starts_with("npm ERR! 429 Too Many Requests"),
        "{s}"
    );
    // With the suggested rule, the replay reads the captured logs: the three rate limits
    // are retried, the assertion refused.
    let policy = format!("version: 1\nrules:\n{}", s["rule"].as_str().unwrap());
    let again = simulate_dir(&h, false, &failed, Some(&policy), "json");
    let decisions: Vec<String> = again.attempts().into_iter().map(|a| a.2).collect();
    assert_eq!(
        decisions,
        ["retry", "retry", "retry", "refuse"],
        "{}",
        again.stdout
    );
    assert_eq!(again.json()["attempts"][3]["batch_id"], ids[3].as_str());
}

/// Issue 19.5: `--batches` and `--builds` take directories (a `--batches` directory's builds
/// are taken as builds), and give the same report as the files.
#[test]
fn directories_of_captures_are_read_like_the_files() {
    let files = example("json");
    let from_dir = |args: &[&str]| {
        let mut all = vec!["simulate"];
        all.extend_from_slice(args);
        all.extend([
            "--policy",
            "policies/examples/flaky-integration-tests.yml",
            "--days",
            "30",
            "--format",
            "json",
        ]);
        let r = common::run(common::gate().args(&all));
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    assert_eq!(from_dir(&["--batches", "examples/history"]), files);
    // Separate directories, one per flag.
    let dir = tempfile::tempdir().unwrap();
    for (sub, file) in [("batches", "batches.json"), ("builds", "builds.json")] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::copy(
            common::root().join("examples/history").join(file),
            dir.path().join(sub).join(format!("page-1-{file}")),
        )
        .unwrap();
    }
    let batches = dir.path().join("batches");
    let builds = dir.path().join("builds");
    assert_eq!(
        from_dir(&[
            "--batches",
            batches.to_str().unwrap(),
            "--builds",
            builds.to_str().unwrap()
        ]),
        files
    );
    // A directory without captures says so (exit 2).
    let empty = tempfile::tempdir().unwrap();
    let r = common::run(
        common::gate()
            .args(["simulate", "--batches"])
            .arg(empty.path()),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "no .json files in this directory (--batches takes AWS CLI output: a file, or a directory of .json files)"
        ),
        "{}",
        r.stderr
    );
}

/// Issue 19.5: without builds, rules that select by phases or status codes cannot match a
/// build's failure: a warning (stderr, and the report's notes) says the report understates
/// the retries; an unknown --project lists the projects the files hold.
#[test]
fn missing_builds_warn_and_an_unknown_project_lists_the_projects() {
    let run = |extra: &[&str]| {
        let mut all = vec![
            "simulate",
            "--batches",
            "examples/history/batches.json",
            "--policy",
            "policies/examples/flaky-integration-tests.yml",
        ];
        all.extend_from_slice(extra);
        common::run(common::gate().args(&all))
    };
    let warning = "no --builds: the failed builds' phases and status codes are unknown, so 4 rules that select by them (`buildspec-errors`, `infrastructure-phases`, `image-pull`, `integration-known-flakes`) cannot match a build's failure, and the report understates what the policy would retry; give the builds with --builds FILE or DIR (`aws codebuild batch-get-builds` output)";
    let r = run(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("warning: {warning}")),
        "{}",
        r.stderr
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["warnings"], serde_json::json!([warning]));
    let r = run(&[]);
    assert!(
        r.stdout.contains(&format!("note     {warning}")),
        "{}",
        r.stdout
    );
    // With builds: no warning.
    let r = common::run(common::gate().args([
        "simulate",
        "--batches",
        "examples/history",
        "--policy",
        "policies/examples/flaky-integration-tests.yml",
    ]));
    assert!(!r.stderr.contains("no --builds"), "{}", r.stderr);

    let r = run(&["--project", "acme-api"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: no batch of project acme-api in the --batches files; they hold batches of acme-web\n"
    );
}

/// Issue 19.5: the counts add up in every format — the decision table's cells to its
/// totals, "fixed by hand" to the rows that explain it (or a line says what is left out),
/// the per-rule table to the totals, and the build-minutes totals to the sum of the
/// attempts' rounded minutes. No "held" in the words a reader sees.
#[test]
fn the_report_adds_up_in_every_format() {
    let report: Value = serde_json::from_str(&example("json")).unwrap();
    let t = &report["totals"];
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&t["retry"]),
        n(&t["rescued"])
            + n(&t["wasted"])
            + n(&t["retry_still_running"])
            + n(&t["retry_not_tried"])
    );
    assert_eq!(
        n(&t["refuse"]),
        n(&t["refused_but_fixed_by_hand"])
            + n(&t["refused_then_failed"])
            + n(&t["refused_still_running"])
            + n(&t["refused_not_retried"])
    );
    assert_eq!(
        n(&t["refusals_held"]),
        n(&t["refused_then_failed"]) + n(&t["refused_not_retried"])
    );
    assert_eq!(
        n(&t["refused_but_fixed_by_hand"]),
        n(&t["fixed_by_hand_no_rule_allowed"]) + n(&t["fixed_by_hand_budget_or_brake"])
    );
    assert_eq!(n(&t["fixed_by_hand_budget_or_brake"]), 1, "{t}");
    let rules = report["rules"].as_array().unwrap();
    let sum = |key: &str| rules.iter().map(|r| n(&r[key])).sum::<u64>();
    assert_eq!(sum("allowed"), n(&t["retry"]));
    assert_eq!(sum("refused"), n(&t["refuse"]));
    assert_eq!(sum("fixed_by_hand"), n(&t["refused_but_fixed_by_hand"]));
    // Build-minutes: the totals are the sums of the rows as shown (tenths).
    let attempts = report["attempts"].as_array().unwrap();
    let tenths = |key: &str, only_estimated: bool| -> i64 {
        attempts
            .iter()
            .filter(|a| !only_estimated || a["policy_retry_estimated"] == true)
            .filter_map(|a| a[key].as_f64())
            .map(|m| (m * 10.0).round() as i64)
            .sum()
    };
    let total = |key: &str| (t["build_minutes"][key].as_f64().unwrap() * 10.0).round() as i64;
    assert_eq!(total("real_retries"), tenths("real_retry_minutes", false));
    assert_eq!(
        total("policy_retries"),
        tenths("policy_retry_minutes", false)
    );
    assert_eq!(
        total("policy_retries_estimated"),
        tenths("policy_retry_minutes", true)
    );

    for format in ["text", "markdown"] {
        let out = example(format);
        assert!(!out.contains(" held"), "{format}: {out}");
        assert!(
            out.contains("Refused, then fixed by a retry by hand: 7 attempts"),
            "{format}"
        );
        assert!(
            out.contains("6 refused for a failure no rule allowed"),
            "{format}"
        );
        assert!(
            out.contains(
                "1 more refused by a budget or a brake although the rules allowed every failure"
            ),
            "{format}"
        );
        assert!(out.contains("1 failed again") && out.contains("5 left failed"));
    }
}

/// Issue 19.5: the markdown report's attempts are newest first, each with its failing group
/// and reason; the chart has a legend and starts at the window's first day.
#[test]
fn the_markdown_lists_attempts_newest_first_and_charts_the_whole_window() {
    let md = example("markdown");
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| Ended | Batch | Attempt | Decision | Code | Rule | Failing group | Reason | Then |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), 27);
    let ended: Vec<&str> = rows.iter().map(|r| &r[2..18]).collect();
    let mut sorted = ended.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ended, sorted, "newest first");
    assert!(rows[0].starts_with("| 2026-11-27 08:43 |"), "{}", rows[0]);
    // The newest: a retry of an infrastructure failure in PROVISIONING.
    assert!(
        rows[0].contains("| `infrastructure-phases` | "),
        "{}",
        rows[0]
    );
    let oldest = rows[26];
    assert!(
        oldest.starts_with("| 2026-10-29 14:55 |")
            && oldest.contains(
                " | unit\\_tests | Not retried: unit\\_tests failed in BUILD (COMMAND\\_EXECUTION\\_ERROR), refused by rule `everything-else` | not-retried |"
            ),
        "{oldest}"
    );
    assert!(
        md.contains("Legend: grey bars = all failed attempts; green bars, in front = the ones the policy would retry."),
        "{md}"
    );
    assert!(md.contains("plotColorPalette"), "{md}");
    // The window starts 2026-10-28 (30 days before the newest batch); no attempt failed
    // that day, but the chart starts there.
    assert!(md.contains("    x-axis [\"10-28\", \"10-29\","), "{md}");
}
