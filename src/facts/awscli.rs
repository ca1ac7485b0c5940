//! AWS CLI JSON → facts.
//!
//! Reads what `aws codebuild batch-get-build-batches` and `aws codebuild batch-get-builds`
//! print (or a single `buildBatch` / build object, or the `buildBatch` of `retry-build-batch`).
//! Timestamps are accepted both as ISO-8601 strings (what the CLI prints) and as epoch
//! seconds (what the wire carries). Fields we do not use are ignored; enum values we do not
//! know are kept as text.

use serde::Deserialize;
use thiserror::Error;

mod reports;
pub use reports::{reports_from_json, test_cases_from_json};

use super::{Batch, Build, BuildSummary, Context, Group, Phase, Status, Timestamp};

/// A capture that could not be read. `line`/`column` point into the JSON text.
#[derive(Debug, Error)]
#[error("{what}: {message}")]
pub struct LoadError {
    pub what: &'static str,
    pub message: String,
}

/// Batches from `batch-get-build-batches` output, a `{"buildBatch": …}` wrapper, a bare
/// batch object or a JSON array of batch objects. At least one batch.
pub fn batches_from_json(text: &str) -> Result<Vec<Batch>, LoadError> {
    let batches = history_from_json(text)?;
    if batches.is_empty() {
        return Err(LoadError {
            what: NOT_A_BATCH_CAPTURE,
            message: "it holds no batch (expected `buildBatches`, `buildBatch` or a batch object with an `id`)".into(),
        });
    }
    Ok(batches)
}

const NOT_A_BATCH_CAPTURE: &str = "not a CodeBuild batch capture";

/// Like [`batches_from_json`], but a capture may hold no batch at all: a project with no
/// other batches has an empty history (`{"buildBatches": []}`).
pub fn history_from_json(text: &str) -> Result<Vec<Batch>, LoadError> {
    // `batch-get-build-batches` output, read straight into the raw structs: no JSON tree,
    // so a history of thousands of batches costs little more memory than its facts.
    if let Ok(BatchList {
        build_batches: Some(raw),
    }) = serde_json::from_str::<BatchList>(text)
    {
        return raw.into_iter().map(RawBatch::into_fact).collect();
    }
    // Any other shape, and every error, the general way (its messages name the item).
    items(text, "buildBatches", "buildBatch", NOT_A_BATCH_CAPTURE)?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let raw: RawBatch = serde_json::from_value(item).map_err(|e| LoadError {
                what: "malformed CodeBuild batch",
                message: format!("batch #{}: {e}", i + 1),
            })?;
            raw.into_fact()
        })
        .collect()
}

/// Builds from `batch-get-builds` output, a `{"build": …}` wrapper, a bare build object or
/// a JSON array of builds.
pub fn builds_from_json(text: &str) -> Result<Vec<Build>, LoadError> {
    if let Ok(BuildList { builds: Some(raw) }) = serde_json::from_str::<BuildList>(text) {
        return raw.into_iter().map(RawBuild::into_fact).collect();
    }
    items(text, "builds", "build", "not a CodeBuild builds capture")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let raw: RawBuild = serde_json::from_value(item).map_err(|e| LoadError {
                what: "malformed CodeBuild build",
                message: format!("build #{}: {e}", i + 1),
            })?;
            raw.into_fact()
        })
        .collect()
}

/// `batch-get-build-batches` output; other members (`buildBatchesNotFound`) are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchList {
    build_batches: Option<Vec<RawBatch>>,
}

/// `batch-get-builds` output; other members (`buildsNotFound`) are skipped.
#[derive(Deserialize)]
struct BuildList {
    builds: Option<Vec<RawBuild>>,
}

/// The objects of a capture: `{many: [...]}`, `{one: {...}}`, a bare object with an `id`,
/// or a JSON array.
fn items(
    text: &str,
    many: &str,
    one: &str,
    what: &'static str,
) -> Result<Vec<serde_json::Value>, LoadError> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError {
        what,
        message: e.to_string(),
    })?;
    match value {
        Value::Array(items) => Ok(items),
        Value::Object(mut map) => {
            if let Some(list) = map.remove(many) {
                match list {
                    Value::Array(items) => Ok(items),
                    _ => Err(LoadError {
                        what,
                        message: format!("`{many}` is not a list"),
                    }),
                }
            } else if let Some(item) = map.remove(one) {
                Ok(vec![item])
            } else if many == "buildBatches"
                && (map.contains_key("builds") || map.contains_key("build"))
            {
                Err(LoadError {
                    what,
                    message: "this is batch-get-builds output: pass it with --builds (the batch comes from `aws codebuild batch-get-build-batches`)".into(),
                })
            } else if map.contains_key("id") || map.contains_key("arn") {
                Ok(vec![Value::Object(map)])
            } else {
                Err(LoadError {
                    what,
                    message: format!("expected `{many}`, `{one}` or an object with an `id`"),
                })
            }
        }
        _ => Err(LoadError {
            what,
            message: "expected a JSON object or array".into(),
        }),
    }
}

/// A timestamp as the CLI prints it (ISO-8601) or as the wire carries it (epoch seconds),
/// parsed as it is read; a bad one keeps (the start of) its text for the error.
enum RawTime {
    At(Timestamp),
    Bad(String),
}

// By hand rather than an untagged enum, which buffers every value before trying each variant:
// a history holds hundreds of thousands of timestamps, and this parses each without a copy.
impl<'de> Deserialize<'de> for RawTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RawTime, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawTime;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an ISO-8601 string or epoch seconds")
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawTime, E> {
                Ok(if v.is_finite() {
                    RawTime::At(Timestamp::from_epoch_seconds(v))
                } else {
                    RawTime::Bad(v.to_string())
                })
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawTime, E> {
                Ok(RawTime::At(Timestamp::from_epoch_seconds(v as f64)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawTime, E> {
                Ok(RawTime::At(Timestamp::from_epoch_seconds(v as f64)))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawTime, E> {
                Ok(match parse_iso8601(v) {
                    Some(t) => RawTime::At(t),
                    None => RawTime::Bad(v.chars().take(64).collect()),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl RawTime {
    fn parse(self) -> Result<Timestamp, LoadError> {
        match self {
            RawTime::At(t) => Ok(t),
            RawTime::Bad(text) => Err(bad_time(&text)),
        }
    }
}

fn bad_time(text: &str) -> LoadError {
    let shown: String = text.chars().take(64).collect();
    LoadError {
        what: "bad timestamp",
        message: format!("`{shown}` is neither ISO-8601 nor epoch seconds"),
    }
}

/// ISO-8601 as the AWS CLI prints it (`2020-11-03T21:52:20.775000+00:00`), also with `Z`,
/// or a plain number of epoch seconds in a string.
pub fn parse_iso8601(text: &str) -> Option<Timestamp> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        let millis = t.unix_timestamp_nanos() / 1_000_000;
        return i64::try_from(millis).ok().map(Timestamp);
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .map(Timestamp::from_epoch_seconds)
}

fn time(raw: Option<RawTime>) -> Result<Option<Timestamp>, LoadError> {
    raw.map(RawTime::parse).transpose()
}

fn status(raw: Option<String>) -> Option<Status> {
    raw.map(|s| Status::parse(&s))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContext {
    status_code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPhase {
    phase_type: Option<String>,
    phase_status: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<RawContext>>,
    start_time: Option<RawTime>,
    end_time: Option<RawTime>,
}

impl RawPhase {
    fn into_fact(self) -> Result<Phase, LoadError> {
        Ok(Phase {
            start_time: time(self.start_time)?,
            end_time: time(self.end_time)?,
            phase_type: self.phase_type.unwrap_or_default(),
            status: status(self.phase_status),
            contexts: self
                .contexts
                .unwrap_or_default()
                .into_iter()
                .map(|c| Context {
                    status_code: c.status_code.unwrap_or_default(),
                    message: c.message.unwrap_or_default(),
                })
                .filter(|c| !c.is_empty())
                .collect(),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSummary {
    arn: Option<String>,
    build_status: Option<String>,
    requested_on: Option<RawTime>,
}

impl RawSummary {
    fn into_fact(self) -> Result<BuildSummary, LoadError> {
        Ok(BuildSummary {
            arn: self.arn,
            status: status(self.build_status),
            requested_on: time(self.requested_on)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGroup {
    identifier: Option<String>,
    depends_on: Option<Vec<String>>,
    ignore_failure: Option<bool>,
    current_build_summary: Option<RawSummary>,
    prior_build_summary_list: Option<Vec<RawSummary>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSource {
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBatch {
    id: Option<String>,
    arn: Option<String>,
    project_name: Option<String>,
    build_batch_status: Option<String>,
    complete: Option<bool>,
    source_version: Option<String>,
    resolved_source_version: Option<String>,
    source: Option<RawSource>,
    start_time: Option<RawTime>,
    end_time: Option<RawTime>,
    phases: Option<Vec<RawPhase>>,
    build_groups: Option<Vec<RawGroup>>,
}

impl RawBatch {
    fn into_fact(self) -> Result<Batch, LoadError> {
        let id = self.id.filter(|id| !id.is_empty()).ok_or(LoadError {
            what: "malformed CodeBuild batch",
            message: "the batch has no `id`".into(),
        })?;
        let project = match self.project_name {
            Some(p) if !p.is_empty() => p,
            _ => id
                .split_once(':')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default(),
        };
        let groups = self
            .build_groups
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                Ok(Group {
                    identifier: g.identifier.unwrap_or_default(),
                    depends_on: g.depends_on.unwrap_or_default(),
                    ignore_failure: g.ignore_failure.unwrap_or(false),
                    current: g
                        .current_build_summary
                        .map(RawSummary::into_fact)
                        .transpose()?,
                    prior: g
                        .prior_build_summary_list
                        .unwrap_or_default()
                        .into_iter()
                        .map(RawSummary::into_fact)
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, LoadError>>()?;
        let status = status(self.build_batch_status);
        // CodeBuild always says whether a batch is complete; a capture without the field
        // (cut down by hand) is taken at its status's word: ended unless IN_PROGRESS. A
        // failed batch that says `complete: false` is waited for.
        let complete = self
            .complete
            .unwrap_or_else(|| status.as_ref().is_some_and(|s| *s != Status::InProgress));
        Ok(Batch {
            complete,
            status,
            source_version: self.source_version,
            resolved_source_version: self.resolved_source_version,
            source_location: self.source.and_then(|s| s.location),
            start_time: time(self.start_time)?,
            end_time: time(self.end_time)?,
            phases: self
                .phases
                .unwrap_or_default()
                .into_iter()
                .map(RawPhase::into_fact)
                .collect::<Result<_, _>>()?,
            groups,
            arn: self.arn,
            project,
            id,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBuild {
    id: Option<String>,
    arn: Option<String>,
    build_status: Option<String>,
    start_time: Option<RawTime>,
    end_time: Option<RawTime>,
    phases: Option<Vec<RawPhase>>,
    build_batch_arn: Option<String>,
    report_arns: Option<Vec<String>>,
}

impl RawBuild {
    fn into_fact(self) -> Result<Build, LoadError> {
        let id = self
            .id
            .filter(|id| !id.is_empty())
            .or_else(|| {
                self.arn
                    .as_deref()
                    .and_then(super::build_id_from_arn)
                    .map(str::to_string)
            })
            .ok_or(LoadError {
                what: "malformed CodeBuild build",
                message: "a build has neither `id` nor `arn`".into(),
            })?;
        Ok(Build {
            id,
            arn: self.arn,
            status: status(self.build_status),
            start_time: time(self.start_time)?,
            end_time: time(self.end_time)?,
            phases: self
                .phases
                .unwrap_or_default()
                .into_iter()
                .map(RawPhase::into_fact)
                .collect::<Result<_, _>>()?,
            batch_arn: self.build_batch_arn,
            report_arns: self.report_arns.unwrap_or_default(),
            // Offline, logs come from captured files (`--logs DIR`), not from where they were.
            logs: None,
        })
    }
}
