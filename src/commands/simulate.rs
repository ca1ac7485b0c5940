//! `simulate`: replay a policy over a project's batch history. Inputs, then the policy,
//! the history (live from CodeBuild, read-only, or from AWS CLI captures), the replay
//! ([`crate::replay`]) and the report. Nothing is retried and nothing is posted.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::actions;
use crate::cli::{Format, SimulateArgs};
use crate::codebuild::CodeBuild;
use crate::commands::common::{self, DEFAULT_TIMEOUT_SECS, Log, PolicySource, at};
use crate::commands::inputs::{self, set};
use crate::error::{RunError, exit};
use crate::facts::awscli::{builds_from_json, history_from_json};
use crate::facts::{Batch, Build, Timestamp};
use crate::github::Token;
use crate::history::{self, Progress, WalkEnd};
use crate::live::aws;
use crate::policy::Policy;
use crate::render;
use crate::replay::{self, Replay, Window};

/// Days replayed live when `--days` (input `days`) is not given.
pub const DEFAULT_DAYS: u32 = 30;
/// Captures larger than this are refused: a year of a busy project is far less.
pub const MAX_CAPTURE_BYTES: u64 = 1024 * 1024 * 1024;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Everything `simulate` needs from its flags and environment, resolved once.
#[derive(Debug)]
pub struct Config {
    pub project: Option<String>,
    pub days: Option<u32>,
    pub batches: Vec<PathBuf>,
    pub builds: Vec<PathBuf>,
    pub policy: PolicySource,
    /// `--compare OLD` (input `compare`): the old policy, from the workspace.
    pub compare: Option<PathBuf>,
    pub token: Option<Token>,
    pub format: Format,
    pub timeout: Duration,
    pub verbose: bool,
    pub api_url: String,
    pub summary_file: Option<PathBuf>,
    pub in_actions: bool,
}

impl Config {
    /// Flags first, then Action inputs (`INPUT_*`), then the standard variables.
    pub fn resolve(
        args: &SimulateArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, RunError> {
        let days = match (args.days, actions::input(env, "days")) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => {
                let d =
                    inputs::number(env, "days", None, 1..=365, u64::from(DEFAULT_DAYS), "days")?;
                Some(u32::try_from(d).unwrap_or(DEFAULT_DAYS))
            }
            (None, None) => None,
        };
        let timeout = inputs::number(
            env,
            "timeout",
            args.timeout,
            1..=120,
            DEFAULT_TIMEOUT_SECS,
            "seconds",
        )?;
        Ok(Config {
            project: set(args.project.clone()).or_else(|| actions::input(env, "project")),
            days,
            batches: args.batches.clone(),
            builds: args.builds.clone(),
            policy: inputs::policy_source(
                env,
                args.policy.clone(),
                args.policy_ref.clone(),
                args.repository.clone(),
            ),
            compare: args
                .compare
                .clone()
                .or_else(|| actions::input(env, "compare").map(PathBuf::from)),
            token: inputs::token(env, args.github_token.clone()),
            format: args.format,
            timeout: Duration::from_secs(timeout),
            verbose: args.verbose || env("RUNNER_DEBUG").as_deref() == Some("1"),
            api_url: set(env("GITHUB_API_URL"))
                .unwrap_or_else(|| "https://api.github.com".to_string()),
            summary_file: set(env("GITHUB_STEP_SUMMARY")).map(PathBuf::from),
            in_actions: env("GITHUB_ACTIONS").as_deref() == Some("true"),
        })
    }
}

pub async fn run(config: Config, out: &mut dyn Write, log: &mut Log<'_>) -> Result<i32, RunError> {
    if config.batches.is_empty() && config.project.is_none() {
        return Err(RunError::Input(
            "nothing to replay: give --project NAME (input project) to read the project's history from CodeBuild, or --batches FILE to replay AWS CLI captures"
                .into(),
        ));
    }
    let policy = policy(&config, log).await?;
    log.debug(&format!("policy: {}", policy.source));
    // The old policy of a comparison: a file of the workspace (e.g. the default branch's
    // copy checked out beside the pull request's).
    let old = config.compare.as_deref().map(Policy::load).transpose()?;
    let (mut replay, old_replay) = if config.batches.is_empty() {
        live(&config, &policy, old.as_ref(), log).await?
    } else {
        offline(&config, &policy, old.as_ref(), log)?
    };
    if let Some(old_replay) = &old_replay {
        let comparison = replay::compare(old_replay, &replay);
        log.debug(&format!(
            "compared with {}: {} attempt(s) decided differently",
            comparison.old_policy, comparison.totals.changed
        ));
        replay.comparison = Some(comparison);
    }
    log.debug(&format!(
        "replayed {} failed attempt(s) of {} batch(es)",
        replay.attempts.len(),
        replay.batches
    ));
    if replay.history_truncated {
        log.warning(&format!(
            "the history read stopped at its cap of {} listing pages: the oldest batches are missing",
            history::MAX_HISTORY_PAGES
        ));
    }
    if let Some(path) = &config.summary_file
        && let Err(e) = actions::write_summary(path, &render::simulate::markdown::render(&replay))
    {
        log.warning(&format!(
            "cannot write GITHUB_STEP_SUMMARY {}: {e}",
            path.display()
        ));
    }
    let text = match config.format {
        Format::Text => render::simulate::text::render(&replay),
        Format::Json => render::simulate::json::render(&replay),
        Format::Markdown => render::simulate::markdown::render(&replay),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| RunError::Runtime(format!("cannot write the report: {e}")))?;
    Ok(exit::OK)
}

/// The policy: from a trusted ref through GitHub with `--policy-ref` (the Action's default,
/// as for `gate`), else `--policy FILE`, else the built-in default policy — exactly as
/// `explain`, so that a replay never depends on which directory it was started in.
async fn policy(config: &Config, log: &mut Log<'_>) -> Result<Policy, RunError> {
    if config.policy.git_ref.is_none() {
        return match &config.policy.path {
            Some(path) => Ok(Policy::load(path)?),
            None => {
                log.debug("no --policy: the built-in default policy");
                Ok(Policy::builtin())
            }
        };
    }
    let token = config.token.clone().ok_or_else(|| {
        RunError::Runtime(
            "policy-ref needs a GitHub token: set the `github-token` input or GITHUB_TOKEN".into(),
        )
    })?;
    let task = common::spawn_github(config.api_url.clone(), token, config.timeout);
    let github = common::github_client(task).await?;
    common::fetch_policy(&config.policy, Some(&github)).await
}

/// Reads the project's batches of the window and the look-back before it, and the builds of
/// those that failed, from CodeBuild; then replays them. Read-only.
async fn live(
    config: &Config,
    policy: &Policy,
    old: Option<&Policy>,
    log: &mut Log<'_>,
) -> Result<(Replay, Option<Replay>), RunError> {
    let project = config.project.as_deref().unwrap_or_default();
    let days = config.days.unwrap_or(DEFAULT_DAYS);
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    );
    let since = Timestamp(now.0 - i64::from(days) * DAY_MS);
    let window = Window {
        since: Some(since),
        until: Some(now),
    };
    let look_back = old.map_or(0, look_back_ms).max(look_back_ms(policy));
    let read_since = Timestamp(since.0 - look_back);
    let codebuild = CodeBuild::from_env(config.timeout).await;
    log.debug("CodeBuild client ready");

    let bar = progress_bar(!config.verbose);
    let mut progress = |p: Progress| show(bar.as_ref(), p);
    let (known, end) = history::read_project(&codebuild, project, read_since, &mut progress)
        .await
        .map_err(|e| {
            if e.is_bad_input() {
                RunError::Input(e.to_string())
            } else {
                aws(e)
            }
        })?;
    let batches: Vec<Batch> = known.into_values().collect();
    let ids = replay::builds_needed(&batches, &window);
    let builds = history::read_builds(&codebuild, &ids, &mut progress)
        .await
        .map_err(aws)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    log.debug(&format!(
        "read {} batch(es) and {} build(s) of {project}",
        batches.len(),
        builds.len()
    ));
    let truncated = end == WalkEnd::Truncated;
    let old_replay =
        old.map(|old| replay::replay(old, batches.clone(), &builds, window, truncated));
    let mut replay = replay::replay(policy, batches, &builds, window, truncated);
    if replay.projects.is_empty() {
        // A project without batches still names itself in the report.
        replay.projects.push(project.to_string());
    }
    Ok((replay, old_replay))
}

/// How far before the window's first batch the history must reach: the policy's per-commit
/// look-back, and at least a day (for budgets counted over the last 24 hours).
fn look_back_ms(policy: &Policy) -> i64 {
    i64::from(policy.budget.lookback_days.max(1)) * DAY_MS
}

/// Replays the batches of AWS CLI captures; with `--days`, those that started in the last
/// days before the newest batch of the files (so a capture always gives the same report).
fn offline(
    config: &Config,
    policy: &Policy,
    old: Option<&Policy>,
    log: &mut Log<'_>,
) -> Result<(Replay, Option<Replay>), RunError> {
    let mut batches = Vec::new();
    for path in &config.batches {
        batches.extend(history_from_json(&read(path)?).map_err(|e| at(path, e))?);
        log.debug(&format!(
            "read {}: {} batches so far",
            path.display(),
            batches.len()
        ));
    }
    if let Some(project) = &config.project {
        batches.retain(|b| &b.project == project);
        if batches.is_empty() {
            return Err(RunError::Input(format!(
                "no batch of project {} in the --batches files",
                crate::text::clean(project, 200)
            )));
        }
    }
    let mut builds: std::collections::BTreeMap<String, Build> = Default::default();
    for path in &config.builds {
        for build in builds_from_json(&read(path)?).map_err(|e| at(path, e))? {
            builds.insert(build.id.clone(), build);
        }
        log.debug(&format!(
            "read {}: {} builds so far",
            path.display(),
            builds.len()
        ));
    }
    let window = match config.days {
        None => Window::default(),
        Some(days) => {
            let until = batches.iter().filter_map(|b| b.start_time).max();
            Window {
                since: until.map(|u| Timestamp(u.0 - i64::from(days) * DAY_MS)),
                until,
            }
        }
    };
    let old_replay = old.map(|old| replay::replay(old, batches.clone(), &builds, window, false));
    Ok((
        replay::replay(policy, batches, &builds, window, false),
        old_replay,
    ))
}

fn read(path: &Path) -> Result<String, RunError> {
    common::read_capture(path, MAX_CAPTURE_BYTES, "1 GiB")
}

/// A progress bar on stderr while the history is read: only when stderr is a terminal (never
/// in a workflow's log or a redirect), and not with `--verbose`, whose lines it would break.
fn progress_bar(wanted: bool) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn show(bar: Option<&indicatif::ProgressBar>, progress: Progress) {
    let Some(bar) = bar else {
        return;
    };
    match progress {
        Progress::Batches { pages, batches } => {
            bar.set_message(format!(
                "reading batches: {batches} ({pages} page{})",
                if pages == 1 { "" } else { "s" }
            ));
            bar.set_length(batches as u64);
            bar.set_position(batches as u64);
        }
        Progress::Builds { read, of } => {
            bar.set_message("reading builds");
            bar.set_length(of as u64);
            bar.set_position(read as u64);
        }
    }
}
