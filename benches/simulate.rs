//! `simulate` live, as a whole process against the fake CodeBuild: a history of 1,000 batches
//! (scripts/make-history.py --random 1000, about 5,000 builds), replayed with and without
//! 20 ms added to every request. Reports wall time, the requests made by operation and peak
//! memory. Numbers for the notes, not a test. Run:
//! `cargo build --release && cargo bench --bench simulate` (`cargo bench` may rebuild
//! target/release/codebuild-retry-gate with the bench profile: to time the shipped binary,
//! copy it first and name the copy in `SIMULATE_BIN`).

#[path = "../tests/fakes/mod.rs"]
mod fakes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fakes::FakeCodeBuild;
use serde_json::Value;

const BATCHES: usize = 1000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SIMULATE_BIN") {
        return PathBuf::from(path);
    }
    let release = root().join("target/release/codebuild-retry-gate");
    assert!(
        release.exists(),
        "build the release binary first: cargo build --release"
    );
    release
}

/// The generated history (epoch seconds), made once into target/.
fn history() -> (Value, Value) {
    let dir = root().join(format!("target/bench-history-{BATCHES}"));
    if !dir.join("builds.json").exists() {
        let status = Command::new("python3")
            .arg(root().join("scripts/make-history.py"))
            .args(["--random", &BATCHES.to_string(), "--epoch", "--indent", "0"])
            .arg(&dir)
            .status()
            .expect("python3 runs scripts/make-history.py");
        assert!(status.success());
    }
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    (read("batches.json"), read("builds.json"))
}

/// Moves every time in `value` by `by` seconds.
fn shift(value: &mut Value, by: f64) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::Number(n)
                        if ["startTime", "endTime", "requestedOn"].contains(&key.as_str()) =>
                    {
                        *v = serde_json::json!(n.as_f64().unwrap() + by);
                    }
                    other => shift(other, by),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift(v, by)),
        _ => {}
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut batches, mut builds) = history();
    // The newest batch started an hour ago, so all of them fall in a 30-day window.
    let newest = batches["buildBatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["startTime"].as_f64())
        .fold(f64::MIN, f64::max);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let by = (now - 3600.0 - newest).round();
    shift(&mut batches, by);
    shift(&mut builds, by);
    let cb = runtime.block_on(FakeCodeBuild::start());
    cb.add_batch(batches);
    cb.add_build(builds);
    let workspace = tempfile::tempdir().unwrap();
    let has_time = Path::new("/usr/bin/time").exists();

    for latency_ms in [0u64, 20] {
        cb.set_latency(Duration::from_millis(latency_ms));
        let before = cb.calls().len();
        let mut cmd = if has_time {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M"]).arg(binary());
            c
        } else {
            Command::new(binary())
        };
        cmd.current_dir(workspace.path())
            .args([
                "simulate",
                "--project",
                "acme-web",
                "--days",
                "30",
                "--format",
                "json",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_CODEBUILD", cb.endpoint())
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        let start = Instant::now();
        let out = cmd.output().unwrap();
        let wall = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let calls = cb.calls();
        let mut by_op: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for c in &calls[before..] {
            let entry = by_op.entry(c.op.as_str()).or_default();
            entry.0 += 1;
            entry.1 += c.body["ids"].as_array().map_or(0, Vec::len);
        }
        assert_eq!(by_op.get("RetryBuildBatch"), None, "simulate never retries");
        let rss = if has_time {
            stderr
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<f64>().ok())
                .map_or("?".to_string(), |kib| format!("{:.1} MiB", kib / 1024.0))
        } else {
            "?".to_string()
        };
        println!(
            "simulate live, {latency_ms:>2} ms per request: {:.2} s wall, {} requests ({}), peak RSS {rss}; {} batches read, {} replayed, {} failed attempts",
            wall.as_secs_f64(),
            calls.len() - before,
            by_op
                .iter()
                .map(|(op, (n, ids))| if *ids > 0 {
                    format!("{op} {n} for {ids} ids")
                } else {
                    format!("{op} {n}")
                })
                .collect::<Vec<_>>()
                .join(", "),
            report["batches_read"],
            report["totals"]["batches"],
            report["totals"]["failed_attempts"],
        );
    }
}
