//! `simulate` live: the real binary and the real aws-sdk-codebuild client against the fake
//! CodeBuild (reached only through AWS_ENDPOINT_URL_CODEBUILD), and the fake GitHub for the
//! policy with policy-ref. Read-only: the tests assert every call it makes.

mod common;
mod fakes;
#[path = "support/history.rs"]
mod history;

use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub, FakeLogs};
use history::{DAY, End, Fail, HOUR, History, sha};
use serde_json::Value;

const INFRA: &[(&str, Fail)] = &[("build", Fail::Infra)];
const OK: &[(&str, Fail)] = &[];
const TOKEN: &str = "ghs_simulatetoken0123456789";

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

/// `simulate` as the runner would start it: no GitHub or runner variables, dummy AWS
/// credentials and no AWS config files, CodeBuild only through AWS_ENDPOINT_URL_CODEBUILD.
fn simulate(workspace: &Path, codebuild: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = common::gate();
    cmd.current_dir(workspace)
        .arg("simulate")
        .args(args)
        .env("AWS_ENDPOINT_URL_CODEBUILD", codebuild)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTSIMULATE")
        .env("AWS_SECRET_ACCESS_KEY", "secret-aws-key-for-tests")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", workspace.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            workspace.join("no-aws-credentials"),
        );
    tokio::process::Command::from(cmd)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn run(mut cmd: tokio::process::Command) -> Run {
    let out = cmd.output().await.expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn attempts(report: &Value) -> Vec<(String, u64, String, String, String)> {
    report["attempts"]
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

/// 230 batches in the last 23 days (every fifth an image pull retried by hand, then green),
/// 20 more 40 days ago (inside the 14-day look-back before a 30-day window; each failed and
/// was retried too) and 50 of 60 to 70 days ago (beyond it). Returns the history, the ids of
/// the window's failed batches and of the look-back's batches.
fn big_history(now: f64) -> (History, Vec<String>, Vec<String>) {
    let mut h = History::new("acme-api");
    let (mut failed, mut lookback) = (Vec::new(), Vec::new());
    for n in 0..50 {
        h.batch(
            &sha('0'),
            now - 70.0 * DAY + n as f64 * HOUR,
            &[OK],
            0.0,
            End::Done,
        );
    }
    for n in 0..20 {
        let id = h.batch(
            &sha('4'),
            now - 40.0 * DAY + n as f64 * HOUR,
            &[INFRA, OK],
            300.0,
            End::Done,
        );
        lookback.push(id);
    }
    for n in 0..230 {
        let start = now - 23.0 * DAY + n as f64 * 2.0 * HOUR;
        // A commit of its own each: no per-commit budget is shared.
        let commit = format!("{:040x}", 0xc0_0000 + n);
        if n % 5 == 0 {
            failed.push(h.batch(&commit, start, &[INFRA, OK], 300.0, End::Done));
        } else {
            h.batch(&commit, start, &[OK], 0.0, End::Done);
        }
    }
    (h, failed, lookback)
}

#[tokio::test(flavor = "multi_thread")]
async fn live_replay_pages_the_listing_reads_in_chunks_and_never_retries() {
    let cb = FakeCodeBuild::start().await;
    let now = now();
    let (h, failed, lookback) = big_history(now);
    cb.add_batch(h.batches_json());
    cb.add_build(h.builds_json());
    let dir = tempfile::tempdir().unwrap();
    let r = run(simulate(
        dir.path(),
        &cb.endpoint(),
        &["--project", "acme-api", "--days", "30", "--format", "json"],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    // stderr is not a terminal here: no progress bar.
    assert!(!r.stderr.contains("reading"), "{}", r.stderr);

    // The exact calls: three listing pages of 100, newest first (the third reaches past the
    // look-back, 44 days back, so the walk stops there), each page's batches in one read,
    // then the builds of the 46 failed batches of the window (4 each: the source, the
    // failed and the retried `build`, `test`) in chunks of at most 100, read together.
    let calls = cb.calls();
    let ops: Vec<&str> = calls.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "ListBuildBatchesForProject",
            "BatchGetBuildBatches",
            "ListBuildBatchesForProject",
            "BatchGetBuildBatches",
            "ListBuildBatchesForProject",
            "BatchGetBuildBatches",
            "BatchGetBuilds",
            "BatchGetBuilds",
        ]
    );
    let list = &calls[0].body;
    assert_eq!(list["projectName"], "acme-api");
    assert_eq!(list["sortOrder"], "DESCENDING");
    assert_eq!(list["maxResults"], 100);
    assert!(calls[2].body["nextToken"].is_string());
    let ids = |op: &str| -> Vec<usize> {
        calls
            .iter()
            .filter(|c| c.op == op)
            .map(|c| c.body["ids"].as_array().unwrap().len())
            .collect()
    };
    assert_eq!(ids("BatchGetBuildBatches"), vec![100, 100, 100]);
    let mut builds = ids("BatchGetBuilds");
    builds.sort();
    assert_eq!(builds, vec![84, 100]);
    assert_eq!(cb.count("RetryBuildBatch"), 0);
    assert!(
        calls
            .iter()
            .all(|c| !c.faulted && c.access_key_id.as_deref() == Some("AKIDTESTSIMULATE"))
    );
    // No build of a batch outside the window was read.
    let asked: Vec<String> = calls
        .iter()
        .filter(|c| c.op == "BatchGetBuilds")
        .flat_map(|c| c.body["ids"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(asked.len(), 184);
    for id in &lookback {
        let batch = cb.batch(id);
        let build = batch["buildGroups"][1]["currentBuildSummary"]["arn"]
            .as_str()
            .unwrap();
        assert!(!asked.iter().any(|a| build.ends_with(a.as_str())), "{id}");
    }

    // Every failed attempt of the window, and only those: an image pull the built-in
    // policy retries, which the retry by hand rescued.
    let got = attempts(&report);
    assert_eq!(got.len(), 46);
    let mut expected: Vec<_> = failed
        .iter()
        .map(|id| {
            (
                id.clone(),
                1,
                "retry".to_string(),
                "all-failures-allowed".to_string(),
                "retried-then-succeeded".to_string(),
            )
        })
        .collect();
    expected.sort();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(report["totals"]["batches"], 230);
    assert_eq!(report["totals"]["rescued"], 46);
    assert_eq!(report["batches_read"], 300);
    assert_eq!(report["history_truncated"], false);

    // The same history from files gives the same judgments.
    let (batches, builds) = h.write(dir.path());
    let offline = common::run(common::gate().args([
        "simulate",
        "--batches",
        batches.to_str().unwrap(),
        "--builds",
        builds.to_str().unwrap(),
        "--days",
        "30",
        "--format",
        "json",
    ]));
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    let offline: Value = serde_json::from_str(&offline.stdout).unwrap();
    assert_eq!(attempts(&offline), got);
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_action_the_policy_comes_from_the_default_branch_and_the_report_goes_to_the_summary()
 {
    let cb = FakeCodeBuild::start().await;
    let gh = FakeGitHub::start().await;
    let now = now();
    let mut h = History::new("acme-web");
    let failed = h.batch(&sha('a'), now - 3.0 * DAY, &[INFRA, OK], 600.0, End::Done);
    h.batch(&sha('b'), now - 2.0 * DAY, &[OK], 0.0, End::Done);
    // Older than `days` (7) but inside the look-back: read, not replayed.
    h.batch(&sha('c'), now - 9.0 * DAY, &[INFRA], 0.0, End::Done);
    cb.add_batch(h.batches_json());
    cb.add_build(h.builds_json());
    // The workspace's policy would retry; the default branch's refuses everything.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(
        dir.path().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: everything\n",
    )
    .unwrap();
    gh.add_file(
        "acme/web",
        "main",
        ".github/codebuild-retry-gate.yml",
        "version: 1\nrules:\n  - name: nothing\n    action: refuse\n",
    );
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs.txt");
    let mut cmd = simulate(dir.path(), &cb.endpoint(), &[]);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", dir.path())
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_REPOSITORY", "acme/web")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_PROJECT", "acme-web")
        .env("INPUT_DAYS", "7")
        .env("INPUT_POLICY", "")
        .env("INPUT_POLICY-REF", "default-branch")
        .env("INPUT_GITHUB-TOKEN", TOKEN)
        .env("INPUT_TIMEOUT", "5");
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "SIMULATE  acme-web: 1 failed attempt in 2 batches: the policy would retry 0 and refuse 1"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("policy   acme/web@default-branch:.github/codebuild-retry-gate.yml"),
        "{}",
        r.stdout
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("### 🧪 codebuild-retry-gate: simulated on acme-web"),
        "{md}"
    );
    assert!(md.contains("```mermaid\n%%{init:"), "{md}");
    assert!(md.contains("\nxychart-beta\n"), "{md}");
    assert!(
        md.contains("| 1 | refuse | `failure-not-allowed` | `nothing` | build | Not retried: build failed in PROVISIONING (BUILD\\_CONTAINER\\_UNABLE\\_TO\\_PULL\\_IMAGE), refused by rule `nothing` | retried-then-succeeded |"),
        "{md}"
    );
    // Issue 19.5: the JSON report is also a file in the workspace, named by `report-path`
    // (relative to the workspace, as actions/upload-artifact reads it).
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        outputs.contains("report-path<<")
            && outputs.contains("\ncodebuild-retry-gate-simulation.json\n"),
        "{outputs}"
    );
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("codebuild-retry-gate-simulation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["totals"]["refuse"], 1);
    assert_eq!(file["attempts"][0]["then"], "retried-then-succeeded");
    assert!(md.contains(&failed), "{md}");

    // GitHub: the policy read (issue 20.1: the default branch, its commit, the file at that
    // commit), nothing posted.
    let calls = gh.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls.iter().all(|c| c.method == "GET"), "{calls:?}");
    assert_eq!(
        calls[2].path,
        "/repos/acme/web/contents/.github/codebuild-retry-gate.yml"
    );
    assert_eq!(cb.count("RetryBuildBatch"), 0);
    for text in [&r.stdout, &r.stderr, &md] {
        assert!(!text.contains(TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_project_is_an_input_error_and_no_credentials_a_runtime_one() {
    let cb = FakeCodeBuild::start().await;
    let dir = tempfile::tempdir().unwrap();
    let r = run(simulate(dir.path(), &cb.endpoint(), &["--project", "nope"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ResourceNotFoundException") && r.stderr.contains("nope"),
        "{}",
        r.stderr
    );

    let mut cmd = simulate(
        dir.path(),
        &cb.endpoint(),
        &["--project", "acme-web", "--timeout", "2"],
    );
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let r = run(cmd).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no AWS credentials"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

const TEST: &[(&str, Fail)] = &[("test", Fail::Test)];

/// Issue 17: live, the replay reads the test reports its `tests` rules need (and the flips
/// they learn from) from CodeBuild, each once; a report CodeBuild no longer has (30 days)
/// leaves its attempt "could not judge", never a refusal; so does a log that cannot be read.
#[tokio::test(flavor = "multi_thread")]
async fn live_replay_reads_test_reports_once_and_counts_expired_ones_as_not_judged() {
    let cb = FakeCodeBuild::start().await;
    let now = now();
    let mut h = History::new("acme-web");
    // 29 days ago: a test failure whose report is gone.
    let old = h.batch(&sha('9'), now - 29.0 * DAY, &[TEST], 0.0, End::Done);
    // Three of case0, each fixed by a retry by hand; then case1, never fixed.
    let mut ids: Vec<String> = (0..3)
        .map(|n| {
            h.batch(
                &sha(['a', 'b', 'c'][n]),
                now - (10 - n) as f64 * DAY,
                &[TEST, OK],
                900.0,
                End::Done,
            )
        })
        .collect();
    h.failing_tests = vec!["case1".into()];
    ids.push(h.batch(&sha('d'), now - 5.0 * DAY, &[TEST], 0.0, End::Done));
    cb.add_batch(h.batches_json());
    cb.add_build(h.builds_json());
    cb.add_report(h.reports_json());
    cb.add_test_cases(h.cases_json());
    let gone = h.reports[0]["arn"].as_str().unwrap().to_string();
    cb.remove_report(&gone);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yml"),
        "version: 1\nrules:\n  - name: learned\n    groups: [test]\n    tests:\n      known-flaky-days: 14\n",
    )
    .unwrap();
    let r = run(simulate(
        dir.path(),
        &cb.endpoint(),
        &[
            "--project",
            "acme-web",
            "--days",
            "30",
            "--policy",
            "policy.yml",
            "--format",
            "json",
        ],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let then = "retried-then-succeeded";
    assert_eq!(
        attempts(&report),
        vec![
            (
                old.clone(),
                1,
                "refuse".into(),
                "could-not-judge".into(),
                "not-retried".into()
            ),
            (
                ids[0].clone(),
                1,
                "refuse".into(),
                "failure-not-allowed".into(),
                then.into()
            ),
            (
                ids[1].clone(),
                1,
                "retry".into(),
                "all-failures-allowed".into(),
                then.into()
            ),
            (
                ids[2].clone(),
                1,
                "retry".into(),
                "all-failures-allowed".into(),
                then.into()
            ),
            (
                ids[3].clone(),
                1,
                "refuse".into(),
                "failure-not-allowed".into(),
                "not-retried".into()
            ),
        ]
    );
    assert_eq!(report["totals"]["could_not_judge"], 1);
    assert_eq!(report["totals"]["refuse"], 2);
    let reason = report["attempts"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("was not found"), "{reason}");
    // Each report asked for once in the run (the suggestions' reads hit the cache), and
    // the cases of each found one read for FAILED and ERROR.
    let calls = cb.calls();
    let asked: Vec<String> = calls
        .iter()
        .filter(|c| c.op == "BatchGetReports")
        .flat_map(|c| c.body["reportArns"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut unique = asked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(asked.len(), unique.len(), "{asked:?}");
    assert_eq!(asked.len(), 5);
    assert_eq!(cb.count("DescribeTestCases"), 8);
    assert_eq!(cb.count("RetryBuildBatch"), 0);

    // A `log` rule: these builds name no log location, so no log can be read (as when
    // CloudWatch's retention has passed): its attempts could not be judged.
    std::fs::write(
        dir.path().join("log.yml"),
        "version: 1\nrules:\n  - name: rate-limits\n    log:\n      matches: [\"429\"]\n",
    )
    .unwrap();
    let r = run(simulate(
        dir.path(),
        &cb.endpoint(),
        &[
            "--project",
            "acme-web",
            "--days",
            "30",
            "--policy",
            "log.yml",
            "--format",
            "text",
        ],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("and could not judge 5"), "{}", r.stdout);
    assert!(
        r.stdout.contains("5 failed attempts could not be judged"),
        "{}",
        r.stdout
    );
}

/// Issue 17: live, the replay reads the CloudWatch Logs of the failed builds a `log` rule
/// needs (through AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, each stream once, newest first and
/// bounded by the build's times): a rate limit in the log is a retry, a real failure a
/// refusal, and a stream CloudWatch no longer has (retention) leaves its attempt "could not
/// judge", naming the build and why, never a refusal.
#[tokio::test(flavor = "multi_thread")]
async fn live_replay_reads_cloudwatch_logs_and_an_expired_stream_is_not_judged() {
    const GROUP: &str = "/aws/codebuild/acme-web";
    let cb = FakeCodeBuild::start().await;
    let logs = FakeLogs::start().await;
    let now = now();
    let mut h = History::new("acme-web");
    let rate = h.batch(&sha('a'), now - 10.0 * DAY, &[TEST, OK], 900.0, End::Done);
    let bug = h.batch(&sha('b'), now - 8.0 * DAY, &[TEST], 0.0, End::Done);
    let gone = h.batch(&sha('c'), now - 6.0 * DAY, &[TEST], 0.0, End::Done);
    let texts = [
        (
            rate.as_str(),
            "npm ci\nnpm ERR! 429 Too Many Requests - GET https://registry.npmjs.org/left-pad\n",
        ),
        (
            bug.as_str(),
            "npm test\nAssertionError: expected 200, got 500\n",
        ),
    ];
    // Each failed build names its stream; the third's is gone from CloudWatch.
    let mut streams = Vec::new();
    for build in &mut h.builds {
        if build["buildStatus"] != "FAILED" {
            continue;
        }
        let id = build["id"].as_str().unwrap().to_string();
        let stream = id.split_once(':').unwrap().1.to_string();
        build["logs"] = serde_json::json!({"groupName": GROUP, "streamName": stream});
        let batch = h
            .batches
            .iter()
            .find(|b| b["arn"] == build["buildBatchArn"])
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        if let Some((_, text)) = texts.iter().find(|(b, _)| *b == batch) {
            let start_ms = (build["startTime"].as_f64().unwrap() * 1000.0) as i64;
            logs.add_log(GROUP, &stream, start_ms + 30_000, 10, text);
        }
        streams.push((batch, id, stream));
    }
    assert_eq!(streams.len(), 3, "{streams:?}");
    cb.add_batch(h.batches_json());
    cb.add_build(h.builds_json());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yml"),
        "version: 1\nrules:\n  - name: registry-rate-limits\n    log:\n      matches: [\"429 Too Many Requests\"]\n",
    )
    .unwrap();
    let mut cmd = simulate(
        dir.path(),
        &cb.endpoint(),
        &[
            "--project",
            "acme-web",
            "--days",
            "30",
            "--policy",
            "policy.yml",
            "--format",
            "json",
        ],
    );
    cmd.env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.endpoint());
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        attempts(&report),
        vec![
            (
                rate.clone(),
                1,
                "retry".into(),
                "all-failures-allowed".into(),
                "retried-then-succeeded".into()
            ),
            (
                bug.clone(),
                1,
                "refuse".into(),
                "failure-not-allowed".into(),
                "not-retried".into()
            ),
            (
                gone.clone(),
                1,
                "refuse".into(),
                "could-not-judge".into(),
                "not-retried".into()
            ),
        ]
    );
    assert_eq!(report["totals"]["could_not_judge"], 1);
    assert_eq!(report["totals"]["refuse"], 1);
    let gone_build = &streams.iter().find(|(b, _, _)| *b == gone).unwrap().1;
    let reason = report["attempts"][2]["reason"].as_str().unwrap();
    assert!(
        reason.contains(gone_build.as_str()) && reason.contains("ResourceNotFoundException"),
        "{reason}"
    );
    // Every failed build's stream was asked for, in its group, within its build's time,
    // and none more than once for the tail (plus the one-event head read).
    let calls = logs.calls();
    for (_, id, stream) in &streams {
        let asked: Vec<&Value> = calls
            .iter()
            .filter(|c| c.op == "GetLogEvents" && c.body["logStreamName"] == stream.as_str())
            .map(|c| &c.body)
            .collect();
        assert!(!asked.is_empty() && asked.len() <= 2, "{id}: {asked:?}");
        let build = h.builds.iter().find(|b| b["id"] == id.as_str()).unwrap();
        let end_ms = (build["endTime"].as_f64().unwrap() * 1000.0) as i64;
        for body in asked {
            assert_eq!(body["logGroupName"], GROUP);
            assert!(
                body["endTime"].as_i64().unwrap() <= end_ms + 5 * 60 * 1000,
                "{body}"
            );
        }
    }
    assert!(calls.iter().all(|c| c.service.as_deref() == Some("logs")));
    assert_eq!(cb.count("RetryBuildBatch"), 0);
}
