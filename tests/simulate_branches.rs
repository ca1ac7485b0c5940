//! Issue 18: `simulate` with rules that select by GitHub's facts about the commit — live,
//! read from the fake GitHub once per commit (the real octocrab client, through
//! GITHUB_API_URL), and offline from `--github FILE`; without them such rules are reported
//! as unjudgeable (`could-not-judge`), not silently unmatched.

mod common;
mod fakes;
#[path = "support/history.rs"]
mod history;

use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub};
use history::{DAY, End, Fail, History, sha};
use serde_json::{Value, json};

const INFRA: &[(&str, Fail)] = &[("build", Fail::Infra)];
const OK: &[(&str, Fail)] = &[];
const TOKEN: &str = "ghs_simulatebranches0123456789";
const REPO: &str = "acme/web";
const POLICY: &str =
    "version: 1\nrules:\n  - name: prs-into-main\n    pull-request-bases: [main]\n";

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

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

/// (commit, decision, code) of every attempt, in the report's order.
fn decisions(report: &Value) -> Vec<(String, String, String)> {
    report["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["commit"].as_str().unwrap_or_default().to_string(),
                a["decision"].as_str().unwrap().to_string(),
                a["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Two failed batches of commit a (which heads an open pull request into main) and one of
/// commit b (which heads none): live, a's attempts are retried and b's refused, and GitHub is
/// asked once per commit.
#[tokio::test(flavor = "multi_thread")]
async fn live_reads_pull_requests_once_per_commit() {
    let cb = FakeCodeBuild::start().await;
    let gh = FakeGitHub::start().await;
    let now = now();
    let mut h = History::new("acme-web");
    h.batch(&sha('a'), now - 3.0 * DAY, &[INFRA, OK], 600.0, End::Done);
    h.batch(&sha('a'), now - 2.0 * DAY, &[INFRA, OK], 600.0, End::Done);
    h.batch(&sha('b'), now - 1.0 * DAY, &[INFRA], 0.0, End::Done);
    cb.add_batch(h.batches_json());
    cb.add_build(h.builds_json());
    gh.add_commit_pull(REPO, &sha('a'), 7, "fix", &sha('a'), "main", "open", false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yml"), POLICY).unwrap();
    let mut cmd = simulate(
        dir.path(),
        &cb.endpoint(),
        &[
            "--project",
            "acme-web",
            "--days",
            "7",
            "--policy",
            "policy.yml",
            "--format",
            "json",
        ],
    );
    cmd.env("GITHUB_API_URL", gh.url())
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_TOKEN", TOKEN);
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let got = decisions(&report);
    let retry = |c: char| {
        (
            sha(c),
            "retry".to_string(),
            "all-failures-allowed".to_string(),
        )
    };
    let refuse = |c: char| {
        (
            sha(c),
            "refuse".to_string(),
            "failure-not-allowed".to_string(),
        )
    };
    assert_eq!(got, [retry('a'), retry('a'), refuse('b')], "{report}");
    let mut asked: Vec<String> = gh.calls().iter().map(|c| c.path.clone()).collect();
    asked.sort();
    assert_eq!(
        asked,
        [
            format!("/repos/{REPO}/commits/{}/pulls", sha('a')),
            format!("/repos/{REPO}/commits/{}/pulls", sha('b')),
        ],
        "once per commit, read-only"
    );
    assert!(gh.calls().iter().all(|c| c.token.as_deref() == Some(TOKEN)));
}

/// Offline: from `--github FILE`; a commit the file does not hold cannot be judged.
#[test]
fn offline_takes_the_facts_from_a_file() {
    let now = now();
    let mut h = History::new("acme-web");
    h.batch(&sha('a'), now - 3.0 * DAY, &[INFRA], 0.0, End::Done);
    h.batch(&sha('b'), now - 2.0 * DAY, &[INFRA], 0.0, End::Done);
    let dir = tempfile::tempdir().unwrap();
    let batches = dir.path().join("batches.json");
    let builds = dir.path().join("builds.json");
    std::fs::write(&batches, h.batches_json().to_string()).unwrap();
    std::fs::write(&builds, h.builds_json().to_string()).unwrap();
    std::fs::write(dir.path().join("policy.yml"), POLICY).unwrap();
    let github = dir.path().join("github.json");
    let pull = json!({"number": 7, "state": "open", "head": {"ref": "fix", "sha": sha('a')}, "base": {"ref": "main"}});
    std::fs::write(
        &github,
        json!({"commits": {sha('a'): {"pulls": [pull]}}}).to_string(),
    )
    .unwrap();
    let run = |with_github: bool| {
        let mut cmd = common::gate();
        cmd.arg("simulate")
            .arg("--batches")
            .arg(&batches)
            .arg("--builds")
            .arg(&builds)
            .arg("--policy")
            .arg(dir.path().join("policy.yml"))
            .args(["--format", "json"]);
        if with_github {
            cmd.arg("--github").arg(&github);
        }
        let r = common::run(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).unwrap()
    };
    let report = run(true);
    assert_eq!(
        decisions(&report),
        [
            (sha('a'), "retry".into(), "all-failures-allowed".into()),
            (sha('b'), "refuse".into(), "could-not-judge".into()),
        ],
        "{report}"
    );
    let report = run(false);
    assert!(
        decisions(&report)
            .iter()
            .all(|(_, d, code)| d == "refuse" && code == "could-not-judge"),
        "{report}"
    );
}
