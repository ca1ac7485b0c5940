//! GitHub's facts about the batch's commit, for the `branches` and `pull-request-bases`
//! selectors: the branches GitHub lists for it and the base branches of the open pull
//! requests whose head it is.
//!
//! Read live by the GitHub side (`GET .../commits/{sha}/branches-where-head`,
//! `GET .../commits/{sha}/pulls`, or a `status` event's `branches`), or offline from a file of
//! the same shapes (`explain --github FILE`: `{"commits": {SHA: {"branches": [...], "pulls":
//! [...]}}}`). Each is recorded as known, absent or unreadable ([`Fetched`]); `None` means
//! it was not read at all (offline without the file), and a rule that needs it cannot be
//! judged.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Fetched;

/// A branch as GitHub lists it: an element of `branches-where-head`'s answer or of a
/// `status` event's `branches` (`{"name": …, "commit": {…}, "protected": …}`; only the name
/// is used). A plain string is accepted too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum BranchEntry {
    Object { name: String },
    Name(String),
}

impl BranchEntry {
    pub fn name(&self) -> &str {
        match self {
            BranchEntry::Object { name } | BranchEntry::Name(name) => name,
        }
    }
}

/// A pull request as `GET .../commits/{sha}/pulls` lists it (only what the gate uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullEntry {
    pub number: Option<u64>,
    /// `open` or `closed`.
    pub state: Option<String>,
    pub head: PullRef,
    pub base: PullRef,
}

/// The `head` or `base` of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: Option<String>,
}

/// Names GitHub listed, and where they came from (shown in verdicts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Sorted, without duplicates.
    pub names: Vec<String>,
    /// e.g. `the status event`, `GitHub (branches-where-head)`, `github.json`.
    pub from: String,
    /// The list may be cut at this many entries by its source (a `status` event lists at
    /// most [`EVENT_BRANCHES_MAX`] branches): a name it does not hold may still apply.
    pub cut_at: Option<usize>,
}

/// The most branches a `status` event lists ("The array includes a maximum of 10
/// branches", GitHub's webhook reference for the `status` event).
pub const EVENT_BRANCHES_MAX: usize = 10;

impl Listed {
    pub fn new(names: impl IntoIterator<Item = String>, from: impl Into<String>) -> Listed {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        names.dedup();
        Listed {
            names,
            from: from.into(),
            cut_at: None,
        }
    }

    /// A list its source may have cut at `max` entries: when it holds that many (`entries`,
    /// before duplicates were dropped), names beyond them may be missing.
    pub fn cut_at(mut self, entries: usize, max: usize) -> Listed {
        if entries >= max {
            self.cut_at = Some(max);
        }
        self
    }
}

/// What the judgment knows of GitHub's facts about the batch's commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitHubFacts {
    /// The commit they are about.
    pub commit: Option<String>,
    /// The branches GitHub lists for the commit (`branches`). `None`: not read.
    pub branches: Option<Fetched<Listed>>,
    /// The base branches of the open pull requests whose head is the commit
    /// (`pull-request-bases`). `None`: not read.
    pub pull_request_bases: Option<Fetched<Listed>>,
}

/// The branch names of a list GitHub returned.
pub fn branch_names(entries: &[BranchEntry]) -> Vec<String> {
    entries.iter().map(|e| e.name().to_string()).collect()
}

/// The base branches of the pull requests that are open and whose head is `sha` (GitHub's
/// `/commits/{sha}/pulls` also lists merged ones, and ones that merely contain the commit).
pub fn open_pull_request_bases(pulls: &[PullEntry], sha: &str) -> Vec<String> {
    pulls
        .iter()
        .filter(|p| p.state.as_deref() == Some("open"))
        .filter(|p| {
            p.head
                .sha
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(sha))
        })
        .map(|p| p.base.git_ref.clone())
        .collect()
}

/// `explain --github FILE`: GitHub's facts by commit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Captured {
    pub commits: BTreeMap<String, CapturedCommit>,
}

/// One commit of a [`Captured`] file: each list as GitHub's endpoint returns it; a list
/// that is left out was not captured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturedCommit {
    pub branches: Option<Vec<BranchEntry>>,
    pub pulls: Option<Vec<PullEntry>>,
}

impl Captured {
    /// Reads a file's text; `Err` says what is wrong, with the line and column.
    pub fn from_json(text: &str) -> Result<Captured, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "not GitHub facts (expected {{\"commits\": {{SHA: {{\"branches\": [...], \"pulls\": [...]}}}}}}): {e}"
            )
        })
    }

    /// The facts about `sha` (matched without regard to case), named after `file`. A commit
    /// the file does not hold, or a list it leaves out, was not captured (`None`).
    pub fn facts_for(&self, sha: &str, file: &str) -> GitHubFacts {
        let commit = self
            .commits
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(sha))
            .map(|(_, c)| c);
        GitHubFacts {
            commit: Some(sha.to_string()),
            branches: commit.and_then(|c| c.branches.as_ref()).map(|list| {
                Fetched::Known(Listed::new(
                    branch_names(list),
                    format!("{file} (branches)"),
                ))
            }),
            pull_request_bases: commit.and_then(|c| c.pulls.as_ref()).map(|list| {
                Fetched::Known(Listed::new(
                    open_pull_request_bases(list, sha),
                    format!("{file} (pulls)"),
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

    #[test]
    fn only_open_pull_requests_headed_by_the_commit_count() {
        let pulls: Vec<PullEntry> = serde_json::from_value(serde_json::json!([
            {"number": 7, "state": "open", "head": {"ref": "fix", "sha": SHA.to_uppercase()}, "base": {"ref": "main"}},
            {"number": 8, "state": "closed", "head": {"ref": "old", "sha": SHA}, "base": {"ref": "release/1"}},
            {"number": 9, "state": "open", "head": {"ref": "later", "sha": "0000000000000000000000000000000000000001"}, "base": {"ref": "dev"}},
            {"number": 10, "state": "open", "head": {"ref": "x", "sha": SHA}, "base": {"ref": "main"}},
            {"number": 11, "state": "open", "head": {"ref": "y"}, "base": {"ref": "nosha"}},
        ]))
        .unwrap();
        assert_eq!(open_pull_request_bases(&pulls, SHA), ["main", "main"]);
        assert_eq!(
            Listed::new(open_pull_request_bases(&pulls, SHA), "x").names,
            ["main"]
        );
    }

    #[test]
    fn a_capture_gives_what_it_holds_and_nothing_more() {
        let file = Captured::from_json(&format!(
            r#"{{"commits": {{"{}": {{"branches": [{{"name": "main", "commit": {{"sha": "{SHA}"}}, "protected": true}}, "dev"],
                "pulls": [{{"number": 1, "state": "open", "head": {{"ref": "f", "sha": "{SHA}"}}, "base": {{"ref": "main"}}}}]}},
              "0000000000000000000000000000000000000002": {{"branches": []}}}}}}"#,
            SHA.to_uppercase()
        ))
        .unwrap();
        let facts = file.facts_for(SHA, "github.json");
        assert_eq!(
            facts.branches,
            Some(Fetched::Known(Listed::new(
                ["dev".to_string(), "main".to_string()],
                "github.json (branches)"
            )))
        );
        assert_eq!(
            facts
                .pull_request_bases
                .and_then(|f| f.known().cloned())
                .map(|l| l.names),
            Some(vec!["main".to_string()])
        );
        let other = file.facts_for("0000000000000000000000000000000000000002", "g");
        assert_eq!(
            other
                .branches
                .and_then(|f| f.known().cloned())
                .map(|l| l.names),
            Some(vec![])
        );
        assert_eq!(other.pull_request_bases, None, "not captured");
        let absent = file.facts_for("0000000000000000000000000000000000000003", "g");
        assert_eq!((absent.branches, absent.pull_request_bases), (None, None));
        assert!(Captured::from_json(r#"{"commit": {}}"#).is_err());
        assert!(Captured::from_json(r#"{"commits": {"x": {"branches": [{"nom": 1}]}}}"#).is_err());
    }
}
