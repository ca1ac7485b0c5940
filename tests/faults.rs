//! The fault matrix: every call the gate makes × what a real service can do to it, run against
//! the local fakes (the real binary, the real aws-sdk-codebuild and octocrab clients).
//!
//! The matrix is one table, [`CELLS`]. Each cell injects one fault into one call while the gate
//! judges a retryable failure (`examples/batches/provisioning-fault`, plus one older batch of
//! the project so the history is read), then checks:
//! - the exit code, and that stderr names the failing service and call;
//! - how many requests the faulted call received (the SDK's and the gate's own retries);
//! - `RetryBuildBatch` was never performed twice, and never when the failing call comes before
//!   it (the decision could not be completed), and every `RetryBuildBatch` carried the same
//!   idempotency token;
//! - whether a commit status reached GitHub;
//! - a re-run with the fault gone converges: exit 0, `retry` when no retry happened yet, `wait`
//!   (without calling `RetryBuildBatch`) when one did; exactly one retry in the end.
//!
//! `docs/faults.md` holds the same table, rendered from [`CELLS`] by
//! [`the_documented_matrix_is_the_tested_one`].

mod common;
mod fakes;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use fakes::{FakeCodeBuild, FakeGitHub, Fault, GitHubFault};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const TOKEN: &str = "ghs_faultmatrixtoken0123456789";
const REPO: &str = "acme/web";
/// An older batch of the same project (another commit), so the history is read.
const HISTORY_ID: &str = "acme-api:00000001-0000-4000-8000-000000000000";
const DOC: &str = "docs/faults.md";
/// `--timeout` of the runs where only a timeout can end a call: short, so they end in seconds,
/// with room for the calls that do answer on a loaded machine.
const HANG_TIMEOUT: &str = "2";
const START: &str = "<!-- fault-matrix:start -->";
const END: &str = "<!-- fault-matrix:end -->";

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

/// A call the gate makes, in the order it makes them (a column of the matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `BatchGetBuildBatches` of the batch being judged (round trip 1).
    Batch,
    /// `ListBuildBatchesForProject`, the first history page (round trip 1, with the batch).
    List,
    /// `BatchGetBuilds` of the failed groups' builds (round trip 2).
    Builds,
    /// `BatchGetBuildBatches` of the history's batches (round trip 2, with the builds).
    History,
    /// `RetryBuildBatch`.
    Retry,
    /// GitHub `POST /repos/{owner}/{repo}/statuses/{sha}`.
    Status,
}

const CALLS: [Call; 6] = [
    Call::Batch,
    Call::List,
    Call::Builds,
    Call::History,
    Call::Retry,
    Call::Status,
];

impl Call {
    /// The CodeBuild operation, or GitHub's name of the call.
    fn op(self) -> &'static str {
        match self {
            Call::Batch | Call::History => "BatchGetBuildBatches",
            Call::List => "ListBuildBatchesForProject",
            Call::Builds => "BatchGetBuilds",
            Call::Retry => "RetryBuildBatch",
            Call::Status => "create commit status",
        }
    }

    fn github(self) -> bool {
        self == Call::Status
    }

    /// How the gate names the call in its error: `CodeBuild BatchGetBuilds`.
    fn qualified(self) -> String {
        let service = if self.github() { "GitHub" } else { "CodeBuild" };
        format!("{service} {}", self.op())
    }

    /// Fails before the decision is complete: no retry may follow.
    fn before_retry(self) -> bool {
        matches!(
            self,
            Call::Batch | Call::List | Call::Builds | Call::History
        )
    }

    fn header(self) -> &'static str {
        match self {
            Call::Batch => "CodeBuild `BatchGetBuildBatches` (the batch)",
            Call::List => "CodeBuild `ListBuildBatchesForProject`",
            Call::Builds => "CodeBuild `BatchGetBuilds`",
            Call::History => "CodeBuild `BatchGetBuildBatches` (history)",
            Call::Retry => "CodeBuild `RetryBuildBatch`",
            Call::Status => "GitHub create commit status",
        }
    }
}

/// A fault (a row of the matrix); the number is how many requests in a row get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// CodeBuild: 400 `ThrottlingException` "Rate exceeded".
    Throttle(usize),
    /// CodeBuild: 429 `ThrottlingException`. GitHub: 429 primary rate limit, `retry-after: 1`.
    TooManyRequests(usize),
    /// GitHub: 403 secondary rate limit, `retry-after: 1`.
    SecondaryRateLimit(usize),
    /// CodeBuild: `InternalFailure` (500) / `ServiceUnavailable` (503). GitHub: JSON 500, the
    /// load balancer's HTML 502-504.
    ServerError(u16, usize),
    /// Nothing listens on the endpoint: the whole service, not one call.
    Refused,
    /// The endpoint accepts connections and never reads or answers (`--timeout 2`): the whole
    /// service, not one call.
    BlackHole,
    /// The request takes effect, the answer never comes (`--timeout 2` ends each attempt).
    Hang(usize),
    /// 200 (GitHub: 201) with truncated JSON.
    Malformed(usize),
    /// CodeBuild: 403 `AccessDeniedException`. GitHub: 403 "Resource not accessible by
    /// integration", no `retry-after`.
    Forbidden(usize),
    /// GitHub: 401 "Bad credentials".
    Unauthorized(usize),
    /// GitHub: 422 "Validation Failed" (too many statuses for the SHA and context).
    Unprocessable(usize),
    /// A person retries the batch in the console just before the gate's `RetryBuildBatch`.
    RetriedByHandFirst,
}

impl Kind {
    fn label(self) -> String {
        let n = |n: usize| {
            if n == 1 {
                "once".to_string()
            } else {
                format!("×{n}")
            }
        };
        match self {
            Kind::Throttle(k) => format!("`ThrottlingException` (HTTP 400) {}", n(k)),
            Kind::TooManyRequests(k) => format!("HTTP 429 {} (GitHub: `retry-after: 1`)", n(k)),
            Kind::SecondaryRateLimit(k) => {
                format!(
                    "GitHub secondary rate limit (403, `retry-after: 1`) {}",
                    n(k)
                )
            }
            Kind::ServerError(code, k) => format!("HTTP {code} {}", n(k)),
            Kind::Refused => "Connection refused (the whole endpoint)".to_string(),
            Kind::BlackHole => {
                format!(
                    "Accepts connections, never reads or answers (the whole endpoint, `--timeout {HANG_TIMEOUT}`)"
                )
            }
            Kind::Hang(k) => format!(
                "Accepts, never answers, {} (`--timeout {HANG_TIMEOUT}`)",
                n(k)
            ),
            Kind::Malformed(k) => format!("Truncated JSON in a 2xx answer, {}", n(k)),
            Kind::Forbidden(k) => format!(
                "HTTP 403 {} (CodeBuild `AccessDeniedException`; GitHub without `retry-after`)",
                n(k)
            ),
            Kind::Unauthorized(k) => format!("HTTP 401 Bad credentials {}", n(k)),
            Kind::Unprocessable(k) => format!("HTTP 422 Validation Failed {}", n(k)),
            Kind::RetriedByHandFirst => {
                "Someone else retries the batch just before the gate".to_string()
            }
        }
    }

    /// How many times it is injected (`Refused` is not injected).
    fn times(self) -> usize {
        match self {
            Kind::Throttle(k)
            | Kind::TooManyRequests(k)
            | Kind::SecondaryRateLimit(k)
            | Kind::ServerError(_, k)
            | Kind::Hang(k)
            | Kind::Malformed(k)
            | Kind::Forbidden(k)
            | Kind::Unauthorized(k)
            | Kind::Unprocessable(k) => k,
            Kind::RetriedByHandFirst => 1,
            Kind::Refused | Kind::BlackHole => 0,
        }
    }

    /// The fake CodeBuild's fault; `None` where the fault is GitHub's only.
    fn codebuild(self) -> Option<Fault> {
        Some(match self {
            Kind::Throttle(_) => Fault::Throttle,
            Kind::TooManyRequests(_) => Fault::Status(429),
            Kind::ServerError(code, _) => Fault::Status(code),
            Kind::Hang(_) => Fault::Hang,
            Kind::Malformed(_) => Fault::Malformed,
            Kind::Forbidden(_) => Fault::Status(403),
            Kind::RetriedByHandFirst => Fault::RetriedByHandFirst,
            Kind::SecondaryRateLimit(_)
            | Kind::Unauthorized(_)
            | Kind::Unprocessable(_)
            | Kind::Refused
            | Kind::BlackHole => return None,
        })
    }

    /// The fake GitHub's fault; `None` where the fault is CodeBuild's only.
    fn github(self) -> Option<GitHubFault> {
        Some(match self {
            Kind::TooManyRequests(_) => GitHubFault::RateLimited {
                retry_after_secs: 1,
            },
            Kind::SecondaryRateLimit(_) => GitHubFault::SecondaryRateLimit {
                retry_after_secs: 1,
            },
            Kind::ServerError(code, _) => GitHubFault::Status(code),
            Kind::Hang(_) => GitHubFault::Hang,
            Kind::Malformed(_) => GitHubFault::Malformed,
            Kind::Forbidden(_) => GitHubFault::Forbidden,
            Kind::Unauthorized(_) => GitHubFault::Unauthorized,
            Kind::Unprocessable(_) => GitHubFault::Unprocessable,
            Kind::Throttle(_) | Kind::RetriedByHandFirst | Kind::Refused | Kind::BlackHole => {
                return None;
            }
        })
    }
}

/// One cell: a fault on a call, and what must come of it.
#[derive(Debug)]
struct Cell {
    call: Call,
    fault: Kind,
    /// Exit code of the run with the fault.
    exit: i32,
    /// Besides "<service> <call> failed" (checked for every failing cell), this is in stderr.
    says: &'static str,
    /// `decision` in GITHUB_OUTPUT after the run with the fault; `None`: not written (the run
    /// ended before it decided).
    decided: Option<&'static str>,
    /// Requests the faulted call received. `None`: not counted exactly, only bounded by the
    /// four attempts (a persistent hang on CodeBuild, where the SDK's jittered backoff races
    /// the 4 × `--timeout` bound on the whole call; a refused or black-holed endpoint, which
    /// the fakes never see).
    attempts: Option<usize>,
    /// Retries CodeBuild performed by the end of the run with the fault (0 or 1).
    retries: usize,
    /// A commit status reached GitHub during the run with the fault.
    posted: bool,
}

/// The run decided `retry`, retried, and posted its status. (Every cell names its own call and
/// fault; these templates only give the rest.)
const RECOVERED: Cell = Cell {
    call: Call::Batch,
    fault: Kind::Refused,
    exit: 0,
    says: "",
    decided: Some("retry"),
    attempts: None,
    retries: 1,
    posted: true,
};

/// The run failed before the decision: exit 3, no retry, no status.
const UNDECIDED: Cell = Cell {
    exit: 3,
    decided: None,
    retries: 0,
    posted: false,
    ..RECOVERED
};

/// `RetryBuildBatch` failed: exit 3, no status; the retry may or may not have happened. The
/// gate had decided, so its outputs say `retry` (issue 8.6).
const RETRY_FAILED: Cell = Cell {
    call: Call::Retry,
    says: "The retry may not have happened; running the gate again is safe",
    decided: Some("retry"),
    ..UNDECIDED
};

/// The retry happened, the status could not be posted: exit 3, outputs still written.
const STATUS_FAILED: Cell = Cell {
    call: Call::Status,
    exit: 3,
    says: "the batch WAS retried (attempt 1/2), but the commit status could not be posted",
    decided: Some("retry"),
    retries: 1,
    posted: false,
    ..RECOVERED
};

/// Every cell of the matrix, row by row (the order of the rows in the docs).
#[rustfmt::skip]
const CELLS: &[Cell] = &[
    // ThrottlingException burst, within the SDK's four attempts.
    Cell { call: Call::Batch, fault: Kind::Throttle(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::List, fault: Kind::Throttle(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::Builds, fault: Kind::Throttle(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::History, fault: Kind::Throttle(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::Retry, fault: Kind::Throttle(3), attempts: Some(4), ..RECOVERED },
    // ThrottlingException, persistent: four attempts, then exit 3.
    Cell { call: Call::Batch, fault: Kind::Throttle(10), attempts: Some(4), says: "ThrottlingException: Rate exceeded", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::Throttle(10), attempts: Some(4), says: "ThrottlingException: Rate exceeded", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::Throttle(10), attempts: Some(4), says: "ThrottlingException: Rate exceeded", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::Throttle(10), attempts: Some(4), says: "ThrottlingException: Rate exceeded", ..UNDECIDED },
    Cell { fault: Kind::Throttle(10), attempts: Some(4), ..RETRY_FAILED },
    // HTTP 429 burst.
    Cell { call: Call::Batch, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::List, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::Builds, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::History, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::Retry, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    Cell { call: Call::Status, fault: Kind::TooManyRequests(3), attempts: Some(4), ..RECOVERED },
    // HTTP 429, persistent.
    Cell { call: Call::Batch, fault: Kind::TooManyRequests(10), attempts: Some(4), says: "ThrottlingException", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::TooManyRequests(10), attempts: Some(4), says: "ThrottlingException", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::TooManyRequests(10), attempts: Some(4), says: "ThrottlingException", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::TooManyRequests(10), attempts: Some(4), says: "ThrottlingException", ..UNDECIDED },
    Cell { fault: Kind::TooManyRequests(10), attempts: Some(4), ..RETRY_FAILED },
    Cell { fault: Kind::TooManyRequests(10), attempts: Some(4), ..STATUS_FAILED },
    // GitHub's secondary rate limit, persistent.
    Cell { fault: Kind::SecondaryRateLimit(10), attempts: Some(4), ..STATUS_FAILED },
    // A 5xx once: retried, and RetryBuildBatch resent with the same token.
    Cell { call: Call::Batch, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::List, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Builds, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::History, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Retry, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Status, fault: Kind::ServerError(500, 1), attempts: Some(2), ..RECOVERED },
    // A 5xx, persistent.
    Cell { call: Call::Batch, fault: Kind::ServerError(503, 10), attempts: Some(4), says: "ServiceUnavailable", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::ServerError(503, 10), attempts: Some(4), says: "ServiceUnavailable", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::ServerError(503, 10), attempts: Some(4), says: "ServiceUnavailable", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::ServerError(503, 10), attempts: Some(4), says: "ServiceUnavailable", ..UNDECIDED },
    Cell { fault: Kind::ServerError(503, 10), attempts: Some(4), ..RETRY_FAILED },
    Cell { fault: Kind::ServerError(503, 10), attempts: Some(4), says: "(HTTP 503)", ..STATUS_FAILED },
    // Nothing listens: CodeBuild's first round trip fails (the batch's error is the one told).
    Cell { call: Call::Batch, fault: Kind::Refused, says: "Connection refused", ..UNDECIDED },
    Cell { call: Call::Status, fault: Kind::Refused, says: "(after 4 attempts)", ..STATUS_FAILED },
    // Connections accepted, never served: only the timeouts end it.
    Cell { call: Call::Batch, fault: Kind::BlackHole, says: "no answer in time", ..UNDECIDED },
    Cell { call: Call::Status, fault: Kind::BlackHole, says: "(after 4 attempts)", ..STATUS_FAILED },
    // A hang once: the attempt's timeout ends it and the next attempt answers. For
    // RetryBuildBatch the hung attempt retried the batch; the next one, with the same token,
    // gets that retry back: still one retry. For GitHub the hung post was made too.
    Cell { call: Call::Batch, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::List, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Builds, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::History, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Retry, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    Cell { call: Call::Status, fault: Kind::Hang(1), attempts: Some(2), ..RECOVERED },
    // A hang, persistent: the 4 × --timeout bound on the whole call ends it.
    Cell { call: Call::Batch, fault: Kind::Hang(10), says: "no answer in time", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::Hang(10), says: "no answer in time", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::Hang(10), says: "no answer in time", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::Hang(10), says: "no answer in time", ..UNDECIDED },
    // The retry took effect; its answer never came.
    Cell { fault: Kind::Hang(10), retries: 1, ..RETRY_FAILED },
    // Each hung post took effect on GitHub; the gate never heard so.
    Cell { fault: Kind::Hang(10), attempts: Some(4), posted: true, says: "no answer within 2 s (after 4 attempts)", ..STATUS_FAILED },
    // Truncated JSON: not retried by the SDK; retried by the gate's GitHub client.
    Cell { call: Call::Batch, fault: Kind::Malformed(1), attempts: Some(1), says: "response error", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::Malformed(1), attempts: Some(1), says: "response error", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::Malformed(1), attempts: Some(1), says: "response error", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::Malformed(1), attempts: Some(1), says: "response error", ..UNDECIDED },
    Cell { fault: Kind::Malformed(1), attempts: Some(1), ..RETRY_FAILED },
    Cell { call: Call::Status, fault: Kind::Malformed(1), attempts: Some(2), ..RECOVERED },
    Cell { fault: Kind::Malformed(10), attempts: Some(4), ..STATUS_FAILED },
    // Forbidden: final at once.
    Cell { call: Call::Batch, fault: Kind::Forbidden(10), attempts: Some(1), says: "AccessDeniedException", ..UNDECIDED },
    Cell { call: Call::List, fault: Kind::Forbidden(10), attempts: Some(1), says: "AccessDeniedException", ..UNDECIDED },
    Cell { call: Call::Builds, fault: Kind::Forbidden(10), attempts: Some(1), says: "AccessDeniedException", ..UNDECIDED },
    Cell { call: Call::History, fault: Kind::Forbidden(10), attempts: Some(1), says: "AccessDeniedException", ..UNDECIDED },
    Cell { fault: Kind::Forbidden(10), attempts: Some(1), ..RETRY_FAILED },
    Cell { fault: Kind::Forbidden(10), attempts: Some(1), says: "(HTTP 403): Resource not accessible by integration", ..STATUS_FAILED },
    // GitHub's other final answers.
    Cell { fault: Kind::Unauthorized(10), attempts: Some(1), says: "(HTTP 401): Bad credentials", ..STATUS_FAILED },
    Cell { fault: Kind::Unprocessable(10), attempts: Some(1), says: "(HTTP 422): Validation Failed", ..STATUS_FAILED },
    // Someone else's retry wins the race: CodeBuild refuses the gate's, the gate re-reads.
    Cell { call: Call::Retry, fault: Kind::RetriedByHandFirst, attempts: Some(1), decided: Some("wait"), ..RECOVERED },
];

impl Cell {
    fn name(&self) -> String {
        format!("[{} × {}]", self.call.header(), self.fault.label())
    }

    /// The run with the fault used `--timeout HANG_TIMEOUT`.
    fn timeout(&self) -> Option<&'static str> {
        matches!(self.fault, Kind::Hang(_) | Kind::BlackHole).then_some(HANG_TIMEOUT)
    }

    /// What the docs say in this cell, from nothing but the cell's expectations.
    fn outcome(&self) -> String {
        let attempts = match self.attempts {
            Some(1) => "1 attempt".to_string(),
            Some(n) => format!("{n} attempts"),
            None => "≤ 4 attempts".to_string(),
        };
        let retried = match (self.retries, self.decided) {
            (0, _) => "no retry",
            (_, Some("wait")) => "retried by someone else",
            _ => "1 retry",
        };
        let status = if self.posted {
            "status posted"
        } else {
            "no status"
        };
        let rerun = if self.retries == 0 { "retry" } else { "wait" };
        format!(
            "**{}** · {attempts}<br>{retried}, {status}<br>re-run: {rerun}",
            self.exit
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The tests: one per call, its cells concurrently
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_batch_get_build_batches_of_the_batch() {
    run_column(Call::Batch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_list_build_batches_for_project() {
    run_column(Call::List).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_batch_get_builds() {
    run_column(Call::Builds).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_batch_get_build_batches_of_the_history() {
    run_column(Call::History).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_retry_build_batch() {
    run_column(Call::Retry).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_on_github_create_commit_status() {
    run_column(Call::Status).await;
}

/// Runs every cell of a column at once, each in its own world; reports every failing cell.
async fn run_column(call: Call) {
    let mut set = JoinSet::new();
    for cell in CELLS.iter().filter(|c| c.call == call) {
        set.spawn(async move {
            run_cell(cell).await;
            cell.name()
        });
    }
    let mut passed = 0;
    let mut failed = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(_) => passed += 1,
            Err(e) => {
                let panic = e.into_panic();
                failed.push(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a cell panicked".to_string()),
                );
            }
        }
    }
    assert!(passed + failed.len() > 0, "no cells for {call:?}");
    assert!(
        failed.is_empty(),
        "{} of {} cells failed:\n\n{}",
        failed.len(),
        passed + failed.len(),
        failed.join("\n\n")
    );
}

async fn run_cell(cell: &'static Cell) {
    let name = cell.name();
    let w = World::new().await;
    let id = w.id.clone();

    // The fault. The refusing and black-hole endpoints are held until the cell ends, so no
    // other cell's server can take their ports.
    let closed = refusing();
    let black_hole = black_hole();
    let (mut cb_url, mut gh_url) = (w.cb.endpoint(), w.gh.url());
    let (mut cb_injected, mut gh_injected) = (0, 0);
    match (cell.fault, cell.call.github()) {
        (Kind::Refused, false) => cb_url = closed.1.clone(),
        (Kind::Refused, true) => gh_url = closed.1.clone(),
        (Kind::BlackHole, false) => cb_url = black_hole.1.clone(),
        (Kind::BlackHole, true) => gh_url = black_hole.1.clone(),
        (fault, false) => {
            let injected = fault
                .codebuild()
                .unwrap_or_else(|| panic!("{name}: not a CodeBuild fault"));
            if cell.call == Call::History {
                // The history read is the second BatchGetBuildBatches; the first (the batch)
                // goes through untouched: a "retried by hand" fault on a request with no `id`
                // retries nothing and is answered normally.
                w.cb.inject("BatchGetBuildBatches", Fault::RetriedByHandFirst, 1);
                cb_injected += 1;
            }
            w.cb.inject(cell.call.op(), injected, fault.times());
            cb_injected += fault.times();
        }
        (fault, true) => {
            let injected = fault
                .github()
                .unwrap_or_else(|| panic!("{name}: not a GitHub fault"));
            w.gh.inject_on("POST", injected, fault.times());
            gh_injected += fault.times();
        }
    }

    // The run with the fault.
    let mut args = vec!["--batch-id", id.as_str()];
    if let Some(t) = cell.timeout() {
        args.extend(["--timeout", t]);
    }
    let r = w.run(&cb_url, &gh_url, &args).await;
    let log = format!("{name}\n--- stdout\n{}--- stderr\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, cell.exit, "exit code: {log}");
    if cell.exit == 0 {
        assert!(!r.stderr.contains("error:"), "no error: {log}");
    } else {
        // One error line, naming the service and the call.
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        let failed = format!("{} failed", cell.call.qualified());
        assert!(
            errors.len() == 1 && errors[0].contains(&failed),
            "names the service and call ({failed}): {log}"
        );
        assert!(errors[0].contains(cell.says), "says `{}`: {log}", cell.says);
    }
    assert!(
        !r.stderr.contains(TOKEN) && !r.stdout.contains(TOKEN),
        "the token never prints: {log}"
    );
    assert_eq!(
        r.outputs.get("decision").map(String::as_str),
        cell.decided,
        "decision in GITHUB_OUTPUT: {log}"
    );

    let attempts = match cell.call {
        Call::Batch => w.reads_of(&id),
        Call::History => w.reads_of(HISTORY_ID),
        Call::Status => w.gh.count_posts(),
        call => w.cb.count(call.op()),
    };
    match cell.attempts {
        Some(n) => assert_eq!(attempts, n, "requests of the faulted call: {log}"),
        None if matches!(cell.fault, Kind::Refused | Kind::BlackHole) => {
            assert_eq!(attempts, 0, "nothing reached the fake: {log}")
        }
        None => assert!(
            (1..=4).contains(&attempts),
            "{attempts} requests, at most 4: {log}"
        ),
    }

    let retries = w.cb.retries_performed(&id);
    assert!(retries <= 1, "never two retries ({retries}): {log}");
    assert_eq!(retries, cell.retries, "retries performed: {log}");
    if cell.call.before_retry() && cell.exit != 0 {
        assert_eq!(
            w.cb.count("RetryBuildBatch"),
            0,
            "no RetryBuildBatch when the decision could not be completed: {log}"
        );
    }
    assert_eq!(
        !w.gh.statuses().is_empty(),
        cell.posted,
        "a status reached GitHub: {log}"
    );

    // The re-run, the fault gone. Faults the run did not use up (a persistent fault ends the
    // run before it is exhausted) would still be there: the re-run then goes to a copy of the
    // service as the run left it.
    let cb_left = cb_injected - w.cb.calls().iter().filter(|c| c.faulted).count();
    let gh_left = gh_injected - w.gh.calls().iter().filter(|c| c.faulted).count();
    let healed_cb = if cb_left > 0 {
        Some(copy_of(&w.cb, &[&id, HISTORY_ID]).await)
    } else {
        None
    };
    let fresh_gh = if gh_left > 0 {
        Some(FakeGitHub::start().await)
    } else {
        None
    };
    let cb = healed_cb.as_ref().unwrap_or(&w.cb);
    let gh = fresh_gh.as_ref().unwrap_or(&w.gh);
    let retry_calls_before = cb.count("RetryBuildBatch");
    let statuses_before = gh.statuses().len();

    let again = w.run(&cb.endpoint(), &gh.url(), &["--batch-id", &id]).await;
    let log = format!(
        "{name} (re-run)\n--- stdout\n{}--- stderr\n{}",
        again.stdout, again.stderr
    );
    assert_eq!(again.code, 0, "the re-run succeeds: {log}");
    let expected = if retries == 0 { "retry" } else { "wait" };
    assert_eq!(
        again.outputs.get("decision").map(String::as_str),
        Some(expected),
        "the re-run's decision: {log}"
    );
    if retries == 1 {
        assert_eq!(
            cb.count("RetryBuildBatch"),
            retry_calls_before,
            "a batch already retried is not asked again: {log}"
        );
    }
    let total =
        w.cb.retries_performed(&id) + healed_cb.as_ref().map_or(0, |c| c.retries_performed(&id));
    assert_eq!(total, 1, "exactly one retry in the end: {log}");
    let posted: Vec<String> = gh.statuses()[statuses_before..]
        .iter()
        .map(|s| s.state.clone())
        .collect();
    assert_eq!(posted, ["pending"], "the re-run posts its status: {log}");

    // One retry, one token: every RetryBuildBatch of both runs carried the same one.
    let token = codebuild_retry_gate::codebuild::idempotency_token(&id, 1);
    let tokens: Vec<Value> = std::iter::once(&w.cb)
        .chain(healed_cb.as_ref())
        .flat_map(|f| f.calls())
        .filter(|c| c.op == "RetryBuildBatch")
        .map(|c| c.body["idempotencyToken"].clone())
        .collect();
    if cell.call == Call::Retry {
        assert!(tokens.len() >= attempts, "{name}: {tokens:?}");
    }
    assert!(
        tokens.iter().all(|t| *t == json!(token)),
        "{name}: every RetryBuildBatch carried {token}: {tokens:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The matrix itself: well-formed, complete, and the one in the docs
// ---------------------------------------------------------------------------------------------

#[test]
fn the_matrix_is_well_formed_and_covers_the_issue() {
    for (i, cell) in CELLS.iter().enumerate() {
        let name = cell.name();
        assert!(cell.retries <= 1, "{name}: never two retries");
        if cell.call.before_retry() && cell.exit != 0 {
            assert_eq!(cell.retries, 0, "{name}: no retry before the decision");
        }
        assert!(
            [0, 2, 3].contains(&cell.exit),
            "{name}: a documented exit code"
        );
        match cell.fault {
            Kind::Refused | Kind::BlackHole => {}
            f if cell.call.github() => assert!(f.github().is_some(), "{name}: not for GitHub"),
            f => assert!(f.codebuild().is_some(), "{name}: not for CodeBuild"),
        }
        assert!(
            !CELLS[..i]
                .iter()
                .any(|c| c.call == cell.call && c.fault == cell.fault),
            "{name}: twice"
        );
    }
    let has =
        |call: Call, f: &dyn Fn(Kind) -> bool| CELLS.iter().any(|c| c.call == call && f(c.fault));
    for call in CALLS {
        let name = call.qualified();
        assert!(
            has(call, &|f| matches!(
                f,
                Kind::Throttle(_) | Kind::TooManyRequests(_)
            )),
            "{name}: a throttling burst"
        );
        for (what, wanted) in [
            (
                "a recovered 5xx",
                &(|f| matches!(f, Kind::ServerError(_, 1))) as &dyn Fn(Kind) -> bool,
            ),
            (
                "a persistent 5xx",
                &|f| matches!(f, Kind::ServerError(_, n) if n > 4),
            ),
            ("a hang", &|f| matches!(f, Kind::Hang(n) if n > 4)),
            ("truncated JSON", &|f| matches!(f, Kind::Malformed(_))),
            (
                "throttling past the retries",
                &|f| matches!(f, Kind::Throttle(n) | Kind::TooManyRequests(n) if n > 4),
            ),
        ] {
            assert!(has(call, wanted), "{name}: {what}");
        }
    }
    for status in [401, 403, 422] {
        assert!(
            CELLS.iter().any(|c| c.call == Call::Status
                && matches!(
                    (status, c.fault),
                    (401, Kind::Unauthorized(_))
                        | (403, Kind::Forbidden(_))
                        | (422, Kind::Unprocessable(_))
                )),
            "GitHub {status}"
        );
    }
    for endpoint in [Kind::Refused, Kind::BlackHole] {
        for github in [false, true] {
            assert!(
                CELLS
                    .iter()
                    .any(|c| c.call.github() == github && c.fault == endpoint),
                "{endpoint:?} for {}",
                if github { "GitHub" } else { "CodeBuild" }
            );
        }
    }
}

/// The markdown table of [`CELLS`]: a row per fault (in order of first appearance), a column
/// per call.
fn render_matrix() -> String {
    let mut rows: Vec<Kind> = Vec::new();
    for cell in CELLS {
        if !rows.contains(&cell.fault) {
            rows.push(cell.fault);
        }
    }
    let mut out = String::from("| Fault |");
    for call in CALLS {
        let _ = write!(out, " {} |", call.header());
    }
    out.push_str("\n|---|");
    for _ in CALLS {
        out.push_str("---|");
    }
    out.push('\n');
    for fault in rows {
        let _ = write!(out, "| {} |", fault.label());
        for call in CALLS {
            let text = CELLS
                .iter()
                .find(|c| c.call == call && c.fault == fault)
                .map_or_else(|| "—".to_string(), Cell::outcome);
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_documented_matrix_is_the_tested_one() {
    let expected = render_matrix();
    let path = common::root().join(DOC);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let documented = text
        .split_once(START)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(table, _)| table.trim());
    assert!(
        documented == Some(expected.trim()),
        "{} does not hold the tested matrix ({} cells) between `{START}` and `{END}`. \
         It should be:\n\n{START}\n{expected}{END}\n",
        path.display(),
        CELLS.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The world a cell runs in
// ---------------------------------------------------------------------------------------------

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
    /// The failed batch the gate judges.
    id: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
}

impl World {
    /// A retryable failure (an image pull failed in PROVISIONING; retry 1 of 2 allowed by the
    /// built-in policy) and an older, successful batch of the project on another commit.
    async fn new() -> World {
        let cb = FakeCodeBuild::start().await;
        let id = cb.load_example(&common::root().join("examples/batches/provisioning-fault"));
        cb.add_batch(older_sibling(&cb.batch(&id)));
        World {
            cb,
            gh: FakeGitHub::start().await,
            dir: tempfile::tempdir().unwrap(),
            id,
        }
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    /// Requests of `BatchGetBuildBatches` that asked for this batch.
    fn reads_of(&self, id: &str) -> usize {
        self.cb
            .calls()
            .iter()
            .filter(|c| c.op == "BatchGetBuildBatches" && c.body["ids"] == json!([id]))
            .count()
    }

    /// The binary as the runner starts it, against these endpoints.
    async fn run(&self, codebuild: &str, github: &str, args: &[&str]) -> Run {
        let output = self.workspace().join("output");
        let _ = std::fs::remove_file(&output);
        let cmd = common::gate_in(self.workspace(), codebuild, github, TOKEN, REPO, args);
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: common::parse_outputs(&output),
        }
    }
}

/// The batch as another, older batch of the same project: another commit, succeeded, never
/// retried.
fn older_sibling(main: &Value) -> Value {
    let mut b = main.clone();
    let start = main["startTime"].as_f64().expect("epoch seconds") - 3600.0;
    b["id"] = json!(HISTORY_ID);
    b["arn"] = json!(format!(
        "arn:aws:codebuild:us-east-1:111122223333:build-batch/{HISTORY_ID}"
    ));
    b["resolvedSourceVersion"] = json!("0000000000000000000000000000000000000000");
    b["startTime"] = json!(start);
    b["endTime"] = json!(start + 60.0);
    b["phases"] = json!([
        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": start},
        {"phaseType": "SUCCEEDED", "startTime": start + 60.0},
    ]);
    b["buildBatchStatus"] = json!("SUCCEEDED");
    b
}

/// A new fake CodeBuild holding these batches and their builds as `from` has them now.
async fn copy_of(from: &FakeCodeBuild, ids: &[&str]) -> FakeCodeBuild {
    let to = FakeCodeBuild::start().await;
    for id in ids {
        let batch = from.batch(id);
        for group in batch["buildGroups"].as_array().into_iter().flatten() {
            let prior = group["priorBuildSummaryList"]
                .as_array()
                .into_iter()
                .flatten();
            for summary in std::iter::once(&group["currentBuildSummary"]).chain(prior) {
                if let Some(build) = summary["arn"].as_str().and_then(|arn| from.build(arn)) {
                    to.add_build(build);
                }
            }
        }
        to.add_batch(batch);
    }
    to
}

/// `http://127.0.0.1:PORT` that refuses connections: a socket bound to the port, never
/// listening. (Binding a listener and dropping it would free the port for the next server a
/// concurrent cell starts; this socket keeps it while it lives, without `SO_REUSEADDR`.)
fn refusing() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (socket, url)
}

/// `http://127.0.0.1:PORT` that accepts connections (the kernel completes them while the
/// listener lives) and never reads or answers.
fn black_hole() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}
