//! `gate`: fetch → decide → act → report, against CodeBuild and GitHub.
//!
//! Order and failure: the decision is made before anything is changed; any failure before
//! it fails closed (no retry). Then the retry, then the commit status. If the status cannot
//! be posted after a retry, the run fails (exit 3) and says the retry happened; a re-run
//! sees the batch in progress and reports `wait`, so nothing is lost or doubled.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::actions;
use crate::batch_ref::{BatchId, ConsoleTarget, parse_console_url};
use crate::cli::{Format, GateArgs};
use crate::codebuild::{AwsError, CodeBuild, ListPage};
pub use crate::commands::common::Log;
use crate::commands::common::{self, DEFAULT_TIMEOUT_SECS, PolicySource};
use crate::decide::decide;
use crate::decision::{Decision, Outcome};
use crate::error::{RunError, exit};
use crate::facts::{Batch, is_full_sha};
use crate::github::{Repo, Token};
use crate::history::{self, Known};
use crate::live::{self, aws};
use crate::policy::Policy;
use crate::render;

/// Event payloads larger than this are refused (GitHub's are a few KiB).
const MAX_EVENT_BYTES: u64 = 4 * 1024 * 1024;

/// Everything `gate` needs from its flags and environment, resolved once.
#[derive(Debug, Default)]
pub struct Config {
    pub batch_id: Option<String>,
    pub project: Option<String>,
    pub policy: Option<PathBuf>,
    /// Read the policy from this ref through the contents API instead of the workspace.
    pub policy_ref: Option<String>,
    pub repository: Option<String>,
    pub sha: Option<String>,
    pub token: Option<Token>,
    pub dry_run: bool,
    pub fail_on_refusal: bool,
    pub format: Format,
    pub verbose: bool,
    /// Bound on each attempt of an AWS or GitHub call.
    pub timeout: std::time::Duration,
    /// A `status` event from `GITHUB_EVENT_PATH`.
    pub event: Option<StatusEvent>,
    pub api_url: String,
    /// The workflow run's page, for the status's target_url.
    pub run_url: Option<String>,
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    /// Running under GitHub Actions: notices become workflow commands.
    pub in_actions: bool,
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

#[derive(Debug, Default, serde::Deserialize)]
pub struct EventRepository {
    pub full_name: Option<String>,
}

impl Config {
    /// Flags first, then Action inputs (`INPUT_*`), then the standard variables.
    pub fn resolve(
        args: &GateArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, RunError> {
        let input = |name: &str| actions::input(env, name);
        let flag = |name: &str, given: bool| -> Result<bool, RunError> {
            if given {
                return Ok(true);
            }
            input(name)
                .map(|v| actions::parse_bool(name, &v).map_err(RunError::Input))
                .transpose()
                .map(|v| v.unwrap_or(false))
        };
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let event = match (
            env("GITHUB_EVENT_NAME").as_deref(),
            env("GITHUB_EVENT_PATH"),
        ) {
            (Some("status"), Some(path)) => Some(read_event(Path::new(&path))?),
            _ => None,
        };
        let repository = args
            .repository
            .clone()
            .or_else(|| input("repository"))
            .or_else(|| set(env("GITHUB_REPOSITORY")));
        let run_url = match (
            set(env("GITHUB_SERVER_URL")),
            set(env("GITHUB_REPOSITORY")),
            set(env("GITHUB_RUN_ID")),
        ) {
            (Some(server), Some(repo), Some(run)) => Some(format!(
                "{}/{repo}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Ok(Config {
            batch_id: args.batch_id.clone().or_else(|| input("batch-id")),
            project: args.project.clone().or_else(|| input("project")),
            policy: args
                .policy
                .clone()
                .or_else(|| input("policy").map(PathBuf::from)),
            policy_ref: args.policy_ref.clone().or_else(|| input("policy-ref")),
            sha: args.sha.clone().or_else(|| input("sha")),
            token: args
                .github_token
                .clone()
                .or_else(|| input("github-token").map(Token::new))
                .or_else(|| set(env("GITHUB_TOKEN")).map(Token::new)),
            dry_run: flag("dry-run", args.dry_run)?,
            fail_on_refusal: flag("fail-on-refusal", args.fail_on_refusal)?,
            format: args.format,
            verbose: args.verbose || env("RUNNER_DEBUG").as_deref() == Some("1"),
            timeout: std::time::Duration::from_secs(match (args.timeout, input("timeout")) {
                (Some(t), _) => t,
                (None, Some(text)) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|t| (1..=120).contains(t))
                    .ok_or_else(|| {
                        RunError::Input(format!(
                            "input `timeout` is `{}`; expected 1 to 120 seconds",
                            render::clean(&text, 40)
                        ))
                    })?,
                (None, None) => DEFAULT_TIMEOUT_SECS,
            }),
            event,
            api_url: set(env("GITHUB_API_URL"))
                .unwrap_or_else(|| "https://api.github.com".to_string()),
            run_url,
            output_file: set(env("GITHUB_OUTPUT")).map(PathBuf::from),
            summary_file: set(env("GITHUB_STEP_SUMMARY")).map(PathBuf::from),
            in_actions: env("GITHUB_ACTIONS").as_deref() == Some("true"),
            repository,
        })
    }
}

impl Config {
    /// Where this run's policy comes from.
    pub fn policy_source(&self) -> PolicySource {
        PolicySource {
            path: self.policy.clone(),
            git_ref: self.policy_ref.clone(),
            repository: self
                .repository
                .clone()
                .or_else(|| self.event.as_ref()?.repository.as_ref()?.full_name.clone()),
        }
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
    // Inputs that would stop us after acting are checked before anything is read.
    if !config.dry_run && config.token.is_none() {
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
    let source = config.policy_source();
    let local_policy = match &config.policy_ref {
        None => Some(common::local_policy(&source, log)?),
        Some(_) => None,
    };
    if local_policy.as_ref().is_some_and(own_context) {
        log.notice("this status event was posted by the gate itself; nothing to do");
        return Ok(exit::OK);
    }

    // The GitHub client (its TLS roots take a few ms to load) is built while CodeBuild is
    // read, unless the policy must come from GitHub first.
    let needs_github = !config.dry_run || config.policy_ref.is_some();
    let mut github_task = needs_github.then(|| {
        let url = config.api_url.clone();
        let token = config.token.clone().unwrap_or_else(|| Token::new(""));
        let timeout = config.timeout;
        common::spawn_github(url, token, timeout)
    });
    let github_early = match (&config.policy_ref, github_task.take()) {
        (Some(_), Some(task)) => Some(common::github_client(task).await?),
        (_, task) => {
            github_task = task;
            None
        }
    };
    let codebuild = CodeBuild::from_env(config.timeout).await;
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
    let (batch, page, known) = read?;
    log.debug(&format!("policy: {}", policy.source));
    if own_context(&policy) {
        log.notice("this status event was posted by the gate itself; nothing to do");
        return Ok(exit::OK);
    }
    log.debug(&format!("read batch {} ({:?})", batch.id, batch.status));
    let target = if config.dry_run {
        None
    } else {
        status_target(&config, &batch, log)?
    };
    // Round trip 2 (failed batches only): the failed builds and the history, together.
    let facts = live::facts(&codebuild, &policy, batch, page, known).await?;
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
    if decision.decision == Outcome::Retry && !config.dry_run {
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
                write_reports(&config, &decision, false, false, log);
                return Err(e);
            }
        }
    }

    // Report.
    let target_url = config
        .run_url
        .clone()
        .or_else(|| render::links::batch_url(facts.batch.arn.as_deref()?, &facts.batch.id));
    let status = render::status::render(&decision, target_url);
    let mut status_error = None;
    let mut posted = false;
    if let Some(target) = target {
        let github = match (github_early, github_task) {
            (Some(github), _) => Ok(github),
            (None, Some(task)) => common::github_client(task).await,
            (None, None) => Err(RunError::Runtime("no GitHub client".into())),
        };
        let result = match github {
            Ok(github) => github
                .post_status(&target.repo, &target.sha, &status)
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
    write_reports(&config, &decision, retried || posted, retried, log);
    let text = match config.format {
        // Under Actions the long report folds into a group; the reason stays visible.
        Format::Text if config.in_actions => format!(
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
        let done = if retried {
            format!(
                "the batch WAS retried (attempt {}/{}), but ",
                decision.attempt.unwrap_or(1),
                decision.attempt_limit
            )
        } else {
            String::new()
        };
        return Err(RunError::Runtime(format!(
            "{done}the commit status could not be posted: {e}"
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
    if let Some(text) = &config.batch_id {
        return Ok((BatchId::parse(text).map_err(RunError::Input)?, None));
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

/// Where the commit status goes.
struct StatusTarget {
    repo: Repo,
    sha: String,
}

/// The repository and commit of the status, checked before anything is changed. `None` when
/// no commit can be established (no `--sha`, no event, and the batch's commit is unknown):
/// the gate still decides and reports, but posts no status.
fn status_target(
    config: &Config,
    batch: &Batch,
    log: &mut Log<'_>,
) -> Result<Option<StatusTarget>, RunError> {
    let event = config.event.as_ref();
    let repo_text = config
        .repository
        .clone()
        .or_else(|| event?.repository.as_ref()?.full_name.clone())
        .or_else(|| batch.github_repository())
        .ok_or_else(|| {
            RunError::Input("no repository: set --repository or GITHUB_REPOSITORY".into())
        })?;
    let repo = Repo::parse(&repo_text).ok_or_else(|| {
        RunError::Input(format!(
            "`{}` is not OWNER/REPO",
            render::clean(&repo_text, 200)
        ))
    })?;
    let sha = config
        .sha
        .clone()
        .or_else(|| event?.sha.clone())
        .or_else(|| batch.commit().map(str::to_string));
    let Some(sha) = sha else {
        log.warning(&format!(
            "batch {} has no resolvedSourceVersion and its sourceVersion is not a commit SHA: no commit status is posted (set --sha to post one)",
            batch.id
        ));
        return Ok(None);
    };
    if !is_full_sha(&sha) {
        return Err(RunError::Input(format!(
            "`{}` is not a commit SHA",
            render::clean(&sha, 80)
        )));
    }
    Ok(Some(StatusTarget { repo, sha }))
}

/// The step's outputs and job summary. After the gate's own retry, `retries-used` and
/// `retries-remaining` count that retry.
fn write_reports(
    config: &Config,
    decision: &Decision,
    acted: bool,
    retried: bool,
    log: &mut Log<'_>,
) {
    if let Some(path) = &config.output_file {
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
    if let Some(path) = &config.summary_file
        && let Err(e) = actions::write_summary(path, &render::markdown::render(decision, acted))
    {
        log.warning(&format!(
            "cannot write GITHUB_STEP_SUMMARY {}: {e}",
            path.display()
        ));
    }
}
