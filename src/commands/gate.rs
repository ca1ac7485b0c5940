//! `gate`: fetch → decide → act → report, against CodeBuild and GitHub.
//!
//! Order and failure: the decision is made before anything is changed; any failure before
//! it fails closed (no retry). Then the retry, then the commit status. If the status cannot
//! be posted after a retry, the run fails (exit 3) and says the retry happened; a re-run
//! sees the batch in progress and reports `wait`, so nothing is lost or doubled.
//!
//! The status goes only on the commit the batch built: a status event (or `--sha`) that
//! names another commit is refused (exit 2) before anything is read beyond the batch.

use std::io::Write;
use std::path::Path;

use crate::actions;
use crate::batch_ref::{BatchId, ConsoleTarget, parse_console_url};
use crate::cli::{Format, GateArgs};
use crate::codebuild::{AwsError, CodeBuild, ListPage};
use crate::commands::common;
pub use crate::commands::common::Log;
use crate::commands::inputs::{self, Env, Inputs};
use crate::commands::report::{self, Commit};
use crate::decide::decide;
use crate::decision::Outcome;
use crate::error::{RunError, exit};
use crate::facts::Batch;
use crate::github::Token;
use crate::history::{self, Known};
use crate::live::{self, aws};
use crate::policy::Policy;
use crate::render;

/// Event payloads larger than this are refused (GitHub's are a few KiB).
const MAX_EVENT_BYTES: u64 = 4 * 1024 * 1024;

/// Everything `gate` needs from its flags and environment, resolved once.
#[derive(Debug, Default)]
pub struct Config {
    /// What `gate` shares with `reconcile`.
    pub run: Inputs,
    /// Parsed while the inputs are read, so a malformed id is an input error (exit 2)
    /// before anything else is checked.
    pub batch_id: Option<BatchId>,
    pub project: Option<String>,
    pub sha: Option<String>,
    pub fail_on_refusal: bool,
    /// A `status` event from `GITHUB_EVENT_PATH`.
    pub event: Option<StatusEvent>,
}

/// The parts of a `status` event the gate uses.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StatusEvent {
    pub sha: Option<String>,
    pub state: Option<String>,
    pub context: Option<String>,
    pub target_url: Option<String>,
    pub repository: Option<EventRepository>,
}

impl StatusEvent {
    /// The event says the batch (or one of its builds) ended.
    fn reports_an_end(&self) -> bool {
        matches!(self.state.as_deref(), Some("success" | "failure" | "error"))
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct EventRepository {
    pub full_name: Option<String>,
}

impl Config {
    /// Flags first, then Action inputs (`INPUT_*`), then the standard variables.
    pub fn resolve(args: &GateArgs, env: Env<'_>) -> Result<Config, RunError> {
        let input = |name: &str| actions::input(env, name);
        let event = match (
            env("GITHUB_EVENT_NAME").as_deref(),
            env("GITHUB_EVENT_PATH"),
        ) {
            (Some("status"), Some(path)) => Some(read_event(Path::new(&path))?),
            _ => None,
        };
        Ok(Config {
            run: Inputs::resolve(&args.run, env)?,
            batch_id: args
                .batch_id
                .clone()
                .or_else(|| input("batch-id"))
                .map(|text| BatchId::parse(&text).map_err(RunError::Input))
                .transpose()?,
            project: args.project.clone().or_else(|| input("project")),
            sha: args.sha.clone().or_else(|| input("sha")),
            fail_on_refusal: inputs::flag(env, "fail-on-refusal", args.fail_on_refusal)?,
            event,
        })
    }

    /// The repository of the status: given, else the event's.
    fn repository(&self) -> Option<String> {
        self.run
            .repository
            .clone()
            .or_else(|| self.event.as_ref()?.repository.as_ref()?.full_name.clone())
    }

    /// The commits the inputs name, with where each came from.
    fn asked_commits(&self) -> Vec<(&'static str, &str)> {
        let mut asked = Vec::new();
        if let Some(sha) = &self.sha {
            asked.push(("--sha (input sha)", sha.as_str()));
        }
        if let Some(sha) = self.event.as_ref().and_then(|e| e.sha.as_deref()) {
            asked.push(("the status event", sha));
        }
        asked
    }
}

fn read_event(path: &Path) -> Result<StatusEvent, RunError> {
    use std::io::Read;
    let bad = |e: String| RunError::Input(format!("the event payload {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(MAX_EVENT_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("not a status event: {e}")))
}

pub async fn run(config: Config, out: &mut dyn Write, log: &mut Log<'_>) -> Result<i32, RunError> {
    let run = &config.run;
    // Inputs that would stop us after acting are checked before anything is read.
    if !run.dry_run && run.token.is_none() {
        return Err(RunError::Runtime(
            "no GitHub token: set the `github-token` input or GITHUB_TOKEN (or use --dry-run); nothing was retried"
                .into(),
        ));
    }
    // The gate's own statuses trigger `status` events too: nothing to judge there.
    let event_context = config.event.as_ref().and_then(|e| e.context.as_deref());
    let own_context = |policy: &Policy| event_context.is_some_and(|c| policy.is_own_context(c));
    if event_context.is_some_and(|c| Policy::builtin().is_own_context(c)) {
        log.notice("this status event was posted by the gate itself; nothing to do");
        return Ok(exit::OK);
    }
    let source = run.policy_source(config.repository());
    let local_policy = match &run.policy_ref {
        None => Some(common::local_policy(&source, log)?),
        Some(_) => None,
    };
    if local_policy.as_ref().is_some_and(own_context) {
        log.notice("this status event was posted by the gate itself; nothing to do");
        return Ok(exit::OK);
    }

    // The GitHub client (its TLS roots take a few ms to load) is built while CodeBuild is
    // read, unless the policy must come from GitHub first.
    let needs_github = !run.dry_run || run.policy_ref.is_some();
    let mut github_task = needs_github.then(|| {
        let token = run.token.clone().unwrap_or_else(|| Token::new(""));
        common::spawn_github(run.api_url.clone(), token, run.timeout)
    });
    let github_early = match (&run.policy_ref, github_task.take()) {
        (Some(_), Some(task)) => Some(common::github_client(task).await?),
        (_, task) => {
            github_task = task;
            None
        }
    };
    let codebuild = CodeBuild::from_env(run.timeout).await;
    log.debug("CodeBuild client ready");

    // A policy from a trusted ref is read while the batch is.
    let (policy, read) = match local_policy {
        Some(policy) => (Ok(policy), read_batch(&config, &codebuild, log).await),
        None => tokio::join!(
            common::fetch_policy(&source, github_early.as_ref()),
            read_batch(&config, &codebuild, log)
        ),
    };
    let policy = policy?;
    let (mut batch, page, known) = read?;
    log.debug(&format!("policy: {}", policy.source));
    if own_context(&policy) {
        log.notice("this status event was posted by the gate itself; nothing to do");
        return Ok(exit::OK);
    }
    log.debug(&format!("read batch {} ({:?})", batch.id, batch.status));
    // Only the commit the batch built gets its status; checked before anything is changed.
    let commit = report::commit(&batch, &config.asked_commits())?;
    let repo = match (&commit, run.dry_run) {
        (Some(_), false) => Some(report::repository(config.repository(), &batch)?),
        _ => None,
    };
    if commit.is_none() && !run.dry_run {
        log.warning(&format!(
            "batch {} has no resolvedSourceVersion and its sourceVersion is not a commit SHA: no commit status is posted (set --sha to post one)",
            batch.id
        ));
    }
    // The event says the batch ended, but it is still closing: give CodeBuild a moment.
    if config
        .event
        .as_ref()
        .is_some_and(StatusEvent::reports_an_end)
        && live::is_closing(&batch)
    {
        log.debug("every build ended but the batch is not closed yet: reading it again");
        let reads;
        (batch, reads) = live::await_close(&codebuild, batch).await?;
        log.debug(&format!(
            "read the batch {reads} more time(s): {:?}, complete: {}",
            batch.status, batch.complete
        ));
    }
    // Round trip 2 (failed batches only): the failed builds and the history, together.
    let facts = live::facts(&codebuild, &policy, batch, page, known, live::clock()).await?;
    log.debug(&format!(
        "read {} failed build(s) and {} history batch(es){}",
        facts.builds.len(),
        facts.history.len(),
        if facts.history_truncated {
            " (page cap reached)"
        } else {
            ""
        }
    ));

    let mut decision = decide(&policy, &facts);
    log.debug(&format!(
        "decision: {} ({})",
        decision.decision.as_str(),
        decision.code.as_str()
    ));

    // Act. Once decided, the outputs are written whatever happens next.
    let mut retried = false;
    if decision.decision == Outcome::Retry && !run.dry_run {
        log.debug(&format!(
            "RetryBuildBatch {} attempt {}",
            facts.batch.id,
            decision.attempt.unwrap_or(1)
        ));
        match live::retry(&codebuild, &mut decision, &facts.batch).await {
            Ok(live::Retried::Yes) => {
                log.debug("RetryBuildBatch done");
                retried = true;
            }
            Ok(live::Retried::No) => log.debug(&format!(
                "CodeBuild did not take the retry: {} ({})",
                decision.code.as_str(),
                decision.reason
            )),
            Err(e) => {
                report::write_gate_files(run, &decision, false, false, log);
                return Err(e);
            }
        }
    }

    // Report.
    let target_url = report::target_url(run, &facts.batch);
    let status = match (&commit, &repo) {
        (Some(commit), Some(repo)) => match report::status(&decision, commit, target_url) {
            Some(status) => Some((repo, commit, status)),
            None => {
                log.warning(&report::no_success_on_unverified(&facts.batch));
                None
            }
        },
        _ => None,
    };
    let mut status_error = None;
    let mut posted = false;
    if let Some((repo, Commit { sha, .. }, status)) = status {
        let github = match (github_early, github_task) {
            (Some(github), _) => Ok(github),
            (None, Some(task)) => common::github_client(task).await,
            (None, None) => Err(RunError::Runtime("no GitHub client".into())),
        };
        let result = match github {
            Ok(github) => github
                .post_status(repo, sha, &status)
                .await
                .map_err(|e| RunError::Runtime(e.to_string())),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                log.debug("commit status posted");
                posted = true;
            }
            Err(e) => status_error = Some(e),
        }
    }
    report::write_gate_files(run, &decision, retried || posted, retried, log);
    let text = match run.format {
        // Under Actions the long report folds into a group; the reason stays visible.
        Format::Text if run.in_actions => format!(
            "{}\n{}{}\n",
            actions::command(
                "group",
                &[],
                &format!("codebuild-retry-gate: {}", decision.reason)
            ),
            render::text::render(&decision),
            "::endgroup::"
        ),
        Format::Text => render::text::render(&decision),
        Format::Json => render::json::render(&decision, retried || posted),
        Format::Markdown => render::markdown::render(&decision, retried || posted),
    };
    let _ = out.write_all(text.as_bytes());
    if decision.decision == Outcome::Refuse {
        log.warning(&decision.reason);
    }
    if let Some(e) = status_error {
        return Err(RunError::Runtime(report::status_not_posted(
            &decision, retried, e,
        )));
    }
    Ok(
        if config.fail_on_refusal && decision.decision == Outcome::Refuse {
            exit::REFUSED
        } else {
            exit::OK
        },
    )
}

/// Which batch, then the batch itself and the first listing page (read together).
async fn read_batch(
    config: &Config,
    codebuild: &CodeBuild,
    log: &mut Log<'_>,
) -> Result<(Batch, Result<ListPage, AwsError>, Known), RunError> {
    let mut known = Known::new();
    let (id, first_page) = resolve_batch(config, codebuild, &mut known, log).await?;
    log.debug(&format!("judging batch {id}"));
    match known.remove(&id.to_string()) {
        Some(batch) => Ok((batch, Ok(first_page.unwrap_or_default()), known)),
        None => {
            let ids = [id.to_string()];
            let (batches, page) = tokio::join!(
                codebuild.batches(&ids),
                codebuild.list_page(id.project(), None)
            );
            let batch = batches
                .map_err(|e| {
                    if e.is_bad_input() {
                        RunError::Input(e.to_string())
                    } else {
                        aws(e)
                    }
                })?
                .into_iter()
                .find(|b| b.id == ids[0])
                .ok_or_else(|| RunError::Input(format!("batch {id} was not found in CodeBuild")))?;
            Ok((batch, page, known))
        }
    }
}

/// Which batch: the flag or input, else the status event, else the commit's newest batch of
/// `--project`. Returns the first listing page when one was read on the way.
async fn resolve_batch(
    config: &Config,
    codebuild: &CodeBuild,
    known: &mut Known,
    log: &mut Log<'_>,
) -> Result<(BatchId, Option<ListPage>), RunError> {
    if let Some(id) = &config.batch_id {
        return Ok((id.clone(), None));
    }
    if let Some(event) = &config.event {
        let url = event
            .target_url
            .as_deref()
            .ok_or_else(|| RunError::Input("the status event has no target_url".into()))?;
        return match parse_console_url(url).map_err(RunError::Input)? {
            ConsoleTarget::Batch(id) => Ok((id, None)),
            ConsoleTarget::Build(build) => {
                log.debug(&format!(
                    "the status names build {build}; looking up its batch"
                ));
                let builds = codebuild.builds(&[build.to_string()]).await.map_err(aws)?;
                let arn = builds
                    .first()
                    .and_then(|b| b.batch_arn.clone())
                    .ok_or_else(|| {
                        RunError::Input(format!("build {build} is not part of a batch"))
                    })?;
                Ok((BatchId::parse(&arn).map_err(RunError::Input)?, None))
            }
        };
    }
    let (Some(project), Some(sha)) = (&config.project, &config.sha) else {
        return Err(RunError::Input(
            "no batch to judge: give --batch-id (input batch-id), run on a `status` event, or give --project and --sha"
                .into(),
        ));
    };
    match history::find_for_commit(codebuild, project, sha, known)
        .await
        .map_err(|e| {
            if e.is_bad_input() {
                RunError::Input(e.to_string())
            } else {
                aws(e)
            }
        })? {
        Some((id, page)) => Ok((BatchId::parse(&id).map_err(RunError::Input)?, Some(page))),
        None => Err(RunError::Input(format!(
            "no batch of project {project} for commit {sha} among its newest batches"
        ))),
    }
}
