//! A fake Amazon CloudWatch Logs endpoint speaking awsJson1_1, as `aws-sdk-cloudwatchlogs`
//! expects it, for `GetLogEvents` (the only operation the gate calls).
//!
//! Wire format (AWS JSON 1.1, service model `logs-2014-03-28`):
//! - every request is `POST /` with `Content-Type: application/x-amz-json-1.1` and
//!   `X-Amz-Target: Logs_20140328.<Operation>`, signed with SigV4 (service `logs`);
//! - responses are JSON with the same content type and an `x-amzn-RequestId` header;
//! - times are epoch **milliseconds** (JSON integers): `startTime`, `endTime`, each event's
//!   `timestamp` and `ingestionTime`;
//! - errors are HTTP 400 with `{"__type": "<ExceptionName>", "message": "..."}`.
//!
//! `GetLogEvents` as the API reference describes it: events of one stream within
//! `[startTime, endTime)`, at most `limit` (default and maximum 10,000) and at most 1 MB a
//! page (each event counted as its message's UTF-8 bytes plus 26), oldest first within the
//! page; without a token, the oldest page (`startFromHead: true`) or the newest (`false`, the
//! default). Both tokens are always returned; at the end of the stream in a direction, the
//! token returned is the one passed in. Tokens are `f/…` and `b/…` followed by digits, like
//! the service's.
//!
//! Point a client at it with `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::lock;

/// `X-Amz-Target` prefix of every CloudWatch Logs operation.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
const AMZ_JSON: &str = "application/x-amz-json-1.1";
/// A page's size limit, and what each event counts beyond its message.
pub const PAGE_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
pub const MAX_LIMIT: usize = 10_000;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
}

/// A fault answered instead of the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsFault {
    /// 400 `ThrottlingException` "Rate exceeded" (the SDK retries it).
    Throttle,
    /// 400 `AccessDeniedException`, as IAM answers a role without `logs:GetLogEvents`.
    AccessDenied,
    /// 400 with this `__type` and message.
    Error(String, String),
}

/// One `GetLogEvents` request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsCall {
    pub op: String,
    pub body: Value,
    pub faulted: bool,
    /// The SigV4 credential scope's service (`…/REGION/logs/aws4_request`).
    pub service: Option<String>,
}

#[derive(Default)]
struct State {
    /// Events by (group, stream), sorted by timestamp.
    streams: BTreeMap<(String, String), Vec<Event>>,
    calls: Vec<LogsCall>,
    /// Faults, how many more times, and (when set) only for requests whose `startFromHead`
    /// is this.
    faults: Vec<(LogsFault, usize, Option<bool>)>,
    latency: Option<Duration>,
    requests: u64,
    /// A page holds at most this many events (the service's 10,000 unless set lower).
    page_events: Option<usize>,
    /// A misbehaving service: every backward token answers the newest page again, with a
    /// new token (pages that overlap).
    stuck_backward: bool,
    /// The next requests without a token answer an empty page whose tokens lead on to the
    /// events, as the service may ("can return empty results while there are more log
    /// events available through the token").
    empty_first_pages: usize,
}

/// A fake CloudWatch Logs on 127.0.0.1. Dropping it stops the server.
pub struct FakeLogs {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeLogs {
    pub async fn start() -> FakeLogs {
        let server = super::listen().await;
        let state = Arc::new(Mutex::new(State::default()));
        super::answer_all(
            &server,
            Responder {
                state: Arc::clone(&state),
            },
        )
        .await;
        FakeLogs { server, state }
    }

    /// For `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// Delay every response (outside the state lock).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = Some(latency).filter(|d| !d.is_zero());
    }

    /// At most `n` events a page (to exercise paging with small logs).
    pub fn set_page_events(&self, n: usize) {
        lock(&self.state).page_events = Some(n.max(1));
    }

    /// From now on backward tokens answer the newest page again, with a new token each time.
    pub fn set_stuck_backward(&self) {
        lock(&self.state).stuck_backward = true;
    }

    /// The next `n` requests without a token (newest page or head read) answer an empty
    /// page with tokens that lead on to the events.
    pub fn set_empty_first_pages(&self, n: usize) {
        lock(&self.state).empty_first_pages = n;
    }

    /// Creates the group and stream (empty) if they do not exist.
    pub fn add_stream(&self, group: &str, stream: &str) {
        lock(&self.state)
            .streams
            .entry((group.to_string(), stream.to_string()))
            .or_default();
    }

    /// Appends events (`(timestamp ms, message)`), ingested a second after their timestamp.
    pub fn add_events(&self, group: &str, stream: &str, events: &[(i64, &str)]) {
        let mut state = lock(&self.state);
        let list = state
            .streams
            .entry((group.to_string(), stream.to_string()))
            .or_default();
        list.extend(events.iter().map(|(t, m)| Event {
            timestamp: *t,
            message: (*m).to_string(),
            ingestion_time: t + 1000,
        }));
        list.sort_by_key(|e| e.timestamp);
    }

    /// A log as CodeBuild writes it: one event per line of `text` (each keeping its `\n`),
    /// `step_ms` apart from `start_ms`.
    pub fn add_log(&self, group: &str, stream: &str, start_ms: i64, step_ms: i64, text: &str) {
        let lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        let events: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (start_ms + step_ms * i as i64, l.as_str()))
            .collect();
        self.add_events(group, stream, &events);
    }

    /// Answers the next `times` requests with `fault`.
    pub fn inject(&self, fault: LogsFault, times: usize) {
        lock(&self.state).faults.push((fault, times, None));
    }

    /// Answers the next `times` requests whose `startFromHead` is `from_head` with `fault`.
    pub fn inject_where_from_head(&self, from_head: bool, fault: LogsFault, times: usize) {
        lock(&self.state)
            .faults
            .push((fault, times, Some(from_head)));
    }

    pub fn calls(&self) -> Vec<LogsCall> {
        lock(&self.state).calls.clone()
    }

    /// How many `GetLogEvents` requests arrived (faulted ones included).
    pub fn get_log_events(&self) -> usize {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| c.op == "GetLogEvents")
            .count()
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

type Reply = (u16, Value);

fn error(name: &str, message: &str) -> Reply {
    (400, json!({"__type": name, "message": message}))
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
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let authorization = header("authorization");
        let service = authorization.as_deref().and_then(|a| {
            let rest = a.split("Credential=").nth(1)?;
            Some(rest.split('/').nth(3)?.to_string())
        });
        let mut state = lock(&self.state);
        state.requests += 1;
        let from_head = body
            .get("startFromHead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let fault = state
            .faults
            .iter_mut()
            .find(|(_, n, only)| *n > 0 && only.is_none_or(|h| h == from_head))
            .map(|(f, n, _)| {
                *n -= 1;
                f.clone()
            });
        state.faults.retain(|(_, n, _)| *n > 0);
        state.calls.push(LogsCall {
            op: op.clone(),
            body: body.clone(),
            faulted: fault.is_some(),
            service: service.clone(),
        });
        let (status, reply) = match fault {
            Some(LogsFault::Throttle) => error("ThrottlingException", "Rate exceeded"),
            Some(LogsFault::AccessDenied) => error(
                "AccessDeniedException",
                "User: arn:aws:sts::111122223333:assumed-role/gate/ci is not authorized to perform: logs:GetLogEvents on resource: arn:aws:logs:us-east-1:111122223333:log-group:/aws/codebuild/acme-web:log-stream:x because no identity-based policy allows the logs:GetLogEvents action",
            ),
            Some(LogsFault::Error(name, message)) => error(&name, &message),
            None if request.method.as_str() != "POST" || request.url.path() != "/" => {
                error("UnknownOperationException", "not an operation")
            }
            None if authorization.is_none() => error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            None if service.as_deref() != Some("logs") => error(
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'logs'.",
            ),
            None if op != "GetLogEvents" => error(
                "UnknownOperationException",
                &format!("unknown operation {op:?}"),
            ),
            None => state.get_log_events(&body),
        };
        let delay = state.latency;
        let request_id = format!("00000000-0000-4000-8000-{:012}", state.requests);
        drop(state);
        let mut template = ResponseTemplate::new(status)
            .insert_header("x-amzn-RequestId", request_id.as_str())
            .set_body_raw(reply.to_string().into_bytes(), AMZ_JSON);
        if let Some(delay) = delay {
            template = template.set_delay(delay);
        }
        template
    }
}

fn token(direction: char, at: usize) -> String {
    format!("{direction}/{at:056}")
}

fn parse_token(text: &str) -> Option<(char, usize)> {
    let (d, n) = text.split_once('/')?;
    let d = match d {
        "f" => 'f',
        "b" => 'b',
        _ => return None,
    };
    Some((d, n.parse().ok()?))
}

impl State {
    fn get_log_events(&mut self, body: &Value) -> Reply {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(group), Some(stream)) = (text("logGroupName"), text("logStreamName")) else {
            return error(
                "InvalidParameterException",
                "logGroupName and logStreamName are required",
            );
        };
        if !self.streams.keys().any(|(g, _)| *g == group) {
            return error(
                "ResourceNotFoundException",
                "The specified log group does not exist.",
            );
        }
        let Some(all) = self.streams.get(&(group, stream)) else {
            return error(
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            );
        };
        let start = body.get("startTime").and_then(Value::as_i64);
        let end = body.get("endTime").and_then(Value::as_i64);
        let events: Vec<&Event> = all
            .iter()
            .filter(|e| start.is_none_or(|s| e.timestamp >= s))
            .filter(|e| end.is_none_or(|t| e.timestamp < t))
            .collect();
        let limit = match body.get("limit").and_then(Value::as_u64) {
            Some(0) => {
                return error(
                    "InvalidParameterException",
                    "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
                );
            }
            Some(n) if n as usize > MAX_LIMIT => {
                return error(
                    "InvalidParameterException",
                    "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
                );
            }
            Some(n) => n as usize,
            None => MAX_LIMIT,
        }
        .min(self.page_events.unwrap_or(MAX_LIMIT));
        let from_head = body
            .get("startFromHead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let given = text("nextToken");
        if given.is_none() && self.empty_first_pages > 0 {
            self.empty_first_pages -= 1;
            return (
                200,
                json!({
                    "events": [],
                    "nextForwardToken": token('f', 0),
                    "nextBackwardToken": token('b', events.len()),
                }),
            );
        }
        let stuck = self.stuck_backward && given.as_deref().is_some_and(|t| t.starts_with("b/"));
        let (forward, at) = match given.as_deref() {
            None if from_head => (true, 0),
            None => (false, events.len()),
            Some(t) => match parse_token(t) {
                Some(('f', n)) => (true, n.min(events.len())),
                Some((_, n)) => (false, n.min(events.len())),
                None => {
                    return error(
                        "InvalidParameterException",
                        "The specified nextToken is invalid.",
                    );
                }
            },
        };
        let fits = |range: &mut dyn Iterator<Item = &&Event>| {
            let (mut n, mut bytes) = (0usize, 0usize);
            for e in range {
                let size = e.message.len() + EVENT_OVERHEAD;
                if n == limit || bytes + size > PAGE_BYTES {
                    break;
                }
                n += 1;
                bytes += size;
            }
            n
        };
        let at = if stuck { events.len() } else { at };
        let (from, to) = if forward {
            let n = fits(&mut events[at..].iter());
            (at, at + n)
        } else {
            let n = fits(&mut events[..at].iter().rev());
            (at - n, at)
        };
        let page: Vec<Value> = events[from..to]
            .iter()
            .map(|e| {
                json!({
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion_time,
                })
            })
            .collect();
        // At the end in a direction, the token passed in comes back.
        let next_forward = match (&given, forward && from == to) {
            (Some(t), true) => t.clone(),
            _ => token('f', to),
        };
        let next_backward = match (&given, !forward && from == to) {
            (Some(t), true) => t.clone(),
            _ if stuck => token('b', self.requests as usize + 1_000_000),
            _ => token('b', from),
        };
        (
            200,
            json!({
                "events": page,
                "nextForwardToken": next_forward,
                "nextBackwardToken": next_backward,
            }),
        )
    }
}
