//! `gate` end to end: the real binary, driving the real aws-sdk-codebuild and octocrab clients
//! against local fakes of CodeBuild (awsJson1_1) and GitHub (REST), reached only through
//! AWS_ENDPOINT_URL_CODEBUILD and GITHUB_API_URL.

mod common;
mod fakes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fakes::{FakeCodeBuild, FakeGitHub, Fault, GitHubFault};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_testtoken0123456789";
const REPO: &str = "acme/web";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl World {
    async fn new() -> World {
        World::with_github(FakeGitHub::start().await).await
    }

    async fn with_github(gh: FakeGitHub) -> World {
        World {
            cb: FakeCodeBuild::start().await,
            gh,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn example(&self, name: &str) -> String {
        self.cb
            .load_example(&common::root().join("examples/batches").join(name))
    }

    /// [`World::example`], its batch moved in time to have ended `ago` seconds before now:
    /// the gate's windows (the daily budget, the outage brake) end at the wall clock.
    fn recent_example(&self, name: &str, ago: f64) -> String {
        let id = self.example(name);
        let mut batch = self.cb.batch(&id);
        let delta = epoch_now() - ago - batch["endTime"].as_f64().unwrap();
        shift(&mut batch, delta);
        self.cb.add_batch(batch);
        id
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    /// The binary as the runner would start it: the workspace as working directory, the
    /// runner's files, dummy AWS credentials, both endpoints from the standard variables.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let cmd = common::gate_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            args,
        );
        tokio::process::Command::from(cmd)
    }

    async fn gate(&self, args: &[&str]) -> Outcome {
        self.gate_with(self.command(args)).await
    }

    async fn gate_with(&self, mut cmd: tokio::process::Command) -> Outcome {
        let _ = std::fs::remove_file(self.workspace().join("output"));
        let _ = std::fs::remove_file(self.workspace().join("summary.md"));
        let out = cmd.output().await.expect("the binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: common::parse_outputs(&self.workspace().join("output")),
            summary: std::fs::read_to_string(self.workspace().join("summary.md"))
                .unwrap_or_default(),
        }
    }

    /// CodeBuild operations in arrival order.
    fn ops(&self) -> Vec<String> {
        self.cb.calls().into_iter().map(|c| c.op).collect()
    }
}

fn ops(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_an_infrastructure_failure_with_exactly_four_round_trips_of_calls() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("RETRY  Retry 1/2: linux_x86 failed in PROVISIONING"),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&id), 1);

    // Batch + listing together, then the failed build; nothing fetched twice.
    let calls = w.ops();
    assert_eq!(calls.len(), 4, "{calls:?}");
    let mut first_two = calls[..2].to_vec();
    first_two.sort();
    assert_eq!(
        first_two,
        ops(&["BatchGetBuildBatches", "ListBuildBatchesForProject"])
    );
    assert_eq!(calls[2..], ops(&["BatchGetBuilds", "RetryBuildBatch"]));
    let retry =
        w.cb.calls()
            .into_iter()
            .find(|c| c.op == "RetryBuildBatch")
            .unwrap();
    assert_eq!(retry.body["retryType"], "RETRY_FAILED_BUILDS");
    // Computed outside the code (docs/faults.md, "The idempotency token").
    assert_eq!(id, "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6");
    assert_eq!(
        retry.body["idempotencyToken"],
        "retry-gate-12221e21e0fcc251-attempt-1"
    );
    let builds =
        w.cb.calls()
            .into_iter()
            .find(|c| c.op == "BatchGetBuilds")
            .unwrap();
    assert_eq!(
        builds.body["ids"].as_array().unwrap().len(),
        1,
        "only the failed group's build"
    );

    let statuses = w.gh.statuses();
    assert_eq!(statuses.len(), 1);
    let s = &statuses[0];
    assert_eq!((s.repo.as_str(), s.state.as_str()), (REPO, "pending"));
    assert_eq!(
        s.sha, "b80469b84b2d451c62f746b484e61ceb95bd447e",
        "the batch's resolvedSourceVersion"
    );
    assert_eq!(
        s.context, "codebuild/retry-gate (acme-api)",
        "one status per project"
    );
    assert_eq!(s.token.as_deref(), Some(TOKEN));
    let description = s.description.clone().unwrap();
    assert!(
        description.starts_with("Retry 1/2: linux_x86"),
        "{description}"
    );
    assert!(description.len() <= 140);
    assert!(
        s.target_url.as_deref().unwrap().starts_with("https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme%2Dapi/batch/"),
        "no run URL known, so the batch's console page: {:?}",
        s.target_url
    );

    assert_eq!(r.outputs["decision"], "retry");
    assert_eq!(r.outputs["batch-id"], id);
    // Issue 8.10: the outputs count the retry just made.
    assert_eq!(r.outputs["retries-used"], "1");
    assert_eq!(r.outputs["retries-remaining"], "1");
    assert!(r.outputs["reason"].starts_with("Retry 1/2"));
    assert!(
        r.summary.contains("### 🔁 codebuild-retry-gate: retried"),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains("/build/acme%2Dapi%3A"),
        "a link to the failed build: {}",
        r.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuse_a_test_failure_by_rule_and_explain_it_on_the_commit() {
    let w = World::new().await;
    let id = w.example("test-failure");
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["code"], "failure-not-allowed");
    assert_eq!(report["acted"], true, "the status was posted");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    let s = &w.gh.statuses()[0];
    assert_eq!(s.state, "failure");
    assert_eq!(
        s.description.as_deref(),
        Some(
            "Not retried: unit_tests failed in BUILD (COMMAND_EXECUTION_ERROR), refused by rule `command-failures`"
        )
    );
    assert!(
        r.stderr.contains("warning: Not retried: unit_tests"),
        "{}",
        r.stderr
    );

    let r = w.gate(&["--batch-id", &id, "--fail-on-refusal"]).await;
    assert_eq!(r.code, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refuse_a_project_no_rule_covers() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: web-only\n    projects: [\"acme-web\"]\n",
    )
    .unwrap();
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "refuse");
    assert!(r.stdout.contains("[project-not-covered]"), "{}", r.stdout);
    assert!(
        r.stdout.contains(".github/codebuild-retry-gate.yml"),
        "the workspace policy was used"
    );
    assert!(
        !r.stderr.contains("built-in default policy"),
        "{}",
        r.stderr
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
    assert_eq!(w.gh.statuses()[0].state, "failure");
}

#[tokio::test(flavor = "multi_thread")]
async fn refuse_when_the_per_batch_budget_is_spent() {
    let w = World::new().await;
    let id = w.example("retried-twice");
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "refuse");
    assert_eq!(r.outputs["retries-used"], "2");
    assert_eq!(r.outputs["retries-remaining"], "0");
    assert_eq!(
        w.gh.statuses()[0].description.as_deref(),
        Some("Not retried: batch already retried 2 times (per-batch budget 2)")
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(
        r.stderr.contains("using the built-in default policy"),
        "{}",
        r.stderr
    );
}

/// A batch like `provisioning-fault`'s, with another id, commit, start time and retries.
fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Adds `delta` seconds to every timestamp member, at any depth.
fn shift(value: &mut Value, delta: f64) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::Number(n)
                        if fakes::codebuild::TIMESTAMP_KEYS.contains(&key.as_str()) =>
                    {
                        *v = json!(n.as_f64().unwrap() + delta);
                    }
                    other => shift(other, delta),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift(v, delta)),
        _ => {}
    }
}

fn sibling(template: &Value, n: usize, commit: &str, start: f64, retries: usize) -> Value {
    let mut b = template.clone();
    let id = format!("acme-api:{n:08x}-0000-4000-8000-000000000000");
    b["id"] = json!(id);
    b["arn"] = json!(format!(
        "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
    ));
    b["resolvedSourceVersion"] = json!(commit);
    b["startTime"] = json!(start);
    let mut phases =
        vec![json!({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": start})];
    for _ in 0..retries {
        phases
            .push(json!({"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED", "startTime": start}));
        phases.push(json!({"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": start}));
    }
    phases.push(json!({"phaseType": "SUCCEEDED", "startTime": start + 60.0}));
    b["phases"] = json!(phases);
    b["buildBatchStatus"] = json!("SUCCEEDED");
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn refuse_when_the_per_commit_budget_is_spent_across_pages_of_history() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let commit = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    let start = main["startTime"].as_f64().unwrap();
    // 250 older batches, newest first 10 minutes apart: other commits in between, and three
    // retries on this commit spread over the first, second and third pages.
    for n in 0..250 {
        let (c, retries) = match n {
            5 | 140 | 230 => (commit.as_str(), 1),
            _ => ("0000000000000000000000000000000000000000", n % 2),
        };
        w.cb.add_batch(sibling(
            &main,
            n + 1,
            c,
            start - 600.0 * (n as f64 + 1.0),
            retries,
        ));
    }
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "commit-budget-spent", "{report}");
    assert_eq!(report["budget"]["per_commit"]["used"], 3);
    assert_eq!(report["budget"]["commit_batches"], 4);
    assert_eq!(
        w.cb.count("ListBuildBatchesForProject"),
        3,
        "three pages of 100"
    );
    // The batch itself, then each page's batches once (the batch itself is not read again).
    let read: Vec<usize> =
        w.cb.calls()
            .iter()
            .filter(|c| c.op == "BatchGetBuildBatches")
            .map(|c| c.body["ids"].as_array().unwrap().len())
            .collect();
    assert_eq!(read, vec![1, 99, 100, 51]);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_stops_at_the_lookback() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let commit = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    let start = main["startTime"].as_f64().unwrap();
    // One retry on this commit a day ago, then 300 batches older than 14 days.
    w.cb.add_batch(sibling(&main, 1, &commit, start - 86_400.0, 1));
    for n in 2..302 {
        w.cb.add_batch(sibling(
            &main,
            n,
            &commit,
            start - 86_400.0 * 20.0 - n as f64,
            1,
        ));
    }
    let r = w
        .gate(&["--batch-id", &id, "--format", "json", "--dry-run"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(
        report["decision"], "retry",
        "old batches do not count: {report}"
    );
    assert_eq!(report["budget"]["per_commit"]["used"], 1);
    assert_eq!(
        w.cb.count("ListBuildBatchesForProject"),
        1,
        "the first page already passes the look-back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn collateral_stopped_groups_do_not_block_a_retry() {
    let w = World::new().await;
    let id = w.example("collateral-stopped");
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry");
    let codes: Vec<(&str, &str)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["group"].as_str().unwrap(), g["code"].as_str().unwrap()))
        .collect();
    assert!(codes.contains(&("test", "collateral")), "{codes:?}");
    assert!(
        codes.contains(&("deploy_staging", "collateral")),
        "{codes:?}"
    );
    assert!(codes.contains(&("lint", "ignored-failure")), "{codes:?}");
    assert_eq!(w.cb.retries_performed(&id), 1);
    let builds =
        w.cb.calls()
            .into_iter()
            .find(|c| c.op == "BatchGetBuilds")
            .unwrap();
    assert_eq!(
        builds.body["ids"].as_array().unwrap().len(),
        3,
        "build, test and deploy_staging (not the ignored lint): {}",
        builds.body
    );
}

fn write_event(w: &World, payload: Value) -> PathBuf {
    let path = w.workspace().join("event.json");
    std::fs::write(&path, payload.to_string()).unwrap();
    path
}

/// A `status` event as CodeBuild sends it for batch `id` of acme-api, on commit `sha`.
fn batch_event(w: &World, id: &str, sha: &str, state: &str) -> PathBuf {
    write_event(
        w,
        json!({
            "sha": sha,
            "state": state,
            "context": "AWS CodeBuild us-east-1 (acme-api)",
            "target_url": format!(
                "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-api/batch/{}?region=us-east-1",
                id.replace(':', "%3A")
            ),
            "repository": {"full_name": "acme/api"},
        }),
    )
}

/// The commit of `examples/batches/provisioning-fault`.
const PROVISIONING_FAULT_SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

#[tokio::test(flavor = "multi_thread")]
async fn a_status_event_names_the_batch_and_the_commit() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let sha = PROVISIONING_FAULT_SHA;
    let event = batch_event(&w, &id, sha, "failure");
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", "2222222222222222222222222222222222222222")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "987654321");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["batch-id"], id);
    assert_eq!(w.cb.retries_performed(&id), 1);
    let s = &w.gh.statuses()[0];
    assert_eq!(
        s.sha, sha,
        "the payload's sha (the batch's), never GITHUB_SHA"
    );
    assert_eq!(s.repo, REPO, "GITHUB_REPOSITORY wins over the payload");
    assert_eq!(
        s.target_url.as_deref(),
        Some("https://github.com/acme/web/actions/runs/987654321")
    );
}

/// Issue 9.2: a `status` event whose link names a batch that built another commit (anyone
/// who may post a status can send one) gets no status and exit 2, before anything is
/// retried; so does a `--sha` that is not the batch's commit.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_for_another_commit_than_the_batchs_posts_nothing_and_exits_2() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let other = "1111111111111111111111111111111111111111";
    let event = batch_event(&w, &id, other, "failure");
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the status event names commit {other}, but batch {id} built commit {PROVISIONING_FAULT_SHA}"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("nothing was retried or posted"),
        "{}",
        r.stderr
    );
    assert!(w.gh.calls().is_empty(), "{:?}", w.gh.calls());
    let mut calls = w.ops();
    calls.sort();
    assert_eq!(
        calls,
        ops(&["BatchGetBuildBatches", "ListBuildBatchesForProject"]),
        "only the batch (and the listing read with it)"
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
    assert!(r.outputs.is_empty(), "no decision: {:?}", r.outputs);

    // A --sha by hand that is not the batch's commit: the same (also in a dry run).
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["--batch-id", id.as_str(), "--sha", other];
        args.extend_from_slice(extra);
        let r = w.gate(&args).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains(
                "--sha (input sha) names commit 1111111111111111111111111111111111111111"
            ),
            "{}",
            r.stderr
        );
    }
    // The batch's own commit, in capitals, is the batch's commit.
    let upper = PROVISIONING_FAULT_SHA.to_ascii_uppercase();
    let r = w.gate(&["--batch-id", &id, "--sha", &upper]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.statuses()[0].sha, PROVISIONING_FAULT_SHA);
    assert!(w.gh.calls().iter().all(|c| c.method == "POST"));
    assert_eq!(w.cb.retries_performed(&id), 1);
}

/// Issue 9.2: a batch whose commit cannot be established never gets `success`; a refusal
/// or a retry may still be reported on the commit the inputs name (it blocks nothing that
/// was not blocked).
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_whose_commit_is_unknown_never_gets_success() {
    let w = World::new().await;
    let passed = w.example("succeeded-after-retry");
    let refused = w.example("test-failure");
    for id in [&passed, &refused] {
        w.cb.update_batch(id, |b| {
            b.as_object_mut().unwrap().remove("resolvedSourceVersion");
        });
    }
    let asked = "2222222222222222222222222222222222222222";
    let r = w.gate(&["--batch-id", &passed, "--sha", asked]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "pass");
    assert!(
        r.stderr
            .contains("posts `success` only on the commit a batch built"),
        "{}",
        r.stderr
    );
    assert!(w.gh.calls().is_empty(), "{:?}", w.gh.calls());

    // The same through a status event.
    let event = write_event(
        &w,
        json!({
            "sha": asked, "state": "success", "context": "AWS CodeBuild us-east-1 (acme-web)",
            "target_url": format!(
                "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-web/batch/{}?region=us-east-1",
                passed.replace(':', "%3A")
            ),
        }),
    );
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "pass");
    assert!(w.gh.calls().is_empty(), "{:?}", w.gh.calls());

    let r = w.gate(&["--batch-id", &refused, "--sha", asked]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let statuses = w.gh.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (statuses[0].sha.as_str(), statuses[0].state.as_str()),
        (asked, "failure")
    );
}

/// Issue 9.1: two projects building one commit get one status each; neither overwrites the
/// other: acme-api's later success leaves acme-web's refusal standing.
#[tokio::test(flavor = "multi_thread")]
async fn two_projects_on_one_commit_get_two_statuses() {
    let w = World::new().await;
    let api = w.example("provisioning-fault");
    let web = w.example("test-failure");
    w.cb.update_batch(&web, |b| {
        b["resolvedSourceVersion"] = json!(PROVISIONING_FAULT_SHA)
    });
    let r = w.gate(&["--batch-id", &web]).await;
    assert_eq!(r.outputs["decision"], "refuse", "{}", r.stderr);
    let r = w.gate(&["--batch-id", &api]).await;
    assert_eq!(r.outputs["decision"], "retry", "{}", r.stderr);
    w.cb.set_batch_status(&api, "SUCCEEDED");
    let r = w.gate(&["--batch-id", &api]).await;
    assert_eq!(r.outputs["decision"], "pass", "{}", r.stderr);

    let posted: Vec<(String, String)> =
        w.gh.statuses()
            .into_iter()
            .map(|s| {
                assert_eq!(s.sha, PROVISIONING_FAULT_SHA);
                (s.context, s.state)
            })
            .collect();
    let expected = [
        ("codebuild/retry-gate (acme-web)", "failure"),
        ("codebuild/retry-gate (acme-api)", "pending"),
        ("codebuild/retry-gate (acme-api)", "success"),
    ];
    assert_eq!(
        posted,
        expected.map(|(c, s)| (c.to_string(), s.to_string()))
    );
    // As GitHub shows them (the combined status, latest per context): both required checks.
    let github = codebuild_retry_gate::github::GitHub::new(
        &w.gh.url(),
        &codebuild_retry_gate::github::Token::new(TOKEN),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let repo = codebuild_retry_gate::github::Repo::parse(REPO).unwrap();
    for (project, state) in [("acme-web", "failure"), ("acme-api", "success")] {
        let seen = github
            .latest_status(
                &repo,
                PROVISIONING_FAULT_SHA,
                &format!("codebuild/retry-gate ({project})"),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.state, state, "{project}");
    }
}

/// Issue 9.4: the status event says the batch ended, every build has, but the batch still
/// reads IN_PROGRESS: the gate reads it again (after a short wait) and judges it as CodeBuild
/// closed it, instead of settling on `wait`.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_still_closing_after_its_builds_ended_is_read_again() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let closed = w.cb.batch(&id);
    w.cb.update_batch(&id, |b| {
        b["buildBatchStatus"] = json!("IN_PROGRESS");
        b["currentPhase"] = json!("IN_PROGRESS");
        b["complete"] = json!(false);
        b.as_object_mut().unwrap().remove("endTime");
    });
    w.cb.script_batch(&id, vec![closed]);
    let event = batch_event(&w, &id, PROVISIONING_FAULT_SHA, "failure");
    let mut cmd = w.command(&["--verbose"]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "retry", "{}", r.stderr);
    assert!(r.stderr.contains("reading it again"), "{}", r.stderr);
    assert_eq!(w.cb.retries_performed(&id), 1);
    let calls = w.ops();
    let mut first_two = calls[..2].to_vec();
    first_two.sort();
    assert_eq!(
        first_two,
        ops(&["BatchGetBuildBatches", "ListBuildBatchesForProject"])
    );
    assert_eq!(
        calls[2..],
        ops(&["BatchGetBuildBatches", "BatchGetBuilds", "RetryBuildBatch"]),
        "one more read of the batch, then the judgment of the closed batch"
    );
    assert_eq!(w.gh.statuses()[0].state, "pending");
}

/// Issue 9.4: not re-read without an event that reports an end, nor while a build runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_a_build_running_or_no_ending_event_waits_at_once() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let closed = w.cb.batch(&id);
    w.cb.update_batch(&id, |b| {
        b["buildBatchStatus"] = json!("IN_PROGRESS");
        b["complete"] = json!(false);
    });
    w.cb.script_batch(&id, vec![closed]);
    // By batch id, no event: wait, one read.
    let r = w.gate(&["--batch-id", &id, "--dry-run"]).await;
    assert_eq!(r.outputs["decision"], "wait", "{}", r.stderr);
    assert_eq!(w.cb.count("BatchGetBuildBatches"), 1);

    // An event, but a build still runs (the script has moved on: set it running again).
    w.cb.update_batch(&id, |b| {
        b["buildBatchStatus"] = json!("IN_PROGRESS");
        b["complete"] = json!(false);
        b["buildGroups"][2]["currentBuildSummary"]["buildStatus"] = json!("IN_PROGRESS");
    });
    let event = batch_event(&w, &id, PROVISIONING_FAULT_SHA, "failure");
    let mut cmd = w.command(&["--dry-run"]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.outputs["decision"], "wait", "{}", r.stderr);
    assert_eq!(w.cb.count("BatchGetBuildBatches"), 2, "one read per run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_event_for_one_member_build_is_resolved_to_its_batch() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let batch = w.cb.batch(&id);
    let build_arn = batch["buildGroups"][1]["currentBuildSummary"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let build_id = build_arn.split_once(":build/").unwrap().1.to_string();
    let event = write_event(
        &w,
        json!({
            "sha": batch["resolvedSourceVersion"],
            "state": "failure",
            "context": "AWS CodeBuild us-east-1 (acme-api)",
            "target_url": format!(
                "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/acme-api/build/{}/?region=us-east-1",
                build_id.replace(':', "%3A")
            ),
        }),
    );
    let mut cmd = w.command(&["--dry-run"]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["batch-id"], id);
    let first = &w.cb.calls()[0];
    assert_eq!(first.op, "BatchGetBuilds");
    assert_eq!(first.body["ids"], json!([build_id]));
}

/// Issue 16.5: a `status` event for a single CodeBuild build (a project that runs builds, not
/// batches, in a repository that also has batch projects) is not the gate's business: exit
/// 0 with a notice; the one read tells the build has no batch; no other call, nothing
/// posted, not even with a broken policy in the workspace.
#[tokio::test(flavor = "multi_thread")]
async fn a_status_event_for_a_single_build_is_not_the_gates_business() {
    let w = World::new().await;
    let build_id = "acme-lint:0f0e0d0c-1111-4222-8333-444455556666";
    w.cb.add_build(json!({
        "id": build_id,
        "arn": format!("arn:aws:codebuild:us-east-1:111122223333:build/{build_id}"),
        "buildNumber": 12,
        "startTime": 1_796_000_000.0,
        "endTime": 1_796_000_300.0,
        "currentPhase": "COMPLETED",
        "buildStatus": "FAILED",
        "sourceVersion": "pr/7",
        "resolvedSourceVersion": "b80469b84b2d451c62f746b484e61ceb95bd447e",
        "projectName": "acme-lint",
        "phases": [{"phaseType": "BUILD", "phaseStatus": "FAILED", "startTime": 1_796_000_010.0,
                    "endTime": 1_796_000_290.0, "durationInSeconds": 280,
                    "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}]}],
        "buildComplete": true,
        "initiator": "GitHub-Hookshot/a1b2c3d",
    }));
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: a\n    statuses: [FAULTY]\n",
    )
    .unwrap();
    let event = write_event(
        &w,
        json!({
            "sha": "b80469b84b2d451c62f746b484e61ceb95bd447e",
            "state": "failure",
            "context": "AWS CodeBuild us-east-1 (acme-lint)",
            "target_url": format!(
                "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/acme-lint/build/{}/?region=us-east-1",
                build_id.replace(':', "%3A")
            ),
            "repository": {"full_name": "acme/web"},
        }),
    );
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_ACTIONS", "true");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "::notice::the status event is about build {build_id}, a single CodeBuild build, not a batch"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(w.ops(), ops(&["BatchGetBuilds"]));
    assert!(w.gh.calls().is_empty(), "{:?}", w.gh.calls());
    assert!(
        r.outputs.is_empty(),
        "no decision, no outputs: {:?}",
        r.outputs
    );
}

/// Issue 16.7: GitHub keeps at most 1,000 statuses per commit and context and answers 422
/// after that. The gate does not repost an identical status (a re-run, a repeated event):
/// it reads the latest one first. When GitHub refuses a post at the limit and the latest
/// status already says the same, nothing is lost (exit 0); else the error says what happened.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_limit_of_a_commit_and_context_is_met_clearly() {
    let w = World::new().await;
    let passed = w.example("succeeded-after-retry");
    let r = w.gate(&["--batch-id", &passed]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = w.gh.statuses()[0].clone();
    assert_eq!(first.state, "success");
    assert_eq!(w.gh.count_posts(), 1);

    // The same run again: the commit already shows this status: not posted again.
    let r = w.gate(&["--batch-id", &passed, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 1, "an identical status is not reposted");
    assert_eq!(r.json()["acted"], false);
    assert_eq!(r.outputs["decision"], "pass");

    // The latest status could not be read first (404), so the gate posts; GitHub refuses at
    // the limit; the latest already says it: done.
    w.gh.inject_on("GET", GitHubFault::Status(404), 1);
    w.gh.inject_on("POST", GitHubFault::Unprocessable, 1);
    let r = w.gate(&["--batch-id", &passed]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 2, "posted once more (refused)");

    // Another status is the latest: the gate posts; at the limit that is an error that says so.
    w.gh.add_status(
        REPO,
        &first.sha,
        "pending",
        &first.context,
        "Retry 1/2: something",
    );
    w.gh.inject_on("POST", GitHubFault::Unprocessable, 1);
    let r = w.gate(&["--batch-id", &passed]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("(HTTP 422): Validation Failed")
            && r.stderr
                .contains("GitHub keeps at most 1000 statuses per commit and context"),
        "{}",
        r.stderr
    );
}

/// Issue 16.7: the same words about an older batch are not the same status. A final status
/// posted before this batch's latest attempt ended (it was about an older batch or attempt
/// of the commit) is posted again, so that it is about this one; a gate that has just
/// retried always posts (the retry is news).
#[tokio::test(flavor = "multi_thread")]
async fn a_status_with_the_same_words_about_an_older_attempt_is_posted_again() {
    let w = World::new().await;
    let refused = w.example("test-failure");
    let r = w.gate(&["--batch-id", &refused]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = w.gh.statuses()[0].clone();
    assert_eq!(first.state, "failure");
    // Elsewhere: the same words are the gate's latest status on the commit, but were posted
    // years before the batch ended.
    let w = World::new().await;
    let refused = w.example("test-failure");
    w.gh.add_status_at(
        REPO,
        &first.sha,
        &first.state,
        &first.context,
        first.description.as_deref().unwrap(),
        time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
    );
    let r = w.gate(&["--batch-id", &refused]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 1, "a stale status is replaced");
    let r = w.gate(&["--batch-id", &refused]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 1, "now it is about this batch: left");

    // A gate that retries posts its `pending` whatever the commit shows.
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.cb.retries_performed(&id), 1);
    assert_eq!(w.gh.count_posts(), 1);
    assert!(
        w.gh.calls().iter().all(|c| c.method == "POST"),
        "no status read on the retry path: {:?}",
        w.gh.calls()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gates_own_status_event_is_ignored() {
    let w = World::new().await;
    // Both forms: one status per project (the default now), and the single context of
    // earlier releases.
    for context in ["codebuild/retry-gate (acme-web)", "codebuild/retry-gate"] {
        let event = write_event(
            &w,
            json!({"sha": "1111111111111111111111111111111111111111", "state": "pending",
                   "context": context, "target_url": "https://github.com/acme/web/actions/runs/1"}),
        );
        let mut cmd = w.command(&[]);
        cmd.env("GITHUB_EVENT_NAME", "status")
            .env("GITHUB_EVENT_PATH", &event);
        let r = w.gate_with(cmd).await;
        assert_eq!(r.code, 0, "{context}: {}", r.stderr);
        assert!(
            r.stderr.contains("posted by the gate itself"),
            "{context}: {}",
            r.stderr
        );
    }
    assert!(w.cb.calls().is_empty());
    assert!(w.gh.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_decides_and_reports_but_changes_nothing() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&["--batch-id", &id, "--dry-run", "--format", "json"]);
    cmd.env_remove("GITHUB_TOKEN");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry");
    assert_eq!(report["acted"], false);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(w.gh.calls().is_empty());
    assert_eq!(r.outputs["decision"], "retry");
    assert!(
        r.summary.contains("codebuild-retry-gate: would retry\n"),
        "{}",
        r.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pass_and_wait_post_their_status_without_reading_more() {
    let w = World::new().await;
    let passed = w.example("succeeded-after-retry");
    let running = w.example("in-progress");
    let r = w.gate(&["--batch-id", &passed]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "pass");
    let r = w.gate(&["--batch-id", &running]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "wait");
    let states: Vec<String> = w.gh.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(states, ["success", "pending"]);
    assert_eq!(w.cb.count("BatchGetBuilds"), 0);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(
        w.cb.count("BatchGetBuildBatches"),
        3,
        "one read per run, and (issue 15) the ended batch's history, to see whether a newer batch of its commit supersedes it; the running one reads nothing more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_by_the_sdk_then_succeeds() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.cb.inject("BatchGetBuildBatches", Fault::Throttle, 2);
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.cb.count("BatchGetBuildBatches"), 3);
    assert_eq!(w.cb.retries_performed(&id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_502_is_retried_then_the_status_is_posted() {
    let w = World::new().await;
    let id = w.example("test-failure");
    w.gh.inject_on("POST", GitHubFault::Status(502), 1);
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 2);
    assert_eq!(w.gh.statuses().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_down_after_a_retry_exits_3_and_a_rerun_waits() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.gh.inject(GitHubFault::Status(502), 100);
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("the batch WAS retried (attempt 1/2)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("GitHub create commit status failed (HTTP 502)"),
        "{}",
        r.stderr
    );
    assert_eq!(w.gh.count_posts(), 4, "bounded: four attempts");
    assert_eq!(
        r.outputs["decision"], "retry",
        "outputs are written even so"
    );
    assert_eq!(w.cb.retries_performed(&id), 1);

    // The re-run: GitHub is back, the batch is running its retry.
    w.gh.inject(GitHubFault::Status(502), 0);
    let gh = FakeGitHub::start().await;
    let mut cmd = w.command(&["--batch-id", &id]);
    cmd.env("GITHUB_API_URL", gh.url());
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "wait");
    assert_eq!(w.cb.retries_performed(&id), 1, "never a second retry");
    assert_eq!(gh.statuses()[0].state, "pending");
}

/// Issue 20.6: two gates at once, made deterministic: the fake answers every read of the
/// batch as failed until both `RetryBuildBatch` requests have arrived, so both gates reach
/// the retry. Both send the same token, computed outside the code (docs/faults.md, "The
/// idempotency token"), CodeBuild retries once, and both gates are told "retried" (the
/// second gets the first's answer) — with tokens that differed, the second would be refused
/// and read the batch running (`wait`), which this test tells apart.
#[tokio::test(flavor = "multi_thread")]
async fn two_gates_at_once_cause_exactly_one_retry() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    assert_eq!(id, "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6");
    w.cb.race_retries(&id, 2);
    let args = ["--batch-id", id.as_str(), "--format", "json"];
    let (a, b) = tokio::join!(w.gate(&args), w.gate(&args));
    for r in [&a, &b] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    }
    assert_eq!(w.cb.retries_performed(&id), 1, "CodeBuild retried once");
    let tokens: Vec<Value> =
        w.cb.calls()
            .into_iter()
            .filter(|c| c.op == "RetryBuildBatch")
            .map(|c| c.body["idempotencyToken"].clone())
            .collect();
    assert_eq!(
        tokens,
        [
            json!("retry-gate-12221e21e0fcc251-attempt-1"),
            json!("retry-gate-12221e21e0fcc251-attempt-1")
        ],
        "both gates reached RetryBuildBatch with the same token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_retried_by_someone_else_meanwhile_is_wait_not_an_error() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.cb.inject("RetryBuildBatch", Fault::RetriedByHandFirst, 1);
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "wait");
    assert_eq!(report["code"], "retried-elsewhere");
    assert_eq!(w.cb.retries_performed(&id), 1, "the person's retry only");
    let calls = w.ops();
    assert_eq!(
        calls[calls.len() - 2..],
        ops(&["RetryBuildBatch", "BatchGetBuildBatches"])
    );
    assert_eq!(w.gh.statuses()[0].state, "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_reason_is_cut_to_140_characters_that_keep_the_why() {
    let w = World::new().await;
    let id = w.example("test-failure");
    let long_group = format!("unit_tests_{}", "x".repeat(120));
    w.cb.update_batch(&id, |b| {
        for g in b["buildGroups"].as_array_mut().unwrap() {
            if g["identifier"] == "unit_tests" {
                g["identifier"] = json!(long_group);
            }
        }
    });
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = &w.gh.statuses()[0];
    let d = s.description.clone().unwrap();
    assert!(d.len() <= 140, "{} > 140: {d}", d.len());
    assert!(d.starts_with("Not retried: unit_tests_xxx"), "{d}");
    assert!(
        d.ends_with("BUILD COMMAND_EXECUTION_ERROR; refused by command-failures"),
        "{d}"
    );
    assert!(
        r.outputs["reason"].len() > 140,
        "the output keeps the whole reason"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_enterprise_server_paths_work() {
    let w = World::with_github(FakeGitHub::start_with_prefix("/api/v3").await).await;
    let id = w.example("test-failure");
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The gate's latest status is read first (not posted again when it says the same), then
    // the status is posted: both under the GHES prefix.
    let paths: Vec<String> = w.gh.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[0].starts_with("/api/v3/repos/acme/web/commits/") && paths[0].ends_with("/status"),
        "{paths:?}"
    );
    assert!(
        paths[1].starts_with("/api/v3/repos/acme/web/statuses/"),
        "{paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_batch_of_a_project_for_a_commit() {
    let w = World::new().await;
    let id = w.example("commit-budget-spent");
    let sha = w.cb.batch(&id)["resolvedSourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .gate(&[
            "--project",
            "billing-worker",
            "--sha",
            &sha,
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["batch_id"], id);
    assert_eq!(report["code"], "commit-budget-spent");
    assert_eq!(
        w.cb.count("ListBuildBatchesForProject"),
        1,
        "the listing is read once"
    );
    assert_eq!(
        w.cb.count("BatchGetBuildBatches"),
        1,
        "its batches are read once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_fail_before_anything_is_called() {
    let w = World::new().await;
    let r = w.gate(&["--batch-id", "not a batch id"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a batch id"), "{}", r.stderr);

    let r = w
        .gate(&[
            "--batch-id",
            "acme-api:00000000-0000-0000-0000-000000000000",
        ])
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("was not found in CodeBuild"),
        "{}",
        r.stderr
    );

    let mut cmd = w.command(&[
        "--batch-id",
        "acme-api:00000000-0000-0000-0000-000000000000",
    ]);
    cmd.env_remove("GITHUB_TOKEN");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("no GitHub token"), "{}", r.stderr);

    // A malformed id is an input error (exit 2) whether or not a token is set.
    let mut cmd = w.command(&["--batch-id", "not a batch id"]);
    cmd.env_remove("GITHUB_TOKEN");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not a batch id"), "{}", r.stderr);

    let r = w
        .gate(&["--batch-id", "acme-api:1", "--policy", "missing.yml"])
        .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("missing.yml: error[unreadable-file]"),
        "{}",
        r.stderr
    );

    let r = w.gate(&[]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no batch to judge"), "{}", r.stderr);
    let mut reached = w.ops();
    reached.sort();
    // The not-found lookup, and (issue 16.1) the batch an invalid policy is still reported on.
    assert_eq!(
        reached,
        ops(&[
            "BatchGetBuildBatches",
            "BatchGetBuildBatches",
            "ListBuildBatchesForProject",
            "ListBuildBatchesForProject"
        ]),
        "only the not-found lookup and the missing policy's batch read reached CodeBuild"
    );
    assert!(w.gh.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn action_inputs_are_read_as_the_runner_passes_them() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&[]);
    cmd.env_remove("GITHUB_TOKEN")
        .env("INPUT_BATCH-ID", &id)
        .env("INPUT_GITHUB-TOKEN", TOKEN)
        .env("INPUT_DRY-RUN", "true")
        .env("INPUT_FAIL-ON-REFUSAL", "false")
        .env("INPUT_PROJECT", "")
        .env("INPUT_POLICY", "");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "retry");
    assert_eq!(
        w.cb.count("RetryBuildBatch"),
        0,
        "dry-run from INPUT_DRY-RUN"
    );

    let mut cmd = w.command(&[]);
    cmd.env("INPUT_BATCH-ID", &id)
        .env("INPUT_DRY-RUN", "perhaps");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("input `dry-run` is `perhaps`"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secondary_rate_limit_is_waited_out_as_github_asks() {
    let w = World::new().await;
    let id = w.example("test-failure");
    w.gh.inject_on(
        "POST",
        GitHubFault::SecondaryRateLimit {
            retry_after_secs: 1,
        },
        1,
    );
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gh.count_posts(), 2);
    assert_eq!(w.gh.statuses().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_github_credentials_are_not_retried_and_exit_3() {
    let w = World::new().await;
    let id = w.example("test-failure");
    w.gh.inject(GitHubFault::Unauthorized, 10);
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("GitHub create commit status failed (HTTP 401): Bad credentials"),
        "{}",
        r.stderr
    );
    assert_eq!(w.gh.count_posts(), 1, "a 401 is final");
    assert!(!r.stderr.contains(TOKEN), "the token never prints");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_unreachable_after_a_retry_exits_3_and_says_the_retry_happened() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    // A socket bound but never listening: connections are refused, and no other test's
    // server can take the port meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = format!("http://{}", socket.local_addr().unwrap());
    let mut cmd = w.command(&["--batch-id", &id]);
    cmd.env("GITHUB_API_URL", &closed);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("the batch WAS retried (attempt 1/2)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(after 4 attempts)"), "{}", r.stderr);
    assert_eq!(w.cb.retries_performed(&id), 1);

    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "wait");
    assert_eq!(
        w.cb.retries_performed(&id),
        1,
        "the re-run converges without a second retry"
    );
    assert_eq!(w.gh.statuses()[0].state, "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_stays_small_for_a_huge_batch_with_hostile_text() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let message = format!(
        "line one\n::error::injected | `code` <b>html</b> {}",
        "x".repeat(100_000)
    );
    w.cb.update_batch(&id, |b| {
        let template = b["buildGroups"][1].clone();
        let groups = b["buildGroups"].as_array_mut().unwrap();
        for n in 0..1000 {
            let mut g = template.clone();
            g["identifier"] = json!(format!("group_{n}_{}", "|".repeat(50)));
            groups.push(g);
        }
    });
    let batch = w.cb.batch(&id);
    let arn = batch["buildGroups"][1]["currentBuildSummary"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let build_id = arn.split_once(":build/").unwrap().1.to_string();
    let mut build = w.cb.build(&build_id).unwrap();
    build["phases"][2]["contexts"] =
        json!([{"statusCode": "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", "message": message}]);
    w.cb.add_build(build);
    let r = w.gate(&["--batch-id", &id, "--dry-run"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.summary.len() < 200 * 1024,
        "summary is {} bytes",
        r.summary.len()
    );
    assert!(r.summary.contains("more groups not shown"));
    assert!(
        !r.summary.contains("\n::error::"),
        "no workflow command at a line start"
    );
    assert!(!r.summary.contains("<b>"), "HTML is escaped");
    for line in r.summary.lines().filter(|l| l.starts_with("| group_")) {
        assert_eq!(
            line.matches(" | ").count(),
            5,
            "six cells, no broken table: {line}"
        );
    }
}

const PERMISSIVE: &str =
    "version: 1\nrules:\n  - name: everything\n    statuses: [FAILED, FAULT, TIMED_OUT, STOPPED]\n";

#[tokio::test(flavor = "multi_thread")]
async fn policy_ref_reads_the_policy_from_a_trusted_ref_not_the_workspace() {
    let w = World::new().await;
    let id = w.example("test-failure");
    // The pull request's checkout allows everything; the default branch does not.
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        PERMISSIVE,
    )
    .unwrap();
    w.gh.add_file(
        REPO,
        "main",
        ".github/codebuild-retry-gate.yml",
        "version: 1\nrules:\n  - name: infra-only\n    statuses: [FAULT]\n",
    );
    let r = w
        .gate(&[
            "--batch-id",
            &id,
            "--policy-ref",
            "default-branch",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    assert_eq!(
        report["policy"],
        "acme/web@default-branch:.github/codebuild-retry-gate.yml"
    );
    assert_eq!(w.cb.retries_performed(&id), 0);
    // Issue 20.1: the default branch, then the commit it points at, then the file at that
    // commit: a 404 on the file can then only mean "no such file". (Then the gate's latest
    // status on the batch's commit, read before posting: not a policy read.)
    let reads: Vec<(String, String)> =
        w.gh.calls()
            .into_iter()
            .filter(|c| c.method == "GET" && !c.path.ends_with("/status"))
            .map(|c| (c.path, c.query.unwrap_or_default()))
            .collect();
    let head = fakes::FakeGitHub::ref_sha(REPO, "main");
    assert_eq!(
        reads,
        vec![
            ("/repos/acme/web".to_string(), String::new()),
            ("/repos/acme/web/commits/main".to_string(), String::new()),
            (
                "/repos/acme/web/contents/.github/codebuild-retry-gate.yml".to_string(),
                format!("ref={head}")
            ),
        ]
    );

    // A named ref, as an Action input.
    w.gh.add_file(REPO, "release/1.x", "ci/gate.yml", PERMISSIVE);
    let mut cmd = w.command(&["--batch-id", &id, "--dry-run"]);
    cmd.env("INPUT_POLICY-REF", "release/1.x")
        .env("INPUT_POLICY", "ci/gate.yml");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_ref_errors_point_into_the_remote_file() {
    let w = World::new().await;
    let id = w.example("test-failure");
    w.gh.add_file(
        REPO,
        "main",
        ".github/codebuild-retry-gate.yml",
        "version: 1\nrules:\n  - name: a\n    statuses: [FAULTY]\n",
    );
    let r = w.gate(&["--batch-id", &id, "--policy-ref", "main"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("acme/web@main:.github/codebuild-retry-gate.yml:4:16: error[unknown-value]: unknown status `FAULTY`"),
        "{}",
        r.stderr
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    // Issue 16.1: the required check says why, on the batch's commit.
    let posted = w.gh.statuses();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].state, "error");
    assert_eq!(posted[0].context, "codebuild/retry-gate (acme-web)");
    assert!(
        posted[0]
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with(
                "Policy invalid: acme/web@main:.github/codebuild-retry-gate.yml:4: unknown status"
            )),
        "{posted:?}"
    );

    // A policy path that was asked for but is not there is an error; the default path
    // missing (at a ref that exists) means the built-in policy.
    let r = w
        .gate(&[
            "--batch-id",
            &id,
            "--policy-ref",
            "main",
            "--policy",
            "nope.yml",
        ])
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the policy nope.yml does not exist at ref `main` of acme/web"),
        "{}",
        r.stderr
    );
    w.gh.add_ref(REPO, "v9");
    let r = w
        .gate(&[
            "--batch-id",
            &id,
            "--policy-ref",
            "v9",
            "--format",
            "json",
            "--dry-run",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["policy"],
        "built-in default policy (no .github/codebuild-retry-gate.yml at ref `v9` of acme/web)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn under_actions_a_refusal_is_a_warning_and_the_report_folds_into_a_group() {
    let w = World::new().await;
    let id = w.example("test-failure");
    let mut cmd = w.command(&["--batch-id", &id]);
    cmd.env("GITHUB_ACTIONS", "true");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l
            == "::warning::Not retried: unit_tests failed in BUILD (COMMAND_EXECUTION_ERROR), refused by rule `command-failures`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("::notice::no .github/codebuild-retry-gate.yml"),
        "{}",
        r.stderr
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("::group::codebuild-retry-gate: Not retried: unit_tests"),
        "{}",
        r.stdout
    );
    assert_eq!(lines.last(), Some(&"::endgroup::"));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::")).count(),
        2,
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_aws_credentials_exit_3_with_a_plain_message() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&["--batch-id", &id]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("CodeBuild BatchGetBuildBatches failed in us-east-1: no AWS credentials"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("ProviderChainError"),
        "no debug dump: {}",
        r.stderr
    );
    assert!(w.cb.calls().is_empty());
    assert!(
        w.gh.calls().is_empty(),
        "nothing reported before a decision"
    );
}

/// Issue 20.6: eight gates at once, every one reaching `RetryBuildBatch` (the fake holds the
/// batch failed until all eight retries arrived): eight identical tokens, one retry, eight
/// gates told "retried".
#[tokio::test(flavor = "multi_thread")]
async fn eight_gates_at_once_on_one_failed_batch_make_exactly_one_retry() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.cb.race_retries(&id, 8);
    let args = ["--batch-id", id.as_str(), "--format", "json"];
    let runs: Vec<_> = (0..8).map(|_| w.command(&args)).collect();
    let outcomes = futures_util::future::join_all(runs.into_iter().map(|mut cmd| async move {
        let out = cmd.output().await.unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }))
    .await;
    for (code, stdout) in &outcomes {
        assert_eq!(*code, Some(0), "{stdout}");
        let decision: Value = serde_json::from_str(stdout).unwrap();
        assert_eq!(decision["decision"], "retry", "{decision}");
    }
    assert_eq!(w.cb.retries_performed(&id), 1, "exactly one retry");
    let tokens: Vec<String> =
        w.cb.calls()
            .into_iter()
            .filter(|c| c.op == "RetryBuildBatch")
            .map(|c| c.body["idempotencyToken"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        tokens,
        vec!["retry-gate-12221e21e0fcc251-attempt-1".to_string(); 8]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serialised_gates_on_batches_of_one_commit_hold_the_per_commit_budget_exactly() {
    // Five failed batches of one commit and project, one after another (each starts an hour
    // after the one before), each judged as it ends — as the example workflow's concurrency
    // group runs them — and again after each retry, which fails again. (Issue 15: judged all
    // at once, only the commit's latest batch would speak; each here is the latest when its
    // gates run.)
    let w = World::new().await;
    let first = w.example("provisioning-fault");
    let template = w.cb.batch(&first);
    let mut decisions = Vec::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = if n == 0 {
            first.clone()
        } else {
            let mut b = template.clone();
            let id = format!("acme-api:{n:08x}-1111-4000-8000-000000000000");
            b["id"] = json!(id);
            b["arn"] = json!(format!(
                "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
            ));
            shift(&mut b, 3600.0 * n as f64);
            w.cb.add_batch(b);
            id
        };
        for round in 0..3 {
            let r = w.gate(&["--batch-id", &id]).await;
            assert_eq!(r.code, 0, "{}", r.stderr);
            decisions.push((n, round, r.outputs["decision"].clone()));
            if r.outputs["decision"] != "retry" {
                break;
            }
            // The retried batch fails again before the next gate runs.
            w.cb.set_batch_status(&id, "FAILED");
        }
        ids.push(id);
    }
    let retries: usize = ids.iter().map(|id| w.cb.retries_performed(id)).sum();
    assert_eq!(retries, 3, "per-commit budget 3, exactly: {decisions:?}");
    assert_eq!(decisions.iter().filter(|(_, _, d)| d == "retry").count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_output_even_with_debug_logging() {
    const AWS_SECRET: &str = "secret-aws-key-for-tests";
    const SESSION: &str = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN";
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let refused = w.example("test-failure");
    type Setup = Box<dyn Fn(&World)>;
    let scenarios: Vec<(&str, Setup)> = vec![
        ("retry", Box::new(|_: &World| {})),
        (
            "github 401",
            Box::new(|w: &World| w.gh.inject(GitHubFault::Unauthorized, 5)),
        ),
        (
            "github 502",
            Box::new(|w: &World| w.gh.inject(GitHubFault::Status(502), 5)),
        ),
        (
            "codebuild 403",
            Box::new(|w: &World| w.cb.inject("*", Fault::Status(403), 10)),
        ),
    ];
    for (name, setup) in scenarios {
        for batch in [&id, &refused] {
            setup(&w);
            let mut cmd = w.command(&["--batch-id", batch, "--verbose"]);
            cmd.env("RUNNER_DEBUG", "1")
                .env("GITHUB_ACTIONS", "true")
                .env("AWS_SESSION_TOKEN", SESSION)
                .env("RUST_LOG", "trace")
                .env("RUST_BACKTRACE", "full");
            let r = w.gate_with(cmd).await;
            let everything = format!("{}{}{}{:?}", r.stdout, r.stderr, r.summary, r.outputs);
            assert!(
                r.stderr.contains("::debug::"),
                "{name}: debug logging was on"
            );
            for secret in [TOKEN, AWS_SECRET, SESSION] {
                assert!(
                    !everything.contains(secret),
                    "{name}: a secret leaked:\n{everything}"
                );
            }
        }
    }
    // Each run really sent them, so there was something to leak.
    assert!(
        w.gh.calls()
            .iter()
            .any(|c| c.token.as_deref() == Some(TOKEN))
    );
}

// ---------------------------------------------------------------------------------------
// Issue 8: how CodeBuild really ends batches
// ---------------------------------------------------------------------------------------

/// Issue 8.1: a batch someone stopped (StopBuildBatch) is refused, though a group of it had
/// faulted in a way the default policy retries.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_a_person_stopped_is_refused_not_retried() {
    let w = World::new().await;
    let id = w.example("stopped-batch");
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["code"], "batch-stopped");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    let s = &w.gh.statuses()[0];
    assert_eq!(s.state, "failure");
    assert_eq!(
        s.description.as_deref(),
        Some("Not retried: the batch was stopped (StopBuildBatch); no rule names STOPPED")
    );
    assert_eq!(r.outputs["decision"], "refuse");
    let r = w.gate(&["--batch-id", &id, "--fail-on-refusal"]).await;
    assert_eq!(r.code, 1);
}

/// Issue 8.2: with `batch/fast-fail`, CodeBuild stops the running builds when one fails; the
/// gate reads the stopped builds' times and judges them by the failure that stopped them.
#[tokio::test(flavor = "multi_thread")]
async fn builds_stopped_by_fast_fail_are_judged_by_the_failure_that_stopped_them() {
    let w = World::new().await;
    let id = w.example("fast-fail");
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry", "{report}");
    let codes: Vec<(&str, &str)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["group"].as_str().unwrap(), g["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("DOWNLOAD_SOURCE", "succeeded"),
            ("linux_x86", "allowed-by-rule"),
            ("linux_arm", "collateral"),
            ("e2e", "collateral")
        ]
    );
    let builds =
        w.cb.calls()
            .into_iter()
            .find(|c| c.op == "BatchGetBuilds")
            .unwrap();
    assert_eq!(
        builds.body["ids"].as_array().unwrap().len(),
        3,
        "the failed build and both stopped ones, for their times"
    );
    assert_eq!(w.cb.retries_performed(&id), 1);
}

/// Issue 8.5: a FAILED batch that is not complete (a build still running) is waited for;
/// nothing more is read, nothing retried, the status says pending.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_batch_that_is_not_complete_waits() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.cb.update_batch(&id, |b| {
        b["complete"] = json!(false);
        b["buildGroups"][2]["currentBuildSummary"]["buildStatus"] = json!("IN_PROGRESS");
    });
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "wait");
    assert_eq!(report["code"], "batch-not-complete");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.cb.count("BatchGetBuilds"), 0);
    assert_eq!(w.cb.count("BatchGetBuildBatches"), 1);
    assert_eq!(w.gh.statuses()[0].state, "pending");
}

/// Issue 8.6: CodeBuild rejects the retry and the batch still reads failed: a refusal with
/// CodeBuild's words, a `failure` status, outputs written, exit 0 (1 with --fail-on-refusal).
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_codebuild_rejects_is_a_refusal_posted_on_the_commit() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let why = "Build batch cannot be retried: the maximum number of retries was reached";
    w.cb.inject(
        "RetryBuildBatch",
        Fault::Error("InvalidInputException".into(), why.into()),
        2,
    );
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["code"], "retry-rejected");
    assert!(report["reason"].as_str().unwrap().contains(why), "{report}");
    assert_eq!(w.cb.retries_performed(&id), 0);
    let calls = w.ops();
    assert_eq!(
        calls[calls.len() - 2..],
        ops(&["RetryBuildBatch", "BatchGetBuildBatches"]),
        "the batch is read again after the rejection"
    );
    let s = &w.gh.statuses()[0];
    assert_eq!(s.state, "failure");
    assert!(
        s.description
            .as_deref()
            .unwrap()
            .starts_with("Not retried: CodeBuild rejected the retry"),
        "{:?}",
        s.description
    );
    assert_eq!(r.outputs["decision"], "refuse");
    assert!(r.outputs["reason"].contains(why));
    assert!(
        r.summary.contains("retry-rejected") || r.summary.contains("rejected"),
        "{}",
        r.summary
    );

    let r = w.gate(&["--batch-id", &id, "--fail-on-refusal"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// Issue 20.5: after CodeBuild rejects the retry, the batch read again says neither "running
/// again" nor "more retries recorded" — stopped, faulted, timed out, or a status this gate
/// does not know: that is CodeBuild's rejection, reported as such (a refusal, `failure`),
/// never "retried elsewhere" (`wait`, which would leave the commit pending with no retry).
#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_retry_is_a_rejection_whatever_else_the_batch_reads() {
    for status in ["STOPPED", "FAULT", "TIMED_OUT", "SUCCEEDED_LATER", ""] {
        let w = World::new().await;
        let id = w.example("provisioning-fault");
        let mut after = w.cb.batch(&id);
        after["buildBatchStatus"] = json!(status);
        w.cb.script_batch(&id, vec![after]);
        let why = "Build batch cannot be retried";
        w.cb.inject(
            "RetryBuildBatch",
            Fault::Error("InvalidInputException".into(), why.into()),
            2,
        );
        let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
        assert_eq!(r.code, 0, "{status}: {}", r.stderr);
        let report = r.json();
        assert_eq!(report["decision"], "refuse", "{status}: {report:#}");
        assert_eq!(report["code"], "retry-rejected", "{status}: {report:#}");
        assert_eq!(
            w.cb.count("BatchGetBuildBatches"),
            2,
            "{status}: read again"
        );
        assert_eq!(w.cb.retries_performed(&id), 0);
        let s = &w.gh.statuses()[0];
        assert_eq!(s.state, "failure", "{status}");
    }
}

/// Issue 8.8: a batch without resolvedSourceVersion (the source download failed) is judged
/// and reported on its full-SHA sourceVersion; with a branch sourceVersion it is still
/// judged (per-commit counting not possible, said in the report), and no status is posted.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_without_resolved_source_version() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let sha = "b80469b84b2d451c62f746b484e61ceb95bd447e";
    w.cb.update_batch(&id, |b| {
        b.as_object_mut().unwrap().remove("resolvedSourceVersion");
        b["sourceVersion"] = json!(sha);
    });
    let r = w
        .gate(&["--batch-id", &id, "--format", "json", "--dry-run"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["commit"], sha);
    assert_eq!(report["budget"]["commit_known"], true);

    w.cb.update_batch(&id, |b| b["sourceVersion"] = json!("refs/heads/main"));
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry");
    assert_eq!(report["commit"], Value::Null);
    assert_eq!(report["budget"]["commit_known"], false);
    assert!(
        r.stderr.contains("no commit status is posted"),
        "{}",
        r.stderr
    );
    assert!(w.gh.statuses().is_empty());
    assert!(r.summary.contains("commit is unknown"), "{}", r.summary);
    assert_eq!(r.outputs["decision"], "retry");
}

/// `n` small batches of the project, newest first a minute apart before `start`, on another
/// commit; the `retried`-th one (1-based) is on `commit` with one retry.
fn crowd(w: &World, main: &Value, n: usize, commit: &str, retried: usize) {
    let start = main["startTime"].as_f64().unwrap();
    let batches: Vec<Value> = (1..=n)
        .map(|i| {
            let id = format!("acme-api:{i:08x}-0000-4000-8000-000000000000");
            let mut phases = vec![json!({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"})];
            if i == retried {
                phases.push(json!({"phaseType": "FAILED", "phaseStatus": "RETRY"}));
            }
            json!({
                "id": id,
                "arn": format!("arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"),
                "projectName": "acme-api",
                "buildBatchStatus": "SUCCEEDED",
                "complete": true,
                "resolvedSourceVersion": if i == retried { commit } else { "0000000000000000000000000000000000000000" },
                "startTime": start - 60.0 * i as f64,
                "phases": phases,
            })
        })
        .collect();
    w.cb.add_batch(json!({ "buildBatches": batches }));
}

/// Issue 8.11: a project with 5,000 batches in the look-back is walked whole (a retry on the
/// very last page counts), reading 100 ids a page.
#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_batches_in_the_lookback_are_walked_whole() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let commit = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    crowd(&w, &main, 4999, &commit, 4990);
    let r = w
        .gate(&["--batch-id", &id, "--format", "json", "--dry-run"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(
        report["budget"]["per_commit"]["used"], 1,
        "{}",
        report["budget"]
    );
    assert_eq!(report["budget"]["history_incomplete"], false);
    assert_eq!(w.cb.count("ListBuildBatchesForProject"), 50);
    assert!(!r.stdout.contains("may be incomplete"));
}

/// Issue 8.11, 20.3: past the page cap the walk stops; the per-commit budget cannot be counted
/// from what it read, so the gate refuses (`history-incomplete`) instead of retrying on a
/// count that may be too low, and says which setting to change.
#[tokio::test(flavor = "multi_thread")]
async fn a_history_walk_cut_by_the_page_cap_refuses_history_incomplete() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let commit = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    crowd(&w, &main, 6100, &commit, 6050);
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        w.cb.count("ListBuildBatchesForProject"),
        codebuild_retry_gate::history::MAX_LIST_PAGES
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0, "{}", r.stdout);
    assert_eq!(r.outputs["decision"], "refuse");
    assert!(r.stdout.contains("[history-incomplete]"), "{}", r.stdout);
    assert!(
        r.outputs["reason"].contains("could not be read back 14 days")
            && r.outputs["reason"].contains("set a shorter budget.lookback-days"),
        "{}",
        r.outputs["reason"]
    );
    assert!(r.summary.contains("cut at the page cap"), "{}", r.summary);
    let posted = w.gh.statuses();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].state, "failure");
}

// ---------------------------------------------------------------------------------------
// Issue 11: source-versions, the daily project budget, the outage brake
// ---------------------------------------------------------------------------------------

fn write_policy(w: &World, text: &str) {
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(w.workspace().join(".github/codebuild-retry-gate.yml"), text).unwrap();
}

/// `source-versions` reads the batch's sourceVersion as CodeBuild recorded it (`pr/1187`).
#[tokio::test(flavor = "multi_thread")]
async fn source_versions_tell_pull_requests_from_other_batches() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    write_policy(
        &w,
        "version: 1\nrules:\n  - name: prs-only\n    source-versions: [\"pr/*\"]\n",
    );
    let r = w
        .gate(&["--batch-id", &id, "--dry-run", "--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "pr/1187 matches pr/*");

    w.cb.update_batch(&id, |b| b["sourceVersion"] = json!("main"));
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["groups"][1]["code"], "no-matching-rule");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.gh.statuses()[0].state, "failure");
}

/// The daily project budget counts retries of every batch of the project, any commit, by
/// the time of CodeBuild's retry markers, over a history that spans three listing pages —
/// and reads the 24 hours it needs even with `lookback-days: 1`.
#[tokio::test(flavor = "multi_thread")]
async fn the_daily_project_budget_counts_retries_across_pages_of_history() {
    let w = World::new().await;
    let id = w.recent_example("provisioning-fault", 60.0);
    write_policy(
        &w,
        "version: 1\nbudget: {per-commit: 10, lookback-days: 1, per-project-per-day: 4}\nrules:\n  - name: any\n",
    );
    let main = w.cb.batch(&id);
    let start = main["startTime"].as_f64().unwrap();
    // 250 batches 5 minutes apart (the last ~21 hours), on other commits; four of them were
    // retried: on the first, second and third page (two on the third).
    for n in 0..250 {
        let retries = usize::from(matches!(n, 3 | 120 | 230 | 240));
        w.cb.add_batch(sibling(
            &main,
            n + 1,
            &format!("{:040x}", n + 1),
            start - 300.0 * (n as f64 + 1.0),
            retries,
        ));
    }
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "project-budget-spent", "{report}");
    assert_eq!(report["budget"]["per_project_per_day"]["used"], 4);
    assert_eq!(report["budget"]["per_project_per_day"]["limit"], 4);
    assert_eq!(
        w.cb.count("ListBuildBatchesForProject"),
        3,
        "three pages of 100"
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    let s = &w.gh.statuses()[0];
    assert_eq!(s.state, "failure");
    assert_eq!(
        s.description.as_deref(),
        Some(
            "Not retried: project acme-api already retried 4 times in the 24 hours before this decision (per-project-per-day budget 4)"
        )
    );
    assert!(
        r.summary
            .contains("| Per project, last 24 hours | 4 | 4 | 0 |"),
        "{}",
        r.summary
    );

    // With room left (limit 5) the same history lets the retry through.
    write_policy(
        &w,
        "version: 1\nbudget: {per-commit: 10, lookback-days: 1, per-project-per-day: 5}\nrules:\n  - name: any\n",
    );
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry");
    assert_eq!(
        r.outputs["retries-remaining"], "0",
        "the daily budget was the tightest: 1 left, now used"
    );
    assert_eq!(w.cb.retries_performed(&id), 1);
}

/// The outage brake: five other batches (other commits) failed in the 30 minutes before the
/// gate acts (the batch failed just now) → refused, `outage-suspected`, and the reason says
/// how many in how long.
#[tokio::test(flavor = "multi_thread")]
async fn the_outage_brake_refuses_while_many_batches_fail() {
    let w = World::new().await;
    let id = w.recent_example("provisioning-fault", 0.0);
    write_policy(
        &w,
        "version: 1\noutage: {failed-batches: 5, within-minutes: 30}\nrules:\n  - name: any\n",
    );
    let main = w.cb.batch(&id);
    let end = main["endTime"].as_f64().unwrap();
    let failed = |n: usize, ended: f64, commit: &str| {
        let mut b = sibling(&main, n, commit, ended - 120.0, 0);
        b["buildBatchStatus"] = json!("FAILED");
        b["endTime"] = json!(ended);
        b
    };
    for n in 1..=4 {
        w.cb.add_batch(failed(n, end - 60.0 * n as f64, &format!("{n:040x}")));
    }
    // Not counted: the same commit, and a failure 31 minutes earlier.
    let own = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    w.cb.add_batch(failed(5, end - 30.0, &own));
    w.cb.add_batch(failed(6, end - 31.0 * 60.0, &format!("{:040x}", 6)));
    let r = w
        .gate(&["--batch-id", &id, "--dry-run", "--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(
        report["decision"], "retry",
        "four failed: under the brake: {report}"
    );
    assert_eq!(report["budget"]["outage"]["failed_batches"], 4);

    w.cb.add_batch(failed(7, end - 29.0 * 60.0, &format!("{:040x}", 7)));
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "outage-suspected");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(
        w.gh.statuses()[0].description.as_deref(),
        Some(
            "Not retried: outage suspected: 5 other batches of acme-api failed in the 30 minutes before this decision (brake at 5)"
        )
    );
}

/// Issue 15.3: a batch is superseded when another batch of the same commit and project has an
/// attempt that started after the judged attempt ended (a late event about an old batch):
/// the gate neither retries it nor posts (exit 0), a notice names the newer batch, and the
/// outputs say `wait`. A batch of the commit that started before the judged one ended does
/// not supersede it.
#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_batch_is_neither_retried_nor_reported() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let commit = main["resolvedSourceVersion"].as_str().unwrap().to_string();
    let end = main["endTime"].as_f64().unwrap();
    // Same commit, started while the judged batch still ran: not newer news.
    w.cb.add_batch(sibling(&main, 1, &commit, end - 120.0, 0));
    // Another commit, started after: not about this commit.
    w.cb.add_batch(sibling(&main, 2, &format!("{:040x}", 2), end + 60.0, 0));
    let r = w
        .gate(&["--batch-id", &id, "--dry-run", "--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);

    // Same commit, started after the judged batch ended (a re-run): it speaks for the commit.
    let newer = "acme-api:00000003-0000-4000-8000-000000000000";
    w.cb.add_batch(sibling(&main, 3, &commit, end + 60.0, 0));
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "wait", "{report}");
    assert_eq!(report["code"], "superseded");
    assert!(
        report["reason"].as_str().unwrap().contains(newer),
        "{report}"
    );
    assert_eq!(report["acted"], false);
    assert_eq!(r.outputs["decision"], "wait");
    assert!(r.outputs["reason"].contains(newer), "{:?}", r.outputs);
    assert!(
        r.stderr.contains("is superseded") && r.stderr.contains(newer),
        "{}",
        r.stderr
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(w.gh.statuses().is_empty(), "nothing posted");
    assert_eq!(w.gh.count_posts(), 0);

    // An older batch of the commit retried (by hand) after the judged one ended supersedes
    // it too: a retry keeps its batch's start time.
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    let mut old = sibling(&main, 4, &commit, end - 3600.0, 0);
    old["buildBatchStatus"] = json!("IN_PROGRESS");
    old["complete"] = json!(false);
    old["phases"] = json!([
        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": end - 3600.0, "endTime": end - 3599.0},
        {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED", "startTime": end - 3599.0, "endTime": end - 3000.0},
        {"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": end - 3000.0, "endTime": end + 30.0},
        {"phaseType": "SUBMITTED", "startTime": end + 30.0},
    ]);
    w.cb.add_batch(old);
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["code"], "superseded", "{}", r.stdout);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("acme-api:00000004-0000-4000-8000-000000000000")
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(w.gh.statuses().is_empty());
}

/// Issue 15.1: a gate that acts late (the batch failed five hours ago; the event came late)
/// judges at the wall clock: the retries other batches got *after* the judged failure count
/// toward the daily budget (cap reached → refused, no RetryBuildBatch), and an outage that
/// began after the failure brakes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_gate_sees_what_happened_since_the_failure() {
    let w = World::new().await;
    let id = w.recent_example("provisioning-fault", 5.0 * 3600.0);
    write_policy(
        &w,
        "version: 1\nbudget: {per-project-per-day: 2}\nrules:\n  - name: any\n",
    );
    let main = w.cb.batch(&id);
    let start = main["startTime"].as_f64().unwrap();
    let now = epoch_now();
    // Two batches of other commits that started before the judged one, retried an hour ago
    // and two hours ago (after the judged failure; a retry keeps the start time).
    for (n, retried) in [(1usize, now - 3600.0), (2, now - 7200.0)] {
        let mut b = sibling(&main, n, &format!("{n:040x}"), start - 600.0, 0);
        b["phases"] = json!([
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": start - 600.0, "endTime": start - 599.0},
            {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED", "startTime": start - 599.0, "endTime": start - 300.0},
            {"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": retried - 1.0, "endTime": retried},
            {"phaseType": "SUCCEEDED", "startTime": retried + 600.0},
        ]);
        b["endTime"] = json!(retried + 600.0);
        w.cb.add_batch(b);
    }
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "project-budget-spent", "{report}");
    assert_eq!(report["budget"]["per_project_per_day"]["used"], 2);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.gh.statuses()[0].state, "failure");

    // An outage that began after the failure: five batches of other commits failed in the
    // last 30 minutes. (No daily budget here.)
    let w = World::new().await;
    let id = w.recent_example("provisioning-fault", 5.0 * 3600.0);
    write_policy(
        &w,
        "version: 1\noutage: {failed-batches: 5, within-minutes: 30}\nrules:\n  - name: any\n",
    );
    let main = w.cb.batch(&id);
    for n in 1..=5 {
        let ended = now - 60.0 * n as f64;
        let mut b = sibling(&main, n, &format!("{n:040x}"), ended - 600.0, 0);
        b["buildBatchStatus"] = json!("FAILED");
        b["endTime"] = json!(ended);
        w.cb.add_batch(b);
    }
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "outage-suspected", "{report}");
    assert_eq!(report["budget"]["outage"]["failed_batches"], 5);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

/// Issue 16.1, run the way the runner runs the Action: the container's entrypoint gets the
/// `command` input as its one argument (`gate`), every input as `INPUT_<NAME>` (hyphens
/// kept, the unset ones empty, `policy-ref` at its default `default-branch`), the token only
/// as an input, and a `status` event from CodeBuild. The default branch's policy is invalid
/// (the workspace holds a valid, permissive one: the pull request's copy is never used):
/// the batch is still read, its commit (the payload's, not GITHUB_SHA) gets `error` naming
/// the file and line, nothing is retried, the step fails with exit 2 and an annotation.
#[tokio::test(flavor = "multi_thread")]
async fn a_status_event_with_an_invalid_policy_run_as_the_action_posts_error() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let sha = PROVISIONING_FAULT_SHA;
    w.gh.add_file(
        REPO,
        "main",
        ".github/codebuild-retry-gate.yml",
        "version: 1\nrules:\n  - name: a\n    statuses: [FAULTY]\n",
    );
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: any\n",
    )
    .unwrap();
    let event = batch_event(&w, &id, sha, "failure");
    let mut cmd = w.command(&[]);
    cmd.env_remove("GITHUB_TOKEN")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", "2222222222222222222222222222222222222222")
        .env("GITHUB_WORKSPACE", w.workspace());
    for (name, value) in [
        ("COMMAND", "gate"),
        ("BATCH-ID", ""),
        ("PROJECT", ""),
        ("HOURS", ""),
        ("PULL-REQUEST", ""),
        ("DAYS", ""),
        ("POLICY", ""),
        ("COMPARE", ""),
        ("POLICY-REF", "default-branch"),
        ("REPOSITORY", ""),
        ("SHA", ""),
        ("GITHUB-TOKEN", TOKEN),
        ("TIMEOUT", ""),
        ("DRY-RUN", "false"),
        ("FAIL-ON-REFUSAL", "false"),
    ] {
        cmd.env(format!("INPUT_{name}"), value);
    }
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(w.ops().contains(&"BatchGetBuildBatches".to_string()));
    assert!(
        r.stdout.contains("::error file=") && r.stdout.contains("line=4"),
        "an annotation on the policy's line: {}",
        r.stdout
    );
    let posted = w.gh.statuses();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].sha, sha, "the payload's commit, never GITHUB_SHA");
    assert_eq!(posted[0].state, "error");
    assert_eq!(posted[0].context, "codebuild/retry-gate (acme-api)");
    assert_eq!(posted[0].token.as_deref(), Some(TOKEN));
    let description = posted[0].description.as_deref().unwrap_or_default();
    assert!(
        description.starts_with("Policy invalid: ")
            && description.contains(".github/codebuild-retry-gate.yml:4: unknown status"),
        "{description}"
    );
    assert!(description.chars().count() <= 140, "{description}");
}

/// Issue 15.1, over HTTP: a failed batch whose record has no `endTime` (CodeBuild left it
/// out) and which was retried twice in the last hours: its own retries count toward the
/// daily project budget at the wall clock (the window ends at now, not at the batch's
/// start or end): cap 2 reached → refused, no RetryBuildBatch.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_without_end_time_counts_its_own_retries_in_the_daily_budget() {
    let w = World::new().await;
    let id = w.recent_example("provisioning-fault", 600.0);
    write_policy(
        &w,
        "version: 1\nbudget: {per-batch: 5, per-commit: 5, per-project-per-day: 2}\nrules:\n  - name: any\n",
    );
    let now = epoch_now();
    // Started three hours ago; retried two hours and one hour ago; its third attempt failed
    // ten minutes ago. The batch itself has no endTime.
    let phase = |kind: &str, status: Option<&str>, from: f64, to: Option<f64>| {
        let mut p = json!({"phaseType": kind, "startTime": now - from});
        if let Some(status) = status {
            p["phaseStatus"] = json!(status);
        }
        if let Some(to) = to {
            p["endTime"] = json!(now - to);
        }
        p
    };
    w.cb.update_batch(&id, |b| {
        b.as_object_mut().unwrap().remove("endTime");
        b["startTime"] = json!(now - 3.0 * 3600.0);
        b["phases"] = json!([
            phase("SUBMITTED", Some("SUCCEEDED"), 10800.0, Some(10799.0)),
            phase("IN_PROGRESS", Some("FAILED"), 10799.0, Some(7201.0)),
            phase("FAILED", Some("RETRY"), 7201.0, Some(7200.0)),
            phase("SUBMITTED", Some("SUCCEEDED"), 7200.0, Some(7199.0)),
            phase("IN_PROGRESS", Some("FAILED"), 7199.0, Some(3601.0)),
            phase("FAILED", Some("RETRY"), 3601.0, Some(3600.0)),
            phase("SUBMITTED", Some("SUCCEEDED"), 3600.0, Some(3599.0)),
            phase("IN_PROGRESS", Some("FAILED"), 3599.0, Some(600.0)),
            phase("FAILED", None, 600.0, None),
        ]);
    });
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "project-budget-spent", "{report:#}");
    assert_eq!(report["budget"]["per_project_per_day"]["used"], 2);
    assert_eq!(report["budget"]["per_batch"]["used"], 2);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.gh.statuses()[0].state, "failure");
}
