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
