//! `reconcile` end to end: the real binary, driving the real aws-sdk-codebuild and octocrab
//! clients against the local fakes of CodeBuild and GitHub, over a project history made
//! relative to now (reconcile's window is read from the clock).

mod common;
mod fakes;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use codebuild_retry_gate::codebuild::idempotency_token;
use fakes::{FakeCodeBuild, FakeGitHub, GitHubFault};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_reconciletoken0123456789";
const REPO: &str = "acme/web";
const CONTEXT: &str = "codebuild/retry-gate (acme-api)";
const HOUR: f64 = 3600.0;

/// The template: `examples/batches/provisioning-fault` (acme-api, `linux_x86` failed in
/// PROVISIONING pulling its image: the default policy retries it).
const TEMPLATE_BATCH: &str = "6ae12c97-2399-429d-b61e-6ba536824dd6";
const TEMPLATE_BUILDS: [&str; 3] = [
    "1dc02e27-0db3-47d9-8c8e-dfa3169a73bf",
    "5e5c4176-5df6-4817-b099-2bcf60ec6db2",
    "862a73db-851b-4c1e-9e27-387c9ce4aa5f",
];
const TEMPLATE_COMMIT: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
    /// Batches made so far, for fresh ids.
    made: std::cell::Cell<u32>,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    summary: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// One batch of the history, as made by [`World::batch`].
struct Made {
    id: String,
    commit: String,
    /// The failed `linux_x86` build, as the template has it (with this batch's ids).
    failed_build: Value,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
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

impl World {
    async fn new() -> World {
        let gh = FakeGitHub::start().await;
        World::with_github(gh).await
    }

    async fn with_github(gh: FakeGitHub) -> World {
        World {
            cb: FakeCodeBuild::start().await,
            gh,
            dir: tempfile::tempdir().unwrap(),
            made: std::cell::Cell::new(0),
        }
    }

    /// A new batch of acme-api like the template, on its own commit, with its own builds,
    /// that ended `ended_hours_ago` hours ago.
    fn batch(&self, ended_hours_ago: f64) -> Made {
        let n = self.made.get() + 1;
        self.made.set(n);
        let id_of = |k: usize| format!("{n:08x}-0000-4000-8000-{k:012x}");
        let commit = format!("{n:04x}{}", &"8f3c1d2e9a7b5064".repeat(3)[..36]);
        let read = |file: &str| {
            let path = common::root()
                .join("examples/batches/provisioning-fault")
                .join(file);
            let mut text = std::fs::read_to_string(path).unwrap();
            text = text.replace(TEMPLATE_BATCH, &id_of(0));
            for (k, build) in TEMPLATE_BUILDS.iter().enumerate() {
                text = text.replace(build, &id_of(k + 1));
            }
            text = text.replace(TEMPLATE_COMMIT, &commit);
            fakes::codebuild::to_wire(serde_json::from_str(&text).unwrap())
        };
        let mut batch = read("batch.json")["buildBatches"][0].clone();
        let mut builds = read("builds.json");
        let delta = now() - ended_hours_ago * HOUR - batch["endTime"].as_f64().unwrap();
        shift(&mut batch, delta);
        shift(&mut builds, delta);
        let failed_build = builds["builds"][0].clone();
        self.cb.add_build(builds);
        let id = self.cb.add_batch(batch);
        Made {
            id,
            commit,
            failed_build,
        }
    }

    /// Retries `made` by hand, then ends the retry with `status`; a FAILED retry fails the
    /// way the first attempt did (its new `linux_x86` build fails pulling its image).
    fn retried_then(&self, made: &Made, status: &str) {
        let batch = self.cb.retry_by_hand(&made.id, false);
        if status == "FAILED" {
            let arn = batch["buildGroups"][1]["currentBuildSummary"]["arn"]
                .as_str()
                .unwrap()
                .to_string();
            let mut build = made.failed_build.clone();
            build["id"] = json!(arn.split_once(":build/").unwrap().1);
            build["arn"] = json!(arn);
            self.cb.add_build(build);
        }
        self.cb.set_batch_status(&made.id, status);
    }

    /// The gate's earlier status on `made`'s commit.
    fn gate_posted(&self, made: &Made, state: &str, description: &str) {
        self.gh
            .add_status(REPO, &made.commit, state, CONTEXT, description);
    }

    /// `reconcile` as the reconcile workflow starts it, for project acme-api (input
    /// `project`).
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = common::command_in(
            self.dir.path(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            "reconcile",
            args,
        );
        cmd.env("INPUT_PROJECT", "acme-api");
        tokio::process::Command::from(cmd)
    }

    async fn reconcile(&self, args: &[&str]) -> Outcome {
        self.run(self.command(args)).await
    }

    async fn run(&self, mut cmd: tokio::process::Command) -> Outcome {
        let summary = self.dir.path().join("summary.md");
        let _ = std::fs::remove_file(&summary);
        let out = cmd.output().await.expect("the binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            summary: std::fs::read_to_string(summary).unwrap_or_default(),
        }
    }

    fn ops(&self) -> Vec<String> {
        self.cb.calls().into_iter().map(|c| c.op).collect()
    }

    /// GitHub requests as `METHOD path`.
    fn github_calls(&self) -> Vec<String> {
        self.gh
            .calls()
            .into_iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }
}

fn status_read(commit: &str) -> String {
    format!("GET /repos/{REPO}/commits/{commit}/status")
}

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["batch_id"] == id)
        .unwrap_or_else(|| panic!("no row for {id}: {report:#}"))
}

/// Issue 9.3's verification: one history, every case, with the exact CodeBuild and GitHub
/// calls.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_settles_what_lost_events_left_and_leaves_the_rest_alone() {
    let w = World::new().await;
    // Retried by the gate (its status says pending), then succeeded: no event came.
    let succeeded = w.batch(1.0);
    w.retried_then(&succeeded, "SUCCEEDED");
    w.gate_posted(&succeeded, "pending", "Retry 1/2: linux_x86 PROVISIONING");
    // Retried by the gate, then failed again the same way: a second retry is due.
    let failed_again = w.batch(2.0);
    w.retried_then(&failed_again, "FAILED");
    w.gate_posted(
        &failed_again,
        "pending",
        "Retry 1/2: linux_x86 PROVISIONING",
    );
    // Retried, still running.
    let running = w.batch(0.5);
    w.cb.retry_by_hand(&running.id, false);
    w.gate_posted(&running, "pending", "Retry 1/2: linux_x86 PROVISIONING");
    // Failed with a test failure; no gate status (the event was missed).
    let refused = w.batch(3.0);
    w.cb.add_build({
        let mut build = refused.failed_build.clone();
        build["phases"][2] = json!({
            "phaseType": "BUILD", "phaseStatus": "FAILED",
            "startTime": build["phases"][2]["startTime"], "endTime": build["phases"][2]["endTime"],
            "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR",
                          "message": "Error while executing command: cargo test. Reason: exit status 101"}],
        });
        build
    });
    // Already final; and one older than the window, with no status at all.
    let final_ = w.batch(4.0);
    w.gate_posted(&final_, "failure", "Not retried: a person said so");
    let older = w.batch(8.0);

    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let report = r.json();

    // CodeBuild: one listing page and one read of its batches; then, for the two failed
    // batches judged (oldest end first: the refused one, then the one that failed again),
    // their failed build, and one retry (attempt 2 of the batch retried and failed again,
    // with that attempt's token).
    let calls = w.cb.calls();
    let ops: Vec<&str> = calls.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "ListBuildBatchesForProject",
            "BatchGetBuildBatches",
            "BatchGetBuilds",
            "BatchGetBuilds",
            "RetryBuildBatch",
            // Step 2 (issue 16.4): the project's webhook; it has none, so no pull request is
            // read.
            "BatchGetProjects",
        ],
        "{calls:#?}"
    );
    assert_eq!(calls[1].body["ids"].as_array().unwrap().len(), 6);
    assert_eq!(calls[4].body["id"], failed_again.id);
    assert_eq!(
        calls[4].body["idempotencyToken"],
        idempotency_token(&failed_again.id, 2)
    );
    assert_eq!(
        w.cb.retries_performed(&failed_again.id),
        2,
        "the hand retry and this one"
    );
    for made in [&succeeded, &running] {
        assert_eq!(
            w.cb.retries_performed(&made.id),
            1,
            "only the earlier retry"
        );
    }
    for made in [&refused, &final_, &older] {
        assert_eq!(w.cb.retries_performed(&made.id), 0);
    }

    // GitHub: the gate's status read once per ended batch in the window (not for the running
    // or the older one), then three statuses posted, nothing else.
    let github = w.github_calls();
    let reads: BTreeSet<&str> = github[..4].iter().map(String::as_str).collect();
    let expected: BTreeSet<String> = [&succeeded, &failed_again, &refused, &final_]
        .iter()
        .map(|m| status_read(&m.commit))
        .collect();
    assert_eq!(
        reads,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let query = w.gh.calls()[0].query.clone().unwrap_or_default();
    assert!(query.contains("per_page=100"), "{query}");
    assert_eq!(github.len(), 7, "{github:#?}");
    let posted: Vec<(String, String, String)> =
        w.gh.statuses()
            .into_iter()
            .filter(|s| s.token.is_some())
            .map(|s| (s.sha, s.state, s.context))
            .collect();
    // Oldest end first.
    let expected_posts = [
        (&refused.commit, "failure"),
        (&failed_again.commit, "pending"),
        (&succeeded.commit, "success"),
    ];
    assert_eq!(
        posted,
        expected_posts.map(|(c, s)| (c.clone(), s.to_string(), CONTEXT.to_string()))
    );
    let descriptions: Vec<String> =
        w.gh.statuses()
            .into_iter()
            .filter(|s| s.token.is_some())
            .map(|s| s.description.unwrap())
            .collect();
    assert!(descriptions[1].starts_with("Retry 2/2"), "{descriptions:?}");
    assert!(
        descriptions[0].starts_with("Not retried"),
        "{descriptions:?}"
    );

    // The report: every batch of the window, what was found, what was done.
    let found_did = |m: &Made| {
        let r = row(&report, &m.id);
        (r["found"].as_str().unwrap(), r["did"].as_str().unwrap())
    };
    assert_eq!(found_did(&succeeded), ("pending", "posted"));
    assert_eq!(row(&report, &succeeded.id)["decision"]["decision"], "pass");
    assert_eq!(found_did(&failed_again), ("pending", "retried"));
    assert_eq!(row(&report, &failed_again.id)["decision"]["attempt"], 2);
    assert_eq!(found_did(&running), ("running", "left-alone"));
    assert_eq!(found_did(&refused), ("missing", "posted"));
    assert_eq!(row(&report, &refused.id)["posted_state"], "failure");
    assert_eq!(found_did(&final_), ("final", "left-alone"));
    assert_eq!(row(&report, &final_.id)["seen_state"], "failure");
    assert_eq!(report["batches"].as_array().unwrap().len(), 5);
    assert_eq!(report["older"], 1);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["hours"], 6);

    // Run again: everything is settled now (the retried batch is running).
    let before = (w.cb.count("RetryBuildBatch"), w.gh.count_posts());
    let r = w.reconcile(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!((w.cb.count("RetryBuildBatch"), w.gh.count_posts()), before);
    assert!(
        r.stdout.starts_with("RECONCILE  acme-api: 5 batches"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("0 settled, 0 failed; 1 older batch(es) left alone"),
        "{}",
        r.stdout
    );
}

/// Issue 9.3: two reconciles at once (or a reconcile and a gate) cause one retry: the same
/// token, and the re-read on "not retryable".
#[tokio::test(flavor = "multi_thread")]
async fn two_reconciles_at_once_make_exactly_one_retry() {
    let w = World::new().await;
    let failed = w.batch(1.0);
    // Both reach RetryBuildBatch (issue 20.6): the batch reads failed until both retries came.
    w.cb.race_retries(&failed.id, 2);
    let (a, b) = tokio::join!(
        w.reconcile(&["--format", "json"]),
        w.reconcile(&["--format", "json"])
    );
    for r in [&a, &b] {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(w.cb.retries_performed(&failed.id), 1);
    // Computed outside the code (docs/faults.md, "The idempotency token").
    let token = json!(independent_token(&failed.id, 1));
    assert_eq!(token, json!(idempotency_token(&failed.id, 1)));
    let retries: Vec<Value> =
        w.cb.calls()
            .into_iter()
            .filter(|c| c.op == "RetryBuildBatch")
            .map(|c| c.body["idempotencyToken"].clone())
            .collect();
    assert_eq!(retries, [token.clone(), token], "{retries:?}");
    for r in [&a, &b] {
        assert_eq!(row(&r.json(), &failed.id)["did"], "retried", "{}", r.stdout);
    }
    let states: BTreeSet<String> = w.gh.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(states, BTreeSet::from(["pending".to_string()]));

    // A gate and a reconcile on a new failure at once: one retry as well.
    let other = w.batch(0.8);
    w.cb.race_retries(&other.id, 2);
    let gate = tokio::process::Command::from(common::gate_in(
        w.dir.path(),
        &w.cb.endpoint(),
        &w.gh.url(),
        TOKEN,
        REPO,
        &["--batch-id", &other.id],
    ))
    .output();
    let (g, r) = tokio::join!(gate, w.reconcile(&[]));
    assert_eq!(g.unwrap().status.code(), Some(0));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.cb.retries_performed(&other.id), 1);
    let token = json!(independent_token(&other.id, 1));
    let retries: Vec<Value> =
        w.cb.calls()
            .into_iter()
            .filter(|c| c.op == "RetryBuildBatch" && c.body["id"] == other.id)
            .map(|c| c.body["idempotencyToken"].clone())
            .collect();
    assert_eq!(retries, [token.clone(), token], "both reached the retry");
    assert_eq!(w.cb.retries_performed(&failed.id), 1);
}

/// Issue 9.3: the Action starts the binary as `codebuild-retry-gate reconcile` with its
/// inputs in INPUT_* (hyphens kept, empty = unset); a dry run reads, judges and reports,
/// but neither retries nor posts.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_reads_the_action_inputs_and_a_dry_run_changes_nothing() {
    let w = World::new().await;
    let failed = w.batch(1.0);
    let passed = w.batch(2.0);
    w.retried_then(&passed, "SUCCEEDED");
    let _older = w.batch(4.0);
    // The repository's policy on its default branch, with its own context.
    w.gh.add_file(
        "acme/api",
        "main",
        ".github/codebuild-retry-gate.yml",
        "version: 1\ncontext: \"ci/gate ({project})\"\nrules:\n  - name: image-pull\n    status-codes: [BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE]\n",
    );
    let mut cmd = w.command(&[]);
    cmd.env_remove("GITHUB_TOKEN")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "acme/other")
        .env("INPUT_PROJECT", "acme-api")
        .env("INPUT_HOURS", "3")
        .env("INPUT_POLICY", "")
        .env("INPUT_POLICY-REF", "default-branch")
        .env("INPUT_REPOSITORY", "acme/api")
        .env("INPUT_GITHUB-TOKEN", "ghs_frominput")
        .env("INPUT_TIMEOUT", "5")
        .env("INPUT_DRY-RUN", "true")
        .env("INPUT_SHA", "")
        .env("INPUT_BATCH-ID", "");
    let r = w.run(cmd).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);

    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.gh.count_posts(), 0);
    let github = w.github_calls();
    // Issue 20.1: the default branch, its commit, then the file at that commit.
    assert_eq!(
        github[..3],
        [
            "GET /repos/acme/api",
            "GET /repos/acme/api/commits/main",
            "GET /repos/acme/api/contents/.github/codebuild-retry-gate.yml",
        ],
        "the policy from the default branch: {github:#?}"
    );
    let reads: BTreeSet<&str> = github[3..].iter().map(String::as_str).collect();
    let expected = [failed.commit.as_str(), passed.commit.as_str()]
        .map(|c| format!("GET /repos/acme/api/commits/{c}/status"));
    assert_eq!(
        reads,
        expected.iter().map(String::as_str).collect(),
        "the window is 3 h"
    );
    assert!(
        w.gh.calls()
            .iter()
            .all(|c| c.token.as_deref() == Some("ghs_frominput"))
    );

    // The table, the annotations and the job summary of a dry run.
    assert!(
        r.stdout.contains("2 would be settled (dry run)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("would retry"), "{}", r.stdout);
    assert!(r.stdout.contains("would post success"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("::notice::batch {}: would retry", failed.id)),
        "{}",
        r.stderr
    );
    assert!(
        r.summary
            .starts_with("### 🧹 codebuild-retry-gate reconcile (dry run)"),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains("codebuild-retry-gate: would retry"),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains("image-pull"),
        "the policy's rule: {}",
        r.summary
    );
}

/// A call that fails for one batch is reported (exit 3); the other batches are still
/// settled.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_call_is_reported_and_the_other_batches_are_settled() {
    let w = World::new().await;
    let first = w.batch(1.0);
    let second = w.batch(2.0);
    for made in [&first, &second] {
        w.retried_then(made, "SUCCEEDED");
    }
    // 404 is not retried: one status read fails, whichever comes first.
    w.gh.inject_on("GET", GitHubFault::Status(404), 1);
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 of 2 batch(es) could not be settled"),
        "{}",
        r.stderr
    );
    let report = r.json();
    assert_eq!(report["failed"], 1);
    let dids: BTreeSet<&str> = report["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["did"].as_str().unwrap())
        .collect();
    assert_eq!(dids, BTreeSet::from(["failed", "posted"]));
    let failed = report["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["did"] == "failed")
        .unwrap();
    assert_eq!(failed["found"], "unreadable");
    assert!(
        failed["note"]
            .as_str()
            .unwrap()
            .contains("get combined commit status failed (HTTP 404)"),
        "{failed}"
    );
    assert_eq!(w.gh.statuses().len(), 1, "the other batch's success");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_exit_2_and_a_missing_token_3_before_anything_is_called() {
    let w = World::new().await;
    w.cb.add_project("acme-api");
    // Arguments, environment, exit code, what stderr says.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: [Case; 5] = [
        (
            &[],
            &[("INPUT_PROJECT", "")],
            2,
            "reconcile needs the project",
        ),
        (
            &["--project", "acme-api", "--hours", "0"],
            &[],
            2,
            "--hours",
        ),
        (
            &[],
            &[("INPUT_PROJECT", "acme-api"), ("INPUT_HOURS", "a day")],
            2,
            "input `hours` is `a day`; expected 1 to 168 hours",
        ),
        (
            &["--project", "acme-api"],
            &[("GITHUB_TOKEN", "")],
            3,
            "no GitHub token",
        ),
        (&["--project", "nope"], &[], 2, "nope does not exist"),
    ];
    for (args, env, code, says) in cases {
        let mut cmd = w.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r = w.run(cmd).await;
        assert_eq!(r.code, code, "{args:?} {env:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    assert!(w.gh.calls().is_empty());
    assert_eq!(
        w.ops(),
        ["ListBuildBatchesForProject"],
        "only the unknown project's listing"
    );
}

/// GitHub Enterprise Server: the status read keeps the `/api/v3` prefix.
#[tokio::test(flavor = "multi_thread")]
async fn github_enterprise_server_paths_work() {
    let w = World::with_github(FakeGitHub::start_with_prefix("/api/v3").await).await;
    let made = w.batch(1.0);
    let r = w.reconcile(&["--project", "acme-api"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let paths: Vec<String> = w.gh.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [
            format!("/api/v3/repos/{REPO}/commits/{}/status", made.commit),
            format!("/api/v3/repos/{REPO}/statuses/{}", made.commit),
        ]
    );
}

/// The listing is bounded: batches are read 100 at a time, and the listing stops once a
/// page reaches back past the window's start minus the longest a batch runs (48 h); it goes
/// further back only for the budgets of a failed batch it judges, once, from where it
/// stopped.
#[tokio::test(flavor = "multi_thread")]
async fn the_listing_stops_once_a_page_reaches_back_past_the_window() {
    let w = World::new().await;
    let made = w.batch(1.0);
    let template = w.cb.batch(&made.id);
    w.retried_then(&made, "SUCCEEDED");
    // 250 older succeeded batches of the same commit, one every 10 minutes going back from
    // 2 h ago (the newest 25 ended in the window, the last of them 5 minutes into it), then
    // 80 more 60 h ago and older.
    let start = now() - 2.0 * HOUR;
    let older: Vec<Value> = (0..250)
        .map(|i| {
            let mut b = template.clone();
            let id = format!("acme-api:{i:08x}-1111-4000-8000-000000000000");
            b["id"] = json!(id);
            b["arn"] = json!(format!(
                "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
            ));
            b["buildBatchStatus"] = json!("SUCCEEDED");
            b["startTime"] = json!(start - 600.0 * f64::from(i) - 300.0);
            b["endTime"] = json!(start - 600.0 * f64::from(i) + 300.0);
            b
        })
        .collect();
    w.cb.add_batch(json!({ "buildBatches": older }));
    let far: Vec<Value> = (0..80)
        .map(|i| {
            let id = format!("acme-api:{i:08x}-2222-4000-8000-000000000000");
            json!({"id": id, "projectName": "acme-api", "buildBatchStatus": "SUCCEEDED",
                   "complete": true, "resolvedSourceVersion": format!("{i:040x}"),
                   "startTime": now() - 60.0 * HOUR - f64::from(i),
                   "endTime": now() - 60.0 * HOUR})
        })
        .collect();
    w.cb.add_batch(json!({ "buildBatches": far }));
    let reads = |w: &World, from: usize| -> (usize, Vec<usize>) {
        let calls = w.cb.calls()[from..].to_vec();
        let lists = calls
            .iter()
            .filter(|c| c.op == "ListBuildBatchesForProject")
            .count();
        let reads = calls
            .iter()
            .filter(|c| c.op == "BatchGetBuildBatches")
            .map(|c| c.body["ids"].as_array().unwrap().len())
            .collect();
        (lists, reads)
    };

    // Nothing failed: three pages (the third reaches 60 h back), 100 ids a read.
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(reads(&w, 0), (3, vec![100, 100, 100]));
    let report = r.json();
    let rows = report["batches"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + 25, "{report:#}");
    assert_eq!(row(&report, &made.id)["did"], "posted");
    assert_eq!(
        rows.iter().filter(|r| r["found"] == "superseded").count(),
        25,
        "the newer batch of their commit decides its status"
    );
    assert_eq!(report["older"], 300 - 26);
    assert_eq!(report["history_incomplete"], false);

    // A new failure: the same three pages, then, for its budgets (14 days back), the rest
    // of the listing from where it stopped; the failed build; the retry.
    let fresh = w.batch(0.5);
    let from = w.cb.calls().len();
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(reads(&w, from), (4, vec![100, 100, 100, 32]));
    assert_eq!(row(&r.json(), &fresh.id)["did"], "retried");
    assert_eq!(row(&r.json(), &made.id)["found"], "final");
}

/// Secrets stay secret in reconcile too: debug logging on, through a success and failures.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_output_even_with_debug_logging() {
    const AWS_SECRET: &str = "secret-aws-key-for-tests";
    let w = World::new().await;
    let failed = w.batch(1.0);
    let passed = w.batch(2.0);
    w.retried_then(&passed, "SUCCEEDED");
    // After the first run, one status read per run (the other batch is running its retry):
    // the faults hit it, every attempt of it.
    let runs = [
        (None, 0),
        (Some((GitHubFault::Unauthorized, 1)), 3),
        (Some((GitHubFault::Status(502), 4)), 3),
    ];
    for (fault, code) in runs {
        if let Some((fault, times)) = fault {
            w.gh.inject(fault, times);
        }
        let mut cmd = w.command(&["--verbose"]);
        cmd.env("RUNNER_DEBUG", "1")
            .env("GITHUB_ACTIONS", "true")
            .env("RUST_LOG", "trace");
        let r = w.run(cmd).await;
        assert_eq!(r.code, code, "{}", r.stderr);
        assert!(r.stderr.contains("::debug::"), "debug logging was on");
        let everything = format!("{}{}{}", r.stdout, r.stderr, r.summary);
        for secret in [TOKEN, AWS_SECRET] {
            assert!(
                !everything.contains(secret),
                "a secret leaked:\n{everything}"
            );
        }
    }
    assert!(
        w.gh.calls()
            .iter()
            .any(|c| c.token.as_deref() == Some(TOKEN))
    );
    assert_eq!(w.cb.retries_performed(&failed.id), 1);
}

impl World {
    /// The policy the runs read (the workspace's `.github/codebuild-retry-gate.yml`).
    fn policy(&self, text: &str) {
        let dir = self.dir.path().join(".github");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("codebuild-retry-gate.yml"), text).unwrap();
    }

    /// `made` rebuilt `commit` (another batch of the same commit).
    fn on_commit(&self, made: &mut Made, commit: &str) {
        self.cb.update_batch(&made.id, |b| {
            b["resolvedSourceVersion"] = json!(commit);
        });
        made.commit = commit.to_string();
    }

    fn posted(&self) -> Vec<(String, String, String)> {
        self.gh
            .statuses()
            .into_iter()
            .filter(|s| s.token.is_some())
            .map(|s| (s.sha, s.state, s.description.unwrap_or_default()))
            .collect()
    }
}

fn at_hours_ago(hours: f64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(((now() - hours * HOUR) * 1e9) as i128).unwrap()
}

/// Issue 15.2: five lost failures, a daily project budget of 2: reconcile settles them
/// oldest first, and the retries it makes count toward the batches after them — exactly
/// two retries, of the two oldest; the rest get `failure` naming the daily budget.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_counts_its_own_retries_against_the_daily_budget() {
    let w = World::new().await;
    w.policy(
        "version: 1\nbudget: {per-project-per-day: 2}\nrules: [{name: infrastructure, phases: [PROVISIONING]}]\n",
    );
    let made: Vec<Made> = [5.0, 4.0, 3.0, 2.0, 1.0]
        .into_iter()
        .map(|h| w.batch(h))
        .collect();
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let retried: Vec<usize> = made.iter().map(|m| w.cb.retries_performed(&m.id)).collect();
    assert_eq!(retried, [1, 1, 0, 0, 0], "the two oldest, only");
    assert_eq!(w.cb.count("RetryBuildBatch"), 2);
    let posted = w.posted();
    let states: Vec<(&str, &str)> = posted
        .iter()
        .map(|(sha, state, _)| (sha.as_str(), state.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = made
        .iter()
        .zip(["pending", "pending", "failure", "failure", "failure"])
        .map(|(m, s)| (m.commit.as_str(), s))
        .collect();
    assert_eq!(states, expected, "oldest first");
    for (_, _, description) in &posted[2..] {
        assert!(
            description.contains("per-project-per-day budget 2"),
            "{description}"
        );
    }
    let report = r.json();
    assert_eq!(row(&report, &made[1].id)["did"], "retried");
    assert_eq!(
        row(&report, &made[2].id)["decision"]["code"],
        "project-budget-spent"
    );

    // A dry run judges the same way: what it would retry counts for the batches after it.
    let w = World::new().await;
    w.policy(
        "version: 1\nbudget: {per-project-per-day: 2}\nrules: [{name: infrastructure, phases: [PROVISIONING]}]\n",
    );
    let made: Vec<Made> = [5.0, 4.0, 3.0].into_iter().map(|h| w.batch(h)).collect();
    let r = w.reconcile(&["--format", "json", "--dry-run"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    let did: Vec<&str> = made
        .iter()
        .map(|m| row(&report, &m.id)["did"].as_str().unwrap())
        .collect();
    assert_eq!(did, ["would-retry", "would-retry", "would-post"]);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

/// Issue 15.3: the gate's `failure` on a commit was about an older batch (posted before the
/// newer batch of the same commit ended): reconcile replaces it with the newer batch's
/// verdict (it passed: `success`), and leaves the older batch alone as superseded.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_replaces_a_stale_final_status_of_an_older_batch() {
    let w = World::new().await;
    let older = w.batch(3.0);
    let mut newer = w.batch(2.0);
    w.on_commit(&mut newer, &older.commit.clone());
    w.retried_then(&newer, "SUCCEEDED");
    w.gh.add_status_at(
        REPO,
        &older.commit,
        "failure",
        CONTEXT,
        "Not retried: about the older batch",
        at_hours_ago(2.5),
    );
    // A final status posted after its batch ended is left alone, as before.
    let settled = w.batch(4.0);
    w.gh.add_status_at(
        REPO,
        &settled.commit,
        "failure",
        CONTEXT,
        "Not retried: settled",
        at_hours_ago(1.0),
    );

    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let report = r.json();
    assert_eq!(row(&report, &older.id)["found"], "superseded");
    assert!(
        row(&report, &older.id)["note"]
            .as_str()
            .unwrap()
            .contains(&newer.id),
        "{report:#}"
    );
    assert_eq!(row(&report, &newer.id)["found"], "stale");
    assert_eq!(row(&report, &newer.id)["did"], "posted");
    assert_eq!(row(&report, &settled.id)["found"], "final");
    assert_eq!(row(&report, &settled.id)["did"], "left-alone");
    let posted = w.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(
        (posted[0].0.as_str(), posted[0].1.as_str()),
        (older.commit.as_str(), "success")
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);

    // Run again: the success was posted after the batch ended, so it is final now.
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(row(&r.json(), &newer.id)["found"], "final");
    assert_eq!(w.posted().len(), 1);
}

/// Issue 16.7: reconcile does not repost an identical status — but the same words posted
/// before the commit's latest batch ended were about an older batch, so they are posted
/// again (then they are about this one, and final).
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_reposts_a_stale_status_even_with_the_same_words() {
    const REFUSE: &str = "version: 1\nrules: [{name: nothing, action: refuse}]\n";
    let setup = || async {
        let w = World::new().await;
        w.policy(REFUSE);
        let older = w.batch(3.0);
        let mut newer = w.batch(2.0);
        w.on_commit(&mut newer, &older.commit.clone());
        (w, newer)
    };
    // What the gate says about the newer batch (both batches failed the same way).
    let (w, newer) = setup().await;
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let said = w.posted();
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].1, "failure");
    assert_eq!(row(&r.json(), &newer.id)["did"], "posted");
    // Run again: final, left alone; nothing reposted.
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(row(&r.json(), &newer.id)["found"], "final");
    assert_eq!(w.posted().len(), 1);

    // The same words, posted before the newer batch ended (about the older one): stale.
    let (w, newer) = setup().await;
    w.gh.add_status_at(
        REPO,
        &newer.commit,
        "failure",
        CONTEXT,
        &said[0].2,
        at_hours_ago(2.5),
    );
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(row(&report, &newer.id)["found"], "stale", "{report:#}");
    assert_eq!(row(&report, &newer.id)["did"], "posted", "{report:#}");
    assert_eq!(w.posted().len(), 1);
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(row(&r.json(), &newer.id)["found"], "final");
    assert_eq!(w.posted().len(), 1);
}

/// Issue 15.3: "latest" is the batch whose latest attempt ended last, not the one that
/// started last: a retry keeps its batch's startTime. The batch that started first was
/// retried by hand an hour ago and failed again; the batch that started after it passed
/// three hours ago. Reconcile judges (and retries) the first one; the other is superseded.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_judges_the_batch_whose_attempt_ended_last() {
    let w = World::new().await;
    let first = w.batch(5.0);
    let mut second = w.batch(3.0);
    w.on_commit(&mut second, &first.commit.clone());
    w.cb.set_batch_status(&second.id, "SUCCEEDED");
    w.cb.set_clock(now() - HOUR);
    w.retried_then(&first, "FAILED");
    assert!(
        w.cb.batch(&first.id)["startTime"].as_f64() < w.cb.batch(&second.id)["startTime"].as_f64(),
        "the first started first"
    );

    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let report = r.json();
    assert_eq!(row(&report, &second.id)["found"], "superseded");
    assert_eq!(row(&report, &first.id)["did"], "retried");
    assert_eq!(row(&report, &first.id)["decision"]["attempt"], 2);
    assert_eq!(
        w.cb.retries_performed(&first.id),
        2,
        "by hand, then reconcile"
    );
    let posted = w.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].1, "pending", "{posted:?}");
    assert!(posted[0].2.starts_with("Retry 2/2"), "{posted:?}");
}

/// Issue 15.5: gates for *different* commits racing on one daily budget. Each reads the
/// project's retries before the others' retries exist, so each can see room: with a cap C
/// and N gates at once on N failures, between min(N, C) and N retries happen (the day can
/// end up to N − C over the cap; docs/faults.md, "Races on the daily budget"). The worst
/// case is measured deterministically first (the fake answers every read as the project
/// stood before the retries: each gate decides before any other gate's retry exists), then
/// N gates run at once. On the *same* failure, N racing gates make exactly one retry (the
/// idempotency token).
#[tokio::test(flavor = "multi_thread")]
async fn gates_on_different_commits_racing_on_one_daily_budget() {
    const N: usize = 4;
    const CAP: usize = 2;
    let policy = format!(
        "version: 1\nbudget: {{per-project-per-day: {CAP}}}\nrules: [{{name: infrastructure, phases: [PROVISIONING]}}]\n"
    );
    // The worst interleaving, made deterministic: every gate reads the project before any
    // retry exists (frozen reads), so every one of them sees the cap's room and retries.
    let w = World::new().await;
    w.policy(&policy);
    let made: Vec<Made> = (0..N).map(|i| w.batch(1.0 + i as f64 * 0.1)).collect();
    w.cb.freeze_batch_reads();
    for m in &made {
        let r = w
            .run(tokio::process::Command::from(common::gate_in(
                w.dir.path(),
                &w.cb.endpoint(),
                &w.gh.url(),
                TOKEN,
                REPO,
                &["--batch-id", &m.id, "--format", "json"],
            )))
            .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.json()["budget"]["per_project_per_day"]["used"], 0);
    }
    let worst: usize = made.iter().map(|m| w.cb.retries_performed(&m.id)).sum();
    assert_eq!(worst, N, "worst case: every racing gate retries");
    eprintln!(
        "racing gates, worst interleaving: {N} failures on {N} commits, daily cap {CAP}: {worst} retries ({} over the cap)",
        worst - CAP
    );
    // Reconcile settles one batch at a time and counts its own retries: even reading the
    // same frozen project, it stops at the cap.
    let w = World::new().await;
    w.policy(&policy);
    let made: Vec<Made> = (0..N).map(|i| w.batch(1.0 + i as f64 * 0.1)).collect();
    w.cb.freeze_batch_reads();
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let settled: usize = made.iter().map(|m| w.cb.retries_performed(&m.id)).sum();
    assert_eq!(settled, CAP, "reconcile alone never overshoots");

    // N gates at once, as they happen to interleave.
    let w = World::new().await;
    w.policy(&policy);
    let made: Vec<Made> = (0..N).map(|i| w.batch(1.0 + i as f64 * 0.1)).collect();
    let gates = made.iter().map(|m| {
        tokio::process::Command::from(common::gate_in(
            w.dir.path(),
            &w.cb.endpoint(),
            &w.gh.url(),
            TOKEN,
            REPO,
            &["--batch-id", &m.id],
        ))
        .output()
    });
    for out in futures_util::future::join_all(gates).await {
        let out = out.unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let retried: usize = made.iter().map(|m| w.cb.retries_performed(&m.id)).sum();
    assert!(
        (N.min(CAP)..=N).contains(&retried),
        "{retried} retries of {N} racing failures under a cap of {CAP}"
    );
    assert!(made.iter().all(|m| w.cb.retries_performed(&m.id) <= 1));
    eprintln!("racing gates: {N} failures on {N} commits, daily cap {CAP}: {retried} retries");

    // Once they are done, a later gate counts them all: no room left.
    let late = w.batch(0.5);
    let r = w
        .run(tokio::process::Command::from(common::gate_in(
            w.dir.path(),
            &w.cb.endpoint(),
            &w.gh.url(),
            TOKEN,
            REPO,
            &["--batch-id", &late.id, "--format", "json"],
        )))
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["code"], "project-budget-spent", "{}", r.stdout);
    assert_eq!(w.cb.retries_performed(&late.id), 0);

    // The same failure, N gates at once, each reaching the retry: one retry.
    let w = World::new().await;
    let one = w.batch(1.0);
    w.cb.race_retries(&one.id, N);
    let gates = (0..N).map(|_| {
        tokio::process::Command::from(common::gate_in(
            w.dir.path(),
            &w.cb.endpoint(),
            &w.gh.url(),
            TOKEN,
            REPO,
            &["--batch-id", &one.id],
        ))
        .output()
    });
    for out in futures_util::future::join_all(gates).await {
        assert_eq!(out.unwrap().status.code(), Some(0));
    }
    assert_eq!(w.cb.retries_performed(&one.id), 1);
    let retries: Vec<Value> =
        w.cb.calls()
            .into_iter()
            .filter(|c| c.op == "RetryBuildBatch")
            .map(|c| c.body["idempotencyToken"].clone())
            .collect();
    assert_eq!(retries, vec![json!(independent_token(&one.id, 1)); N]);
}

/// Issue 20.4: a `resolvedSourceVersion` that is text rather than a SHA (here non-ASCII, cut
/// at byte 12 inside a character) aborted reconcile's table renderer, which sliced it by
/// bytes. Now it is no commit at all: the batch is left alone with the reason, nothing is
/// posted to it, no retry is made, and every format renders.
#[tokio::test(flavor = "multi_thread")]
async fn a_resolved_source_version_that_is_not_a_sha_is_an_unknown_commit_and_renders() {
    let w = World::new().await;
    let mut odd = w.batch(1.0);
    w.on_commit(&mut odd, "ab€déf-nünïcödé-\u{1b}[31m::error::x");
    let plain = w.batch(2.0);
    for format in ["text", "markdown", "json"] {
        let r = w.reconcile(&["--format", format, "--dry-run"]).await;
        assert_eq!(r.code, 0, "{format}: {}\n{}", r.stderr, r.stdout);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
        assert!(!r.stdout.contains("\n::error"), "{}", r.stdout);
        assert!(!r.summary.contains('\u{1b}'), "{}", r.summary);
        if format == "json" {
            let report = r.json();
            let row = row(&report, &odd.id);
            assert_eq!(row["did"], "left-alone", "{row:#}");
            assert!(
                row["note"]
                    .as_str()
                    .unwrap()
                    .contains("commit cannot be established"),
                "{row:#}"
            );
            assert_eq!(super_row_did(&report, &plain.id), "would-retry");
        }
    }
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(w.posted().is_empty(), "{:?}", w.posted());
}

fn super_row_did(report: &Value, id: &str) -> String {
    row(report, id)["did"].as_str().unwrap().to_string()
}

/// The idempotency token as docs/faults.md derives it ("The idempotency token"), written
/// here apart from the gate's code: FNV-1a 64 over the batch id's UTF-8 bytes.
fn independent_token(batch_id: &str, attempt: u32) -> String {
    let hash = batch_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("retry-gate-{hash:016x}-attempt-{attempt}")
}
