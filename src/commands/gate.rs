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
use crate::aws::{Aws, Region, RegionFrom};
use crate::batch_ref::{self, BatchId, ConsoleTarget, parse_console_url};
use crate::cli::{Format, GateArgs};
use crate::codebuild::{AwsError, CodeBuild, ListPage};
pub use crate::commands::common::Log;
use crate::commands::common::{self, PolicySource};
use crate::commands::inputs::{self, Env, Inputs};
use crate::commands::report::{self, Commit};
use crate::decide::{decide, github_needs};
use crate::decision::{Decision, Outcome};
use crate::error::{RunError, exit};
use crate::facts::github::BranchEntry;
use crate::facts::{Batch, Facts};
use crate::github::{GitHub, Repo, Token};
use crate::history::{self, Known};
use crate::latest;
use crate::live::logs::LogReader;
use crate::live::{self, aws, github_facts};
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
    /// The region the batch names (its ARN, or the event's console link), if it names one;
    /// else the standard chain's (`AWS_REGION`) is used.
    pub region: Option<Region>,
}

/// The parts of a `status` event the gate uses.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StatusEvent {
    pub sha: Option<String>,
    pub state: Option<String>,
    pub context: Option<String>,
    pub target_url: Option<String>,
    pub repository: Option<EventRepository>,
    /// The branches that contain the commit, at most 10 (GitHub's own list), for rules with
    /// `branches`.
    pub branches: Option<Vec<BranchEntry>>,
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
        let batch_text = args.batch_id.clone().or_else(|| input("batch-id"));
        let batch_id = batch_text
            .as_deref()
            .map(|text| BatchId::parse(text).map_err(RunError::Input))
            .transpose()?;
        let region = named_region(batch_text.as_deref(), event.as_ref())?;
        Ok(Config {
            run: Inputs::resolve(&args.run, env)?,
            batch_id,
            project: args.project.clone().or_else(|| input("project")),
            sha: args.sha.clone().or_else(|| input("sha")),
            fail_on_refusal: inputs::flag(env, "fail-on-refusal", args.fail_on_refusal)?,
            event,
            region,
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

/// The region of the batch the gate will judge, when its reference names one: the batch ARN
/// given, else (no batch given) the status event's CodeBuild console link.
fn named_region(
    batch_text: Option<&str>,
    event: Option<&StatusEvent>,
) -> Result<Option<Region>, RunError> {
    let named = match (batch_text, event.and_then(|e| e.target_url.as_deref())) {
        (Some(text), _) => batch_ref::arn_region(text)
            .map_err(RunError::Input)?
            .map(|r| Region::named(&r, RegionFrom::BatchArn)),
        // A link the gate will not follow names no region (resolve_batch says why).
        (None, Some(url)) if parse_console_url(url).is_ok() => batch_ref::console_region(url)
            .map_err(RunError::Input)?
            .map(|r| Region::named(&r, RegionFrom::ConsoleLink)),
        _ => None,
    };
    Ok(named)
}

fn read_event(path: &Path) -> Result<StatusEvent, RunError> {
    use std::io::Read;
    let bad = |e: String| RunError::Input(format!("the event payload {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(MAX_EVENT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    if text.len() as u64 > MAX_EVENT_BYTES {
        return Err(bad(
            "larger than 4 MiB; not a GitHub status event (GitHub's are a few KiB)".into(),
        ));
    }
    serde_json::from_str(&text).map_err(|e| bad(format!("not a status event: {e}")))
}

/// The gate, step by step. Each step either hands the next one what it needs or ends the run;
/// nothing is changed (retry, status) before [`act`].
pub async fn run(
    mut config: Config,
    out: &mut dyn Write,
    log: &mut Log<'_>,
) -> Result<i32, RunError> {
    require_token(&config.run)?;
    // The gate's own statuses trigger `status` events too: nothing to judge there.
    if is_own_status(&config, &Policy::builtin()) {
        return Ok(own_status(log));
    }
    // No region is a configuration mistake: said before anything is called.
    let aws = Aws::load(config.run.timeout, config.region.clone()).await?;
    let codebuild = CodeBuild::new(&aws);
    // A status event about a single build (not a batch) is not the gate's business.
    match event_build(&config, &codebuild, log).await? {
        EventBuild::Single(build) => return Ok(not_a_batch(&build, log)),
        EventBuild::OfBatch(id) => config.batch_id = Some(id),
        EventBuild::None => {}
    }
    let source = config.run.policy_source(config.repository());
    let local_policy = read_local_policy(&config, &source, log)?;
    if let Some(Ok(policy)) = &local_policy
        && is_own_status(&config, policy)
    {
        return Ok(own_status(log));
    }
    let mut clients = Clients::start(&config.run, codebuild, LogReader::new(&aws)).await?;
    let (policy, read) = read_policy_and_batch(&config, &source, &clients, local_policy, log).await;
    let policy = match policy {
        Ok(policy) => policy,
        Err(problem) if problem.is_policy_problem() => {
            return Err(report_policy_problem(&config, &mut clients, read, problem, log).await);
        }
        Err(e) => return Err(e),
    };
    let BatchRead { batch, page, known } = read?;
    log.debug(&format!("policy: {}", policy.source));
    if is_own_status(&config, &policy) {
        return Ok(own_status(log));
    }
    log.debug(&format!("read batch {} ({:?})", batch.id, batch.status));
    let target = status_target(&config, &batch, log)?;
    let batch = await_close_if_ending(&config, &clients.codebuild, batch, log).await?;
    let facts = read_facts(&config, &mut clients, &policy, batch, page, known, log).await?;
    report_logs_read(&facts, log);
    let mut decision = decide(&policy, &facts);
    log.debug(&format!(
        "decision: {} ({})",
        decision.decision.as_str(),
        decision.code.as_str()
    ));
    if superseded(&facts, &mut decision, log) {
        return finish(&config, &decision, false, Ok(false), out, log);
    }
    // Once decided, the outputs are written whatever happens next.
    let retried = act(&config.run, &clients.codebuild, &mut decision, &facts, log).await?;
    let posted = post_status(
        &config.run,
        &mut clients,
        &target,
        &decision,
        &facts,
        retried,
        log,
    );
    finish(&config, &decision, retried, posted.await, out, log)
}

/// The commit's latest batch speaks ([`latest::superseded_by`]): when another batch of the
/// same commit and project has an attempt that started after this batch's latest attempt
/// ended, this batch is neither retried nor reported on — a late event about an old batch
/// must not overwrite the verdict on a newer one. The decision becomes `wait`, naming the
/// newer batch, for the outputs; a notice says so.
fn superseded(facts: &Facts, decision: &mut Decision, log: &mut Log<'_>) -> bool {
    let Some(newer) = latest::superseded_by(&facts.batch, &facts.history) else {
        return false;
    };
    log.notice(&format!(
        "batch {} is superseded: batch {} of the same commit ran after it ended and speaks for the commit; nothing is retried or posted for this one",
        crate::text::clean(&facts.batch.id, 200),
        crate::text::clean(&newer.id, 200)
    ));
    decision.superseded(&newer.id);
    true
}

/// The outputs, job summary and report, then the exit code: a status that could not be posted
/// fails the run (saying whether the batch was retried).
fn finish(
    config: &Config,
    decision: &Decision,
    retried: bool,
    posted: Result<bool, RunError>,
    out: &mut dyn Write,
    log: &mut Log<'_>,
) -> Result<i32, RunError> {
    let acted = retried || posted.as_ref().is_ok_and(|p| *p);
    report::write_gate_files(&config.run, decision, acted, retried, log);
    write_report(&config.run, decision, acted, out);
    if decision.decision == Outcome::Refuse {
        log.warning(&decision.reason);
    }
    if let Err(e) = posted {
        return Err(RunError::Runtime(report::status_not_posted(
            decision, retried, e,
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

/// Inputs that would stop us after acting are checked before anything is read.
fn require_token(run: &Inputs) -> Result<(), RunError> {
    if !run.dry_run && run.token.is_none() {
        return Err(RunError::Runtime(
            "no GitHub token: set the `github-token` input or GITHUB_TOKEN (or use --dry-run); nothing was retried"
                .into(),
        ));
    }
    Ok(())
}

/// The status event was posted by the gate itself (under `policy`'s context).
fn is_own_status(config: &Config, policy: &Policy) -> bool {
    config
        .event
        .as_ref()
        .and_then(|e| e.context.as_deref())
        .is_some_and(|c| policy.is_own_context(c))
}

fn own_status(log: &mut Log<'_>) -> i32 {
    log.notice("this status event was posted by the gate itself; nothing to do");
    exit::OK
}

/// The policy from the workspace, unless it is read from the repository at `--policy-ref`.
/// The policy from the workspace, unless it is read from the repository at `--policy-ref`.
/// An invalid policy is kept as such: the batch is still read, to report it there.
fn read_local_policy(
    config: &Config,
    source: &PolicySource,
    log: &mut Log<'_>,
) -> Result<Option<Result<Policy, RunError>>, RunError> {
    match &config.run.policy_ref {
        None => match common::local_policy(source, log) {
            Err(e) if !e.is_policy_problem() => Err(e),
            read => Ok(Some(read)),
        },
        Some(_) => Ok(None),
    }
}

/// An invalid or unreadable policy never leads to a retry. The batch (read meanwhile) tells
/// the commit and the project; the commit gets an `error` status saying what is wrong with
/// the policy and where, so that a required check never goes missing without a reason.
/// Returns the problem, for the exit code (2) and the annotations.
async fn report_policy_problem(
    config: &Config,
    clients: &mut Clients,
    read: Result<BatchRead, RunError>,
    problem: RunError,
    log: &mut Log<'_>,
) -> RunError {
    let batch = match read {
        Ok(read) => read.batch,
        Err(e) => {
            log.warning(&format!(
                "the batch could not be read either, so no error status was posted: {e}"
            ));
            return problem;
        }
    };
    if config.run.dry_run {
        return problem;
    }
    let target = match status_target(config, &batch, log) {
        Ok(StatusTarget {
            commit: Some(commit),
            repo: Some(repo),
        }) => (commit, repo),
        Ok(_) => return problem,
        Err(e) => {
            log.warning(&format!("no error status was posted: {e}"));
            return problem;
        }
    };
    let target_url = report::target_url(&config.run, &batch);
    let Some(status) = report::policy_problem_status(&problem, &batch.project, target_url) else {
        return problem;
    };
    let posted = match clients.github().await {
        Ok(github) => {
            // A re-run does not repost the same error (GitHub keeps at most 1,000 statuses
            // per commit and context): only on the batch's own commit, as for a decision.
            if target.0.verified
                && let Ok(seen) = github
                    .latest_status(&target.1, &target.0.sha, &status.context)
                    .await
                && report::already_says(seen.as_ref(), &status, &batch)
            {
                log.debug("the commit already shows this error status: not posted again");
                return problem;
            }
            github
                .post_status(&target.1, &target.0.sha, &status)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match posted {
        Ok(()) => log.debug(&format!(
            "posted `error` ({}) on {}",
            status.context, target.0.sha
        )),
        Err(e) => log.warning(&format!(
            "the policy's error status could not be posted: {e}"
        )),
    }
    problem
}

/// What a `status` event's link to one build says, once the build is read.
enum EventBuild {
    /// No event, a batch link, or a batch id given: nothing to read here.
    None,
    /// The build is a member of this batch (`REPORT_INDIVIDUAL_BUILDS`).
    OfBatch(BatchId),
    /// A single build, not part of any batch.
    Single(String),
}

/// When the inputs name no batch and the `status` event links to one build: read the build
/// (the one call made) to learn whether it belongs to a batch.
async fn event_build(
    config: &Config,
    codebuild: &CodeBuild,
    log: &mut Log<'_>,
) -> Result<EventBuild, RunError> {
    if config.batch_id.is_some() {
        return Ok(EventBuild::None);
    }
    let Some(url) = config.event.as_ref().and_then(|e| e.target_url.as_deref()) else {
        return Ok(EventBuild::None);
    };
    // Any other link (the gate's own status under a custom context, say) is for the later
    // steps to judge or refuse.
    let Ok(ConsoleTarget::Build(build)) = parse_console_url(url) else {
        return Ok(EventBuild::None);
    };
    log.debug(&format!(
        "the status names build {build}; looking up its batch"
    ));
    let builds = codebuild.builds(&[build.to_string()]).await.map_err(aws)?;
    let Some(found) = builds.first() else {
        return Err(RunError::Input(format!(
            "build {build} was not found in CodeBuild"
        )));
    };
    match &found.batch_arn {
        Some(arn) => Ok(EventBuild::OfBatch(
            BatchId::parse(arn).map_err(RunError::Input)?,
        )),
        None => Ok(EventBuild::Single(build.to_string())),
    }
}

/// Exit 0 with a notice: nothing retried, nothing posted.
fn not_a_batch(build: &str, log: &mut Log<'_>) -> i32 {
    log.notice(&format!(
        "the status event is about build {}, a single CodeBuild build, not a batch: the gate judges batch builds only, so nothing was retried or posted",
        crate::text::clean(build, 200)
    ));
    exit::OK
}

/// The service clients. The GitHub client (its TLS roots take a few ms to load) is built while
/// CodeBuild is read, unless the policy must come from GitHub first.
struct Clients {
    codebuild: CodeBuild,
    github: GitHubClient,
    /// Build logs (CloudWatch Logs, S3), read only for `log` conditions.
    logs: LogReader,
}

enum GitHubClient {
    /// Not needed (`--dry-run` with a local policy).
    None,
    Building(tokio::task::JoinHandle<Result<GitHub, crate::github::GitHubError>>),
    Ready(GitHub),
}

impl Clients {
    async fn start(
        run: &Inputs,
        codebuild: CodeBuild,
        logs: LogReader,
    ) -> Result<Clients, RunError> {
        let needs_github = !run.dry_run || run.policy_ref.is_some();
        let mut github = match needs_github {
            true => {
                let token = run.token.clone().unwrap_or_else(|| Token::new(""));
                GitHubClient::Building(common::spawn_github(
                    run.api_url.clone(),
                    token,
                    run.timeout,
                ))
            }
            false => GitHubClient::None,
        };
        if run.policy_ref.is_some() {
            github = GitHubClient::Ready(github.take().await?);
        }
        Ok(Clients {
            codebuild,
            github,
            logs,
        })
    }

    /// The GitHub client, once it is ready (built now if still building).
    async fn github(&mut self) -> Result<&GitHub, RunError> {
        if !matches!(self.github, GitHubClient::Ready(_)) {
            let github = std::mem::replace(&mut self.github, GitHubClient::None);
            self.github = GitHubClient::Ready(github.take().await?);
        }
        match &self.github {
            GitHubClient::Ready(github) => Ok(github),
            _ => unreachable!("set just above"),
        }
    }

    /// The client if it is already built (the policy read needs it before the batch).
    fn github_ready(&self) -> Option<&GitHub> {
        match &self.github {
            GitHubClient::Ready(github) => Some(github),
            _ => None,
        }
    }
}

impl GitHubClient {
    /// The client for reading GitHub's facts about the commit, built now if it is not (a
    /// dry run with a local policy builds none up front), or why there is none. A client
    /// that fails to build is left unbuilt: posting the status will say why.
    async fn ready_for_reads(&mut self, run: &Inputs) -> Result<&GitHub, String> {
        if matches!(self, GitHubClient::None) {
            let Some(token) = run.token.clone() else {
                return Err(
                    "no GitHub token to read it with (set the `github-token` input or GITHUB_TOKEN)"
                        .to_string(),
                );
            };
            *self = GitHubClient::Building(common::spawn_github(
                run.api_url.clone(),
                token,
                run.timeout,
            ));
        }
        if let GitHubClient::Building(_) = self {
            let building = std::mem::replace(self, GitHubClient::None);
            *self = GitHubClient::Ready(building.take().await.map_err(|e| e.to_string())?);
        }
        match self {
            GitHubClient::Ready(github) => Ok(github),
            _ => Err("no GitHub client".to_string()),
        }
    }

    async fn take(self) -> Result<GitHub, RunError> {
        match self {
            GitHubClient::Ready(github) => Ok(github),
            GitHubClient::Building(task) => common::github_client(task).await,
            GitHubClient::None => Err(RunError::Runtime("no GitHub client".into())),
        }
    }
}

/// What reading the batch brought: the batch, the first page of its project's listing, and
/// the batches read on the way.
struct BatchRead {
    batch: Batch,
    page: Result<ListPage, AwsError>,
    known: Known,
}

/// The policy (from the workspace, or from the repository at `--policy-ref`, read while the
/// batch is) and the batch. Each result is returned as it came.
async fn read_policy_and_batch(
    config: &Config,
    source: &PolicySource,
    clients: &Clients,
    local_policy: Option<Result<Policy, RunError>>,
    log: &mut Log<'_>,
) -> (Result<Policy, RunError>, Result<BatchRead, RunError>) {
    log.debug(&format!(
        "CodeBuild client ready, region {}",
        clients.codebuild.region()
    ));
    match local_policy {
        Some(policy) => (policy, read_batch(config, &clients.codebuild, log).await),
        None => tokio::join!(
            common::fetch_policy(source, clients.github_ready()),
            read_batch(config, &clients.codebuild, log)
        ),
    }
}

/// Where the status goes: the commit the batch built (checked before anything is changed)
/// and its repository. `None` when no status is posted.
struct StatusTarget {
    commit: Option<Commit>,
    repo: Option<Repo>,
}

fn status_target(
    config: &Config,
    batch: &Batch,
    log: &mut Log<'_>,
) -> Result<StatusTarget, RunError> {
    let run = &config.run;
    let commit = report::commit(batch, &config.asked_commits())?;
    let repo = match (&commit, run.dry_run) {
        (Some(_), false) => Some(report::repository(config.repository(), batch)?),
        _ => None,
    };
    if commit.is_none() && !run.dry_run {
        log.warning(&format!(
            "batch {} has no resolvedSourceVersion and its sourceVersion is not a commit SHA: no commit status is posted (set --sha to post one)",
            batch.id
        ));
    }
    Ok(StatusTarget { commit, repo })
}

/// The event says the batch ended, but it is still closing: give CodeBuild a moment.
async fn await_close_if_ending(
    config: &Config,
    codebuild: &CodeBuild,
    batch: Batch,
    log: &mut Log<'_>,
) -> Result<Batch, RunError> {
    let ending = config
        .event
        .as_ref()
        .is_some_and(StatusEvent::reports_an_end);
    if !ending || !live::is_closing(&batch) {
        return Ok(batch);
    }
    log.debug("every build ended but the batch is not closed yet: reading it again");
    let (batch, reads) = live::await_close(codebuild, batch).await?;
    log.debug(&format!(
        "read the batch {reads} more time(s): {:?}, complete: {}",
        batch.status, batch.complete
    ));
    Ok(batch)
}

/// Round trip 2 (failed batches only): the failed builds and the history, together — and,
/// when a rule selects by them, GitHub's facts about the commit at the same time.
async fn read_facts(
    config: &Config,
    clients: &mut Clients,
    policy: &Policy,
    batch: Batch,
    page: Result<ListPage, AwsError>,
    known: Known,
    log: &mut Log<'_>,
) -> Result<Facts, RunError> {
    let needs = github_needs(policy, &batch);
    let commit = batch.commit().map(str::to_string);
    let wanted = needs.branches || needs.pulls;
    let repo = match wanted {
        true => report::repository(config.repository(), &batch).map_err(|e| e.to_string()),
        false => Err(String::new()),
    };
    let Clients {
        codebuild,
        github,
        logs,
    } = clients;
    let github = match wanted {
        true => github.ready_for_reads(&config.run).await,
        false => Err(String::new()),
    };
    // The event's branches count only when it names this commit.
    let event_branches = config.event.as_ref().and_then(|e| {
        let names_commit = e
            .sha
            .as_deref()
            .zip(commit.as_deref())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
        e.branches.as_deref().filter(|_| names_commit)
    });
    if wanted {
        log.debug(&format!(
            "reading GitHub's {} of commit {} too",
            match (needs.branches, needs.pulls) {
                (true, true) => "branches and pull requests",
                (true, false) => "branches",
                _ => "pull requests",
            },
            commit.as_deref().unwrap_or("(unknown)")
        ));
    }
    let source = github_facts::Source {
        github,
        repo: repo.as_ref().map_err(String::clone),
        commit: commit.as_deref(),
        event_branches,
    };
    let (facts, github_facts) = tokio::join!(
        live::facts(codebuild, logs, policy, batch, page, known, live::clock()),
        github_facts::read(needs, source)
    );
    let mut facts = facts?;
    facts.github = github_facts;
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
    Ok(facts)
}

/// Round trip 3, part of [`read_facts`] (only where a rule's `log` condition could change the
/// decision): the builds' logs that were read, and those that could not be, in the debug log.
fn report_logs_read(facts: &Facts, log: &mut Log<'_>) {
    for (id, read) in &facts.logs {
        let said = match read {
            crate::facts::Fetched::Known(tail) => format!(
                "read the log of build {id}: {} KiB of its end from {}{}",
                tail.bytes / 1024,
                tail.source,
                if tail.whole { " (the whole log)" } else { "" }
            ),
            crate::facts::Fetched::Absent(why) => format!("build {id} has no log: {why}"),
            crate::facts::Fetched::Unreadable(why) => {
                format!("the log of build {id} could not be read: {why}")
            }
        };
        log.debug(&crate::text::clean(&said, 1000));
    }
}

/// The retry, for a `retry` decision outside `--dry-run`. `Ok(true)`: CodeBuild took it. If
/// CodeBuild said no, the decision now says why. On an error the outputs are written first.
async fn act(
    run: &Inputs,
    codebuild: &CodeBuild,
    decision: &mut Decision,
    facts: &Facts,
    log: &mut Log<'_>,
) -> Result<bool, RunError> {
    if decision.decision != Outcome::Retry || run.dry_run {
        return Ok(false);
    }
    log.debug(&format!(
        "RetryBuildBatch {} attempt {}",
        facts.batch.id,
        decision.retry_order().map_or(0, |o| o.attempt)
    ));
    match live::retry(codebuild, decision, &facts.batch).await {
        Ok(live::Retried::Yes) => {
            log.debug("RetryBuildBatch done");
            Ok(true)
        }
        Ok(live::Retried::No) => {
            log.debug(&format!(
                "CodeBuild did not take the retry: {} ({})",
                decision.code.as_str(),
                decision.reason
            ));
            Ok(false)
        }
        Err(e) => {
            report::write_gate_files(run, decision, false, false, log);
            Err(e)
        }
    }
}

/// The commit status, when there is a commit to post it on. `Ok(true)`: posted; `Err`: the
/// reason it could not be.
///
/// An identical status is not posted again (GitHub keeps at most 1,000 statuses per commit
/// and context, and a re-run or a repeated event would add one each time): unless the gate
/// has just retried the batch (then the status is news), the gate's latest status on the
/// batch's commit is read first, and when it already says the same about this batch (same
/// state and description, not a final status older than the batch's latest attempt) nothing
/// is posted. That read comes after the decision, so the retry path makes no extra round
/// trip; a failed read is no error (the status is posted).
async fn post_status(
    run: &Inputs,
    clients: &mut Clients,
    target: &StatusTarget,
    decision: &Decision,
    facts: &Facts,
    retried: bool,
    log: &mut Log<'_>,
) -> Result<bool, RunError> {
    let (Some(commit), Some(repo)) = (&target.commit, &target.repo) else {
        return Ok(false);
    };
    let target_url = report::target_url(run, &facts.batch);
    let Some(status) = report::status(decision, commit, target_url) else {
        log.warning(&report::no_success_on_unverified(&facts.batch));
        return Ok(false);
    };
    let github = clients.github().await?;
    // Only on the batch's own commit: one the inputs named is not the batch's to compare.
    if !retried && commit.verified {
        match github
            .latest_status(repo, &commit.sha, &status.context)
            .await
        {
            Ok(seen) if report::already_says(seen.as_ref(), &status, &facts.batch) => {
                log.debug("the commit already shows this status for this batch: not posted again");
                return Ok(false);
            }
            Ok(_) => {}
            Err(e) => log.debug(&format!(
                "the gate's latest status could not be read ({e}); posting"
            )),
        }
    }
    github
        .post_status(repo, &commit.sha, &status)
        .await
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    log.debug("commit status posted");
    Ok(true)
}

/// The report on stdout, in the chosen format.
fn write_report(run: &Inputs, decision: &Decision, acted: bool, out: &mut dyn Write) {
    let text = match run.format {
        // Under Actions the long report folds into a group; the reason stays visible.
        Format::Text if run.in_actions => format!(
            "{}\n{}{}\n",
            actions::command(
                "group",
                &[],
                &format!("codebuild-retry-gate: {}", decision.reason)
            ),
            render::text::render(decision),
            "::endgroup::"
        ),
        Format::Text => render::text::render(decision),
        Format::Json => render::json::render(decision, acted),
        Format::Markdown => render::markdown::render(decision, acted),
    };
    let _ = out.write_all(text.as_bytes());
}

/// Which batch, then the batch itself and the first listing page (read together).
async fn read_batch(
    config: &Config,
    codebuild: &CodeBuild,
    log: &mut Log<'_>,
) -> Result<BatchRead, RunError> {
    let mut known = Known::new();
    let (id, first_page) = resolve_batch(config, codebuild, &mut known, log).await?;
    log.debug(&format!("judging batch {id}"));
    match known.remove(&id.to_string()) {
        Some(batch) => Ok(BatchRead {
            batch,
            page: Ok(first_page.unwrap_or_default()),
            known,
        }),
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
                .ok_or_else(|| not_found(&id, codebuild.region()))?;
            Ok(BatchRead { batch, page, known })
        }
    }
}

/// A batch CodeBuild does not know in the region asked: which region, where it came from,
/// and what to do.
fn not_found(id: &BatchId, region: &Region) -> RunError {
    RunError::Input(format!(
        "batch {id} was not found in CodeBuild in {region}; {}",
        region.elsewhere_hint()
    ))
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
