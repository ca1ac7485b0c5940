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
