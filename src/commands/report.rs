//! What `gate` and `reconcile` report, and where: the commit a batch's status may go on (only
//! the one the batch built), its repository, the status itself, and the runner's outputs and
//! job summary.

use crate::actions;
use crate::commands::common::Log;
use crate::commands::inputs::Inputs;
use crate::decision::Decision;
use crate::error::RunError;
use crate::facts::{Batch, is_full_sha};
use crate::github::{CommitStatus, Repo, SeenStatus, State};
use crate::history;
use crate::render;

/// The commit that gets a batch's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// The batch's own commit. `false`: the batch's commit cannot be established and `sha`
    /// is only the one the inputs named, so it never gets `success`.
    pub verified: bool,
}

/// The commit a batch's status goes on. `asked` are the commits the inputs name (`--sha`, the
/// status event's `sha`), each with where it came from. When the batch's commit is known,
/// every asked commit must be it: a status event for another commit (anyone who may post a
/// status can send one whose link names any batch) is an input error, before anything is
/// retried or posted. When it is unknown, the first asked commit is used, unverified; with
/// none, `None`: no status.
pub fn commit(batch: &Batch, asked: &[(&str, &str)]) -> Result<Option<Commit>, RunError> {
    for (_, sha) in asked {
        if !is_full_sha(sha) {
            return Err(RunError::Input(format!(
                "`{}` is not a commit SHA",
                crate::text::clean(sha, 80)
            )));
        }
    }
    // A resolvedSourceVersion that is not a commit SHA (an S3 object's version) names no
    // commit.
    let Some(built) = batch.commit().filter(|c| is_full_sha(c)) else {
        return Ok(asked.first().map(|(_, sha)| Commit {
            sha: sha.to_ascii_lowercase(),
            verified: false,
        }));
    };
    if let Some((from, sha)) = asked
        .iter()
        .find(|(_, sha)| !sha.eq_ignore_ascii_case(built))
    {
        return Err(RunError::Input(format!(
            "{from} names commit {sha}, but batch {} built commit {built}: the gate reports only on the commit a batch built, so nothing was retried or posted",
            crate::text::clean(&batch.id, 200),
        )));
    }
    Ok(Some(Commit {
        sha: built.to_string(),
        verified: true,
    }))
}

/// The repository of a batch's status: the one given (`--repository`, GITHUB_REPOSITORY, the
/// event's), else the batch's GitHub source.
pub fn repository(given: Option<String>, batch: &Batch) -> Result<Repo, RunError> {
    let text = given
        .or_else(|| batch.github_repository())
        .ok_or_else(|| {
            RunError::Input(format!(
                "no repository for batch {}: set --repository or GITHUB_REPOSITORY (its source is not on GitHub)",
                crate::text::clean(&batch.id, 200)
            ))
        })?;
    crate::commands::common::repo(&text)
}

/// The status's link: the workflow run when known, else the batch in the CodeBuild console.
pub fn target_url(inputs: &Inputs, batch: &Batch) -> Option<String> {
    inputs
        .run_url
        .clone()
        .or_else(|| render::links::batch_url(batch.arn.as_deref()?, &batch.id))
}

/// The commit status for `decision` on `commit`; `None` for a `pass` on an unverified
/// commit: the gate never says `success` on a commit it cannot tie to the batch.
pub fn status(
    decision: &Decision,
    commit: &Commit,
    target_url: Option<String>,
) -> Option<CommitStatus> {
    let status = render::status::render(decision, target_url);
    (commit.verified || status.state != State::Success).then_some(status)
}

/// The `error` status for an invalid or unreadable policy on a batch of `project`: under the
/// context the broken policy names when that much could be read, else the default; the
/// description names the file and the first problem's line (`Policy invalid:
/// .github/codebuild-retry-gate.yml:3: unknown key budgets`). `None` for other errors.
pub fn policy_problem_status(
    problem: &RunError,
    project: &str,
    target_url: Option<String>,
) -> Option<CommitStatus> {
    let template = |context: Option<&str>| {
        context
            .unwrap_or(crate::policy::DEFAULT_CONTEXT)
            .replace(crate::policy::PROJECT_PLACEHOLDER, project)
    };
    let (context, description) = match problem {
        RunError::Policy(e) => {
            let first = e.diagnostics.first();
            let description = match first {
                Some(d) => format!("Policy invalid: {}:{}: {}", d.file, d.pos.line, d.message),
                None => "Policy invalid".to_string(),
            };
            (template(e.context.as_deref()), description)
        }
        RunError::PolicyUnreadable(text) => (template(None), format!("Policy unreadable: {text}")),
        _ => return None,
    };
    Some(render::status::error(context, &description, target_url))
}

/// A final status that was posted before `batch`'s latest attempt ended: it was about an
/// older batch or attempt of the commit, not this one. A status whose time GitHub did not
/// give cannot be shown to be stale, and is taken as final.
pub fn is_stale(status: &SeenStatus, batch: &Batch) -> bool {
    match (status.at, history::ended_at(batch)) {
        (Some(posted), Some(ended)) => posted < ended,
        _ => false,
    }
}

/// Whether `seen`, the gate's latest status on the commit, already says what `status` would
/// (state and description) about `batch`: posting it again would change nothing, and is not
/// done (GitHub keeps at most 1,000 statuses per commit and context). A stale one (a final
/// status posted before `batch`'s latest attempt ended) is about an older batch or attempt
/// even when its words are the same: it is posted again, so that it is about this one.
pub fn already_says(seen: Option<&SeenStatus>, status: &CommitStatus, batch: &Batch) -> bool {
    seen.is_some_and(|s| s.says(status) && !(s.is_final() && is_stale(s, batch)))
}

/// What to say when the commit status could not be posted: first, if the gate had retried
/// the batch, that it did (so nobody retries it again by hand).
pub fn status_not_posted(
    decision: &Decision,
    retried: bool,
    error: impl std::fmt::Display,
) -> String {
    let done = if retried {
        format!(
            "the batch WAS retried (attempt {}/{}), but ",
            decision.attempt.map_or("?".to_string(), |a| a.to_string()),
            decision.attempt_limit
        )
    } else {
        String::new()
    };
    format!("{done}the commit status could not be posted: {error}")
}

/// Said when [`status`] is `None`.
pub fn no_success_on_unverified(batch: &Batch) -> String {
    format!(
        "batch {} passed, but its commit cannot be established (no resolvedSourceVersion, and its sourceVersion is not a commit SHA): the gate posts `success` only on the commit a batch built, so no status was posted",
        crate::text::clean(&batch.id, 200)
    )
}

/// The step's outputs and job summary of a `gate` run. After the gate's own retry,
/// `retries-used` and `retries-remaining` count that retry.
pub fn write_gate_files(
    inputs: &Inputs,
    decision: &Decision,
    acted: bool,
    retried: bool,
    log: &mut Log<'_>,
) {
    if let Some(path) = &inputs.output_file {
        let made = u32::from(retried);
        let outputs = [
            ("decision", decision.decision.as_str().to_string()),
            ("reason", decision.reason.clone()),
            ("batch-id", decision.batch_id.clone()),
            (
                "retries-used",
                (decision.budget.per_batch.used + made).to_string(),
            ),
            (
                "retries-remaining",
                decision.budget.remaining.saturating_sub(made).to_string(),
            ),
        ];
        if let Err(e) = actions::write_outputs(path, &outputs) {
            log.warning(&format!(
                "cannot write GITHUB_OUTPUT {}: {e}",
                path.display()
            ));
        }
    }
    write_summary(inputs, &render::markdown::render(decision, acted), log);
}

/// Appends `markdown` to the job summary, when there is one.
pub fn write_summary(inputs: &Inputs, markdown: &str, log: &mut Log<'_>) {
    if let Some(path) = &inputs.summary_file
        && let Err(e) = actions::write_summary(path, markdown)
    {
        log.warning(&format!(
            "cannot write GITHUB_STEP_SUMMARY {}: {e}",
            path.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Outcome;
    use crate::facts::{Facts, Status};
    use crate::policy::Policy;

    const BUILT: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";
    const OTHER: &str = "1111111111111111111111111111111111111111";

    fn batch(resolved: Option<&str>, source: &str) -> Batch {
        Batch {
            id: "acme-api:1".into(),
            resolved_source_version: resolved.map(str::to_string),
            source_version: Some(source.to_string()),
            ..Batch::default()
        }
    }

    #[test]
    fn the_status_goes_on_the_commit_the_batch_built_and_no_other() {
        let b = batch(Some(BUILT), "pr/1");
        let built = Some(Commit {
            sha: BUILT.into(),
            verified: true,
        });
        assert_eq!(commit(&b, &[]).unwrap(), built);
        assert_eq!(commit(&b, &[("--sha", BUILT)]).unwrap(), built);
        let upper = BUILT.to_ascii_uppercase();
        assert_eq!(commit(&b, &[("--sha", &upper)]).unwrap(), built);
        for asked in [
            vec![("the status event", OTHER)],
            vec![("--sha", BUILT), ("the status event", OTHER)],
        ] {
            let err = commit(&b, &asked).unwrap_err();
            assert!(matches!(err, RunError::Input(_)));
            assert!(
                err.to_string().contains(&format!(
                    "names commit {OTHER}, but batch acme-api:1 built commit {BUILT}"
                )),
                "{err}"
            );
        }
        assert!(commit(&b, &[("--sha", "main")]).is_err());
    }

    #[test]
    fn an_unknown_commit_is_taken_from_the_inputs_unverified() {
        let b = batch(None, "refs/heads/main");
        assert_eq!(commit(&b, &[]).unwrap(), None);
        assert_eq!(
            commit(&b, &[("the status event", OTHER)]).unwrap(),
            Some(Commit {
                sha: OTHER.into(),
                verified: false
            })
        );
        // A full-SHA sourceVersion is the commit.
        let b = batch(None, BUILT);
        assert!(commit(&b, &[]).unwrap().unwrap().verified);
        // An S3 source's resolvedSourceVersion is an object version, not a commit.
        let b = batch(Some("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"), "source.zip");
        assert_eq!(commit(&b, &[]).unwrap(), None);
        assert!(!commit(&b, &[("--sha", OTHER)]).unwrap().unwrap().verified);
    }

    #[test]
    fn never_success_on_an_unverified_commit() {
        let facts = Facts {
            batch: Batch {
                status: Some(Status::Succeeded),
                complete: true,
                ..batch(None, "main")
            },
            ..Facts::default()
        };
        let mut d = crate::decide::decide(&Policy::builtin(), &facts);
        assert_eq!(d.decision, Outcome::Pass);
        let unverified = Commit {
            sha: OTHER.into(),
            verified: false,
        };
        let verified = Commit {
            sha: BUILT.into(),
            verified: true,
        };
        assert_eq!(status(&d, &unverified, None), None);
        assert_eq!(status(&d, &verified, None).unwrap().state, State::Success);
        for (outcome, state) in [
            (Outcome::Refuse, State::Failure),
            (Outcome::Retry, State::Pending),
            (Outcome::Wait, State::Pending),
        ] {
            d.decision = outcome;
            assert_eq!(status(&d, &unverified, None).unwrap().state, state);
        }
    }
}
