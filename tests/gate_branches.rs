//! Issue 18: rules by branch and pull request that hold for every way a batch starts —
//! canonical source versions, and GitHub's facts about the commit (`branches`,
//! `pull-request-bases`) — through the real binary, the real `aws-sdk-codebuild` and
//! `octocrab` clients, and the local fakes (reached only through AWS_ENDPOINT_URL_CODEBUILD
//! and GITHUB_API_URL).

mod common;
mod fakes;

use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_branchfactstoken0123456789";
const REPO: &str = "acme/web";
/// The commit of `examples/batches/provisioning-fault`.
const SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
    id: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl World {
    /// The provisioning-fault example (a FAULT in PROVISIONING of `linux_x86`), its
    /// `sourceVersion` set to `source_version`, judged under `policy`.
    async fn new(source_version: &str, policy: &str) -> World {
        let cb = FakeCodeBuild::start().await;
        let id = cb.load_example(&common::root().join("examples/batches/provisioning-fault"));
        let version = source_version.to_string();
        cb.update_batch(&id, move |b| b["sourceVersion"] = json!(version));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        std::fs::write(dir.path().join(".github/codebuild-retry-gate.yml"), policy).unwrap();
        World {
            cb,
            gh: FakeGitHub::start().await,
            dir,
            id,
        }
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut all = vec!["--batch-id", self.id.as_str(), "--format", "json"];
        all.extend_from_slice(args);
        tokio::process::Command::from(common::gate_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            &all,
        ))
    }

    async fn gate(&self, args: &[&str]) -> Run {
        self.gate_with(self.command(args)).await
    }

    async fn gate_with(&self, mut cmd: tokio::process::Command) -> Run {
        let out = cmd.output().await.expect("the binary runs");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token never shows"
        );
        run
    }
}

/// The group the example's failure is in (group 0 is CodeBuild's DOWNLOAD_SOURCE).
fn failed_group(report: &Value) -> &Value {
    &report["groups"][1]
}

const NEVER_ON_MAIN: &str = "version: 1
rules:
  - name: never-on-main
    action: refuse
    source-versions: [main]
  - name: infrastructure
    phases: [PROVISIONING]
";

/// `refs/heads/main^{SHA}` (AWS's faster-download form) is `main`: refused, not retried,
/// and the report says which form matched.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_main_ref_is_main_under_never_on_main() {
    let w = World::new(&format!("refs/heads/main^{{{SHA}}}"), NEVER_ON_MAIN).await;
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    assert_eq!(failed_group(&report)["code"], "refused-by-rule");
    assert_eq!(failed_group(&report)["rule"]["name"], "never-on-main");
    let detail = failed_group(&report)["detail"].as_str().unwrap();
    assert!(detail.contains("read as `main`"), "{detail}");
    assert_eq!(
        report["source_version"]["canonical"],
        json!(["main", "refs/heads/main"])
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(w.gh.statuses()[0].state, "failure");
}

/// `refs/pull/7/head` is `pr/7`: a `pr/*` rule retries it.
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_ref_is_pr_n() {
    let w = World::new(
        "refs/pull/7/head",
        "version: 1\nrules:\n  - name: prs-only\n    source-versions: [\"pr/*\"]\n",
    )
    .await;
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry", "{report}");
    assert_eq!(failed_group(&report)["rule"]["name"], "prs-only");
    assert_eq!(w.cb.retries_performed(&w.id), 1);
    assert_eq!(w.gh.statuses()[0].state, "pending");
    // Nothing but the status was asked of GitHub: no rule uses GitHub's facts.
    let calls: Vec<String> = w.gh.calls().iter().map(|c| c.path.clone()).collect();
    assert!(
        calls
            .iter()
            .all(|p| p.ends_with(&format!("/statuses/{SHA}"))),
        "{calls:?}"
    );
}

/// The GitHub paths asked for, in arrival order.
fn github_paths(w: &World) -> Vec<String> {
    w.gh.calls()
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

const PRS_INTO_MAIN: &str = "version: 1
rules:
  - name: prs-into-main
    pull-request-bases: [main]
";

/// A batch recorded with the bare commit SHA (as webhook pull-request batches can be) whose
/// commit heads an open pull request into main: `pull-request-bases: [main]` retries it, and
/// GitHub's pull requests were read alongside CodeBuild (its calls did not grow).
#[tokio::test(flavor = "multi_thread")]
async fn a_bare_sha_batch_heading_an_open_pull_request_into_main_is_retried() {
    let w = World::new(SHA, PRS_INTO_MAIN).await;
    // A merged pull request of the same commit into another branch does not count; the open
    // one into main does.
    w.gh.add_commit_pull(REPO, SHA, 6, "fix", SHA, "release/1", "closed", true);
    w.gh.add_commit_pull(REPO, SHA, 7, "fix", SHA, "main", "open", false);
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "retry", "{report}");
    assert_eq!(failed_group(&report)["rule"]["name"], "prs-into-main");
    assert_eq!(w.cb.retries_performed(&w.id), 1);
    assert_eq!(
        w.cb.calls().len(),
        4,
        "batch + listing, builds, retry: {:?}",
        w.cb.calls()
    );
    assert_eq!(
        github_paths(&w),
        [
            format!("GET /repos/{REPO}/commits/{SHA}/pulls"),
            format!("POST /repos/{REPO}/statuses/{SHA}"),
        ]
    );
    let pulls = &w.gh.calls()[0];
    assert_eq!(pulls.query.as_deref(), Some("per_page=100&page=1"));
    assert_eq!(pulls.token.as_deref(), Some(TOKEN));
}

/// A commit that heads no open pull request (only a merged one) is not a pull request's.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_without_an_open_pull_request_is_refused() {
    let w = World::new(SHA, PRS_INTO_MAIN).await;
    w.gh.add_commit_pull(REPO, SHA, 6, "fix", SHA, "main", "closed", true);
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    let detail = failed_group(&report)["detail"].as_str().unwrap();
    assert!(
        detail.contains("lists no open pull request headed by commit b80469b84b2d"),
        "{detail}"
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

const NEVER_ON_MAIN_BY_BRANCH: &str = "version: 1
rules:
  - name: never-on-main
    action: refuse
    branches: [main]
  - name: infrastructure
    phases: [PROVISIONING]
";

/// A `status` event for the batch, on its commit, listing `branches`.
fn status_event(w: &World, branches: &[&str]) -> std::path::PathBuf {
    let path = w.workspace().join("event.json");
    let event = json!({
        "sha": SHA,
        "state": "failure",
        "context": "AWS CodeBuild us-east-1 (acme-api)",
        "target_url": format!(
            "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-api/batch/{}?region=us-east-1",
            w.id.replace(':', "%3A")
        ),
        "repository": {"full_name": REPO},
        "branches": branches.iter().map(|b| json!({
            "name": b,
            "commit": {"sha": SHA, "url": format!("https://api.github.com/repos/{REPO}/commits/{SHA}")},
            "protected": *b == "main",
        })).collect::<Vec<_>>(),
    });
    std::fs::write(&path, event.to_string()).unwrap();
    path
}

/// The status event's `branches` list main: `branches: [main]` refuses, and GitHub is not
/// asked for branches (the event said).
#[tokio::test(flavor = "multi_thread")]
async fn a_status_event_listing_main_is_refused_by_branches_main() {
    let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
    let event = status_event(&w, &["feature/x", "main"]);
    let mut cmd = tokio::process::Command::from(common::gate_in(
        w.workspace(),
        &w.cb.endpoint(),
        &w.gh.url(),
        TOKEN,
        REPO,
        &["--format", "json"],
    ));
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    assert_eq!(failed_group(&report)["code"], "refused-by-rule");
    assert_eq!(failed_group(&report)["rule"]["name"], "never-on-main");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(
        github_paths(&w),
        [
            format!("GET /repos/{REPO}/commits/{SHA}/status"),
            format!("POST /repos/{REPO}/statuses/{SHA}")
        ],
        "the event's branches, not a read (only the gate's latest status, before posting)"
    );
    assert_eq!(w.gh.statuses()[0].state, "failure");

    // An event whose branches do not include main: the infrastructure failure is retried.
    let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
    let event = status_event(&w, &["feature/x"]);
    let mut cmd = tokio::process::Command::from(common::gate_in(
        w.workspace(),
        &w.cb.endpoint(),
        &w.gh.url(),
        TOKEN,
        REPO,
        &["--format", "json"],
    ));
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.gate_with(cmd).await;
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    assert_eq!(w.cb.retries_performed(&w.id), 1);
}

/// Without an event, the branches whose head the commit is (branches-where-head).
#[tokio::test(flavor = "multi_thread")]
async fn without_an_event_the_branches_whose_head_it_is_are_read() {
    let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
    w.gh.set_branches_where_head(REPO, SHA, &["main"]);
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    assert_eq!(failed_group(&report)["rule"]["name"], "never-on-main");
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    assert_eq!(
        github_paths(&w)[0],
        format!("GET /repos/{REPO}/commits/{SHA}/branches-where-head")
    );

    // The commit heads another branch only: retried.
    let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
    w.gh.set_branches_where_head(REPO, SHA, &["feature/x"]);
    let r = w.gate(&[]).await;
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    let detail = failed_group(&r.json())["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("rule `never-on-main` did not match")
            && detail.contains("(feature/x) match none of main"),
        "{detail}"
    );
}

/// GitHub refusing the reads (no `pull-requests: read`) or failing: the rules that need them
/// do not match, the reason says why, and nothing is retried on a guess.
#[tokio::test(flavor = "multi_thread")]
async fn github_failing_on_those_reads_is_no_retry_and_says_why() {
    // A retry rule that needs pull requests: it cannot be judged.
    let w = World::new(SHA, PRS_INTO_MAIN).await;
    w.gh.add_commit_pull(REPO, SHA, 7, "fix", SHA, "main", "open", false);
    w.gh.inject_on("GET", fakes::GitHubFault::Forbidden, 1);
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    let detail = failed_group(&report)["detail"].as_str().unwrap();
    assert!(
        detail.contains("could not judge rule `prs-into-main`")
            && detail.contains("open pull requests of commit b80469b84b2d could not be read")
            && detail.contains("HTTP 403")
            && detail.contains("Resource not accessible by integration"),
        "{detail}"
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
    let status = &w.gh.statuses()[0];
    assert_eq!(status.state, "failure");

    // A refuse rule that needs branches, before a rule that would retry: GitHub answers 500
    // (retried, then given up): the refusal might apply, so it refuses.
    let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
    w.gh.set_branches_where_head(REPO, SHA, &["feature/x"]);
    w.gh.inject_on("GET", fakes::GitHubFault::Status(500), 4);
    let r = w.gate(&[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["decision"], "refuse", "{report}");
    assert_eq!(failed_group(&report)["code"], "could-not-judge");
    let detail = failed_group(&report)["detail"].as_str().unwrap();
    assert!(
        detail.contains("never-on-main") && detail.contains("(HTTP 500)"),
        "{detail}"
    );
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("never-on-main")
            || detail.contains("could not be read"),
        "{}",
        r.json()["reason"]
    );
    assert_eq!(w.cb.count("RetryBuildBatch"), 0);
}

/// A `status` event lists at most 10 branches: ten that do not include main may be cut, so
/// `never-on-main` cannot be judged from them and the failure is refused (fail closed), with
/// the reason; nine are the whole list, and the infrastructure failure is retried.
#[tokio::test(flavor = "multi_thread")]
async fn ten_event_branches_may_be_cut_so_never_on_main_refuses() {
    let names: Vec<String> = (0..10).map(|i| format!("feature/{i}")).collect();
    let ten: Vec<&str> = names.iter().map(String::as_str).collect();
    for (branches, want) in [(&ten[..], "refuse"), (&ten[..9], "retry")] {
        let w = World::new(SHA, NEVER_ON_MAIN_BY_BRANCH).await;
        let event = status_event(&w, branches);
        let mut cmd = tokio::process::Command::from(common::gate_in(
            w.workspace(),
            &w.cb.endpoint(),
            &w.gh.url(),
            TOKEN,
            REPO,
            &["--format", "json"],
        ));
        cmd.env("GITHUB_EVENT_NAME", "status")
            .env("GITHUB_EVENT_PATH", &event);
        let r = w.gate_with(cmd).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let report = r.json();
        assert_eq!(report["decision"], want, "{report}");
        if want == "refuse" {
            assert_eq!(failed_group(&report)["code"], "could-not-judge");
            let detail = failed_group(&report)["detail"].as_str().unwrap();
            assert!(
                detail.contains("the status event lists 10 branches of commit b80469b84b2d, the most it lists, and none matches main; others may"),
                "{detail}"
            );
            assert_eq!(w.cb.count("RetryBuildBatch"), 0);
        } else {
            assert_eq!(w.cb.retries_performed(&w.id), 1);
        }
        assert!(
            github_paths(&w)
                .iter()
                .all(|p| !p.contains("branches-where-head")),
            "the event's branches, not a read: {:?}",
            github_paths(&w)
        );
    }
}
