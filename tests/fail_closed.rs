//! Issue 20: the places an audit found the gate failing open, each driven end to end through
//! the real binary, the real clients and the local fakes. Every test here failed on the code
//! before its fix (see the closing note).

mod common;
mod fakes;

use std::collections::BTreeMap;
use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub};
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
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl World {
    async fn new() -> World {
        World {
            cb: FakeCodeBuild::start().await,
            gh: FakeGitHub::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn example(&self, name: &str) -> String {
        self.cb
            .load_example(&common::root().join("examples/batches").join(name))
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, subcommand: &str, args: &[&str]) -> tokio::process::Command {
        tokio::process::Command::from(common::command_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            subcommand,
            args,
        ))
    }

    async fn run(&self, subcommand: &str, args: &[&str]) -> Outcome {
        let _ = std::fs::remove_file(self.workspace().join("output"));
        let out = self
            .command(subcommand, args)
            .output()
            .await
            .expect("the binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: common::parse_outputs(&self.workspace().join("output")),
        }
    }

    async fn gate(&self, args: &[&str]) -> Outcome {
        self.run("gate", args).await
    }
}

/// A succeeded batch of the project of `template` on `commit`, started at `start`, with
/// `retries` retries recorded.
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

const OTHER_COMMIT: &str = "0000000000000000000000000000000000000000";

// ---------------------------------------------------------------------------------------
// 20.3: the history walk trusts no undocumented order
// ---------------------------------------------------------------------------------------

/// 150 batches listed by identifier (the order the model documents), the first one listed
/// 20 days old — past the look-back — and the commit's three retries on the second page.
/// A walk that stops at the first page reaching past the look-back undercounts and retries
/// a commit that spent its budget; the walk sees start times increase, reads on, and
/// refuses.
fn by_identifier_with_the_spent_budget_on_page_two(w: &World, main: &Value) {
    let commit = main["resolvedSourceVersion"].as_str().unwrap();
    let start = main["startTime"].as_f64().unwrap();
    for n in 1..=150 {
        let (c, retries, at) = match n {
            // Listed first (ids descend): older than the 14-day look-back.
            150 => (OTHER_COMMIT, 0, start - 86_400.0 * 20.0),
            // On the second page: this commit's retries, an hour or so ago.
            1..=3 => (commit, 1, start - 3_600.0 - n as f64),
            _ => (OTHER_COMMIT, 0, start - 600.0 * n as f64),
        };
        w.cb.add_batch(sibling(main, n, c, at, retries));
    }
    w.cb.list_by_identifier();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_is_not_newest_first_is_read_on_and_the_commit_budget_holds() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let main = w.cb.batch(&id);
    by_identifier_with_the_spent_budget_on_page_two(&w, &main);
    let r = w.gate(&["--batch-id", &id, "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["code"], "commit-budget-spent", "{report}");
    assert_eq!(report["budget"]["per_commit"]["used"], 3);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.cb.count("ListBuildBatchesForProject"), 2, "both pages");
    assert_eq!(r.outputs["decision"], "refuse");
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

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The same history through `reconcile` (its window is read from the clock, so the batch is
/// moved to have ended an hour ago): the batch it settles is judged on the whole count.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_reads_on_through_a_listing_that_is_not_newest_first() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let end = w.cb.batch(&id)["endTime"].as_f64().unwrap();
    let delta = now() - 3_600.0 - end;
    w.cb.update_batch(&id, |b| shift(b, delta));
    let main = w.cb.batch(&id);
    by_identifier_with_the_spent_budget_on_page_two(&w, &main);
    let r = w.run("reconcile", &["--project", "acme-api"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0, "{}", r.stdout);
    let commit = main["resolvedSourceVersion"].as_str().unwrap();
    let on_commit: Vec<_> =
        w.gh.statuses()
            .into_iter()
            .filter(|s| s.sha == commit)
            .collect();
    assert_eq!(on_commit.len(), 1, "{on_commit:?}");
    assert_eq!(on_commit[0].state, "failure");
    assert!(
        on_commit[0]
            .description
            .as_deref()
            .is_some_and(|d| d.contains("per-commit budget 3")),
        "{on_commit:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 20.1: the policy source fails closed; 16.1: the required check says why
// ---------------------------------------------------------------------------------------

/// A strict policy on the default branch: nothing is retried.
const STRICT: &str = "version: 1\nrules:\n  - name: nothing\n    action: refuse\n";
/// Retries everything.
const PERMISSIVE: &str =
    "version: 1\nrules:\n  - name: any\n    statuses: [FAILED, FAULT, TIMED_OUT]\n";

/// The one status posted, on the batch's commit.
fn only_status(w: &World, commit: &str) -> fakes::github::RecordedStatus {
    let posted = w.gh.statuses();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].sha, commit);
    posted[0].clone()
}

/// A `policy-ref` with a typo: before, any 404 read as "no policy file" and the permissive
/// built-in policy retried the batch. Now: unreadable, no retry, `error` on the commit, exit 2,
/// the ref and repository named.
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_ref_that_does_not_exist_is_an_unreadable_policy_never_the_builtin() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let commit = w.cb.batch(&id)["resolvedSourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    w.gh.add_file(REPO, "main", ".github/codebuild-retry-gate.yml", STRICT);
    let r = w.gate(&["--batch-id", &id, "--policy-ref", "mian"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(
        r.stderr
            .contains("policy-ref `mian` does not exist in acme/web"),
        "{}",
        r.stderr
    );
    let status = only_status(&w, &commit);
    assert_eq!(status.state, "error");
    assert_eq!(status.context, "codebuild/retry-gate (acme-api)");
    let description = status.description.unwrap();
    assert!(
        description.starts_with("Policy unreadable: policy-ref `mian` does not exist in acme/web"),
        "{description}"
    );
    assert!(description.len() <= 140, "{description}");
}

/// A repository the token cannot read (GitHub answers 404 to everything about it): the
/// policy is unreadable, not absent.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_the_token_cannot_read_is_an_unreadable_policy() {
    for policy_ref in ["main", "default-branch"] {
        let w = World::new().await;
        let id = w.example("provisioning-fault");
        w.gh.hide_repository(REPO);
        let r = w
            .gate(&["--batch-id", &id, "--policy-ref", policy_ref, "--dry-run"])
            .await;
        assert_eq!(r.code, 2, "{policy_ref}: {}", r.stderr);
        assert_eq!(w.cb.count("RetryBuildBatch"), 0);
        assert!(
            r.stderr.contains("of acme/web cannot be read") && r.stderr.contains("(HTTP 404)"),
            "{policy_ref}: {}",
            r.stderr
        );
        assert!(!r.stdout.contains("built-in"), "{}", r.stdout);
    }
}

/// A directory at the policy path is not "no policy".
#[tokio::test(flavor = "multi_thread")]
async fn the_ref_exists_and_the_file_is_absent_is_the_only_way_to_the_builtin_policy() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.gh.add_ref(REPO, "release/1.x");
    let r = w
        .gate(&[
            "--batch-id",
            &id,
            "--policy-ref",
            "release/1.x",
            "--format",
            "json",
            "--dry-run",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["policy"],
        "built-in default policy (no .github/codebuild-retry-gate.yml at ref `release/1.x` of acme/web)"
    );
}

// ---------------------------------------------------------------------------------------
// 20.2: paths and names are checked, then encoded
// ---------------------------------------------------------------------------------------

/// `policy: .github/codebuild-retry-gate.yml?ref=evil` went unencoded into the contents URL
/// and loaded another branch's policy while the report said `default-branch`.
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_path_that_would_change_the_request_is_an_input_error() {
    for path in [
        ".github/codebuild-retry-gate.yml?ref=evil",
        ".github/codebuild-retry-gate.yml#x",
        "../evil/codebuild-retry-gate.yml",
        "/.github/codebuild-retry-gate.yml",
        "a%2F..%2Fb.yml",
        "a\\b.yml",
    ] {
        let w = World::new().await;
        let id = w.example("provisioning-fault");
        w.gh.add_file(REPO, "main", ".github/codebuild-retry-gate.yml", STRICT);
        w.gh.add_file(REPO, "evil", ".github/codebuild-retry-gate.yml", PERMISSIVE);
        let r = w
            .gate(&[
                "--batch-id",
                &id,
                "--policy-ref",
                "default-branch",
                "--policy",
                path,
            ])
            .await;
        assert_eq!(r.code, 2, "{path}: {}", r.stderr);
        assert_eq!(w.cb.count("RetryBuildBatch"), 0, "{path}");
        assert!(r.stderr.contains("the policy path"), "{path}: {}", r.stderr);
        assert!(
            !w.gh.calls().iter().any(|c| c.path.contains("/contents/")),
            "{path}: nothing is read"
        );
    }
}

/// A path with a space or other characters is read, percent-encoded.
#[tokio::test(flavor = "multi_thread")]
async fn policy_path_segments_are_percent_encoded() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.gh.add_file(REPO, "main", "ci/gate policy.yml", STRICT);
    let r = w
        .gate(&[
            "--batch-id",
            &id,
            "--policy-ref",
            "main",
            "--policy",
            "ci/gate policy.yml",
            "--dry-run",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.outputs["decision"], "refuse");
    let read =
        w.gh.calls()
            .into_iter()
            .find(|c| c.path.contains("/contents/"))
            .unwrap();
    assert_eq!(read.path, "/repos/acme/web/contents/ci/gate%20policy.yml");
}

/// `Repo::parse` accepted `..`: a repository of `..` or an owner of `.` never reaches a URL.
#[tokio::test(flavor = "multi_thread")]
async fn owner_and_repository_names_follow_githubs_rules() {
    for repo in [
        "acme/..",
        "../web",
        "./web",
        "acme/.",
        "ac.me/web",
        "acme/we%2Fb",
    ] {
        let w = World::new().await;
        let id = w.example("provisioning-fault");
        let r = w
            .gate(&[
                "--batch-id",
                &id,
                "--policy-ref",
                "main",
                "--repository",
                repo,
            ])
            .await;
        assert_eq!(r.code, 2, "{repo}: {}", r.stderr);
        assert!(
            r.stderr.contains("is not OWNER/REPO"),
            "{repo}: {}",
            r.stderr
        );
        assert_eq!(w.cb.count("RetryBuildBatch"), 0);
        assert!(
            w.gh.calls().is_empty(),
            "{repo}: nothing is asked of GitHub"
        );
    }
}

/// Issue 16.1: an invalid policy in the workspace: the batch is still read, the commit gets
/// `error` under the context the broken policy names, with the file and line; no retry, exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_policy_posts_error_on_the_batchs_commit_naming_the_line() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let commit = w.cb.batch(&id)["resolvedSourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        "version: 1\ncontext: \"ci/gate ({project})\"\nbudgets: 3\nrules:\n  - name: any\n",
    )
    .unwrap();
    let r = w.gate(&["--batch-id", &id]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert!(
        r.stderr.contains(".github/codebuild-retry-gate.yml:3:1"),
        "{}",
        r.stderr
    );
    let status = only_status(&w, &commit);
    assert_eq!(status.state, "error");
    assert_eq!(status.context, "ci/gate (acme-api)");
    let description = status.description.unwrap();
    assert!(
        description.starts_with("Policy invalid: .github/codebuild-retry-gate.yml:3: unknown key"),
        "{description}"
    );
    assert!(description.contains("budgets"), "{description}");
    // A re-run finds the same error already shown: nothing is posted again (issue 16.7).
    let again = w.gate(&["--batch-id", &id]).await;
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert_eq!(w.gh.statuses().len(), 1, "{:?}", w.gh.statuses());
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

/// The same, when not even the context can be read: the default context.
#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_policy_posts_error_under_the_default_context() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    std::fs::create_dir_all(w.workspace().join(".github")).unwrap();
    std::fs::write(
        w.workspace().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules: [\n",
    )
    .unwrap();
    let mut cmd = w.command("gate", &["--batch-id", &id]);
    cmd.env("GITHUB_ACTIONS", "true");
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error file=.github/codebuild-retry-gate.yml,line="),
        "annotations as before: {stdout}"
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    let posted = w.gh.statuses();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].state, "error");
    assert_eq!(posted[0].context, "codebuild/retry-gate (acme-api)");
}
