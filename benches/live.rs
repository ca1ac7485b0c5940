//! `gate` as a whole process against local fakes, with and without 50 ms added to every
//! request: wall time, sequential round trips, peak memory. Numbers for the notes, not a
//! test. Run: `cargo build --release && cargo bench --bench live`.
//!
//! Then (issue 17) a decision that reads the failed build's CloudWatch log, and a 4 MiB tail.
//!
//! Each run judges a fresh failed batch (a copy of examples/batches/provisioning-fault with
//! its own id), so every run takes the full path: batch + listing, failed build, retry,
//! commit status.

#[path = "../tests/fakes/mod.rs"]
mod fakes;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fakes::{FakeCodeBuild, FakeGitHub, FakeLogs};

const RUNS: usize = 30;

fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let release = target.join("release/codebuild-retry-gate");
    assert!(
        release.exists(),
        "build the release binary first: cargo build --release"
    );
    release
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let has_time = std::path::Path::new("/usr/bin/time").exists();
    // The built-in policy, and one whose rules select by GitHub's facts about the commit
    // (issue 18): those are read in parallel with the builds, so the round trips stay.
    let plain = tempfile::tempdir().unwrap();
    let github_rules = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(github_rules.path().join(".github")).unwrap();
    std::fs::write(
        github_rules.path().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: never-on-main\n    action: refuse\n    branches: [main]\n  - name: prs\n    pull-request-bases: [\"*\"]\n",
    )
    .unwrap();

    let mut n = 0;
    for (label, workspace) in [
        ("built-in policy", &plain),
        ("branches + pull-request-bases", &github_rules),
    ] {
        for latency_ms in [0u64, 50] {
            // Fresh fakes for each series: the batches of earlier runs would lengthen the
            // project's listing past one page (100) and add round trips that are not the
            // gate's own.
            let (cb, gh) = runtime
                .block_on(async { (FakeCodeBuild::start().await, FakeGitHub::start().await) });
            let template_id = cb.load_example(&root.join("examples/batches/provisioning-fault"));
            let template = cb.batch(&template_id);
            cb.set_latency(Duration::from_millis(latency_ms));
            gh.set_latency(Duration::from_millis(latency_ms));
            let mut times = Vec::new();
            let mut rss_kib = Vec::new();
            for _ in 0..RUNS {
                n += 1;
                let mut batch = template.clone();
                let id = format!("acme-api:bench{n:04}-0000-4000-8000-000000000000");
                batch["id"] = serde_json::json!(id);
                batch["arn"] = serde_json::json!(format!(
                    "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
                ));
                // Its own commit, so earlier runs' retries do not spend its per-commit budget.
                batch["resolvedSourceVersion"] = serde_json::json!(format!("{n:040x}"));
                let commit = format!("{n:040x}");
                gh.add_commit_pull(
                    "acme/api", &commit, 7, "fix", &commit, "main", "open", false,
                );
                cb.add_batch(batch);
                let calls_before = cb.calls().len();
                let mut cmd = if has_time {
                    let mut c = Command::new("/usr/bin/time");
                    c.args(["-f", "%M"]).arg(binary());
                    c
                } else {
                    Command::new(binary())
                };
                cmd.current_dir(workspace.path())
                    .args(["gate", "--batch-id", &id])
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
                    .env("GITHUB_REPOSITORY", "acme/api");
                if std::env::var_os("BENCH_VERBOSE").is_some() {
                    cmd.arg("--verbose");
                }
                let start = Instant::now();
                let out = cmd.output().unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                if std::env::var_os("BENCH_VERBOSE").is_some() && n % RUNS == 0 {
                    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                }
                assert_eq!(cb.retries_performed(&id), 1);
                // Batch + listing, then failed build + history batches, then the retry.
                let calls = cb.calls();
                assert!(
                    calls.len() - calls_before <= 5,
                    "at most five CodeBuild calls per run: {:?}\n{}",
                    calls[calls_before..]
                        .iter()
                        .map(|c| c.op.clone())
                        .collect::<Vec<_>>(),
                    String::from_utf8_lossy(&out.stderr)
                );
                if has_time {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    if let Some(kib) = stderr
                        .lines()
                        .last()
                        .and_then(|l| l.trim().parse::<f64>().ok())
                    {
                        rss_kib.push(kib);
                    }
                }
            }
            times.sort_by(f64::total_cmp);
            rss_kib.sort_by(f64::total_cmp);
            println!(
                "gate ({label}), {latency_ms:>2} ms per request: median {:7.2} ms  p90 {:7.2} ms  min {:7.2} ms  round trips ~{:.1}  peak RSS median {:.1} MiB (max {:.1})",
                percentile(&times, 0.5),
                percentile(&times, 0.9),
                times[0],
                if latency_ms > 0 {
                    percentile(&times, 0.5) / latency_ms as f64
                } else {
                    f64::NAN
                },
                rss_kib.get(rss_kib.len() / 2).copied().unwrap_or(f64::NAN) / 1024.0,
                rss_kib.last().copied().unwrap_or(f64::NAN) / 1024.0,
            );
        }
    }
    log_condition(&runtime, has_time);
}

/// Issue 17, logs: a decision that reads the failed build's CloudWatch log (the
/// rate-limit-in-log example and its policy), at 0 and 50 ms per request to every service;
/// then a rule reading a 4 MiB tail of a 5 MiB log (wall time, GetLogEvents requests, peak
/// memory).
fn log_condition(runtime: &tokio::runtime::Runtime, has_time: bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (cb, gh, logs) = runtime.block_on(async {
        (
            FakeCodeBuild::start().await,
            FakeGitHub::start().await,
            FakeLogs::start().await,
        )
    });
    let example = root.join("examples/batches/rate-limit-in-log");
    let template_id = cb.load_example(&example);
    let template = cb.batch(&template_id);
    let build = cb
        .build("acme-web:d9fb18e8-eef6-4ac4-88b6-350eedd03c87")
        .unwrap();
    let start_ms = (build["startTime"].as_f64().unwrap() * 1000.0) as i64;
    let text = std::fs::read_to_string(
        example.join("logs/acme-web:d9fb18e8-eef6-4ac4-88b6-350eedd03c87.log"),
    )
    .unwrap();
    let (group, stream) = (
        "/aws/codebuild/acme-web",
        "d9fb18e8-eef6-4ac4-88b6-350eedd03c87",
    );
    let policy =
        std::fs::read_to_string(root.join("policies/examples/registry-rate-limits-by-log.yml"))
            .unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(workspace.path().join(".github")).unwrap();
    let policy_path = workspace.path().join(".github/codebuild-retry-gate.yml");

    // A 5 MiB log (about 55,000 events of 96 bytes) whose rate-limit line is 3.5 MiB from
    // the end, for a rule with `tail-kib: 4096`.
    let mut big = String::new();
    let filler = format!("{}\n", "x".repeat(95));
    for i in 0..55_000 {
        if i == 18_000 {
            big.push_str("npm error 429 Too Many Requests - GET https://registry.npmjs.org/x\n");
        }
        big.push_str(&filler);
    }

    let mut n = 0;
    for (label, tail_kib) in [
        ("log condition (example log, tail 256 KiB)", 0),
        ("log condition, 4 MiB tail of a 5 MiB log", 4096),
    ] {
        if tail_kib == 0 {
            std::fs::write(&policy_path, &policy).unwrap();
        } else {
            std::fs::write(
                &policy_path,
                "version: 1\nrules:\n  - name: big-tail\n    log:\n      matches: ['429 Too Many Requests']\n      tail-kib: 4096\n",
            )
            .unwrap();
        }
        // One stream per scenario (the build is the example's; every run judges it).
        let run_stream = format!("{stream}-tail{tail_kib}");
        let mut b = build.clone();
        b["logs"]["streamName"] = serde_json::json!(run_stream);
        cb.add_build(b);
        let body = if tail_kib == 0 { &text } else { &big };
        logs.add_log(group, &run_stream, start_ms + 1000, 1, body);
        let runs = if tail_kib == 0 { RUNS } else { 10 };
        for latency_ms in [0u64, 50] {
            cb.set_latency(Duration::from_millis(latency_ms));
            gh.set_latency(Duration::from_millis(latency_ms));
            logs.set_latency(Duration::from_millis(latency_ms));
            let (mut times, mut rss_kib, mut requests) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..runs {
                n += 1;
                let id = format!("acme-web:logbench{n:04}-0000-4000-8000-000000000000");
                let commit = format!("{:040x}", 0xabc0000 + n);
                let mut batch = template.clone();
                batch["id"] = serde_json::json!(id);
                batch["arn"] = serde_json::json!(format!(
                    "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
                ));
                batch["resolvedSourceVersion"] = serde_json::json!(commit);
                cb.add_batch(batch);
                let before = logs.get_log_events();
                let mut cmd = if has_time {
                    let mut c = Command::new("/usr/bin/time");
                    c.args(["-f", "%M"]).arg(binary());
                    c
                } else {
                    Command::new(binary())
                };
                cmd.current_dir(workspace.path())
                    .args(["gate", "--batch-id", &id])
                    .env_clear()
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("AWS_ENDPOINT_URL_CODEBUILD", cb.endpoint())
                    .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.endpoint())
                    .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                    .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_CONFIG_FILE", "/nonexistent")
                    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                    .env("GITHUB_API_URL", gh.url())
                    .env("GITHUB_TOKEN", "ghs_bench")
                    .env("GITHUB_REPOSITORY", "acme/web");
                let start = Instant::now();
                let out = cmd.output().unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(stdout.starts_with("RETRY"), "{stdout}");
                assert_eq!(cb.retries_performed(&id), 1);
                requests.push((logs.get_log_events() - before) as f64);
                if has_time
                    && let Some(kib) = String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .and_then(|l| l.trim().parse::<f64>().ok())
                {
                    rss_kib.push(kib);
                }
            }
            times.sort_by(f64::total_cmp);
            rss_kib.sort_by(f64::total_cmp);
            println!(
                "gate ({label}), {latency_ms:>2} ms per request: median {:7.2} ms  p90 {:7.2} ms  min {:7.2} ms  GetLogEvents per run {:.0}  peak RSS median {:.1} MiB (max {:.1})",
                percentile(&times, 0.5),
                percentile(&times, 0.9),
                times[0],
                requests.iter().sum::<f64>() / requests.len() as f64,
                rss_kib.get(rss_kib.len() / 2).copied().unwrap_or(f64::NAN) / 1024.0,
                rss_kib.last().copied().unwrap_or(f64::NAN) / 1024.0,
            );
        }
    }
}
