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
