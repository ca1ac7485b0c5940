//! `simulate --compare OLD` (issue 16.3): two policies over the same history, offline, on a
//! history whose decisions are worked out by hand below.
//!
//! Old: the built-in default (`infrastructure-phases` retries an image pull, `command-failures`
//! refuses a failed test; per-batch 2). New: `retry-everything.yml` (every failure allowed,
//! per-batch 1).

mod common;
#[path = "support/history.rs"]
mod history;

use history::{DAY, End, Fail, History, sha};
use serde_json::Value;

const INFRA: &[(&str, Fail)] = &[("build", Fail::Infra)];
const TEST: &[(&str, Fail)] = &[("test", Fail::Test)];
const OK: &[(&str, Fail)] = &[];
/// 2026-11-02T00:00:00Z.
const T0: f64 = 1_793_577_600.0;

struct Made {
    dir: tempfile::TempDir,
    a: String,
    b: String,
    d: String,
}

fn history() -> Made {
    let mut h = History::new("acme-api");
    // A: a test failure, retried by hand, then green.
    let a = h.batch(&sha('a'), T0, &[TEST, OK], 600.0, End::Done);
    // B: a test failure nobody retried.
    let b = h.batch(&sha('b'), T0 + DAY, &[TEST], 600.0, End::Done);
    // C: an image pull, retried, then green: both policies retry it.
    h.batch(&sha('c'), T0 + 2.0 * DAY, &[INFRA, OK], 600.0, End::Done);
    // D: three image pulls in a row, retried twice.
    let d = h.batch(
        &sha('d'),
        T0 + 3.0 * DAY,
        &[INFRA, INFRA, INFRA],
        600.0,
        End::Done,
    );
    let dir = tempfile::tempdir().unwrap();
    h.write(dir.path());
    std::fs::copy(
        common::root().join("tests/fixtures/policies/retry-everything.yml"),
        dir.path().join("new.yml"),
    )
    .unwrap();
    std::fs::copy(
        common::root().join("policies/default.yml"),
        dir.path().join("old.yml"),
    )
    .unwrap();
    Made { dir, a, b, d }
}

fn simulate(m: &Made, format: &str, env: &[(&str, &str)]) -> common::Run {
    let (batches, builds) = (
        m.dir.path().join("batches.json"),
        m.dir.path().join("builds.json"),
    );
    let mut cmd = common::gate();
    cmd.current_dir(m.dir.path())
        .arg("simulate")
        .arg("--batches")
        .arg(&batches)
        .arg("--builds")
        .arg(&builds)
        .args(["--policy", "new.yml", "--format", format]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if !env.iter().any(|(k, _)| *k == "INPUT_COMPARE") {
        cmd.args(["--compare", "old.yml"]);
    }
    common::run(&mut cmd)
}

#[test]
fn the_comparison_lists_every_attempt_decided_differently_with_what_happened_next() {
    let m = history();
    let r = simulate(&m, "json", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &report["comparison"];
    assert_eq!(c["old_policy"], "old.yml");
    // A1: refused by `command-failures`, now retried; a person's retry then made it green.
    // B1: refused, now retried; nobody retried: the old refusal held.
    // C1: retried by both. D1: retried by both. D2: the default's per-batch budget of 2 had
    // room, the new one's 1 is spent: newly refused; the real retry then failed (held).
    // D3: both budgets spent: refused by both.
    let changed: Vec<(String, u64, String, String, String, String)> = c["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["batch_id"].as_str().unwrap().to_string(),
                x["attempt"].as_u64().unwrap(),
                format!(
                    "{}/{}",
                    x["before"]["decision"].as_str().unwrap(),
                    x["before"]["code"].as_str().unwrap()
                ),
                format!(
                    "{}/{}",
                    x["after"]["decision"].as_str().unwrap(),
                    x["after"]["code"].as_str().unwrap()
                ),
                x["then"].as_str().unwrap().to_string(),
                x["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |id: &str, n: u64, before: &str, after: &str, then: &str, change: &str| {
        (
            id.to_string(),
            n,
            before.to_string(),
            after.to_string(),
            then.to_string(),
            change.to_string(),
        )
    };
    assert_eq!(
        changed,
        vec![
            row(
                &m.a,
                1,
                "refuse/failure-not-allowed",
                "retry/all-failures-allowed",
                "retried-then-succeeded",
                "newly-retried"
            ),
            row(
                &m.b,
                1,
                "refuse/failure-not-allowed",
                "retry/all-failures-allowed",
                "not-retried",
                "newly-retried"
            ),
            row(
                &m.d,
                2,
                "retry/all-failures-allowed",
                "refuse/batch-budget-spent",
                "retried-then-failed",
                "newly-refused"
            ),
        ]
    );
    assert_eq!(c["changed"][0]["before"]["rule"], "command-failures");
    assert_eq!(c["changed"][0]["after"]["rule"], "everything");
    let t = &c["totals"];
    let totals: Vec<u64> = [
        "attempts",
        "changed",
        "newly_retried",
        "newly_retried_fixed_by_hand",
        "newly_retried_held",
        "newly_refused",
        "newly_refused_fixed_by_hand",
        "newly_refused_held",
    ]
    .iter()
    .map(|k| t[k].as_u64().unwrap_or_else(|| panic!("{k}: {t}")))
    .collect();
    assert_eq!(totals, vec![6, 3, 2, 1, 1, 1, 0, 1]);
    // The replay itself is the new policy's.
    assert_eq!(report["policy"], "new.yml");
    assert_eq!(report["totals"]["retry"], 4);
}

#[test]
fn text_and_markdown_lead_with_the_differences() {
    let m = history();
    let r = simulate(&m, "text", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "COMPARE   3 of 6 failed attempts change: would now retry 2 refusals, 1 of which a person retried successfully; would now refuse 1 retry, 0 of which rescued the batch"
    );
    assert!(r.stdout.contains(&format!("{} attempt 2: retry (all-failures-allowed, rule infrastructure-phases) -> refuse (batch-budget-spent", m.d)), "{}", r.stdout);
    let md = simulate(&m, "markdown", &[]);
    assert!(
        md.stdout.starts_with(
            "### 🔍 Policy change: 3 of 6 failed attempts change: would now retry 2 refusals"
        ),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| Newly retried | 2 | 1 | 1 |"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| Newly refused | 1 | 0 | 1 |"),
        "{}",
        md.stdout
    );
    // The simulation of the new policy follows.
    assert!(
        md.stdout
            .contains("### 🧪 codebuild-retry-gate: simulated on acme-api"),
        "{}",
        md.stdout
    );
}

#[test]
fn the_old_policy_comes_from_the_compare_input_and_a_bad_one_is_a_policy_error() {
    let m = history();
    let r = simulate(&m, "json", &[("INPUT_COMPARE", "old.yml")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["comparison"]["totals"]["changed"], 3);

    // Same policy on both sides: nothing changes.
    let mut cmd = common::gate();
    cmd.current_dir(m.dir.path())
        .args([
            "simulate",
            "--batches",
            "batches.json",
            "--builds",
            "builds.json",
        ])
        .args(["--policy", "old.yml", "--compare", "old.yml"]);
    let r = common::run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "COMPARE   the new policy decides all 6 failed attempts as the old one did"
        ),
        "{}",
        r.stdout
    );

    std::fs::write(
        m.dir.path().join("bad.yml"),
        "version: 1\nrules:\n  - name: a\n    statuses: [FAULTY]\n",
    )
    .unwrap();
    let r = simulate(&m, "json", &[("INPUT_COMPARE", "bad.yml")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.yml:4:16: error[unknown-value]"),
        "{}",
        r.stderr
    );
    let r = simulate(&m, "json", &[("INPUT_COMPARE", "missing.yml")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
