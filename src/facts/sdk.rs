//! SDK outputs → facts. Enum values the SDK does not know arrive as its `Unknown` variant;
//! `as_str()` keeps their text, so nothing is lost and nothing panics.

use aws_sdk_codebuild::primitives::DateTime;
use aws_sdk_codebuild::types as cb;

use super::{Batch, Build, BuildSummary, Context, Group, Phase, Status, Timestamp};

fn time(t: Option<&DateTime>) -> Option<Timestamp> {
    t.and_then(|t| t.to_millis().ok()).map(Timestamp)
}

fn status(s: Option<&cb::StatusType>) -> Option<Status> {
    s.map(|s| Status::parse(s.as_str()))
}

fn contexts(list: &[cb::PhaseContext]) -> Vec<Context> {
    list.iter()
        .map(|c| Context {
            status_code: c.status_code().unwrap_or_default().to_string(),
            message: c.message().unwrap_or_default().to_string(),
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Build phases and batch phases have the same fields in different SDK types.
fn phase(
    kind: Option<&str>,
    phase_status: Option<&cb::StatusType>,
    list: &[cb::PhaseContext],
    (start, end): (Option<&DateTime>, Option<&DateTime>),
) -> Phase {
    Phase {
        phase_type: kind.unwrap_or_default().to_string(),
        status: status(phase_status),
        contexts: contexts(list),
        start_time: time(start),
        end_time: time(end),
    }
}

fn summary(s: &cb::BuildSummary) -> BuildSummary {
    BuildSummary {
        arn: s.arn().map(str::to_string),
        status: status(s.build_status()),
        requested_on: time(s.requested_on()),
    }
}

pub fn batch(b: &cb::BuildBatch) -> Batch {
    let id = b.id().unwrap_or_default().to_string();
    let project = b
        .project_name()
        .map(str::to_string)
        .or_else(|| id.split_once(':').map(|(p, _)| p.to_string()))
        .unwrap_or_default();
    Batch {
        arn: b.arn().map(str::to_string),
        project,
        status: status(b.build_batch_status()),
        complete: b.complete(),
        source_version: b.source_version().map(str::to_string),
        resolved_source_version: b.resolved_source_version().map(str::to_string),
        source_location: b.source().and_then(|s| s.location()).map(str::to_string),
        start_time: time(b.start_time()),
        end_time: time(b.end_time()),
        phases: b
            .phases()
            .iter()
            .map(|p| {
                phase(
                    p.phase_type().map(|t| t.as_str()),
                    p.phase_status(),
                    p.contexts(),
                    (p.start_time(), p.end_time()),
                )
            })
            .collect(),
        groups: b
            .build_groups()
            .iter()
            .map(|g| Group {
                identifier: g.identifier().unwrap_or_default().to_string(),
                depends_on: g.depends_on().to_vec(),
                ignore_failure: g.ignore_failure(),
                current: g.current_build_summary().map(summary),
                prior: g.prior_build_summary_list().iter().map(summary).collect(),
            })
            .collect(),
        id,
    }
}

pub fn build(b: &cb::Build) -> Build {
    Build {
        id: b
            .id()
            .map(str::to_string)
            .or_else(|| {
                b.arn()
                    .and_then(super::build_id_from_arn)
                    .map(str::to_string)
            })
            .unwrap_or_default(),
        arn: b.arn().map(str::to_string),
        status: status(b.build_status()),
        start_time: time(b.start_time()),
        end_time: time(b.end_time()),
        phases: b
            .phases()
            .iter()
            .map(|p| {
                phase(
                    p.phase_type().map(|t| t.as_str()),
                    p.phase_status(),
                    p.contexts(),
                    (p.start_time(), p.end_time()),
                )
            })
            .collect(),
        batch_arn: b.build_batch_arn().map(str::to_string),
        report_arns: b.report_arns().to_vec(),
        logs: b.logs().map(logs),
    }
}

fn logs(l: &cb::LogsLocation) -> super::LogLocation {
    let text = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_string);
    super::LogLocation {
        group: text(l.group_name()),
        stream: text(l.stream_name()),
        cloudwatch_status: l
            .cloud_watch_logs()
            .map(|c| c.status().as_str().to_string()),
        s3_arn: text(l.s3_logs_arn()),
        s3_status: l.s3_logs().map(|s| s.status().as_str().to_string()),
        s3_location: text(l.s3_logs().and_then(|s| s.location())),
    }
}

/// `Report` → [`Report`](super::reports::Report).
pub fn report(r: &cb::Report) -> super::reports::Report {
    super::reports::Report {
        arn: r.arn().unwrap_or_default().to_string(),
        kind: r.r#type().map(|t| t.as_str().to_string()),
        status: r.status().map(|s| s.as_str().to_string()),
        execution_id: r.execution_id().map(str::to_string),
        created: time(r.created()),
        expired: time(r.expired()),
        truncated: r.truncated().unwrap_or(false),
        total: r.test_summary().map(|s| i64::from(s.total())),
        status_counts: r.test_summary().map(|s| {
            s.status_counts()
                .iter()
                .map(|(k, v)| (k.clone(), i64::from(*v)))
                .collect()
        }),
    }
}

/// `TestCase` → [`TestCase`](super::reports::TestCase).
pub fn test_case(c: &cb::TestCase) -> super::reports::TestCase {
    super::reports::TestCase {
        report_arn: c.report_arn().unwrap_or_default().to_string(),
        prefix: c.prefix().unwrap_or_default().to_string(),
        name: c.name().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        message: c.message().unwrap_or_default().to_string(),
        expired: time(c.expired()),
        suite: c.test_suite_name().map(str::to_string),
    }
}
