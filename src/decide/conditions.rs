//! A rule's conditions on facts that cost a read (its `log`, its `tests`), judged from what
//! the facts recorded: met, not met, or not known (the fact was absent, unreadable or not read).
//! Pure: the reads happen before, where [`super::needs()`] says.

use crate::decision::LogMatch;
use crate::facts::github::Listed;
use crate::facts::{Facts, Fetched};
use crate::policy::{Globs, LogCondition, Rule, TestsCondition};

/// How long a log line may be when shown.
pub const MAX_LOG_LINE: usize = 200;

/// A log line as shown: cleaned by the one sanitiser, at most [`MAX_LOG_LINE`] characters
/// (also after the sanitiser has broken up workflow commands).
pub fn shown_line(line: &str) -> String {
    let cleaned = crate::text::clean(line, MAX_LOG_LINE);
    if cleaned.chars().count() <= MAX_LOG_LINE {
        return cleaned;
    }
    let mut cut: String = cleaned.chars().take(MAX_LOG_LINE - 1).collect();
    cut.push('…');
    cut
}

/// A rule's conditions against the facts.
pub(super) enum Judgement {
    /// Every condition holds (with the log line that met `log.matches`, if the rule has one).
    Met(Option<LogMatch>),
    /// Some condition certainly does not hold: why.
    NotMet(String),
    /// Some condition could not be judged (and none certainly fails): why.
    Unknown(String),
}

/// Judges the conditions of `rule` (whose other selectors matched) for the failure of build
/// `build_id` (`None`: the batch's own failure, which has no build).
pub(super) fn judge(rule: &Rule, build_id: Option<&str>, facts: &Facts) -> Judgement {
    let mut found = None;
    let mut unknown = None;
    for (globs, fact, what) in [
        (&rule.branches, &facts.github.branches, GitHubFact::Branches),
        (
            &rule.pull_request_bases,
            &facts.github.pull_request_bases,
            GitHubFact::PullRequestBases,
        ),
    ] {
        let Some(globs) = globs else { continue };
        let commit = facts.github.commit.as_deref().or(facts.batch.commit());
        match judge_github(globs, fact.as_ref(), what, commit) {
            Judgement::Met(_) => {}
            Judgement::NotMet(why) => return Judgement::NotMet(why),
            Judgement::Unknown(why) => unknown = unknown.or(Some(why)),
        }
    }
    if let Some(log) = &rule.log {
        match judge_log(log, build_id, facts) {
            Judgement::Met(m) => found = m,
            Judgement::NotMet(why) => return Judgement::NotMet(why),
            Judgement::Unknown(why) => unknown = Some(why),
        }
    }
    if let Some(tests) = &rule.tests {
        match judge_tests(tests, build_id, facts) {
            Judgement::Met(_) => {}
            Judgement::NotMet(why) => return Judgement::NotMet(why),
            Judgement::Unknown(why) => unknown = unknown.or(Some(why)),
        }
    }
    match unknown {
        Some(why) => Judgement::Unknown(why),
        None => Judgement::Met(found),
    }
}

/// Which of GitHub's facts about the commit a selector reads.
#[derive(Clone, Copy)]
enum GitHubFact {
    Branches,
    PullRequestBases,
}

impl GitHubFact {
    /// What the fact is, in a sentence: `GitHub's {} of commit abc1234`.
    fn what(self) -> &'static str {
        match self {
            GitHubFact::Branches => "branches",
            GitHubFact::PullRequestBases => "open pull requests",
        }
    }
}

/// Branch names shown in a reason, at most.
const MAX_NAMES_SHOWN: usize = 5;

/// `branches` / `pull-request-bases`: one of the names GitHub lists matches one of `globs`.
/// A fact that was not read, is absent or could not be read cannot be judged.
fn judge_github(
    globs: &Globs,
    fact: Option<&Fetched<Listed>>,
    what: GitHubFact,
    commit: Option<&str>,
) -> Judgement {
    let commit = commit.map_or_else(|| "(unknown)".to_string(), |c| c.chars().take(12).collect());
    let noun = what.what();
    let listed = match fact {
        None => {
            return Judgement::Unknown(format!(
                "GitHub's {noun} of commit {commit} were not read (offline: give them with --github FILE)"
            ));
        }
        Some(Fetched::Absent(why)) => {
            return Judgement::Unknown(format!("GitHub has no {noun} of commit {commit} ({why})"));
        }
        Some(Fetched::Unreadable(why)) => {
            return Judgement::Unknown(format!(
                "GitHub's {noun} of commit {commit} could not be read: {why}"
            ));
        }
        Some(Fetched::Known(listed)) => listed,
    };
    if listed.names.iter().any(|name| globs.is_match(name)) {
        return Judgement::Met(None);
    }
    let patterns = globs.patterns.join(", ");
    if let Some(max) = listed.cut_at {
        // A full list may be cut: a branch it does not hold may still contain the commit.
        return Judgement::Unknown(format!(
            "{} lists {max} {noun} of commit {commit}, the most it lists, and none matches {patterns}; others may",
            listed.from
        ));
    }
    Judgement::NotMet(match (what, listed.names.is_empty()) {
        (GitHubFact::Branches, true) => format!(
            "{} lists no branch for commit {commit} (branches: {patterns})",
            listed.from
        ),
        (GitHubFact::PullRequestBases, true) => format!(
            "{} lists no open pull request headed by commit {commit} (pull-request-bases: {patterns})",
            listed.from
        ),
        (GitHubFact::Branches, false) => format!(
            "the branches {} lists for commit {commit} ({}) match none of {patterns}",
            listed.from,
            shown_names(&listed.names)
        ),
        (GitHubFact::PullRequestBases, false) => format!(
            "the open pull requests headed by commit {commit} ({}) are into {}, none of {patterns}",
            listed.from,
            shown_names(&listed.names)
        ),
    })
}

/// Names for a reason: at most [`MAX_NAMES_SHOWN`], then how many more.
fn shown_names(names: &[String]) -> String {
    let mut shown = names
        .iter()
        .take(MAX_NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_NAMES_SHOWN {
        shown.push_str(&format!(" and {} more", names.len() - MAX_NAMES_SHOWN));
    }
    shown
}

/// `log`: a line of the tail matches `matches`, and none matches `not-matches`.
fn judge_log(log: &LogCondition, build_id: Option<&str>, facts: &Facts) -> Judgement {
    let Some(id) = build_id else {
        return Judgement::NotMet("the batch's own failure has no build log".to_string());
    };
    let tail = match facts.logs.get(id) {
        None => {
            return Judgement::Unknown(format!(
                "the log of build {id} was not read (offline: put it in the --logs directory as {}.log)",
                id.rsplit_once(':').map_or(id, |(_, uuid)| uuid)
            ));
        }
        Some(Fetched::Absent(why)) => {
            return Judgement::Unknown(format!("build {id} has no log to read ({why})"));
        }
        Some(Fetched::Unreadable(why)) => {
            return Judgement::Unknown(format!("the log of build {id} could not be read: {why}"));
        }
        Some(Fetched::Known(tail)) => tail,
    };
    // An empty log is no evidence either way: "no line matches" would be a guess.
    if tail.whole && tail.lines.iter().all(|l| l.trim().is_empty()) {
        return Judgement::Unknown(format!(
            "the log of build {id} is empty ({}): nothing to judge",
            tail.source
        ));
    }
    let kib = log.tail_kib;
    let Some(lines) = tail.within(log.tail_bytes()) else {
        return Judgement::Unknown(format!(
            "only {} KiB of the end of the log of build {id} were read, and the rule needs {kib} KiB",
            tail.bytes / 1024
        ));
    };
    if let Some(forbidden) = &log.not_matches
        && let Some((pattern, line)) = lines
            .iter()
            .rev()
            .find_map(|l| forbidden.first_match(l).map(|p| (p, l)))
    {
        return Judgement::NotMet(format!(
            "a line of the log of build {id} matches not-matches `{pattern}`: `{}`",
            shown_line(line)
        ));
    }
    // The newest matching line: the one nearest the failure.
    match lines
        .iter()
        .rev()
        .find_map(|l| log.matches.first_match(l).map(|p| (p, l)))
    {
        Some((pattern, line)) => Judgement::Met(Some(LogMatch {
            build_id: id.to_string(),
            pattern: pattern.to_string(),
            line: shown_line(line),
        })),
        None => Judgement::NotMet(format!(
            "no line of the last {kib} KiB of the log of build {id} matches"
        )),
    }
}

/// `tests`: the failed build's test reports (see [`super::test_reports`]), judged at the
/// moment of judgment.
fn judge_tests(tests: &TestsCondition, build_id: Option<&str>, facts: &Facts) -> Judgement {
    // The group whose current build failed: known-flaky tests are learned per group.
    let group = build_id.and_then(|id| {
        facts
            .batch
            .groups
            .iter()
            .find(|g| g.current.as_ref().and_then(|s| s.build_id()) == Some(id))
            .map(|g| g.identifier.as_str())
    });
    super::test_reports::judge_tests(tests, build_id, group, facts, facts.moment())
}

#[cfg(test)]
mod tests {
    use super::{MAX_NAMES_SHOWN, shown_names};

    /// Exactly the shown number of names: no "and 0 more"; one more: "and 1 more".
    #[test]
    fn shown_names_counts_only_the_names_left_out() {
        let names: Vec<String> = (0..=MAX_NAMES_SHOWN).map(|i| format!("b{i}")).collect();
        assert_eq!(shown_names(&names[..MAX_NAMES_SHOWN]), "b0, b1, b2, b3, b4");
        assert_eq!(shown_names(&names), "b0, b1, b2, b3, b4 and 1 more");
    }
}
