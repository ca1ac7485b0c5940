//! Issue 16.4: `reconcile` posts `success` "Not built" on open pull requests that the
//! project's own webhook filters will never build, and nothing whenever that is not certain.
//! The real binary, the real aws-sdk-codebuild (BatchGetProjects) and octocrab clients,
//! against the local fakes.

mod common;
mod fakes;

use fakes::{FakeCodeBuild, FakeGitHub};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_reconcilepulls0123456789";
const REPO: &str = "acme/web";
const CONTEXT: &str = "codebuild/retry-gate (acme-api)";
const NOT_BUILT: &str = "Not built: acme-api's webhook filters do not match this change";
const PR_EVENTS: &str = "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED";
const AUTHOR: (&str, u64) = ("ada", 4242);

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: std::collections::BTreeMap<String, String>,
    summary: String,
}

fn sha(n: u64) -> String {
    format!("{n:040x}")
}

/// A monorepo project: pull requests build only when they touch `services/api/`; pushes
/// build on main.
fn monorepo_webhook() -> Value {
    json!({
        "url": "https://api.github.com/repos/acme/web/hooks/400001",
        "payloadUrl": "https://codebuild.us-east-1.amazonaws.com/webhooks?t=eyJ",
        "buildType": "BUILD_BATCH",
        "filterGroups": [
            [{"type": "EVENT", "pattern": PR_EVENTS},
             {"type": "FILE_PATH", "pattern": "^services/api/", "excludeMatchedPattern": false}],
            [{"type": "EVENT", "pattern": "PUSH"},
             {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]
        ],
        "status": "ACTIVE",
        "lastModifiedSecret": 1_796_000_000.0,
    })
}

impl World {
    async fn new(webhook: Option<Value>) -> World {
        let w = World {
            cb: FakeCodeBuild::start().await,
            gh: FakeGitHub::start().await,
            dir: tempfile::tempdir().unwrap(),
        };
        let mut project = json!({
            "name": "acme-api",
            "arn": "arn:aws:codebuild:us-east-1:111122223333:project/acme-api",
            "source": {"type": "GITHUB", "location": "https://github.com/acme/web.git",
                       "reportBuildStatus": true, "insecureSsl": false},
            "buildBatchConfig": {"batchReportMode": "REPORT_AGGREGATED_BATCH"},
        });
        if let Some(webhook) = webhook {
            project["webhook"] = webhook;
        }
        w.cb.set_project(project);
        w
    }

    fn pull(&self, number: u64, files: &[&str]) -> String {
        let head = sha(number);
        self.gh.add_pull(
            REPO,
            number,
            &head,
            &format!("topic-{number}"),
            "main",
            AUTHOR,
            files,
            false,
        );
        head
    }

    async fn reconcile(&self, args: &[&str]) -> Outcome {
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
        let _ = std::fs::remove_file(self.dir.path().join("output"));
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .expect("the binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: common::parse_outputs(&self.dir.path().join("output")),
            summary: std::fs::read_to_string(self.dir.path().join("summary.md"))
                .unwrap_or_default(),
        }
    }

    /// Statuses this run posted (not those seeded), as (sha, state, context, description).
    fn posted(&self) -> Vec<(String, String, String, String)> {
        self.gh
            .statuses()
            .into_iter()
            .filter(|s| s.token.is_some())
            .map(|s| (s.sha, s.state, s.context, s.description.unwrap_or_default()))
            .collect()
    }

    fn github_calls(&self) -> Vec<String> {
        self.gh
            .calls()
            .into_iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_docs_only_pull_request_under_a_file_path_filter_gets_not_built() {
    let w = World::new(Some(monorepo_webhook())).await;
    let docs = w.pull(7, &["docs/guide.md", "README.md"]);
    let api = w.pull(8, &["docs/guide.md", "services/api/src/main.rs"]);
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // The docs-only pull request: success "Not built"; the one that touches the filtered
    // path: nothing (CodeBuild builds it, and the gate will judge its batch).
    assert_eq!(
        w.posted(),
        vec![(
            docs.clone(),
            "success".into(),
            CONTEXT.into(),
            NOT_BUILT.into()
        )]
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = report["pulls"]["rows"].as_array().unwrap();
    let by_number = |n: u64| rows.iter().find(|r| r["number"] == n).unwrap();
    assert_eq!(by_number(7)["did"], "not-built");
    assert_eq!(by_number(8)["did"], "left-alone");
    assert!(
        by_number(8)["note"]
            .as_str()
            .unwrap()
            .contains("CodeBuild builds it: filter group 1 passes"),
        "{report:#}"
    );
    assert_eq!(r.outputs["not-built"], "1");
    assert_eq!(r.outputs["settled"], "0");
    assert_eq!(r.outputs["retried"], "0");
    assert!(
        r.stderr.contains("pull request #7: posted not built"),
        "{}",
        r.stderr
    );
    assert!(
        r.summary
            .contains("| settled | retried | not built | failed |"),
        "{}",
        r.summary
    );
    assert!(
        r.summary
            .contains("| #7 | 000000000000 | posted not built |"),
        "{}",
        r.summary
    );
    // One BatchGetProjects; no batch was touched.
    let ops: Vec<String> = w.cb.calls().into_iter().map(|c| c.op).collect();
    assert_eq!(ops, ["ListBuildBatchesForProject", "BatchGetProjects"]);
    // Each head commit's statuses, then its files; no commit message (no filter needs it).
    let github = w.github_calls();
    assert!(github.contains(&format!("GET /repos/{REPO}/commits/{docs}/status")));
    assert!(github.contains(&format!("GET /repos/{REPO}/pulls/7/files")));
    assert!(
        !github.iter().any(|c| c.contains("/git/commits/")),
        "{github:#?}"
    );

    // Run again: the status is there now, nothing is posted twice.
    let r = w.reconcile(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.posted().len(), 1);
    assert_eq!(r.outputs["not-built"], "0");
    let _ = api;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_posted_when_codebuild_may_still_build() {
    // Comment approval: an approval can still start a batch.
    let mut approval = monorepo_webhook();
    approval["pullRequestBuildPolicy"] =
        json!({"requiresCommentApproval": "ALL_PULL_REQUESTS", "approverRoles": ["GITHUB_WRITE"]});
    // A webhook of single builds.
    let mut single = monorepo_webhook();
    single["buildType"] = json!("BUILD");
    for (why, webhook) in [
        ("comment approval", Some(approval)),
        ("BUILD webhook", Some(single)),
        ("no webhook", None),
    ] {
        let w = World::new(webhook).await;
        w.pull(7, &["docs/guide.md"]);
        let r = w.reconcile(&["--format", "json"]).await;
        assert_eq!(r.code, 0, "{why}: {}", r.stderr);
        assert!(w.posted().is_empty(), "{why}");
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        assert!(
            report["pulls"]["note"]
                .as_str()
                .unwrap()
                .starts_with("left alone: "),
            "{why}: {report:#}"
        );
        // The webhook decides before any pull request is read.
        assert!(
            !w.github_calls().iter().any(|c| c.contains("/pulls")),
            "{why}: {:#?}",
            w.github_calls()
        );
        assert_eq!(r.outputs["not-built"], "0");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_requests_with_a_batch_a_status_or_too_many_files_are_left_alone() {
    let w = World::new(Some(monorepo_webhook())).await;
    // More files than GitHub lists: the files are not known.
    w.pull(1, &[]);
    w.gh.set_many_pull_files(REPO, 1, "docs", 3000);
    // The gate's status is there already.
    let with_status = w.pull(2, &["docs/a.md"]);
    w.gh.add_status(REPO, &with_status, "failure", CONTEXT, "Not retried");
    // CodeBuild reported on it (its batch is older than the listing, say).
    let reported = w.pull(3, &["docs/a.md"]);
    w.gh.add_status(
        REPO,
        &reported,
        "success",
        "AWS CodeBuild BuildBatch us-east-1 (acme-api)",
        "Build succeeded",
    );
    // Last updated long ago: a batch before the listing may have built it.
    w.pull(4, &["docs/a.md"]);
    w.gh.update_pull(REPO, 4, |p| p["updated_at"] = json!("2026-01-01T00:00:00Z"));
    // Under 3,000 files, all docs: not built.
    let many = w.pull(5, &[]);
    w.gh.set_many_pull_files(REPO, 5, "docs", 2999);
    let r = w.reconcile(&["--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        w.posted(),
        vec![(many, "success".into(), CONTEXT.into(), NOT_BUILT.into())]
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let note = |n: u64| -> String {
        report["pulls"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["number"] == n)
            .unwrap()["note"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        note(1).contains("at most 3000 changed files"),
        "{}",
        note(1)
    );
    assert_eq!(note(2), "it has the gate's status");
    assert!(
        note(3).starts_with("CodeBuild reported on it"),
        "{}",
        note(3)
    );
    assert!(
        note(4).contains("last updated before the batches read"),
        "{}",
        note(4)
    );
    // 30 pages of 100 files were read for #1, no more.
    let pages = w
        .github_calls()
        .iter()
        .filter(|c| c.ends_with("/pulls/1/files"))
        .count();
    assert_eq!(pages, 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pull_request_in_a_dry_run_and_a_commit_message_filter() {
    let mut webhook = monorepo_webhook();
    // Excluded by a skip marker in the head commit's message, docs or not.
    webhook["filterGroups"] = json!([[
        {"type": "EVENT", "pattern": PR_EVENTS},
        {"type": "COMMIT_MESSAGE", "pattern": "\\[skip codebuild\\]", "excludeMatchedPattern": true}
    ]]);
    let w = World::new(Some(webhook)).await;
    let head = w.pull(7, &["services/api/src/main.rs"]);
    w.gh.set_commit_message(REPO, &head, "Tweak the API [skip codebuild]");
    let other = w.pull(8, &["services/api/src/main.rs"]);
    w.gh.set_commit_message(REPO, &other, "Tweak the API");
    let r = w
        .reconcile(&["--pull-request", "7", "--dry-run", "--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(w.posted().is_empty(), "a dry run posts nothing");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = report["pulls"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only #7: {report:#}");
    assert_eq!(rows[0]["did"], "would-post");
    assert_eq!(r.outputs["not-built"], "1");
    // Only #7 was read, and its commit message.
    let github = w.github_calls();
    assert!(
        github.contains(&format!("GET /repos/{REPO}/pulls/7")),
        "{github:#?}"
    );
    assert!(github.contains(&format!("GET /repos/{REPO}/git/commits/{head}")));
    assert!(
        !github
            .iter()
            .any(|c| c.contains("/pulls/8") || c.ends_with("/pulls"))
    );

    // The input form, for real, on #8 (no marker: CodeBuild builds it).
    let mut cmd = common::command_in(
        w.dir.path(),
        &w.cb.endpoint(),
        &w.gh.url(),
        TOKEN,
        REPO,
        "reconcile",
        &[],
    );
    cmd.env("INPUT_PROJECT", "acme-api")
        .env("INPUT_PULL-REQUEST", "8");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(w.posted().is_empty());
}
