//! `simulate`: replay a policy over a project's batch history. Inputs, then the policy,
//! the history (live from CodeBuild, read-only, or from AWS CLI captures), the replay
//! ([`crate::replay`]) and the report. Nothing is retried and nothing is posted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::actions;
use crate::cli::{Format, SimulateArgs};
use crate::codebuild::CodeBuild;
use crate::commands::common::{self, DEFAULT_TIMEOUT_SECS, Log, PolicySource, at};
use crate::commands::inputs::{self, set};
use crate::decide::GithubNeeds;
use crate::error::{RunError, exit};
use crate::facts::awscli::{
    builds_from_json, history_from_json, reports_from_json, test_cases_from_json,
};
use crate::facts::{Batch, Build, Fetched, Timestamp, captured_logs};
use crate::github::Token;
use crate::history::{self, Progress, WalkEnd};
use crate::live::logs::LogReader;
use crate::live::{aws, github_facts};
use crate::policy::Policy;
use crate::render;
use crate::replay::{self, GitHubByCommit, Reads, Replay, ReplayNeeds, Window};
use crate::test_reports::ReportReader;

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
    /// `--github FILE`: GitHub's facts about the commits, offline.
    pub github: Option<PathBuf>,
    /// `--reports FILE` and `--test-cases FILE`: test reports, offline.
    pub reports: Vec<PathBuf>,
    pub test_cases: Vec<PathBuf>,
    /// `--logs DIR`: captured build logs, offline.
    pub logs: Option<PathBuf>,
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
    /// `GITHUB_OUTPUT`: under Actions, `report-path` is written there.
    pub output_file: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: under Actions, the JSON report is also written there.
    pub workspace: Option<PathBuf>,
}

/// The JSON report's file under Actions, in the workspace (the only directory a container
/// Action shares with the steps after it); the output `report-path` names it relative to
/// the workspace, as `actions/upload-artifact` reads paths.
pub const REPORT_FILE: &str = "codebuild-retry-gate-simulation.json";

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
            github: args.github.clone(),
            reports: args.reports.clone(),
            test_cases: args.test_cases.clone(),
            logs: args.logs.clone(),
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
            output_file: set(env("GITHUB_OUTPUT")).map(PathBuf::from),
            workspace: set(env("GITHUB_WORKSPACE")).map(PathBuf::from),
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
    for warning in &replay.warnings {
        log.warning(warning);
    }
    write_report_file(&config, &replay, log);
    let text = match config.format {
        Format::Text => render::simulate::text::render(&replay),
        Format::Json => render::simulate::json::render(&replay),
        Format::Markdown => render::simulate::markdown::render(&replay),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| RunError::Runtime(format!("cannot write the report: {e}")))?;
    Ok(exit::OK)
}

/// Under Actions: the JSON report as a file in the workspace, and the output `report-path`
/// naming it (the weekly-report workflow uploads it as an artifact). A file that cannot be
/// written is a warning: the report is still printed.
fn write_report_file(config: &Config, replay: &Replay, log: &mut Log<'_>) {
    let (true, Some(workspace)) = (config.in_actions, &config.workspace) else {
        return;
    };
    let path = workspace.join(REPORT_FILE);
    if let Err(e) = std::fs::write(&path, render::simulate::json::render(replay)) {
        log.warning(&format!(
            "cannot write the JSON report to {}: {e}",
            path.display()
        ));
        return;
    }
    log.debug(&format!("wrote the JSON report to {}", path.display()));
    if let Some(out) = &config.output_file
        && let Err(e) = actions::write_outputs(out, &[("report-path", REPORT_FILE.to_string())])
    {
        log.warning(&format!(
            "cannot write GITHUB_OUTPUT {}: {e}",
            out.display()
        ));
    }
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
    let since = Timestamp(now.0.saturating_sub(i64::from(days) * DAY_MS));
    let window = Window {
        since: Some(since),
        until: Some(now),
    };
    let look_back = old.map_or(0, look_back_ms).max(look_back_ms(policy));
    let read_since = Timestamp(since.0.saturating_sub(look_back));
    let sdk = crate::aws::Aws::load(config.timeout, None).await?;
    let codebuild = CodeBuild::new(&sdk);
    log.debug(&format!(
        "CodeBuild client ready, region {}",
        codebuild.region()
    ));

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
    let github = live_github_facts(config, &[Some(policy), old], &batches, &window, log).await;
    let mut builds = builds;
    let mut reads = Reads {
        github,
        ..Reads::default()
    };
    // Test reports as the replay goes: those a `tests` rule could use at some attempt
    // (and the flips a `known-flaky-days` rule learns from), each read once.
    let wanted = needs_of(&[Some(policy), old], &batches, &builds, &reads, window);
    let reader = ReportReader::new(codebuild.clone());
    read_reports_live(
        &codebuild,
        &reader,
        &wanted.reports,
        &mut builds,
        &mut reads,
        log,
    )
    .await;
    // Logs the same way, through the gate's reader (CloudWatch Logs, else S3; paced at its
    // quota). A log past its group's retention is unreadable: "could not judge".
    let logs = LogReader::new(&sdk);
    read_logs_live(&logs, &wanted.logs, &builds, &mut reads, log).await;
    let old_replay = old
        .map(|old| replay::replay_with(old, batches.clone(), &builds, &reads, window, truncated));
    let mut replay = replay::replay_with(policy, batches, &builds, &reads, window, truncated);
    // The refusals a hand retry fixed: their failed builds' reports, for the suggestions.
    let fixed = fixed_by_hand_builds(&replay);
    read_reports_live(&codebuild, &reader, &fixed, &mut builds, &mut reads, log).await;
    // And their logs (and those of refusals that held, to tell a telling line from one
    // every failure prints), at most MAX_SUGGESTION_LOGS of each.
    let mut more: BTreeMap<String, usize> = BTreeMap::new();
    for ids in [fixed, held_builds(&replay)] {
        more.extend(
            ids.into_iter()
                .filter(|id| !reads.logs.contains_key(id))
                .take(MAX_SUGGESTION_LOGS)
                .map(|id| (id, SUGGESTION_TAIL_BYTES)),
        );
    }
    read_logs_live(&logs, &more, &builds, &mut reads, log).await;
    replay.suggestions = replay::suggest::suggest(&replay, &builds, &reads);
    if replay.projects.is_empty() {
        // A project without batches still names itself in the report.
        replay.projects.push(project.to_string());
    }
    Ok((replay, old_replay))
}

/// How far before the window's first batch the history must reach: the policy's per-commit
/// look-back, as far back as a `known-flaky-days` rule learns from, and at least a day (for
/// budgets counted over the last 24 hours).
fn look_back_ms(policy: &Policy) -> i64 {
    let flaky = policy
        .rules
        .iter()
        .filter_map(|r| r.tests.as_ref()?.known_flaky_days)
        .max()
        .unwrap_or(0);
    i64::from(policy.budget.lookback_days.max(flaky).max(1)) * DAY_MS
}

/// What the replays of `policies` could read, together.
fn needs_of(
    policies: &[Option<&Policy>],
    batches: &[Batch],
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
    window: Window,
) -> ReplayNeeds {
    let mut out = ReplayNeeds::default();
    for policy in policies.iter().flatten() {
        let n = replay::replay_needs(policy, batches.to_vec(), builds, reads, window);
        for (id, bytes) in n.logs {
            let e = out.logs.entry(id).or_default();
            *e = (*e).max(bytes);
        }
        out.reports.extend(n.reports);
    }
    out
}

/// The failed builds of the refusals a hand retry fixed (and, `held`, of those it did not),
/// for the suggestions.
fn refused_builds(replay: &Replay, held: bool) -> BTreeSet<String> {
    use crate::replay::Then;
    replay
        .attempts
        .iter()
        .filter(|a| {
            a.decision.decision == crate::decision::Outcome::Refuse
                && !a.could_not_judge()
                && (a.then == Then::RetriedThenSucceeded
                    || (held && matches!(a.then, Then::NotRetried | Then::RetriedThenFailed)))
        })
        .flat_map(|a| {
            a.decision
                .groups
                .iter()
                .filter(|g| g.code.is_hard_refusal())
                .filter_map(|g| g.build_id.clone())
        })
        .collect()
}

fn fixed_by_hand_builds(replay: &Replay) -> BTreeSet<String> {
    refused_builds(replay, false)
}

/// The failed builds of refusals that held (not fixed by a retry).
fn held_builds(replay: &Replay) -> BTreeSet<String> {
    let fixed = fixed_by_hand_builds(replay);
    refused_builds(replay, true)
        .into_iter()
        .filter(|id| !fixed.contains(id))
        .collect()
}

/// Logs read live for the suggestions, at most, of refusals fixed by hand and of those that
/// held each.
const MAX_SUGGESTION_LOGS: usize = 50;
/// How much of a log's end is read for the suggestions (a `log` rule's default tail).
const SUGGESTION_TAIL_BYTES: usize = 256 * 1024;

/// Reads the logs of `wanted` (build id → bytes of the end) into `reads`, ten builds at a
/// time (the gate's bound for one decision; the reader paces CloudWatch's quota).
async fn read_logs_live(
    reader: &LogReader,
    wanted: &BTreeMap<String, usize>,
    builds: &BTreeMap<String, Build>,
    reads: &mut Reads,
    log: &mut Log<'_>,
) {
    if wanted.is_empty() {
        return;
    }
    log.debug(&format!("reading the logs of {} build(s)", wanted.len()));
    let list: Vec<(String, usize)> = wanted.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for chunk in list.chunks(crate::facts::expensive::MAX_LOG_BUILDS) {
        let chunk: BTreeMap<String, usize> = chunk.iter().cloned().collect();
        reads.logs.extend(reader.read(&chunk, builds).await);
    }
}

/// Reads the test reports of `ids` (reading first the builds not read yet) into `reads`:
/// a failed read leaves them unread, and the attempts that need them are "could not judge".
async fn read_reports_live(
    codebuild: &CodeBuild,
    reader: &ReportReader,
    ids: &BTreeSet<String>,
    builds: &mut BTreeMap<String, Build>,
    reads: &mut Reads,
    log: &mut Log<'_>,
) {
    if ids.is_empty() {
        return;
    }
    let unread: Vec<String> = ids
        .iter()
        .filter(|id| !builds.contains_key(*id))
        .cloned()
        .collect();
    if !unread.is_empty() {
        match codebuild.builds(&unread).await {
            Ok(read) => builds.extend(read.into_iter().map(|b| (b.id.clone(), b))),
            Err(e) => log.warning(&format!(
                "the builds whose test reports the replay needs could not be read: {e}"
            )),
        }
    }
    let arns: Vec<String> = ids
        .iter()
        .filter_map(|id| builds.get(id))
        .flat_map(|b| b.report_arns.iter().cloned())
        .collect();
    log.debug(&format!(
        "reading {} test report(s) of {} build(s)",
        arns.len(),
        ids.len()
    ));
    let read = reader.read(&arns).await;
    reads.reports.extend(read);
}

/// `--logs DIR`, else a `logs/` directory inside a `--batches` directory (as `explain DIR`).
fn logs_dir(config: &Config) -> Result<Option<PathBuf>, RunError> {
    if let Some(dir) = &config.logs {
        if !dir.is_dir() {
            return Err(at(
                dir,
                "not a directory; --logs takes a directory of captured logs",
            ));
        }
        return Ok(Some(dir.clone()));
    }
    Ok(config
        .batches
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| p.join("logs"))
        .find(|p| p.is_dir()))
}

/// Replays the batches of AWS CLI captures; with `--days`, those that started in the last
/// days before the newest batch of the files (so a capture always gives the same report).
/// Test reports and logs come from the captures; what is not there cannot be judged.
fn offline(
    config: &Config,
    policy: &Policy,
    old: Option<&Policy>,
    log: &mut Log<'_>,
) -> Result<(Replay, Option<Replay>), RunError> {
    let mut batches = Vec::new();
    let mut build_files = Vec::new();
    let mut report_files: Vec<(PathBuf, String)> = Vec::new();
    let mut case_files: Vec<(PathBuf, String)> = Vec::new();
    for (path, in_dir) in files(&config.batches, "--batches")? {
        let text = read(&path)?;
        // A directory of captures may hold the builds (as examples/history does), test
        // reports and test cases beside the batches: those are taken as --builds,
        // --reports and --test-cases.
        match in_dir.then(|| capture_kind(&text)).flatten() {
            Some(Kind::Builds) => {
                log.debug(&format!(
                    "read {}: builds, taken as --builds",
                    path.display()
                ));
                build_files.push((path, text));
                continue;
            }
            Some(Kind::Reports) => {
                log.debug(&format!(
                    "read {}: test reports, taken as --reports",
                    path.display()
                ));
                report_files.push((path, text));
                continue;
            }
            Some(Kind::TestCases) => {
                log.debug(&format!(
                    "read {}: test cases, taken as --test-cases",
                    path.display()
                ));
                case_files.push((path, text));
                continue;
            }
            None => {}
        }
        batches.extend(history_from_json(&text).map_err(|e| at(&path, e))?);
        log.debug(&format!(
            "read {}: {} batches so far",
            path.display(),
            batches.len()
        ));
    }
    if let Some(project) = &config.project {
        let present: std::collections::BTreeSet<&str> =
            batches.iter().map(|b| b.project.as_str()).collect();
        if !present.contains(project.as_str()) {
            let listed: Vec<String> = present
                .iter()
                .take(20)
                .map(|p| crate::text::clean(p, 200))
                .collect();
            return Err(RunError::Input(format!(
                "no batch of project {} in the --batches files; they hold {}",
                crate::text::clean(project, 200),
                match listed.len() {
                    0 => "no batches at all".to_string(),
                    n if n < present.len() => format!(
                        "batches of {} and {} more projects",
                        listed.join(", "),
                        present.len() - n
                    ),
                    _ => format!("batches of {}", listed.join(", ")),
                }
            )));
        }
        batches.retain(|b| &b.project == project);
    }
    for (path, _) in files(&config.builds, "--builds")? {
        let text = read(&path)?;
        build_files.push((path, text));
    }
    let mut builds: BTreeMap<String, Build> = Default::default();
    for (path, text) in &build_files {
        for build in builds_from_json(text).map_err(|e| at(path, e))? {
            builds.insert(build.id.clone(), build);
        }
        log.debug(&format!(
            "read {}: {} builds so far",
            path.display(),
            builds.len()
        ));
    }
    let no_builds = build_files.is_empty();
    let window = match config.days {
        None => Window::default(),
        Some(days) => {
            let until = batches.iter().filter_map(|b| b.start_time).max();
            Window {
                since: until.map(|u| Timestamp(u.0.saturating_sub(i64::from(days) * DAY_MS))),
                until,
            }
        }
    };
    let github = match &config.github {
        None => GitHubByCommit::new(),
        Some(path) => {
            let captured = crate::commands::explain::load_github(path)?;
            let file = path.display().to_string();
            captured
                .commits
                .keys()
                .map(|sha| (sha.to_ascii_lowercase(), captured.facts_for(sha, &file)))
                .collect()
        }
    };
    let mut reads = Reads {
        github,
        ..Reads::default()
    };
    for path in &config.reports {
        report_files.push((path.clone(), read(path)?));
    }
    for path in &config.test_cases {
        case_files.push((path.clone(), read(path)?));
    }
    for (path, text) in &report_files {
        let found = reports_from_json(text).map_err(|e| at(path, e))?;
        reads.reports.extend(found);
    }
    for (path, text) in &case_files {
        let cases = test_cases_from_json(text).map_err(|e| at(path, e))?;
        reads.reports.add_cases(cases);
    }
    let logs = logs_dir(config)?;
    if let Some(dir) = &logs {
        let wanted = needs_of(&[Some(policy), old], &batches, &builds, &reads, window);
        reads.logs = captured_logs::read_dir(dir, &wanted.logs);
    }
    let old_replay =
        old.map(|old| replay::replay_with(old, batches.clone(), &builds, &reads, window, false));
    let mut replay = replay::replay_with(policy, batches, &builds, &reads, window, false);
    if no_builds && !replay.attempts.is_empty() {
        replay.warnings.extend(needs_builds(policy));
    }
    if let Some(dir) = &logs {
        // The refused builds' logs, for the suggestions (the default tail).
        let more: BTreeMap<String, usize> = refused_builds(&replay, true)
            .into_iter()
            .filter(|id| !reads.logs.contains_key(id))
            .map(|id| (id, 256 * 1024))
            .collect();
        reads.logs.extend(
            captured_logs::read_dir(dir, &more)
                .into_iter()
                .filter(|(_, f)| matches!(f, Fetched::Known(_))),
        );
    }
    replay.suggestions = replay::suggest::suggest(&replay, &builds, &reads);
    Ok((replay, old_replay))
}

/// Without builds, a build's failed phase and its contexts are unknown: rules that select by
/// them cannot match a build's failure, and the headline understates the retries.
fn needs_builds(policy: &Policy) -> Option<String> {
    let names: Vec<&str> = policy
        .rules
        .iter()
        .filter(|r| {
            r.phases.is_some()
                || r.status_codes.is_some()
                || r.messages.is_some()
                || r.log.is_some()
                || r.tests.is_some()
        })
        .map(|r| r.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    let shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| format!("`{}`", crate::text::clean(n, 100)))
        .collect();
    let more = names.len().saturating_sub(shown.len());
    Some(format!(
        "no --builds: the failed builds' phases and status codes are unknown, so {} rule{} that select{} by them ({}{}) cannot match a build's failure, and the report understates what the policy would retry; give the builds with --builds FILE or DIR (`aws codebuild batch-get-builds` output)",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        if names.len() == 1 { "s" } else { "" },
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

/// The capture files of `--batches` or `--builds`: each file as given, and for a directory
/// the `.json` files directly in it, by name (`true`: it came from a directory).
fn files(paths: &[PathBuf], flag: &str) -> Result<Vec<(PathBuf, bool)>, RunError> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push((path.clone(), false));
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| {
            RunError::Input(format!(
                "{}: cannot read the directory: {e}",
                path.display()
            ))
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
            })
            .collect();
        if found.is_empty() {
            return Err(RunError::Input(format!(
                "{}: no .json files in this directory ({flag} takes AWS CLI output: a file, or a directory of .json files)",
                path.display()
            )));
        }
        found.sort();
        out.extend(found.into_iter().map(|p| (p, true)));
    }
    Ok(out)
}

/// What a capture in a `--batches` directory holds, when it is not batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `batch-get-builds` output (a `builds` list, no `buildBatches`).
    Builds,
    /// `batch-get-reports` output (a `reports` list).
    Reports,
    /// `describe-test-cases` output (a `testCases` list).
    TestCases,
}

/// Which capture `text` is, when it is not `batch-get-build-batches` output.
fn capture_kind(text: &str) -> Option<Kind> {
    #[derive(serde::Deserialize)]
    struct Keys {
        builds: Option<serde::de::IgnoredAny>,
        #[serde(rename = "buildBatches")]
        build_batches: Option<serde::de::IgnoredAny>,
        reports: Option<serde::de::IgnoredAny>,
        #[serde(rename = "testCases")]
        test_cases: Option<serde::de::IgnoredAny>,
    }
    let keys = serde_json::from_str::<Keys>(text).ok()?;
    if keys.build_batches.is_some() {
        return None;
    }
    if keys.builds.is_some() {
        Some(Kind::Builds)
    } else if keys.reports.is_some() {
        Some(Kind::Reports)
    } else if keys.test_cases.is_some() {
        Some(Kind::TestCases)
    } else {
        None
    }
}

/// GitHub's facts per commit may be read for this many commits at most in one replay; the
/// commits beyond are not read (rules that need them cannot be judged there).
pub const MAX_GITHUB_COMMITS: usize = 200;
/// Commits whose facts are read at once.
const GITHUB_CONCURRENCY: usize = 4;

/// Live: GitHub's facts about the commits of the window's failed attempts, when a rule of
/// `policies` selects by them — each commit read once (at most [`MAX_GITHUB_COMMITS`], a few
/// at a time). As GitHub knows them now, not as they were then.
async fn live_github_facts(
    config: &Config,
    policies: &[Option<&Policy>],
    batches: &[Batch],
    window: &Window,
    log: &mut Log<'_>,
) -> GitHubByCommit {
    use futures_util::stream::{self, StreamExt};

    let rules = || policies.iter().flatten().flat_map(|p| p.rules.iter());
    let needs = GithubNeeds {
        branches: rules().any(|r| r.branches.is_some()),
        pulls: rules().any(|r| r.pull_request_bases.is_some()),
    };
    if !needs.branches && !needs.pulls {
        return GitHubByCommit::new();
    }
    let mut commits: Vec<String> = Vec::new();
    for b in batches {
        let failed = history::attempts(b).iter().any(|a| a.failed(b));
        if let Some(c) = b
            .commit()
            .filter(|_| failed && window.contains(b.start_time))
        {
            let c = c.to_ascii_lowercase();
            if !commits.contains(&c) {
                commits.push(c);
            }
        }
    }
    if commits.len() > MAX_GITHUB_COMMITS {
        log.warning(&format!(
            "{} commits have failed attempts; GitHub's branches and pull requests are read for the newest {MAX_GITHUB_COMMITS} only (rules that need them cannot be judged on the others)",
            commits.len()
        ));
        // Batches come in no particular order: keep the commits of the newest batches.
        let newest = |c: &String| {
            batches
                .iter()
                .filter(|b| b.commit().is_some_and(|x| x.eq_ignore_ascii_case(c)))
                .filter_map(|b| b.start_time)
                .max()
        };
        commits.sort_by_key(|c| std::cmp::Reverse(newest(c)));
        commits.truncate(MAX_GITHUB_COMMITS);
    }
    let repo = config
        .policy
        .repository
        .clone()
        .or_else(|| batches.iter().find_map(Batch::github_repository))
        .ok_or_else(|| {
            "no repository to read them from: set --repository or GITHUB_REPOSITORY".to_string()
        })
        .and_then(|text| common::repo(&text).map_err(|e| e.to_string()));
    let github = match &config.token {
        Some(token) => {
            common::github_client(common::spawn_github(
                config.api_url.clone(),
                token.clone(),
                config.timeout,
            ))
            .await
        }
        .map_err(|e| e.to_string()),
        None => Err(
            "no GitHub token to read them with (set the `github-token` input or GITHUB_TOKEN)"
                .to_string(),
        ),
    };
    log.debug(&format!(
        "reading GitHub's branches and pull requests of {} commit(s)",
        commits.len()
    ));
    let read = stream::iter(commits)
        .map(|sha| {
            let source = github_facts::Source {
                github: github.as_ref().map_err(String::clone),
                repo: repo.as_ref().map_err(String::clone),
                commit: None,
                event_branches: None,
            };
            async move {
                let facts = github_facts::read(
                    needs,
                    github_facts::Source {
                        commit: Some(&sha),
                        ..source
                    },
                )
                .await;
                (sha.clone(), facts)
            }
        })
        .buffer_unordered(GITHUB_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    read.into_iter().collect()
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
