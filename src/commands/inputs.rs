//! The inputs of the commands that run in a workflow (`gate`, `reconcile`), resolved one
//! way: the flag, else the Action input as the runner passes it (`INPUT_<NAME>`), else the
//! standard variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::actions;
use crate::cli::{Format, RunArgs};
use crate::commands::common::{DEFAULT_TIMEOUT_SECS, Log, PolicySource};
use crate::error::RunError;
use crate::github::Token;

/// The environment, as a lookup (the process's in `main`, a map in unit tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What `gate` and `reconcile` share, resolved once.
#[derive(Debug)]
pub struct Inputs {
    pub policy: Option<PathBuf>,
    /// Read the policy from this ref through the contents API instead of the workspace.
    pub policy_ref: Option<String>,
    pub repository: Option<String>,
    pub token: Option<Token>,
    pub dry_run: bool,
    pub format: Format,
    pub verbose: bool,
    /// Bound on each attempt of an AWS or GitHub call.
    pub timeout: Duration,
    pub api_url: String,
    /// The workflow run's page, for a status's target_url.
    pub run_url: Option<String>,
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    /// Running under GitHub Actions: notices become workflow commands.
    pub in_actions: bool,
}

impl Default for Inputs {
    fn default() -> Inputs {
        Inputs {
            policy: None,
            policy_ref: None,
            repository: None,
            token: None,
            dry_run: false,
            format: Format::Text,
            verbose: false,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            api_url: "https://api.github.com".to_string(),
            run_url: None,
            output_file: None,
            summary_file: None,
            in_actions: false,
        }
    }
}

impl Inputs {
    /// Flags first, then Action inputs (`INPUT_*`), then the standard variables.
    pub fn resolve(args: &RunArgs, env: Env<'_>) -> Result<Inputs, RunError> {
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
        let source = policy_source(
            env,
            args.policy.clone(),
            args.policy_ref.clone(),
            args.repository.clone(),
        );
        Ok(Inputs {
            policy: source.path,
            policy_ref: source.git_ref,
            repository: source.repository,
            token: token(env, args.github_token.clone()),
            dry_run: flag(env, "dry-run", args.dry_run)?,
            format: args.format,
            verbose: args.verbose || env("RUNNER_DEBUG").as_deref() == Some("1"),
            timeout: Duration::from_secs(number(
                env,
                "timeout",
                args.timeout,
                1..=120,
                DEFAULT_TIMEOUT_SECS,
                "seconds",
            )?),
            api_url: set(env("GITHUB_API_URL"))
                .unwrap_or_else(|| "https://api.github.com".to_string()),
            run_url,
            output_file: set(env("GITHUB_OUTPUT")).map(PathBuf::from),
            summary_file: set(env("GITHUB_STEP_SUMMARY")).map(PathBuf::from),
            in_actions: env("GITHUB_ACTIONS").as_deref() == Some("true"),
        })
    }

    /// Where this run's policy comes from; `fallback_repository` (e.g. the status event's)
    /// when no repository was given.
    pub fn policy_source(&self, fallback_repository: Option<String>) -> PolicySource {
        PolicySource {
            path: self.policy.clone(),
            git_ref: self.policy_ref.clone(),
            repository: self.repository.clone().or(fallback_repository),
        }
    }

    /// The log of this run, on `err`.
    pub fn log<'a>(&self, err: &'a mut dyn std::io::Write) -> Log<'a> {
        Log {
            err,
            verbose: self.verbose,
            in_actions: self.in_actions,
            started: std::time::Instant::now(),
        }
    }
}

/// The GitHub token: the flag, else the input `github-token`, else `GITHUB_TOKEN`.
pub fn token(env: Env<'_>, given: Option<Token>) -> Option<Token> {
    given
        .or_else(|| actions::input(env, "github-token").map(Token::new))
        .or_else(|| set(env("GITHUB_TOKEN")).map(Token::new))
}

/// Where the policy comes from: the flags, else the inputs `policy`, `policy-ref` and
/// `repository` (else `GITHUB_REPOSITORY`).
pub fn policy_source(
    env: Env<'_>,
    path: Option<PathBuf>,
    git_ref: Option<String>,
    repository: Option<String>,
) -> PolicySource {
    PolicySource {
        path: path.or_else(|| actions::input(env, "policy").map(PathBuf::from)),
        git_ref: git_ref.or_else(|| actions::input(env, "policy-ref")),
        repository: repository
            .or_else(|| actions::input(env, "repository"))
            .or_else(|| set(env("GITHUB_REPOSITORY"))),
    }
}

/// A variable's value, unless it is empty.
pub fn set(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

/// A boolean flag: given on the command line, else the Action input (`true`/`false`).
pub fn flag(env: Env<'_>, name: &str, given: bool) -> Result<bool, RunError> {
    if given {
        return Ok(true);
    }
    actions::input(env, name)
        .map(|v| actions::parse_bool(name, &v).map_err(RunError::Input))
        .transpose()
        .map(|v| v.unwrap_or(false))
}

/// A whole number: the flag (clap checked its range), else the Action input (checked here),
/// else `default`.
pub fn number(
    env: Env<'_>,
    name: &str,
    given: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    unit: &str,
) -> Result<u64, RunError> {
    if let Some(value) = given {
        return Ok(value);
    }
    let Some(text) = actions::input(env, name) else {
        return Ok(default);
    };
    text.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            RunError::Input(format!(
                "input `{name}` is `{}`; expected {} to {} {unit}",
                crate::text::clean(&text, 40),
                range.start(),
                range.end()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_win_over_inputs_which_win_over_variables() {
        let vars = env(&[
            ("INPUT_REPOSITORY", "acme/input"),
            ("GITHUB_REPOSITORY", "acme/variable"),
            ("INPUT_GITHUB-TOKEN", "from-input"),
            ("GITHUB_TOKEN", "from-variable"),
            ("INPUT_DRY-RUN", "true"),
            ("INPUT_TIMEOUT", "30"),
            ("INPUT_POLICY-REF", "default-branch"),
        ]);
        let inputs = Inputs::resolve(&RunArgs::default(), &vars).unwrap();
        assert_eq!(inputs.repository.as_deref(), Some("acme/input"));
        assert_eq!(inputs.token, Some(Token::new("from-input")));
        assert!(inputs.dry_run);
        assert_eq!(inputs.timeout, Duration::from_secs(30));
        assert_eq!(inputs.policy_ref.as_deref(), Some("default-branch"));

        let args = RunArgs {
            repository: Some("acme/flag".into()),
            timeout: Some(5),
            ..RunArgs::default()
        };
        let inputs = Inputs::resolve(&args, &vars).unwrap();
        assert_eq!(inputs.repository.as_deref(), Some("acme/flag"));
        assert_eq!(inputs.timeout, Duration::from_secs(5));
    }

    #[test]
    fn empty_inputs_are_unset_and_bad_ones_are_input_errors() {
        let vars = env(&[("INPUT_REPOSITORY", ""), ("GITHUB_REPOSITORY", "acme/web")]);
        let inputs = Inputs::resolve(&RunArgs::default(), &vars).unwrap();
        assert_eq!(inputs.repository.as_deref(), Some("acme/web"));
        assert_eq!(inputs.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));

        for (key, value) in [("INPUT_TIMEOUT", "0"), ("INPUT_DRY-RUN", "maybe")] {
            let vars = move |k: &str| (k == key).then(|| value.to_string());
            let err = Inputs::resolve(&RunArgs::default(), &vars).unwrap_err();
            assert!(matches!(err, RunError::Input(_)), "{key}: {err}");
        }
        let hours = |k: &str| (k == "INPUT_HOURS").then(|| "169".to_string());
        let err = number(&hours, "hours", None, 1..=168, 6, "hours").unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `hours` is `169`; expected 1 to 168 hours"
        );
        assert_eq!(
            number(&hours, "hours", Some(2), 1..=168, 6, "hours").unwrap(),
            2
        );
    }
}
