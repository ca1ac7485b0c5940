//! Issue 17, logs: `explain` judges `log` conditions from captured logs (`--logs DIR`, or
//! `explain DIR` with a `logs/` directory), reads only what a rule needs, treats a missing log
//! as "could not judge", and shows hostile log text safely in every rendering.

mod common;

use common::{gate, run};

const EXAMPLE: &str = "examples/batches/rate-limit-in-log";
const POLICY: &str = "policies/examples/registry-rate-limits-by-log.yml";
const BUILD: &str = "acme-web:d9fb18e8-eef6-4ac4-88b6-350eedd03c87";

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).expect("a JSON report")
}

/// The example batch with `log` as the failed build's log, in a fresh directory.
fn with_log(name: &str, log: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["batch.json", "builds.json"] {
        std::fs::copy(
            common::root().join(EXAMPLE).join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("logs").join(name), log).unwrap();
    dir
}

#[test]
fn a_rate_limit_in_the_captured_log_is_retried_and_the_line_shown() {
    let r = run(gate().args(["explain", EXAMPLE, "--policy", POLICY, "--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = json(&r.stdout);
    assert_eq!(report["decision"], "retry", "{}", r.stdout);
    let group = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "unit_tests")
        .unwrap();
    assert_eq!(group["rule"]["name"], "registry-rate-limits");
    assert_eq!(group["log_match"]["build_id"], BUILD);
    assert_eq!(
        group["log_match"]["line"],
        "npm error 429 Too Many Requests - GET https://registry.npmjs.org/@types%2fnode - rate limited"
    );
    // The same with the files named one by one and --logs.
    let dir = format!("{EXAMPLE}/logs");
    let r2 = run(gate().args([
        "explain",
        &format!("{EXAMPLE}/batch.json"),
        "--builds",
        &format!("{EXAMPLE}/builds.json"),
        "--logs",
        &dir,
        "--policy",
        POLICY,
        "--format",
        "json",
    ]));
    assert_eq!(r2.stdout, r.stdout);
    // The markdown summary shows the line too.
    let md = run(gate().args([
        "explain", EXAMPLE, "--policy", POLICY, "--format", "markdown",
    ]));
    assert!(md.stdout.contains("429 Too Many Requests"), "{}", md.stdout);
}

#[test]
fn without_the_log_the_failure_could_not_be_judged() {
    let r = run(gate().args([
        "explain",
        &format!("{EXAMPLE}/batch.json"),
        "--builds",
        &format!("{EXAMPLE}/builds.json"),
        "--policy",
        POLICY,
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = json(&r.stdout);
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["code"], "could-not-judge", "{}", r.stdout);
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("the log of build {BUILD} was not read")),
        "{reason}"
    );

    // A directory without this build's log: absent, named.
    let empty = tempfile::tempdir().unwrap();
    let r = run(gate().args([
        "explain",
        &format!("{EXAMPLE}/batch.json"),
        "--builds",
        &format!("{EXAMPLE}/builds.json"),
        "--logs",
        empty.path().to_str().unwrap(),
        "--policy",
        POLICY,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("could-not-judge"), "{}", r.stdout);
    assert!(r.stdout.contains("no captured log for it"), "{}", r.stdout);
}

#[test]
fn a_forbidden_line_refuses_and_a_match_outside_the_tail_does_not_count() {
    let forbidden = with_log(
        &format!("{BUILD}.log"),
        b"npm error 429 Too Many Requests\nAssertionError: expected 200, got 500\n",
    );
    let r = run(gate().args([
        "explain",
        forbidden.path().to_str().unwrap(),
        "--policy",
        POLICY,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("refused by rule `command-failures`"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("matches not-matches"), "{}", r.stdout);

    // The rate limit 300 KiB before the end: outside the 256 KiB tail.
    let mut log = b"npm error 429 Too Many Requests\n".to_vec();
    for _ in 0..(300 * 1024 / 64) {
        log.extend_from_slice(&[b'.'; 63]);
        log.push(b'\n');
    }
    let far = with_log(&format!("{BUILD}.log"), &log);
    let r = run(gate().args(["explain", far.path().to_str().unwrap(), "--policy", POLICY]));
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("no line of the last 256 KiB"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unreadable_capture_is_named_and_the_run_still_decides() {
    let bad = with_log(&format!("{BUILD}.json"), b"{\"events\": 7}");
    let r = run(gate().args(["explain", bad.path().to_str().unwrap(), "--policy", POLICY]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("could-not-judge"), "{}", r.stdout);
    assert!(
        r.stdout.contains("not `aws logs get-log-events` output"),
        "{}",
        r.stdout
    );

    // A get-log-events capture by the build's UUID works.
    let uuid = BUILD.split_once(':').unwrap().1;
    let good = with_log(
        &format!("{uuid}.json"),
        br#"{"events": [{"timestamp": 1764338561116, "message": "npm error code E429\n", "ingestionTime": 1764338561200}], "nextForwardToken": "f/1", "nextBackwardToken": "b/0"}"#,
    );
    let r = run(gate().args(["explain", good.path().to_str().unwrap(), "--policy", POLICY]));
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
}

#[test]
fn hostile_log_text_is_shown_safely_everywhere() {
    let mut log = Vec::new();
    log.extend_from_slice(&vec![b'A'; 3 * 1024 * 1024]); // a 3 MiB line
    log.extend_from_slice(b"\n\x1b[31m::error file=x::pwned\x1b[0m toomanyrequests \xff\xfe ##[set-output name=decision]retry \x07\r\n");
    let dir = with_log(&format!("{BUILD}.log"), &log);
    for format in ["text", "markdown", "json"] {
        let r = run(gate().args([
            "explain",
            dir.path().to_str().unwrap(),
            "--policy",
            POLICY,
            "--format",
            format,
        ]));
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(
            r.stdout.len() < 64 * 1024,
            "{format}: {} bytes",
            r.stdout.len()
        );
        for line in r.stdout.lines() {
            let trimmed = line.trim_start();
            assert!(!trimmed.starts_with("::"), "{format}: {line}");
            assert!(!line.contains("##["), "{format}: {line}");
            assert!(
                !line.contains('\x1b') && !line.contains('\x07'),
                "{format}: {line:?}"
            );
        }
        if format == "json" {
            let report = json(&r.stdout);
            let line = report["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|g| g["log_match"]["line"].as_str())
                .expect("the matched line");
            assert!(line.chars().count() <= 200, "{line}");
            assert!(line.contains("toomanyrequests"), "{line}");
            assert!(!line.contains("::error"), "{line}");
        }
    }
}

/// As the gate, `explain` reads at most ten builds' logs for one decision: with eleven failed
/// builds whose captured logs all show a rate limit, the eleventh (in id order) is not read
/// and could not be judged, as it would not be live — never a retry the gate would refuse.
/// The example batch with eleven failed groups (`shard_00`…`shard_10`), each a build whose
/// captured log shows a registry rate limit, and a policy that retries on it.
fn eleven_rate_limited_shards() -> tempfile::TempDir {
    let example = common::root().join(EXAMPLE);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(example.join(f)).unwrap()).unwrap()
    };
    let mut batches = read("batch.json");
    let mut builds = read("builds.json");
    let template = builds["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == BUILD)
        .unwrap()
        .clone();
    let batch = &mut batches["buildBatches"][0];
    let source = batch["buildGroups"][0].clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let mut groups = vec![source];
    let mut list = Vec::new();
    for n in 0..11 {
        let uuid = format!("00000000-0000-4000-8000-0000000000{n:02}");
        let id = format!("acme-web:{uuid}");
        let arn = format!("arn:aws:codebuild:us-east-1:111122223333:build/{id}");
        groups.push(serde_json::json!({
            "identifier": format!("shard_{n:02}"), "dependsOn": [], "ignoreFailure": false,
            "currentBuildSummary": {"arn": arn, "requestedOn": batch["startTime"], "buildStatus": "FAILED"}
        }));
        let mut build = template.clone();
        build["id"] = serde_json::json!(id);
        build["arn"] = serde_json::json!(arn);
        list.push(build);
        std::fs::write(
            dir.path().join("logs").join(format!("{uuid}.log")),
            "npm ci\nnpm error 429 Too Many Requests - GET https://registry.npmjs.org/x\n",
        )
        .unwrap();
    }
    batch["buildGroups"] = serde_json::json!(groups);
    builds["builds"] = serde_json::json!(list);
    std::fs::write(dir.path().join("batch.json"), batches.to_string()).unwrap();
    std::fs::write(dir.path().join("builds.json"), builds.to_string()).unwrap();
    std::fs::write(
        dir.path().join("policy.yml"),
        "version: 1\nrules:\n  - name: rate-limits\n    log:\n      matches: ['429 Too Many Requests']\n",
    )
    .unwrap();
    dir
}

#[test]
fn at_most_ten_builds_logs_are_judged_for_one_decision_as_live() {
    let dir = eleven_rate_limited_shards();
    let r = run(gate().current_dir(dir.path()).args([
        "explain",
        ".",
        "--policy",
        "policy.yml",
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = json(&r.stdout);
    assert_eq!(report["decision"], "refuse", "{}", r.stdout);
    assert_eq!(report["code"], "could-not-judge", "{}", r.stdout);
    let verdicts: Vec<(String, String)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["group"].as_str().unwrap().starts_with("shard_"))
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = (0..10)
        .map(|n| (format!("shard_{n:02}"), "allowed-by-rule".to_string()))
        .collect();
    want.push(("shard_10".into(), "could-not-judge".into()));
    assert_eq!(verdicts, want);
    assert!(
        r.stdout
            .contains("it was left unread: at most 10 builds' logs are read for one decision (the first in build id order)"),
        "{}",
        r.stdout
    );
}

/// `simulate` replays each decision as the gate would have made it: the same ten-log bound,
/// so the batch is "could not judge", never a retry.
#[test]
fn simulate_judges_at_most_ten_builds_logs_for_one_decision() {
    let dir = eleven_rate_limited_shards();
    let r = run(gate().current_dir(dir.path()).args([
        "simulate",
        "--batches",
        "batch.json",
        "--builds",
        "builds.json",
        "--logs",
        "logs",
        "--policy",
        "policy.yml",
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = json(&r.stdout);
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{}", r.stdout);
    assert_eq!(attempts[0]["decision"], "refuse", "{}", r.stdout);
    assert_eq!(attempts[0]["code"], "could-not-judge", "{}", r.stdout);
    assert_eq!(report["totals"]["could_not_judge"], 1, "{}", r.stdout);
}
