//! Issue 17, gate scenarios for `log` conditions: the binary against the fake CodeBuild, the
//! fake CloudWatch Logs (GetLogEvents) and the fake S3 (the gzip log), reached only through
//! AWS_ENDPOINT_URL_CODEBUILD, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS and AWS_ENDPOINT_URL_S3.

mod common;
mod fakes;

use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub, FakeLogs, FakeS3, LogsFault};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_testtoken0123456789";
const REPO: &str = "acme/web";
const EXAMPLE: &str = "examples/batches/rate-limit-in-log";
const POLICY: &str = "policies/examples/registry-rate-limits-by-log.yml";
const BUILD: &str = "acme-web:d9fb18e8-eef6-4ac4-88b6-350eedd03c87";
const GROUP: &str = "/aws/codebuild/acme-web";
const STREAM: &str = "d9fb18e8-eef6-4ac4-88b6-350eedd03c87";
const RATE_LIMIT: &str =
    "npm error 429 Too Many Requests - GET https://registry.npmjs.org/@types%2fnode - rate limited";

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    logs: FakeLogs,
    s3: FakeS3,
    dir: tempfile::TempDir,
    id: String,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The unit_tests group's row of a JSON report.
    fn unit_tests(&self) -> Value {
        self.json()["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == "unit_tests")
            .cloned()
            .expect("the unit_tests row")
    }
}

/// The example log (CodeBuild's text), as the build's CloudWatch Logs stream.
fn example_log() -> String {
    std::fs::read_to_string(
        common::root()
            .join(EXAMPLE)
            .join("logs")
            .join(format!("{BUILD}.log")),
    )
    .unwrap()
}

impl World {
    /// The example batch whose unit_tests build failed (`npm ci`), its builds, and no log yet.
    async fn new() -> World {
        let w = World {
            cb: FakeCodeBuild::start().await,
            gh: FakeGitHub::start().await,
            logs: FakeLogs::start().await,
            s3: FakeS3::start().await,
            dir: tempfile::tempdir().unwrap(),
            id: String::new(),
        };
        let id = w.cb.load_example(&common::root().join(EXAMPLE));
        World { id, ..w }
    }

    /// The build's start, in epoch milliseconds.
    fn build_start_ms(&self) -> i64 {
        let build = self.cb.build(BUILD).unwrap();
        (build["startTime"].as_f64().unwrap() * 1000.0) as i64
    }

    /// `text` as the build's CloudWatch Logs stream, one event per line, from its start.
    fn log(&self, text: &str) {
        self.logs
            .add_log(GROUP, STREAM, self.build_start_ms() + 1000, 1, text);
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    async fn gate(&self, policy: &str, extra: &[&str]) -> Ran {
        std::fs::write(self.workspace().join("policy.yml"), policy).unwrap();
        let mut args = vec!["--batch-id", self.id.as_str(), "--policy", "policy.yml"];
        args.extend_from_slice(extra);
        let mut cmd = common::gate_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            REPO,
            &args,
        );
        cmd.env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", self.logs.endpoint())
            .env("AWS_ENDPOINT_URL_S3", self.s3.endpoint());
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .expect("the binary runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn example_policy() -> String {
        std::fs::read_to_string(common::root().join(POLICY)).unwrap()
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.workspace().join("summary.md")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_in_the_cloudwatch_log_is_retried_and_the_line_shown() {
    let w = World::new().await;
    w.log(&example_log());
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    let row = r.unit_tests();
    assert_eq!(row["rule"]["name"], "registry-rate-limits", "{row}");
    assert_eq!(row["log_match"]["build_id"], BUILD);
    assert_eq!(row["log_match"]["line"], RATE_LIMIT);
    assert_eq!(w.cb.retries_performed(&w.id), 1);
    // One round trip: the newest page and the stream's first event, together; the page
    // holds the first event, so it is the whole log.
    let calls = w.logs.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        assert_eq!(call.op, "GetLogEvents");
        assert_eq!(call.service.as_deref(), Some("logs"));
        assert_eq!(call.body["logGroupName"], GROUP);
        assert_eq!(call.body["logStreamName"], STREAM);
        // Bounded by the build's start and end.
        assert!(call.body["startTime"].as_i64().unwrap() <= w.build_start_ms());
        assert!(call.body["endTime"].as_i64().is_some());
    }
    assert!(
        calls
            .iter()
            .any(|c| c.body["startFromHead"] == json!(false) && c.body.get("nextToken").is_none())
    );
    assert!(
        calls
            .iter()
            .any(|c| c.body["startFromHead"] == json!(true) && c.body["limit"] == json!(1))
    );
    // The summary shows the line too.
    assert!(
        w.summary().contains("429 Too Many Requests"),
        "{}",
        w.summary()
    );
}

/// GetLogEvents "can return empty results while there are more log events available
/// through the token": an empty newest page and an empty head read are no proof the log is
/// empty; the gate pages on to the events (and to the repeated token, the documented end).
#[tokio::test(flavor = "multi_thread")]
async fn empty_first_pages_are_paged_past_never_taken_for_an_empty_log() {
    let w = World::new().await;
    w.log(&example_log());
    w.logs.set_empty_first_pages(2);
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    assert_eq!(r.unit_tests()["log_match"]["line"], RATE_LIMIT);
    let calls = w.logs.calls();
    // The two empty first pages, the events, and the token returned unchanged.
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.body.get("nextToken").is_some())
            .count(),
        2,
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_line_beside_the_rate_limit_is_refused() {
    let w = World::new().await;
    let log = example_log().replace(
        "npm error code E429",
        "AssertionError: expected 3 to equal 4\nnpm error code E429",
    );
    w.log(&log);
    let r = w.gate(&World::example_policy(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("matches not-matches `\\bAssertionError\\b`"),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_to_the_log_is_refused_naming_the_build_and_why() {
    let w = World::new().await;
    w.log(&example_log());
    w.logs.inject(LogsFault::AccessDenied, 2);
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let row = r.unit_tests();
    assert_eq!(row["code"], "could-not-judge", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("the log of build {BUILD} could not be read")),
        "{detail}"
    );
    assert!(detail.contains("AccessDeniedException"), "{detail}");
    assert!(detail.contains("logs:GetLogEvents"), "{detail}");
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_stream_and_throttling_fail_closed() {
    // No stream at all (deleted, or expired with its group).
    let w = World::new().await;
    w.logs.add_stream(GROUP, "another-build");
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let detail = r.unit_tests()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("The specified log stream does not exist"),
        "{detail}"
    );
    assert_eq!(w.cb.retries_performed(&w.id), 0);
    // Throttled on every attempt: the SDK retries, then the rule does not match.
    let w = World::new().await;
    w.log(&example_log());
    w.logs.inject(LogsFault::Throttle, 100);
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let detail = r.unit_tests()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("ThrottlingException"), "{detail}");
    assert!(w.logs.get_log_events() > 2, "the SDK retried");
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_rule_is_never_read_when_an_earlier_rule_decides() {
    let w = World::new().await;
    w.log(&example_log());
    let policy = "version: 1\nrules:\n  - name: commands-refused\n    action: refuse\n    status-codes: [COMMAND_EXECUTION_ERROR]\n  - name: rate-limits\n    log:\n      matches: [toomanyrequests]\n";
    let r = w.gate(policy, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(r.stdout.contains("commands-refused"), "{}", r.stdout);
    assert_eq!(w.logs.get_log_events(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_without_log_makes_no_logs_call() {
    let w = World::new().await;
    w.log(&example_log());
    let r = w.gate("version: 1\nrules:\n  - name: any\n", &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    assert_eq!(w.logs.get_log_events(), 0);
    assert!(w.s3.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_match_outside_the_tail_is_refused() {
    let w = World::new().await;
    // 4 KiB of test output after the rate limit; the rule reads the last 1 KiB.
    let mut log = example_log();
    for i in 0..64 {
        log.push_str(&format!(
            "  ✓ renders row {i:03} of the results table ....\n"
        ));
    }
    w.log(&log);
    let policy = "version: 1\nrules:\n  - name: rate-limits\n    log:\n      matches: ['429 Too Many Requests']\n      tail-kib: 1\n";
    let r = w.gate(policy, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("REFUSE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("no line of the last 1 KiB"),
        "{}",
        r.stdout
    );
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn older_pages_are_read_back_to_the_repeated_token() {
    // Small pages: the rule's tail needs several of them; the head read fails, so the end of
    // the stream is known only from the token that comes back unchanged.
    let w = World::new().await;
    w.logs.set_page_events(4);
    w.log(&example_log());
    w.logs.inject_where_from_head(
        true,
        LogsFault::Error("InvalidParameterException".into(), "no".into()),
        1,
    );
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    assert_eq!(r.unit_tests()["log_match"]["line"], RATE_LIMIT);
    let calls = w.logs.calls();
    let backward: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.body.get("nextToken")?.as_str())
        .collect();
    // 22 events, 4 a page: 6 pages with events, then the repeated token.
    assert_eq!(backward.len(), 6, "{calls:?}");
    assert!(backward.iter().all(|t| t.starts_with("b/")));
    // The example's line is also found when the head is readable (fewer pages: the page
    // that holds the first event ends the read).
    let w = World::new().await;
    w.logs.set_page_events(4);
    w.log(&example_log());
    let r = w.gate(&World::example_policy(), &[]).await;
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    assert_eq!(w.logs.get_log_events(), 2 + 5, "{:?}", w.logs.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_pages_are_unreadable_not_a_tail() {
    // A service whose backward pages repeat the newest one: reading on would put the newest
    // lines where older ones belong (and could hide a forbidden line further back).
    let w = World::new().await;
    w.logs.set_page_events(4);
    w.logs.set_stuck_backward();
    w.log(&example_log());
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let detail = r.unit_tests()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("overlaps the newer pages"), "{detail}");
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_log_text_leaves_the_outputs_safe() {
    let w = World::new().await;
    let mut log = String::new();
    log.push_str(&"A".repeat(200 * 1024)); // a 200 KiB line
    log.push('\n');
    log.push_str("\u{1b}[31m::error file=x::pwned\u{1b}[0m toomanyrequests ##[set-output name=decision]retry \u{7}\r\n");
    log.push_str("::set-output name=decision::retry\n");
    log.push_str("::add-mask::nothing\n");
    w.log(&log);
    let policy = "version: 1\nrules:\n  - name: rate-limits\n    log:\n      matches: ['(?i)toomanyrequests']\n";
    for format in ["text", "markdown", "json"] {
        let r = w.gate(policy, &["--format", format, "--dry-run"]).await;
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(r.stdout.len() < 64 * 1024, "{format}: {}", r.stdout.len());
        for text in [&r.stdout, &w.summary()] {
            for line in text.lines() {
                assert!(!line.trim_start().starts_with("::"), "{format}: {line}");
                assert!(!line.contains("##["), "{format}: {line}");
                assert!(
                    !line.contains('\u{1b}') && !line.contains('\u{7}'),
                    "{format}: {line:?}"
                );
            }
        }
        if format == "json" {
            let line = r.unit_tests()["log_match"]["line"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(line.chars().count() <= 200, "{line}");
            assert!(line.contains("toomanyrequests"), "{line}");
            assert!(!line.contains("::error"), "{line}");
        }
    }
    // Annotations on stderr carry no workflow command from the log either.
    let r = w.gate(policy, &["--dry-run"]).await;
    for line in r.stderr.lines() {
        assert!(!line.contains("::set-output"), "{line}");
        assert!(!line.contains("::add-mask"), "{line}");
    }
}

/// The example build with CloudWatch Logs disabled and S3 logs enabled at `bucket/key`.
fn s3_only(w: &World, bucket: &str, key: &str) {
    let mut build = w.cb.build(BUILD).unwrap();
    build["logs"] = json!({
        "cloudWatchLogs": {"status": "DISABLED"},
        "s3Logs": {"status": "ENABLED", "location": format!("{bucket}/build-logs")},
        "s3LogsArn": format!("arn:aws:s3:::{bucket}/{key}"),
        "s3DeepLink": format!("https://s3.console.aws.amazon.com/s3/object/{bucket}/{key}"),
    });
    w.cb.add_build(build);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_gzip_log_is_judged_when_cloudwatch_logs_are_disabled() {
    let w = World::new().await;
    s3_only(&w, "acme-build-logs", &format!("build-logs/{STREAM}.gz"));
    // Invalid UTF-8 and ANSI codes on the way; the matched line is still found and clean.
    let log = example_log().replace(
        "npm error code E429",
        "\u{1b}[33mnpm error code E429\u{1b}[0m",
    );
    let mut bytes = log.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe trailing garbage\n");
    w.s3.put(
        "acme-build-logs",
        &format!("build-logs/{STREAM}.gz"),
        gzip(&bytes),
    );
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "retry", "{}", r.stdout);
    assert_eq!(r.unit_tests()["log_match"]["line"], RATE_LIMIT);
    assert_eq!(w.logs.get_log_events(), 0, "CloudWatch Logs are disabled");
    let calls = w.s3.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(
        calls[0].path,
        format!("/acme-build-logs/build-logs/{STREAM}.gz")
    );
    assert_eq!(calls[0].service.as_deref(), Some("s3"));
    assert_eq!(w.cb.retries_performed(&w.id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_s3_log_is_refused_with_the_reason() {
    let w = World::new().await;
    s3_only(&w, "acme-build-logs", &format!("build-logs/{STREAM}.gz"));
    w.s3.put("acme-build-logs", "other.gz", gzip(b"x\n"));
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let detail = r.unit_tests()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("NoSuchKey"), "{detail}");
    assert!(detail.contains(BUILD), "{detail}");
    // Access denied, and a log that is not gzip.
    let w = World::new().await;
    s3_only(&w, "acme-build-logs", "k.gz");
    w.s3.put(
        "acme-build-logs",
        "k.gz",
        b"npm error 429 Too Many Requests\n".to_vec(),
    );
    let detail = |r: &Ran| r.unit_tests()["detail"].as_str().unwrap().to_string();
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    assert!(detail(&r).contains("not a gzip log"), "{}", detail(&r));
    w.s3.fail_next(403, "AccessDenied", "Access Denied");
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    assert!(detail(&r).contains("s3:GetObject"), "{}", detail(&r));
    assert_eq!(w.cb.retries_performed(&w.id), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_without_any_log_is_refused_as_could_not_judge() {
    let w = World::new().await;
    let mut build = w.cb.build(BUILD).unwrap();
    build["logs"] = json!({
        "cloudWatchLogs": {"status": "DISABLED"},
        "s3Logs": {"status": "DISABLED"},
    });
    w.cb.add_build(build);
    let r = w
        .gate(&World::example_policy(), &["--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["decision"], "refuse", "{}", r.stdout);
    let row = r.unit_tests();
    assert_eq!(row["code"], "could-not-judge", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains("neither a CloudWatch Logs stream nor an S3 log"),
        "{detail}"
    );
    assert_eq!(w.logs.get_log_events(), 0);
    assert!(w.s3.calls().is_empty());
}
