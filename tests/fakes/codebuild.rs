//! A fake AWS CodeBuild endpoint speaking awsJson1_1, as `aws-sdk-codebuild` expects it.
//!
//! Wire format (AWS JSON 1.1, service model `codebuild-2016-10-06`):
//! - every request is `POST /` with `Content-Type: application/x-amz-json-1.1` and
//!   `X-Amz-Target: CodeBuild_20161006.<Operation>`, signed with SigV4;
//! - responses are JSON with the same content type and an `x-amzn-RequestId` header;
//! - timestamps are epoch seconds (JSON numbers, fractional milliseconds allowed);
//! - errors are HTTP 400 with `{"__type": "<ExceptionName>", "message": "..."}`; service faults are
//!   5xx.
//!
//! Point a client at it with `endpoint_url(fake.endpoint())` or `AWS_ENDPOINT_URL_CODEBUILD`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::lock;

/// `X-Amz-Target` prefix of every CodeBuild operation.
pub const TARGET_PREFIX: &str = "CodeBuild_20161006.";
/// Content type of requests and responses.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";
/// Members of `BuildBatch`, `Build`, `Report`, `TestCase` and their nested shapes that the model
/// types as `timestamp`.
pub const TIMESTAMP_KEYS: [&str; 5] = ["startTime", "endTime", "requestedOn", "created", "expired"];
/// Statuses `DescribeTestCases` accepts in its filter (`TestCaseFilter.status`).
pub const TEST_CASE_STATUSES: [&str; 5] = ["SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN"];
/// Batch statuses from which `RetryBuildBatch` is allowed.
pub const RETRYABLE_STATUSES: [&str; 4] = ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"];

const DEFAULT_ARN_PREFIX: &str = "arn:aws:codebuild:us-east-1:111122223333:";
const HANG: Duration = Duration::from_secs(3600);

/// A fault answered instead of the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ThrottlingException` "Rate exceeded" (the SDK's standard retry retries it).
    Throttle,
    /// That HTTP status: 5xx as a service fault (`InternalFailure`, 503 `ServiceUnavailable`),
    /// 403 `AccessDeniedException`, 429 `ThrottlingException`, other 4xx `InvalidInputException`.
    Status(u16),
    /// 200 with a truncated JSON body.
    Malformed,
    /// The normal response (the request takes effect), delayed by an hour: only a client
    /// timeout ends it.
    Hang,
    /// 400 with this `__type` and message.
    Error(String, String),
    /// A person retries the batch named in the request (in the console) just before the
    /// request arrives; the request is then answered normally, e.g. a `RetryBuildBatch`
    /// gets CodeBuild's "not in a retryable state" refusal. A race, made deterministic.
    RetriedByHandFirst,
}

/// One request as the fake saw it, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Operation name from `X-Amz-Target` (without the `CodeBuild_20161006.` prefix).
    pub op: String,
    /// The JSON request body (`Null` when it was not JSON).
    pub body: Value,
    /// True when an injected fault answered this call.
    pub faulted: bool,
    /// The access key id from the SigV4 `Authorization` header, if the request was signed.
    pub access_key_id: Option<String>,
    /// The region of the SigV4 credential scope (`Credential=AKID/DATE/REGION/codebuild/…`):
    /// the region the client signed for, whatever endpoint it reached.
    pub region: Option<String>,
}

/// A fake CodeBuild service on 127.0.0.1. Dropping it stops the server.
pub struct FakeCodeBuild {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Injection {
    op: String,
    fault: Fault,
    remaining: usize,
}

struct StoredRetry {
    batch_id: String,
    retry_type: Option<String>,
    response: Value,
}

/// Where a `DescribeTestCases` listing stands, behind a minted `nextToken`.
struct CaseCursor {
    report: String,
    status: Option<String>,
    keyword: Option<String>,
    offset: usize,
}

struct PageCursor {
    project: String,
    descending: bool,
    status: Option<String>,
    offset: usize,
}

#[derive(Default)]
struct State {
    batches: BTreeMap<String, Value>,
    builds: BTreeMap<String, Value>,
    projects: BTreeSet<String>,
    /// Projects as `BatchGetProjects` returns them (with their webhooks), by name.
    project_details: BTreeMap<String, Value>,
    calls: Vec<Call>,
    injections: Vec<Injection>,
    latency: Option<Duration>,
    idempotency: HashMap<String, StoredRetry>,
    retries: HashMap<String, usize>,
    page_tokens: HashMap<String, PageCursor>,
    requests: u64,
    minted: u64,
    clock: Option<f64>,
    /// Batch states to become, in turn, after each read of the batch.
    scripts: HashMap<String, std::collections::VecDeque<Value>>,
    /// Reports by ARN (wire form).
    reports: BTreeMap<String, Value>,
    /// Test cases (wire form), in the order they were added.
    test_cases: Vec<Value>,
    case_tokens: HashMap<String, CaseCursor>,
    /// List batches strictly by identifier, the only order the model documents.
    by_identifier: bool,
    /// Batches as they stood when [`FakeCodeBuild::freeze_batch_reads`] was called: reads
    /// answer from here, while `RetryBuildBatch` acts on the live batches.
    frozen: Option<BTreeMap<String, Value>>,
    /// Racing gates made deterministic ([`FakeCodeBuild::race_retries`]): by batch, the
    /// state every read answers and the `RetryBuildBatch` requests still awaited.
    races: HashMap<String, (Value, usize)>,
}

type Reply = (u16, Vec<u8>);

impl FakeCodeBuild {
    /// Start an empty fake on a fresh port of 127.0.0.1.
    pub async fn start() -> Self {
        let server = super::listen().await;
        let state = Arc::new(Mutex::new(State::default()));
        super::answer_all(
            &server,
            Responder {
                state: Arc::clone(&state),
            },
        )
        .await;
        Self { server, state }
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:PORT`, for `endpoint_url` or
    /// `AWS_ENDPOINT_URL_CODEBUILD`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// Delay every response by `latency` (the delay is served outside the state lock, so
    /// concurrent requests overlap as they would against the real service).
    pub fn with_latency(self, latency: Duration) -> Self {
        self.set_latency(latency);
        self
    }

    /// Like [`FakeCodeBuild::with_latency`], on a shared reference.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = Some(latency).filter(|d| !d.is_zero());
    }

    /// From now on `ListBuildBatchesForProject` orders batches by identifier alone, as the
    /// service model documents `sortOrder` ("descending order by identifier"), instead of by
    /// start time as the service is seen to.
    pub fn list_by_identifier(&self) {
        lock(&self.state).by_identifier = true;
    }

    /// Fix the fake's clock (epoch seconds) for the timestamps a retry or status change writes.
    /// Without it, "now" is one minute after the latest timestamp in the batch concerned, so runs
    /// are deterministic.
    pub fn set_clock(&self, epoch_seconds: f64) {
        lock(&self.state).clock = Some(epoch_seconds);
    }

    /// Add (or replace) a batch. Accepts a wire-format `buildBatch` object, or
    /// `{"buildBatch": {...}}` / `{"buildBatches": [...]}`; ISO-8601 timestamps are converted to
    /// epoch seconds. Returns the id of the first batch.
    pub fn add_batch(&self, batch: Value) -> String {
        let batches = unwrap_list(batch, "buildBatch", "buildBatches");
        let mut state = lock(&self.state);
        let mut first = None;
        for batch in batches {
            let id = state.insert_batch(batch);
            first.get_or_insert(id);
        }
        first.expect("add_batch: no batch given")
    }

    /// Add (or replace) a build: a wire-format `build` object or `{"builds": [...]}`. Returns the
    /// id of the first build.
    pub fn add_build(&self, build: Value) -> String {
        let builds = unwrap_list(build, "build", "builds");
        let mut state = lock(&self.state);
        let mut first = None;
        for build in builds {
            let build = to_wire(build);
            let id = str_field(&build, "id").expect("add_build: build without id");
            if let Some(project) = str_field(&build, "projectName") {
                state.projects.insert(project);
            }
            state.builds.insert(id.clone(), build);
            first.get_or_insert(id);
        }
        first.expect("add_build: no build given")
    }

    /// Add (or replace) test reports: a wire-format `Report` object, a list of them, or
    /// `batch-get-reports` output (`{"reports": [...]}`; `reportsNotFound` is ignored).
    /// ISO-8601 `created`/`expired` become epoch seconds. Returns the ARN of the first.
    pub fn add_report(&self, report: Value) -> String {
        let reports = unwrap_list(report, "report", "reports");
        let mut state = lock(&self.state);
        let mut first = None;
        for report in reports {
            let report = to_wire(report);
            let arn = str_field(&report, "arn").expect("add_report: report without arn");
            state.reports.insert(arn.clone(), report);
            first.get_or_insert(arn);
        }
        first.expect("add_report: no report given")
    }

    /// Add test cases: `describe-test-cases` output (`{"testCases": [...]}`) or a list of
    /// wire-format `TestCase` objects, each with its `reportArn`. Returns how many.
    pub fn add_test_cases(&self, cases: Value) -> usize {
        let cases = match cases {
            Value::Object(mut map) if map.contains_key("testCases") => {
                match map.remove("testCases") {
                    Some(Value::Array(items)) => items,
                    other => panic!("testCases is not a list: {other:?}"),
                }
            }
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut state = lock(&self.state);
        let n = cases.len();
        for case in cases {
            assert!(
                str_field(&case, "reportArn").is_some(),
                "add_test_cases: a case without reportArn"
            );
            state.test_cases.push(to_wire(case));
        }
        n
    }

    /// Remove a report (as when it expires or is deleted): `BatchGetReports` lists it under
    /// `reportsNotFound`, `DescribeTestCases` answers `ResourceNotFoundException`.
    pub fn remove_report(&self, arn: &str) {
        lock(&self.state).reports.remove(arn);
    }

    /// Make a project known without batches (listing an unknown project is
    /// `ResourceNotFoundException`).
    pub fn add_project(&self, name: &str) {
        lock(&self.state).projects.insert(name.to_string());
    }

    /// Set a project as `BatchGetProjects` returns it: a wire-format `Project` object (its
    /// `name` required; `arn`, `source` and `webhook` as given). Also makes the project known.
    pub fn set_project(&self, project: Value) {
        let project = to_wire(project);
        let name = str_field(&project, "name").expect("set_project: project without name");
        let mut state = lock(&self.state);
        state.projects.insert(name.clone());
        state.project_details.insert(name, project);
    }

    /// Load an example directory: `batch.json` (required) and, when present, `builds.json` and
    /// `history.json`, all in AWS CLI form. Returns the id of the batch in `batch.json`.
    pub fn load_example(&self, dir: &Path) -> String {
        let read = |name: &str| -> Option<Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).ok()?;
            Some(
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
            )
        };
        let batch =
            read("batch.json").unwrap_or_else(|| panic!("{} has no batch.json", dir.display()));
        if let Some(history) = read("history.json") {
            self.add_batch(history);
        }
        if let Some(builds) = read("builds.json") {
            self.add_build(builds);
        }
        // Last, so the main batch wins should the history repeat it.
        self.add_batch(batch)
    }

    /// Every request so far, in arrival order (faulted ones included, marked).
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// How many requests of this operation arrived (faulted ones included).
    pub fn count(&self, op: &str) -> usize {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| c.op == op)
            .count()
    }

    /// Real retries of this batch (through the API or [`FakeCodeBuild::retry_by_hand`]); an
    /// idempotent replay does not count.
    pub fn retries_performed(&self, batch_id: &str) -> usize {
        let state = lock(&self.state);
        let id = state
            .resolve_batch(batch_id)
            .unwrap_or(batch_id.to_string());
        state.retries.get(&id).copied().unwrap_or(0)
    }

    /// The current wire-format state of a batch. Panics when unknown.
    pub fn batch(&self, id: &str) -> Value {
        let state = lock(&self.state);
        let id = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        state.batches[&id].clone()
    }

    /// The current wire-format state of a build, if known.
    pub fn build(&self, id: &str) -> Option<Value> {
        let state = lock(&self.state);
        let id = state.resolve_build(id)?;
        state.builds.get(&id).cloned()
    }

    /// Change a batch's status as CodeBuild would when it finishes (or is started again):
    /// - `IN_PROGRESS`: status, `currentPhase` and `complete: false`, nothing else;
    /// - a terminal status: the open last phase is closed, an open terminal phase (`SUCCEEDED`,
    ///   `STOPPED`, or `FAILED` for FAILED/FAULT/TIMED_OUT) appended, `endTime` and
    ///   `complete: true` set, and groups whose current build is `IN_PROGRESS` end with the same
    ///   status.
    pub fn set_batch_status(&self, id: &str, status: &str) {
        let mut state = lock(&self.state);
        let id = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        let now = state.now_for(&state.batches[&id]);
        let batch = state.batches.get_mut(&id).expect("resolved");
        finish_batch(batch, status, now);
    }

    /// A retry made outside the API (a person in the console): same effect as `RetryBuildBatch`,
    /// counted by [`FakeCodeBuild::retries_performed`], not recorded as a call. Panics when the
    /// batch is unknown or not retryable.
    pub fn retry_by_hand(&self, id: &str, retry_all: bool) -> Value {
        let mut state = lock(&self.state);
        let id = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        state
            .perform_retry(&id, retry_all)
            .unwrap_or_else(|msg| panic!("{msg}"))
    }

    /// Apply any change to a stored batch.
    pub fn update_batch(&self, id: &str, change: impl FnOnce(&mut Value)) {
        let mut state = lock(&self.state);
        let id = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        change(state.batches.get_mut(&id).expect("resolved"));
    }

    /// Script how a batch changes as it is read: after each `BatchGetBuildBatches` answer that
    /// holds the batch, the stored batch becomes the next of `states` (wire or AWS CLI form,
    /// converted like [`FakeCodeBuild::add_batch`]); once they are used up it stays as it is.
    /// So the first read sees the batch as it is now, the second `states[0]`, and so on:
    /// e.g. a batch that CodeBuild closes between two reads.
    pub fn script_batch(&self, id: &str, states: Vec<Value>) {
        let mut state = lock(&self.state);
        let id = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        state
            .scripts
            .entry(id)
            .or_default()
            .extend(states.into_iter().map(to_wire));
    }

    /// From now on, `BatchGetBuildBatches` answers with the batches as they stand now, while
    /// `RetryBuildBatch` keeps acting on the live ones: every later reader sees the project
    /// as it was before any of the retries that follow. This is the worst interleaving of
    /// gates running at once (each reads the project before the others' retries exist),
    /// made deterministic: the gates can then run one after another. Until
    /// [`FakeCodeBuild::thaw_batch_reads`].
    pub fn freeze_batch_reads(&self) {
        let mut state = lock(&self.state);
        state.frozen = Some(state.batches.clone());
    }

    /// Reads answer from the live batches again.
    pub fn thaw_batch_reads(&self) {
        lock(&self.state).frozen = None;
    }

    /// A deterministic race of `gates` gates on one batch: every read of the batch answers
    /// the batch as it is now (failed) until `gates` `RetryBuildBatch` requests for it have
    /// arrived — as if every gate read it before any retry was answered, whatever the
    /// interleaving — so each of them reaches `RetryBuildBatch`. The retries are then
    /// answered in arrival order as CodeBuild does: the first retries the batch, a later one
    /// with the same idempotency token gets the same answer (no second retry), one with
    /// another token finds the batch running and is refused.
    pub fn race_retries(&self, id: &str, gates: usize) {
        let mut state = lock(&self.state);
        let key = state
            .resolve_batch(id)
            .unwrap_or_else(|| panic!("no batch {id}"));
        let now = state.batches[&key].clone();
        state.races.insert(key, (now, gates));
    }

    /// Answer the next `times` calls of `op` (or of any operation, with `"*"`) with `fault`.
    /// Injections are consumed in the order they were made.
    pub fn inject(&self, op: &str, fault: Fault, times: usize) {
        lock(&self.state).injections.push(Injection {
            op: op.to_string(),
            fault,
            remaining: times,
        });
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let target = header("x-amz-target").unwrap_or_default();
        let op = target
            .strip_prefix(TARGET_PREFIX)
            .unwrap_or(&target)
            .to_string();
        let body: Value = if request.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&request.body).unwrap_or(Value::Null)
        };
        let authorization = header("authorization");
        let access_key_id = authorization.as_deref().and_then(access_key_of);
        let region = authorization.as_deref().and_then(region_of);

        let mut state = lock(&self.state);
        state.requests += 1;
        let request_id = pseudo_uuid(state.requests, "request");
        let fault = state.take_fault(&op);
        state.calls.push(Call {
            op: op.clone(),
            body: body.clone(),
            faulted: fault.is_some(),
            access_key_id,
            region,
        });
        let mut delay = state.latency;
        let (status, bytes) = match fault {
            Some(Fault::Hang) => {
                delay = Some(delay.unwrap_or_default() + HANG);
                state.dispatch(
                    request,
                    &op,
                    &target,
                    authorization.is_some(),
                    &request.body,
                )
            }
            Some(Fault::RetriedByHandFirst) => {
                if let Some(id) = body
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| state.resolve_batch(id))
                {
                    let _ = state.perform_retry(&id, false);
                }
                state.dispatch(
                    request,
                    &op,
                    &target,
                    authorization.is_some(),
                    &request.body,
                )
            }
            Some(fault) => fault_reply(&fault),
            None => state.dispatch(
                request,
                &op,
                &target,
                authorization.is_some(),
                &request.body,
            ),
        };
        drop(state);

        let mut template = ResponseTemplate::new(status)
            .insert_header("x-amzn-RequestId", request_id.as_str())
            .set_body_raw(bytes, AMZ_JSON);
        if let Some(delay) = delay {
            template = template.set_delay(delay);
        }
        template
    }
}

fn fault_reply(fault: &Fault) -> Reply {
    match fault {
        Fault::Throttle => error(400, "ThrottlingException", "Rate exceeded"),
        Fault::Status(code) => {
            let name = match code {
                503 => "ServiceUnavailable",
                403 => "AccessDeniedException",
                429 => "ThrottlingException",
                c if *c >= 500 => "InternalFailure",
                _ => "InvalidInputException",
            };
            error(*code, name, "Injected fault")
        }
        Fault::Malformed => (200, br#"{"buildBatches": [{"id": "trunc"#.to_vec()),
        Fault::Hang | Fault::RetriedByHandFirst => unreachable!("answered normally"),
        Fault::Error(name, message) => error(400, name, message),
    }
}

fn error(status: u16, name: &str, message: &str) -> Reply {
    (
        status,
        json!({"__type": name, "message": message})
            .to_string()
            .into_bytes(),
    )
}

fn ok(body: Value) -> Reply {
    (200, body.to_string().into_bytes())
}

fn invalid(message: impl AsRef<str>) -> Reply {
    error(400, "InvalidInputException", message.as_ref())
}

impl State {
    fn take_fault(&mut self, op: &str) -> Option<Fault> {
        let injection = self
            .injections
            .iter_mut()
            .find(|i| i.remaining > 0 && (i.op == "*" || i.op == op))?;
        injection.remaining -= 1;
        let fault = injection.fault.clone();
        self.injections.retain(|i| i.remaining > 0);
        Some(fault)
    }

    fn dispatch(
        &mut self,
        request: &Request,
        op: &str,
        target: &str,
        signed: bool,
        raw_body: &[u8],
    ) -> Reply {
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if request.method.as_str() != "POST" || request.url.path() != "/" {
            return error(
                400,
                "UnknownOperationException",
                &format!(
                    "{} {} is not an operation",
                    request.method,
                    request.url.path()
                ),
            );
        }
        if !signed {
            return error(
                400,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
        }
        if !content_type.starts_with(AMZ_JSON) {
            // The real service's answer to a wrong content type is not documented.
            return error(
                400,
                "UnknownOperationException",
                &format!("unexpected content type {content_type:?}"),
            );
        }
        if !target.starts_with(TARGET_PREFIX) {
            return error(
                400,
                "UnknownOperationException",
                &format!("unknown target {target:?}"),
            );
        }
        let body: Value = match serde_json::from_slice(raw_body) {
            Ok(Value::Object(map)) => Value::Object(map),
            _ => return error(400, "SerializationException", "Start of structure expected"),
        };
        match op {
            "BatchGetBuildBatches" => self.batch_get_build_batches(&body),
            "BatchGetBuilds" => self.batch_get_builds(&body),
            "ListBuildBatchesForProject" => self.list_build_batches_for_project(&body),
            "RetryBuildBatch" => self.retry_build_batch(&body),
            "BatchGetReports" => self.batch_get_reports(&body),
            "DescribeTestCases" => self.describe_test_cases(&body),
            "BatchGetProjects" => self.batch_get_projects(&body),
            _ => error(
                400,
                "UnknownOperationException",
                &format!("unknown operation {op:?}"),
            ),
        }
    }

    fn batch_get_build_batches(&mut self, body: &Value) -> Reply {
        let ids = match id_list(body, "ids", 0) {
            Ok(ids) => ids,
            Err(reply) => return reply,
        };
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match self.resolve_batch(&id) {
                Some(key) if self.frozen.as_ref().is_some_and(|f| f.contains_key(&key)) => {
                    found.extend(self.frozen.as_ref().and_then(|f| f.get(&key)).cloned());
                }
                Some(key) => {
                    if let Some((held, _)) = self.races.get(&key).filter(|(_, left)| *left > 0) {
                        found.push(held.clone());
                        continue;
                    }
                    found.push(self.batches[&key].clone());
                    if let Some(next) = self.scripts.get_mut(&key).and_then(|s| s.pop_front()) {
                        self.batches.insert(key, next);
                    }
                }
                None => missing.push(Value::String(id)),
            }
        }
        ok(json!({"buildBatches": found, "buildBatchesNotFound": missing}))
    }

    /// Names or ARNs, 1 to 100; unknown ones in `projectsNotFound`. A project known only from
    /// its batches is returned with its name and ARN alone (no source, no webhook).
    fn batch_get_projects(&self, body: &Value) -> Reply {
        let names = match id_list(body, "names", 1) {
            Ok(names) => names,
            Err(reply) => return reply,
        };
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for name in names {
            let project = self.project_details.get(&name).or_else(|| {
                self.project_details
                    .values()
                    .find(|p| str_field(p, "arn").as_deref() == Some(name.as_str()))
            });
            match project {
                Some(p) => found.push(p.clone()),
                // A project known from its batches but never set: no source, no webhook.
                None if self.projects.contains(&name) => found.push(json!({
                    "name": name,
                    "arn": format!("{DEFAULT_ARN_PREFIX}project/{name}"),
                })),
                None => missing.push(Value::String(name)),
            }
        }
        ok(json!({"projects": found, "projectsNotFound": missing}))
    }

    fn batch_get_builds(&self, body: &Value) -> Reply {
        let ids = match id_list(body, "ids", 1) {
            Ok(ids) => ids,
            Err(reply) => return reply,
        };
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match self.resolve_build(&id) {
                Some(key) => found.push(self.builds[&key].clone()),
                None => missing.push(Value::String(id)),
            }
        }
        ok(json!({"builds": found, "buildsNotFound": missing}))
    }

    fn batch_get_reports(&self, body: &Value) -> Reply {
        let arns = match id_list(body, "reportArns", 1) {
            Ok(arns) => arns,
            Err(reply) => return reply,
        };
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for arn in arns {
            match self.reports.get(&arn) {
                Some(report) => found.push(report.clone()),
                None => missing.push(Value::String(arn)),
            }
        }
        // The model gives `reports` a minimum length of 1; with nothing found the member is
        // left out rather than sent empty.
        let mut out = json!({ "reportsNotFound": missing });
        if !found.is_empty() {
            out["reports"] = Value::Array(found);
        }
        ok(out)
    }

    fn describe_test_cases(&mut self, body: &Value) -> Reply {
        let max = match body.get("maxResults") {
            None | Some(Value::Null) => 100,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=100) => n as usize,
                _ => {
                    return invalid(format!(
                        "1 validation error detected: Value '{v}' at 'maxResults' failed to \
                         satisfy constraint: Member must have value between 1 and 100"
                    ));
                }
            },
        };
        let (report, status, keyword, offset) = if let Some(token) = body.get("nextToken") {
            let Some(cursor) = token.as_str().and_then(|t| self.case_tokens.get(t)) else {
                return invalid("Invalid nextToken");
            };
            (
                cursor.report.clone(),
                cursor.status.clone(),
                cursor.keyword.clone(),
                cursor.offset,
            )
        } else {
            let Some(report) = body.get("reportArn").and_then(Value::as_str) else {
                return invalid(
                    "1 validation error detected: Value null at 'reportArn' failed to satisfy \
                     constraint: Member must not be null",
                );
            };
            let status = body
                .pointer("/filter/status")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(s) = status.as_deref()
                && !TEST_CASE_STATUSES.contains(&s)
            {
                return invalid(format!("Invalid test case status: {s}"));
            }
            let keyword = body
                .pointer("/filter/keyword")
                .and_then(Value::as_str)
                .map(str::to_string);
            (report.to_string(), status, keyword, 0)
        };
        if !self.reports.contains_key(&report) {
            return error(
                400,
                "ResourceNotFoundException",
                &format!("Report {report} does not exist"),
            );
        }
        let matching: Vec<&Value> = self
            .test_cases
            .iter()
            .filter(|c| str_field(c, "reportArn").as_deref() == Some(report.as_str()))
            .filter(|c| {
                status
                    .as_deref()
                    .is_none_or(|s| str_field(c, "status").as_deref() == Some(s))
            })
            .filter(|c| {
                keyword.as_deref().is_none_or(|k| {
                    ["name", "prefix"]
                        .iter()
                        .any(|f| str_field(c, f).is_some_and(|v| v.contains(k)))
                })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(max)
            .map(|c| (*c).clone())
            .collect();
        let next_offset = offset + page.len();
        let mut out = json!({ "testCases": page });
        if next_offset < matching.len() {
            self.minted += 1;
            let token = format!(
                "AQICAT{}",
                pseudo_uuid(self.minted, &report).replace('-', "")
            );
            self.case_tokens.insert(
                token.clone(),
                CaseCursor {
                    report,
                    status,
                    keyword,
                    offset: next_offset,
                },
            );
            out["nextToken"] = Value::String(token);
        }
        ok(out)
    }

    fn list_build_batches_for_project(&mut self, body: &Value) -> Reply {
        let (project, descending, status, offset) = if let Some(token) = body.get("nextToken") {
            let Some(cursor) = token.as_str().and_then(|t| self.page_tokens.get(t)) else {
                return invalid("Invalid nextToken");
            };
            if body
                .get("projectName")
                .and_then(Value::as_str)
                .is_some_and(|p| p != cursor.project)
            {
                return invalid("nextToken does not belong to this project");
            }
            (
                cursor.project.clone(),
                cursor.descending,
                cursor.status.clone(),
                cursor.offset,
            )
        } else {
            let Some(project) = body.get("projectName").and_then(Value::as_str) else {
                return invalid("Project name is required");
            };
            let descending = match body.get("sortOrder").and_then(Value::as_str) {
                None | Some("DESCENDING") => true,
                Some("ASCENDING") => false,
                Some(other) => {
                    return invalid(format!(
                        "1 validation error detected: Value '{other}' at 'sortOrder' failed to \
                         satisfy constraint: Member must satisfy enum value set: \
                         [ASCENDING, DESCENDING]"
                    ));
                }
            };
            let status = body
                .pointer("/filter/status")
                .and_then(Value::as_str)
                .map(str::to_string);
            (project.to_string(), descending, status, 0)
        };
        let max = match body.get("maxResults") {
            None | Some(Value::Null) => 100,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=100) => n as usize,
                _ => {
                    return invalid(format!(
                        "1 validation error detected: Value '{v}' at 'maxResults' failed to \
                         satisfy constraint: Member must have value between 1 and 100"
                    ));
                }
            },
        };
        if !self.projects.contains(&project) {
            return error(
                400,
                "ResourceNotFoundException",
                &format!("The provided project {project} does not exist"),
            );
        }
        let mut batches: Vec<&Value> = self
            .batches
            .values()
            .filter(|b| str_field(b, "projectName").as_deref() == Some(project.as_str()))
            .filter(|b| {
                status
                    .as_deref()
                    .is_none_or(|s| str_field(b, "buildBatchStatus").as_deref() == Some(s))
            })
            .collect();
        let by_identifier = self.by_identifier;
        batches.sort_by(|a, b| {
            if by_identifier {
                return str_field(a, "id").cmp(&str_field(b, "id"));
            }
            let key = |v: &Value| {
                (
                    v.get("startTime").and_then(Value::as_f64).unwrap_or(0.0),
                    v.get("buildBatchNumber")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                )
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| str_field(a, "id").cmp(&str_field(b, "id")))
        });
        // The model documents the order as "by identifier"; the service lists batches newest
        // first, which is what callers rely on, so the fake orders by startTime.
        if descending {
            batches.reverse();
        }
        let ids: Vec<String> = batches
            .iter()
            .skip(offset)
            .take(max)
            .filter_map(|b| str_field(b, "id"))
            .collect();
        let next_offset = offset + ids.len();
        let mut out = json!({ "ids": ids });
        if next_offset < batches.len() {
            self.minted += 1;
            let token = format!(
                "AQICAH{}",
                pseudo_uuid(self.minted, &project).replace('-', "")
            );
            self.page_tokens.insert(
                token.clone(),
                PageCursor {
                    project,
                    descending,
                    status,
                    offset: next_offset,
                },
            );
            out["nextToken"] = Value::String(token);
        }
        ok(out)
    }

    fn retry_build_batch(&mut self, body: &Value) -> Reply {
        let Some(id) = body.get("id").and_then(Value::as_str) else {
            return invalid("Build batch id is required");
        };
        let token = body.get("idempotencyToken").and_then(Value::as_str);
        let retry_type = body
            .get("retryType")
            .and_then(Value::as_str)
            .map(str::to_string);
        // What the service does without a retryType is not documented; the fake retries the
        // failed builds.
        let retry_all = match retry_type.as_deref() {
            None | Some("RETRY_FAILED_BUILDS") => false,
            Some("RETRY_ALL_BUILDS") => true,
            Some(other) => {
                return invalid(format!(
                    "1 validation error detected: Value '{other}' at 'retryType' failed to \
                     satisfy constraint: Member must satisfy enum value set: \
                     [RETRY_ALL_BUILDS, RETRY_FAILED_BUILDS]"
                ));
            }
        };
        if let Some(key) = self.resolve_batch(id)
            && let Some((_, left)) = self.races.get_mut(&key)
        {
            *left = left.saturating_sub(1);
        }
        if let Some(stored) = token.and_then(|t| self.idempotency.get(t)) {
            // The token is documented as valid for five minutes; the fake keeps it for its life.
            return if stored.batch_id == id && stored.retry_type == retry_type {
                ok(stored.response.clone())
            } else {
                error(
                    400,
                    "IdempotentParameterMismatchException",
                    "The request uses the same idempotency token as a previous, but not \
                     identical request.",
                )
            };
        }
        let Some(key) = self.resolve_batch(id) else {
            return error(
                400,
                "ResourceNotFoundException",
                &format!("Build batch {id} does not exist"),
            );
        };
        let response = match self.perform_retry(&key, retry_all) {
            Ok(batch) => json!({ "buildBatch": batch }),
            Err(message) => return invalid(message),
        };
        if let Some(token) = token {
            self.idempotency.insert(
                token.to_string(),
                StoredRetry {
                    batch_id: id.to_string(),
                    retry_type,
                    response: response.clone(),
                },
            );
        }
        ok(response)
    }

    /// Retry a stored batch in place; returns its new state.
    fn perform_retry(&mut self, key: &str, retry_all: bool) -> Result<Value, String> {
        let batch = &self.batches[key];
        let status = str_field(batch, "buildBatchStatus").unwrap_or_default();
        if !RETRYABLE_STATUSES.contains(&status.as_str()) {
            // The real wording of this error is not documented; tests should match on the
            // exception name (InvalidInputException), not on this text.
            return Err(format!(
                "Build batch {key} is not in a retryable state: {status}"
            ));
        }
        let now = self.now_for(batch);
        let project = str_field(batch, "projectName")
            .unwrap_or_else(|| key.split(':').next().unwrap_or_default().to_string());
        let arn_prefix = str_field(batch, "arn")
            .and_then(|arn| arn.split_once("build-batch/").map(|(p, _)| p.to_string()))
            .unwrap_or_else(|| DEFAULT_ARN_PREFIX.to_string());

        let mut new_builds = Vec::new();
        let mut batch = self.batches[key].clone();
        retry_phases(&mut batch, now);
        batch["buildBatchStatus"] = json!("IN_PROGRESS");
        batch["currentPhase"] = json!("SUBMITTED");
        batch["complete"] = json!(false);
        if let Some(map) = batch.as_object_mut() {
            map.remove("endTime");
        }
        let template = build_template(&batch, now);
        if let Some(groups) = batch.get_mut("buildGroups").and_then(Value::as_array_mut) {
            for group in groups {
                let current = group.get("currentBuildSummary").cloned();
                let succeeded = current
                    .as_ref()
                    .and_then(|c| str_field(c, "buildStatus"))
                    .is_some_and(|s| s == "SUCCEEDED");
                if succeeded && !retry_all {
                    continue;
                }
                self.minted += 1;
                let build_id = format!("{project}:{}", pseudo_uuid(self.minted, key));
                let build_arn = format!("{arn_prefix}build/{build_id}");
                let mut summary = json!({
                    "arn": build_arn,
                    "requestedOn": now,
                    "buildStatus": "IN_PROGRESS",
                    "secondaryArtifacts": [],
                });
                if let Some(artifact) = current.as_ref().and_then(|c| c.get("primaryArtifact")) {
                    summary["primaryArtifact"] = artifact.clone();
                }
                if let Some(current) = current {
                    match group.get_mut("priorBuildSummaryList") {
                        Some(Value::Array(prior)) => prior.push(current),
                        _ => group["priorBuildSummaryList"] = json!([current]),
                    }
                }
                group["currentBuildSummary"] = summary;
                let mut build = template.clone();
                build["id"] = json!(build_id);
                build["arn"] = json!(build_arn);
                new_builds.push(build);
            }
        }
        for build in new_builds {
            let id = str_field(&build, "id").expect("minted id");
            self.builds.insert(id, build);
        }
        self.batches.insert(key.to_string(), batch.clone());
        *self.retries.entry(key.to_string()).or_default() += 1;
        Ok(batch)
    }

    fn insert_batch(&mut self, batch: Value) -> String {
        let batch = to_wire(batch);
        let id = str_field(&batch, "id").expect("add_batch: batch without id");
        if let Some(project) = str_field(&batch, "projectName") {
            self.projects.insert(project);
        }
        self.batches.insert(id.clone(), batch);
        id
    }

    /// A batch id from an id or a batch ARN.
    fn resolve_batch(&self, id: &str) -> Option<String> {
        if self.batches.contains_key(id) {
            return Some(id.to_string());
        }
        self.batches
            .iter()
            .find(|(_, b)| str_field(b, "arn").as_deref() == Some(id))
            .map(|(k, _)| k.clone())
    }

    /// A build id from an id or a build ARN.
    fn resolve_build(&self, id: &str) -> Option<String> {
        if self.builds.contains_key(id) {
            return Some(id.to_string());
        }
        self.builds
            .iter()
            .find(|(_, b)| str_field(b, "arn").as_deref() == Some(id))
            .map(|(k, _)| k.clone())
    }

    fn now_for(&self, batch: &Value) -> f64 {
        self.clock
            .unwrap_or_else(|| round_millis(latest_timestamp(batch).unwrap_or(0.0) + 60.0))
    }
}

/// Close the open terminal phase of a failed batch as `FAILED`/`RETRY` (as the service does; an
/// open phase of another type is closed and a `FAILED`/`RETRY` phase appended), then open a
/// `SUBMITTED` phase.
fn retry_phases(batch: &mut Value, now: f64) {
    if !batch.get("phases").is_some_and(Value::is_array) {
        batch["phases"] = json!([]);
    }
    let phases = batch["phases"].as_array_mut().expect("phases is an array");
    let open_failed = phases.last().is_some_and(|p| {
        str_field(p, "phaseType").as_deref() == Some("FAILED") && p.get("endTime").is_none()
    });
    if open_failed {
        let last = phases.last_mut().expect("checked");
        close_phase(last, now);
        last["phaseStatus"] = json!("RETRY");
    } else {
        if let Some(last) = phases.last_mut().filter(|p| p.get("endTime").is_none()) {
            close_phase(last, now);
        }
        phases.push(json!({
            "phaseType": "FAILED",
            "phaseStatus": "RETRY",
            "startTime": now,
            "endTime": now,
            "durationInSeconds": 0,
        }));
    }
    phases.push(json!({"phaseType": "SUBMITTED", "startTime": now}));
}

fn close_phase(phase: &mut Value, now: f64) {
    let start = phase
        .get("startTime")
        .and_then(Value::as_f64)
        .unwrap_or(now);
    phase["endTime"] = json!(now);
    phase["durationInSeconds"] = json!((now - start).max(0.0).floor() as i64);
}

fn finish_batch(batch: &mut Value, status: &str, now: f64) {
    batch["buildBatchStatus"] = json!(status);
    if status == "IN_PROGRESS" {
        batch["currentPhase"] = json!("IN_PROGRESS");
        batch["complete"] = json!(false);
        return;
    }
    let phase_type = match status {
        "SUCCEEDED" => "SUCCEEDED",
        "STOPPED" => "STOPPED",
        _ => "FAILED",
    };
    if !batch.get("phases").is_some_and(Value::is_array) {
        batch["phases"] = json!([]);
    }
    let phases = batch["phases"].as_array_mut().expect("phases is an array");
    if let Some(last) = phases.last_mut().filter(|p| p.get("endTime").is_none()) {
        close_phase(last, now);
        if last.get("phaseStatus").is_none() {
            last["phaseStatus"] = json!(if status == "SUCCEEDED" {
                "SUCCEEDED"
            } else {
                status
            });
        }
    }
    phases.push(json!({"phaseType": phase_type, "startTime": now}));
    batch["currentPhase"] = json!(phase_type);
    batch["endTime"] = json!(now);
    batch["complete"] = json!(true);
    if let Some(groups) = batch.get_mut("buildGroups").and_then(Value::as_array_mut) {
        for group in groups {
            if let Some(summary) = group.get_mut("currentBuildSummary")
                && str_field(summary, "buildStatus").as_deref() == Some("IN_PROGRESS")
            {
                summary["buildStatus"] = json!(status);
            }
        }
    }
}

/// The skeleton of a build that a retry starts.
fn build_template(batch: &Value, now: f64) -> Value {
    let mut build = json!({
        "startTime": now,
        "currentPhase": "SUBMITTED",
        "buildStatus": "IN_PROGRESS",
        "phases": [{"phaseType": "SUBMITTED", "startTime": now}],
        "buildComplete": false,
    });
    for key in [
        "sourceVersion",
        "resolvedSourceVersion",
        "projectName",
        "source",
        "environment",
        "initiator",
    ] {
        if let Some(v) = batch.get(key) {
            build[key] = v.clone();
        }
    }
    if let Some(arn) = batch.get("arn") {
        build["buildBatchArn"] = arn.clone();
    }
    build
}

fn id_list(body: &Value, key: &str, min: usize) -> Result<Vec<String>, Reply> {
    let Some(list) = body.get(key).and_then(Value::as_array) else {
        return Err(invalid(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: \
             Member must not be null"
        )));
    };
    if list.len() > 100 || list.len() < min {
        return Err(invalid(format!(
            "1 validation error detected: Value '{}' at '{key}' failed to satisfy constraint: \
             Member must have length between {min} and 100",
            Value::Array(list.clone())
        )));
    }
    let mut ids: Vec<String> = Vec::new();
    for v in list {
        let Some(id) = v.as_str().filter(|s| !s.is_empty()) else {
            return Err(invalid(format!("Invalid id {v}")));
        };
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// `{"<one>": {...}}`, `{"<many>": [...]}` or a bare object → the objects.
fn unwrap_list(value: Value, one: &str, many: &str) -> Vec<Value> {
    match value {
        Value::Object(mut map) if map.contains_key(many) => match map.remove(many) {
            Some(Value::Array(items)) => items,
            other => panic!("{many} is not a list: {other:?}"),
        },
        Value::Object(mut map) if map.contains_key(one) && !map.contains_key("id") => {
            vec![map.remove(one).expect("checked")]
        }
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// Convert ISO-8601 strings under timestamp members (`startTime`, `endTime`, `requestedOn`, at
/// any depth) to epoch seconds, as the wire carries them. Numbers stay as they are; a string
/// that does not parse is left alone.
pub fn to_wire(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if TIMESTAMP_KEYS.contains(&k.as_str()) => {
                            iso_to_epoch(&s).unwrap_or(Value::String(s))
                        }
                        other => to_wire(other),
                    };
                    (k, v)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(to_wire).collect()),
        other => other,
    }
}

/// `2026-11-20T14:03:11.123000+00:00` → `1795183391.123` (milliseconds kept).
pub fn iso_to_epoch(text: &str) -> Option<Value> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    if millis % 1000 == 0 {
        Some(json!((millis / 1000) as i64))
    } else {
        Some(json!(millis as f64 / 1000.0))
    }
}

fn round_millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn latest_timestamp(value: &Value) -> Option<f64> {
    match value {
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| {
                if TIMESTAMP_KEYS.contains(&k.as_str()) {
                    v.as_f64()
                } else {
                    latest_timestamp(v)
                }
            })
            .reduce(f64::max),
        Value::Array(items) => items.iter().filter_map(latest_timestamp).reduce(f64::max),
        _ => None,
    }
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// `Credential=AKID/20261120/us-east-1/codebuild/aws4_request` → `AKID`.
fn access_key_of(authorization: &str) -> Option<String> {
    let rest = authorization.split("Credential=").nth(1)?;
    Some(rest.split('/').next()?.to_string())
}

/// `Credential=AKID/20261120/us-east-1/codebuild/aws4_request` → `us-east-1`.
fn region_of(authorization: &str) -> Option<String> {
    let rest = authorization.split("Credential=").nth(1)?;
    Some(rest.split('/').nth(2)?.to_string())
}

/// A deterministic UUID-shaped string (FNV-1a of a seed and a counter).
pub fn pseudo_uuid(n: u64, seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut next = || {
        for b in seed.bytes().chain(n.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}
