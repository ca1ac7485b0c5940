//! Issue 17, gate scenarios for `tests` conditions and `max-failed-share`: the binary against
//! the fake CodeBuild (BatchGetReports, DescribeTestCases) and the fake GitHub, reached only
//! through AWS_ENDPOINT_URL_CODEBUILD and GITHUB_API_URL.

mod common;
mod fakes;

use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_testtoken0123456789";
const REPO: &str = "acme/web";
const EXAMPLE: &str = "examples/batches/quarantined-tests";
const QUARANTINE: &str = "version: 1\nrules:\n  - name: quarantine\n    groups: [unit_tests]\n    tests:\n      failed: [\"checkout.spec.ts::*\", \"search suggests as you type\"]\n";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn read(name: &str) -> Value {
    let path = common::root().join(EXAMPLE).join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Seconds since the epoch, now: the gate judges at the wall clock.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The captured reports with their `expired` moment moved to a month from now: the gate
/// judges at the wall clock, and a report past its `expired` moment cannot be judged (a
/// fixed date in the capture would make these tests fail once it passed).
fn unexpired(mut reports: Value) -> Value {
    for r in reports["reports"].as_array_mut().unwrap() {
        r["expired"] = json!(now_secs() + 30 * 86_400);
    }
    reports
}

impl World {
    /// The example batch whose `unit_tests` build failed with two failed tests, its builds,
    /// and (`with_reports`) its test reports and their cases.
    async fn new(with_reports: bool) -> (World, String) {
        let w = World {
            cb: FakeCodeBuild::start().await,
            gh: FakeGitHub::start().await,
            dir: tempfile::tempdir().unwrap(),
        };
        let id = w.cb.load_example(&common::root().join(EXAMPLE));
        if with_reports {
            w.cb.add_report(unexpired(read("reports.json")));
            w.cb.add_test_cases(read("test-cases.json"));
        }
        (w, id)
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    async fn gate(&self, id: &str, policy: &str) -> Ran {
        std::fs::write(self.workspace().join("policy.yml"), policy).unwrap();
        let cmd = common::gate_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            &["--batch-id", id, "--policy", "policy.yml"],
        );
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .expect("the binary runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quarantined_tests_are_retried_after_reading_the_reports() {
    let (w, id) = World::new(true).await;
    let r = w.gate(&id, QUARANTINE).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    assert_eq!(w.cb.retries_performed(&id), 1);
    assert_eq!(w.cb.count("BatchGetReports"), 1);
    // FAILED and ERROR, one page each; the coverage report is not listed.
    assert_eq!(w.cb.count("DescribeTestCases"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_test_not_quarantined_is_refused_by_name() {
    let (w, id) = World::new(true).await;
    let policy = "version: 1\nrules:\n  - name: quarantine\n    tests:\n      failed: [\"checkout.spec.ts::*\"]\n";
    let r = w.gate(&id, policy).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "test `search.spec.ts::search suggests as you type` failed and is not quarantined"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_report_with_failed_tests_missing_is_refused() {
    let (w, id) = World::new(false).await;
    let mut reports = unexpired(read("reports.json"));
    reports["reports"][0]["truncated"] = json!(true);
    reports["reports"][0]["testSummary"]["statusCounts"]["FAILED"] = json!(7);
    w.cb.add_report(reports);
    w.cb.add_test_cases(read("test-cases.json"));
    let r = w.gate(&id, QUARANTINE).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(r.stdout.contains("could-not-judge"), "{}", r.stdout);
    assert!(r.stdout.contains("is truncated"), "{}", r.stdout);
    assert_eq!(w.cb.retries_performed(&id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_without_a_report_is_refused_and_an_unknown_report_too() {
    // The reports the build names do not exist (expired, deleted): could not judge.
    let (w, id) = World::new(false).await;
    let r = w.gate(&id, QUARANTINE).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(r.stdout.contains("was not found"), "{}", r.stdout);
    // A build that names no report at all.
    let (w, id) = World::new(false).await;
    let build_id = "acme-web:d9fb18e8-eef6-4ac4-88b6-350eedd03c87";
    let mut build = w.cb.build(build_id).unwrap();
    build["reportArns"] = json!([]);
    w.cb.add_build(build);
    let r = w.gate(&id, QUARANTINE).await;
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(r.stdout.contains("has no test report"), "{}", r.stdout);
    assert_eq!(w.cb.count("BatchGetReports"), 0);
    assert_eq!(w.cb.retries_performed(&id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_without_tests_reads_no_report() {
    let (w, id) = World::new(true).await;
    let r = w.gate(&id, "version: 1\nrules:\n  - name: any\n").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    assert_eq!(w.cb.count("BatchGetReports"), 0);
    assert_eq!(w.cb.count("DescribeTestCases"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_half_the_groups_failed_is_refused() {
    let (w, id) = World::new(false).await;
    // lint, typecheck and unit_tests failed; bundle succeeded (DOWNLOAD_SOURCE not counted).
    w.cb.update_batch(&id, |b| {
        for g in b["buildGroups"].as_array_mut().unwrap() {
            if matches!(g["identifier"].as_str(), Some("lint" | "typecheck")) {
                g["currentBuildSummary"]["buildStatus"] = json!("FAILED");
            }
        }
    });
    let policy = "version: 1\noutage:\n  max-failed-share: 0.5\nrules:\n  - name: any\n";
    let r = w.gate(&id, policy).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("3 of 4 build groups failed"),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
}

const REPORT_PREFIX: &str = "arn:aws:codebuild:us-east-1:111122223333:report/acme-web-unit:";
const LEARNED: &str = "version: 1\nrules:\n  - name: learned\n    groups: [unit_tests]\n    tests:\n      known-flaky-days: 14\n";

/// A batch of another commit, started two days ago, whose `unit_tests` failed in its first
/// attempt with `failed` tests (`PREFIX::NAME`) in its test report, and ended `then` in the
/// retry that followed. Its failed build and report are in the fake too. Returns its id.
fn add_flip(cb: &FakeCodeBuild, n: u64, failed: &[(&str, &str)], then: &str) -> String {
    let uuid = |k: u64| fakes::codebuild::pseudo_uuid(n * 10 + k, "flip");
    let id = format!("acme-web:{}", uuid(0));
    let arn =
        |kind: &str, id: &str| format!("arn:aws:codebuild:us-east-1:111122223333:{kind}/{id}");
    let start = now_secs() - 2 * 86_400 - n as i64 * 3_600;
    let failed_build = format!("acme-web:{}", uuid(1));
    let retried_build = format!("acme-web:{}", uuid(2));
    let report = format!("{REPORT_PREFIX}{}", uuid(3));
    cb.add_batch(json!({
        "id": id, "arn": arn("build-batch", &id), "projectName": "acme-web",
        "startTime": start, "endTime": start + 1_200, "complete": true,
        "buildBatchStatus": then, "currentPhase": then,
        "sourceVersion": "pr/2300",
        "resolvedSourceVersion": format!("{:040x}", n + 0xf11b),
        "phases": [
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": start, "endTime": start + 1},
            {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED", "startTime": start + 1, "endTime": start + 400},
            {"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": start + 400, "endTime": start + 500},
            {"phaseType": "IN_PROGRESS", "phaseStatus": if then == "SUCCEEDED" { "SUCCEEDED" } else { "FAILED" },
             "startTime": start + 500, "endTime": start + 1_200},
            {"phaseType": then, "startTime": start + 1_200}
        ],
        "buildGroups": [{
            "identifier": "unit_tests", "dependsOn": [], "ignoreFailure": false,
            "priorBuildSummaryList": [{"arn": arn("build", &failed_build), "requestedOn": start + 2, "buildStatus": "FAILED"}],
            "currentBuildSummary": {"arn": arn("build", &retried_build), "requestedOn": start + 500, "buildStatus": then}
        }]
    }));
    cb.add_build(json!({
        "id": failed_build, "arn": arn("build", &failed_build), "projectName": "acme-web",
        "buildStatus": "FAILED", "startTime": start + 2, "endTime": start + 390, "buildComplete": true,
        "reportArns": [report],
        "phases": [{"phaseType": "BUILD", "phaseStatus": "FAILED", "startTime": start + 20, "endTime": start + 390,
                    "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "Error while executing command: npm test. Reason: exit status 1"}]}]
    }));
    cb.add_report(json!({
        "arn": report, "type": "TEST", "status": "FAILED", "truncated": false,
        "executionId": arn("build", &failed_build),
        "created": start + 390, "expired": now_secs() + 28 * 86_400,
        "testSummary": {"total": 400, "statusCounts": {"FAILED": failed.len(), "SUCCEEDED": 400 - failed.len()}}
    }));
    cb.add_test_cases(
        json!({"testCases": failed.iter().map(|(prefix, name)| json!({
        "reportArn": report, "prefix": prefix, "name": name, "status": "FAILED",
        "message": "Timeout 30000ms exceeded"
    })).collect::<Vec<Value>>()}),
    );
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn tests_known_flaky_from_the_history_are_retried() {
    let (w, id) = World::new(true).await;
    // Both of today's failed tests failed before in unit_tests, and the retry fixed them.
    add_flip(
        &w.cb,
        1,
        &[("checkout.spec.ts", "pays with a saved card")],
        "SUCCEEDED",
    );
    add_flip(
        &w.cb,
        2,
        &[("search.spec.ts", "search suggests as you type")],
        "SUCCEEDED",
    );
    let r = w.gate(&id, LEARNED).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    assert_eq!(w.cb.retries_performed(&id), 1);
    // Today's report (with the flips' builds), then the two flips' reports: two calls.
    assert_eq!(w.cb.count("BatchGetReports"), 2);
}

/// The report ARN of flip `n` (see [`add_flip`]).
fn flip_report(n: u64) -> String {
    format!(
        "{REPORT_PREFIX}{}",
        fakes::codebuild::pseudo_uuid(n * 10 + 3, "flip")
    )
}

/// The flips' reports the gate asked for, call by call.
fn flip_reports_read(cb: &FakeCodeBuild, flips: u64) -> Vec<Vec<u64>> {
    cb.calls()
        .iter()
        .filter(|c| c.op == "BatchGetReports")
        .map(|c| {
            let asked: Vec<&str> = c.body["reportArns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            (1..=flips)
                .filter(|n| asked.contains(&flip_report(*n).as_str()))
                .collect()
        })
        .filter(|read: &Vec<u64>| !read.is_empty())
        .collect()
}

/// The look-back is read newest first, in growing waves, and only as far as it must: once
/// every failed test is known flaky the older flips' reports are never read; a test that
/// never flipped has every flip read before the refusal names it.
#[tokio::test(flavor = "multi_thread")]
async fn the_look_back_stops_once_every_failed_test_is_known_flaky() {
    let (w, id) = World::new(true).await;
    // The two newest flips show both of today's tests flaky; eight older ones others.
    add_flip(
        &w.cb,
        1,
        &[("checkout.spec.ts", "pays with a saved card")],
        "SUCCEEDED",
    );
    add_flip(
        &w.cb,
        2,
        &[("search.spec.ts", "search suggests as you type")],
        "SUCCEEDED",
    );
    for n in 3..=10 {
        add_flip(
            &w.cb,
            n,
            &[("cart.spec.ts", &format!("adds line {n}"))],
            "SUCCEEDED",
        );
    }
    let r = w.gate(&id, LEARNED).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    // One wave of the four newest flips, and no more.
    assert_eq!(flip_reports_read(&w.cb, 10), vec![vec![1, 2, 3, 4]]);
    // FAILED and ERROR for today's report and each of the four (their summaries do not
    // count ERROR, so it is read).
    assert_eq!(w.cb.count("DescribeTestCases"), 2 * (1 + 4));

    // Search never flipped: every flip is read (waves of 4, then 8), newest first.
    let (w, id) = World::new(true).await;
    for n in 1..=10 {
        add_flip(
            &w.cb,
            n,
            &[("checkout.spec.ts", "pays with a saved card")],
            "SUCCEEDED",
        );
    }
    let r = w.gate(&id, LEARNED).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("search suggests as you type` failed and is not known flaky"),
        "{}",
        r.stdout
    );
    assert_eq!(
        flip_reports_read(&w.cb, 10),
        vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8, 9, 10]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_that_never_flipped_is_refused_by_name() {
    let (w, id) = World::new(true).await;
    add_flip(
        &w.cb,
        1,
        &[("checkout.spec.ts", "pays with a saved card")],
        "SUCCEEDED",
    );
    // This one failed before too, but the retry failed again: no flip.
    add_flip(
        &w.cb,
        2,
        &[("search.spec.ts", "search suggests as you type")],
        "FAILED",
    );
    let r = w.gate(&id, LEARNED).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "test `search.spec.ts::search suggests as you type` failed and is not known flaky in group unit_tests"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flip_whose_report_expired_leaves_the_test_not_judged() {
    let (w, id) = World::new(true).await;
    add_flip(
        &w.cb,
        1,
        &[("checkout.spec.ts", "pays with a saved card")],
        "SUCCEEDED",
    );
    add_flip(
        &w.cb,
        2,
        &[("search.spec.ts", "search suggests as you type")],
        "SUCCEEDED",
    );
    // The second flip's report is gone (CodeBuild keeps reports 30 days).
    let gone =
        w.cb.build(&format!(
            "acme-web:{}",
            fakes::codebuild::pseudo_uuid(21, "flip")
        ))
        .unwrap()["reportArns"][0]
            .as_str()
            .unwrap()
            .to_string();
    w.cb.remove_report(&gone);
    let r = w.gate(&id, LEARNED).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(r.stdout.contains("could-not-judge"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("1 earlier attempt that a retry fixed could not be read"),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
}
