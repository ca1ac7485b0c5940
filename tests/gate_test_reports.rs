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
            w.cb.add_report(read("reports.json"));
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
            "test `search.spec.ts: :search suggests as you type` failed and is not quarantined"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_report_with_failed_tests_missing_is_refused() {
    let (w, id) = World::new(false).await;
    let mut reports = read("reports.json");
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
