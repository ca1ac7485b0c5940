//! Issue 19.2: one workflow for every region. The region comes from the batch ARN or the
//! status event's CodeBuild console link when it names one, else AWS_REGION; the real
//! aws-sdk-codebuild client signs for that region, which the fake CodeBuild reads from the
//! SigV4 credential scope of each request's Authorization header. Errors name the region
//! and what to set.

mod common;
mod fakes;

use std::path::PathBuf;

use fakes::{FakeCodeBuild, FakeGitHub, Fault};
use serde_json::json;

const TOKEN: &str = "ghs_testtoken0123456789";
const REPO: &str = "acme/api";
/// The commit of `examples/batches/provisioning-fault`.
const SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
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

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let cmd = common::gate_in(
            self.dir.path(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            args,
        );
        tokio::process::Command::from(cmd)
    }

    async fn run(&self, mut cmd: tokio::process::Command) -> Outcome {
        let out = cmd.output().await.expect("the binary runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The region every CodeBuild request was signed for.
    fn regions(&self) -> Vec<String> {
        self.cb
            .calls()
            .into_iter()
            .map(|c| c.region.unwrap_or_else(|| "(unsigned)".into()))
            .collect()
    }

    fn event(&self, target_url: &str) -> PathBuf {
        let path = self.dir.path().join("event.json");
        let event = json!({
            "sha": SHA,
            "state": "failure",
            "context": "AWS CodeBuild BuildBatch eu-west-1 (acme-api)",
            "target_url": target_url,
            "repository": {"full_name": REPO},
        });
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }
}

fn last_line(text: &str) -> &str {
    text.trim_end().lines().last().unwrap_or_default()
}

fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:codebuild:{region}:111122223333:build-batch/{id}")
}

fn all(regions: &[String], region: &str) -> bool {
    !regions.is_empty() && regions.iter().all(|r| r == region)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_arn_names_the_region_the_gate_talks_to() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let r = w
        .run(w.command(&["--batch-id", &arn("eu-west-1", &id), "--dry-run"]))
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    // AWS_REGION is us-east-1 in the test environment: the ARN wins, for every call.
    let regions = w.regions();
    assert!(all(&regions, "eu-west-1"), "{regions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_link_in_the_status_event_names_the_region() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let link = format!(
        "https://ap-southeast-2.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-api/batch/{}?region=ap-southeast-2",
        id.replace(':', "%3A")
    );
    let event = w.event(&link);
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.cb.retries_performed(&id), 1);
    let regions = w.regions();
    assert!(all(&regions, "ap-southeast-2"), "{regions:?}");
    assert_eq!(w.gh.statuses().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_named_region_aws_region_is_used() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&["--batch-id", &id, "--dry-run"]);
    cmd.env("AWS_REGION", "sa-east-1");
    let r = w.run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let regions = w.regions();
    assert!(all(&regions, "sa-east-1"), "{regions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_region_at_all_is_a_configuration_error_that_says_what_to_set() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&["--batch-id", &id, "--dry-run"]);
    cmd.env_remove("AWS_REGION");
    let r = w.run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        last_line(&r.stderr),
        "error: no AWS region: set AWS_REGION (or the Action's aws-region) to the region of your CodeBuild projects, or give the batch as its ARN (it names its region)"
    );
    assert!(
        w.cb.calls().is_empty(),
        "nothing is called without a region"
    );

    // The ARN alone is enough.
    let mut cmd = w.command(&["--batch-id", &arn("eu-north-1", &id), "--dry-run"]);
    cmd.env_remove("AWS_REGION");
    let r = w.run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(all(&w.regions(), "eu-north-1"));

    // reconcile and simulate say the same.
    for sub in [
        vec!["reconcile", "--project", "acme-api", "--dry-run"],
        vec!["simulate", "--project", "acme-api"],
    ] {
        let mut cmd = tokio::process::Command::from(common::command_in(
            w.dir.path(),
            &w.cb.endpoint(),
            &w.gh.url(),
            TOKEN,
            REPO,
            sub[0],
            &sub[1..],
        ));
        cmd.env_remove("AWS_REGION");
        let r = w.run(cmd).await;
        assert_eq!(r.code, 2, "{sub:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("no AWS region: set AWS_REGION (or the Action's aws-region)"),
            "{sub:?}: {}",
            r.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_not_found_names_the_region_and_what_to_set() {
    let w = World::new().await;
    let r = w
        .run(w.command(&[
            "--batch-id",
            "acme-api:00000000-0000-0000-0000-000000000000",
            "--dry-run",
        ]))
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        last_line(&r.stderr),
        "error: batch acme-api:00000000-0000-0000-0000-000000000000 was not found in CodeBuild in us-east-1 (from AWS_REGION); if it is in another region, set AWS_REGION (or the Action's aws-region) to that region, or give the batch as its ARN"
    );

    let r = w
        .run(w.command(&[
            "--batch-id",
            &arn("eu-west-1", "acme-api:00000000-0000-0000-0000-000000000000"),
            "--dry-run",
        ]))
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "was not found in CodeBuild in eu-west-1 (from the batch ARN); the region comes from the batch ARN"
        ),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_project_names_the_region() {
    let w = World::new().await;
    w.example("provisioning-fault");
    let r = w
        .run(w.command(&["--project", "nope", "--sha", SHA, "--dry-run"]))
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("CodeBuild ListBuildBatchesForProject failed in us-east-1: ResourceNotFoundException")
            && r.stderr.contains("(not found in us-east-1 (from AWS_REGION); if it is in another region, set AWS_REGION (or the Action's aws-region) to that region"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_errors_name_the_region_and_what_to_set() {
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    let mut cmd = w.command(&["--batch-id", &arn("eu-west-1", &id), "--dry-run"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let r = w.run(cmd).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("CodeBuild BatchGetBuildBatches failed in eu-west-1: no AWS credentials"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(region eu-west-1 (from the batch ARN): run aws-actions/configure-aws-credentials before this step, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"),
        "{}",
        r.stderr
    );

    // Credentials CodeBuild refuses.
    let w = World::new().await;
    let id = w.example("provisioning-fault");
    w.cb.inject(
        "BatchGetBuildBatches",
        Fault::Error(
            "UnrecognizedClientException".into(),
            "The security token included in the request is invalid.".into(),
        ),
        1,
    );
    let r = w.run(w.command(&["--batch-id", &id, "--dry-run"])).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("CodeBuild BatchGetBuildBatches failed in us-east-1: UnrecognizedClientException: The security token included in the request is invalid. (the credentials were refused in us-east-1 (from AWS_REGION): check that they are current, for the account that owns the project, and that its role may call CodeBuild there; see docs/setup.md)"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_region_in_an_arn_or_a_link_is_an_input_error() {
    let w = World::new().await;
    let r = w
        .run(w.command(&[
            "--batch-id",
            "arn:aws:codebuild:evil.example.com:1:build-batch/acme-api:abc",
            "--dry-run",
        ]))
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("names the region `evil.example.com`, which is not an AWS region name"),
        "{}",
        r.stderr
    );
    let event = w.event("https://us-west-2.console.aws.amazon.com/codesuite/codebuild/projects/acme-api/batch/acme-api%3Aabc/?region=eu-west-1");
    let mut cmd = w.command(&[]);
    cmd.env("GITHUB_EVENT_NAME", "status")
        .env("GITHUB_EVENT_PATH", &event);
    let r = w.run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("names more than one region"),
        "{}",
        r.stderr
    );
    assert!(w.cb.calls().is_empty());
}
