//! Issue 17: a decision with a `known-flaky-days` rule that learns from 50 history batches
//! (each a flip: a failed `unit_tests` build with a test report, fixed by the retry), the
//! gate as a whole process against the fake CodeBuild and fake GitHub, at 0 and 50 ms per
//! request: wall time, CodeBuild calls by operation. Numbers for the notes, not a test.
//! Run: `cargo bench --bench flaky` (the release binary if built, else the debug one — the
//! round trips, not the code, dominate at 50 ms).

#[path = "../tests/fakes/mod.rs"]
mod fakes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fakes::{FakeCodeBuild, FakeGitHub};
use serde_json::{Value, json};

const RUNS: usize = 10;
const FLIPS: u64 = 50;

fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let release = target.join("release/codebuild-retry-gate");
    if release.exists() {
        return release;
    }
    let debug = target.join("debug/codebuild-retry-gate");
    assert!(debug.exists(), "build the binary first: cargo build");
    eprintln!("(no release binary: timing the debug build)");
    debug
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A flip of `unit_tests` `n` hours ago on a commit of its own, its failed build and report
/// (today's two failed tests among its failed tests when `known`, else only others).
fn add_flip(cb: &FakeCodeBuild, n: u64, known: bool) {
    let uuid = |k: u64| fakes::codebuild::pseudo_uuid(n * 10 + k, "bench-flip");
    let id = format!("acme-web:{}", uuid(0));
    let arn =
        |kind: &str, id: &str| format!("arn:aws:codebuild:us-east-1:111122223333:{kind}/{id}");
    let start = now_secs() - 3_600 - n as i64 * 3_600;
    let failed = format!("acme-web:{}", uuid(1));
    let retried = format!("acme-web:{}", uuid(2));
    let report = format!(
        "arn:aws:codebuild:us-east-1:111122223333:report/acme-web-unit:{}",
        uuid(3)
    );
    cb.add_batch(json!({
        "id": id, "arn": arn("build-batch", &id), "projectName": "acme-web",
        "startTime": start, "endTime": start + 1_200, "complete": true,
        "buildBatchStatus": "SUCCEEDED", "currentPhase": "SUCCEEDED",
        "resolvedSourceVersion": format!("{:040x}", 0xbe00 + n),
        "phases": [
            {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED", "startTime": start, "endTime": start + 400},
            {"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": start + 400, "endTime": start + 500},
            {"phaseType": "IN_PROGRESS", "phaseStatus": "SUCCEEDED", "startTime": start + 500, "endTime": start + 1_200},
            {"phaseType": "SUCCEEDED", "startTime": start + 1_200}
        ],
        "buildGroups": [{
            "identifier": "unit_tests", "ignoreFailure": false,
            "priorBuildSummaryList": [{"arn": arn("build", &failed), "requestedOn": start, "buildStatus": "FAILED"}],
            "currentBuildSummary": {"arn": arn("build", &retried), "requestedOn": start + 500, "buildStatus": "SUCCEEDED"}
        }]
    }));
    cb.add_build(json!({
        "id": failed, "arn": arn("build", &failed), "projectName": "acme-web",
        "buildStatus": "FAILED", "startTime": start, "endTime": start + 390, "buildComplete": true,
        "reportArns": [report]
    }));
    cb.add_report(json!({
        "arn": report, "type": "TEST", "status": "FAILED", "truncated": false,
        "created": start + 390, "expired": now_secs() + 20 * 86_400,
        "testSummary": {"total": 412, "statusCounts": {"FAILED": 2, "ERROR": 1, "SUCCEEDED": 409}}
    }));
    let case = |prefix: &str, name: &str, status: &str| json!({"reportArn": report, "prefix": prefix, "name": name, "status": status, "message": "flaky"});
    let (checkout, search) = if known {
        ("checkout.spec.ts", "search.spec.ts")
    } else {
        ("checkout-v2.spec.ts", "search-v2.spec.ts")
    };
    cb.add_test_cases(json!([
        case(checkout, "pays with a saved card", "FAILED"),
        case("cart.spec.ts", &format!("adds line {}", n % 7), "FAILED"),
        case(search, "search suggests as you type", "ERROR"),
    ]));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // Today's failed tests known flaky (the look-back stops early), then never flipped (it
    // is read whole before the refusal).
    scenario(true);
    scenario(false);
}

fn scenario(known: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cb, gh) =
        runtime.block_on(async { (FakeCodeBuild::start().await, FakeGitHub::start().await) });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("examples/batches/quarantined-tests");
    let template_id = cb.load_example(&example);
    let template = cb.batch(&template_id);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(example.join(name)).unwrap()).unwrap()
    };
    let mut reports = read("reports.json");
    for r in reports["reports"].as_array_mut().unwrap() {
        r["expired"] = json!(now_secs() + 30 * 86_400);
    }
    cb.add_report(reports);
    cb.add_test_cases(read("test-cases.json"));
    for n in 0..FLIPS {
        add_flip(&cb, n, known);
    }
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(
        workspace.path().join("policy.yml"),
        "version: 1\nrules:\n  - name: learned\n    groups: [unit_tests]\n    tests:\n      known-flaky-days: 14\n",
    )
    .unwrap();
    let binary = binary();
    let mut n = 0;
    for latency_ms in [0u64, 50] {
        cb.set_latency(Duration::from_millis(latency_ms));
        gh.set_latency(Duration::from_millis(latency_ms));
        let mut times = Vec::new();
        let mut ops: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..RUNS {
            n += 1;
            let mut batch = template.clone();
            let id = format!("acme-web:flaky{n:04}-0000-4000-8000-000000000000");
            batch["id"] = json!(id);
            batch["arn"] = json!(format!(
                "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
            ));
            batch["resolvedSourceVersion"] = json!(format!("{:040x}", 0xf000 + n));
            cb.add_batch(batch);
            let before = cb.calls().len();
            let start = Instant::now();
            let out = Command::new(&binary)
                .current_dir(workspace.path())
                .args(["gate", "--batch-id", &id, "--policy", "policy.yml"])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_ENDPOINT_URL_CODEBUILD", cb.endpoint())
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/nonexistent")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                .env("GITHUB_API_URL", gh.url())
                .env("GITHUB_TOKEN", "ghs_bench")
                .env("GITHUB_REPOSITORY", "acme/web")
                .output()
                .unwrap();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.starts_with(if known { "RETRY" } else { "REFUSE" }),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for c in &cb.calls()[before..] {
                *ops.entry(c.op.clone()).or_default() += 1;
            }
        }
        times.sort_by(f64::total_cmp);
        let per_run: Vec<String> = ops
            .iter()
            .map(|(op, k)| format!("{op} {:.0}", *k as f64 / RUNS as f64))
            .collect();
        println!(
            "gate, known-flaky-days over {FLIPS} flips, {}, {latency_ms:>2} ms per request: median {:7.1} ms  p90 {:7.1} ms  min {:7.1} ms  (CodeBuild calls per run: {})",
            if known {
                "known flaky"
            } else {
                "never flipped"
            },
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times[0],
            per_run.join(", ")
        );
    }
}
