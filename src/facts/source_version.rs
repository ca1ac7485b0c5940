//! What a batch's `sourceVersion` names, in the forms a policy may write it
//! (SPEC.md, "Canonical source versions").
//!
//! CodeBuild records `sourceVersion` as the batch was started: a webhook, the console, the
//! CLI and `StartBuildBatch` each write the same branch or pull request differently
//! (`pr/7` or `refs/pull/7/head`; `main`, `refs/heads/main` or `refs/heads/main^{SHA}`).
//! A `source-versions` glob matches the raw value or one of the canonical forms here, so a
//! rule written for one form is not slipped past by another.

/// The canonical forms of a raw `sourceVersion`, besides the raw value itself (none when
/// the value is not a Git ref this module knows, or is already canonical):
///
/// - `refs/pull/N/head` and `refs/pull/N/merge` → `pr/N` (N digits);
/// - `refs/heads/NAME` → `NAME`; `refs/heads/NAME^{SHA}` → `NAME` and `refs/heads/NAME`;
/// - `refs/tags/NAME` → `NAME`; `refs/tags/NAME^{SHA}` → `NAME` and `refs/tags/NAME`;
/// - `refs/pull/N/head^{SHA}` → `pr/N` and `refs/pull/N/head`.
///
/// The `^{…}` suffix (CodeBuild's "version at a commit" form, documented for branches) is
/// dropped from any of these refs. Values that only look like refs (an empty name, a name
/// that is not digits after `refs/pull/`, a ref ending in `/`) get no canonical form, so they
/// match only globs written for them exactly.
pub fn canonical_forms(raw: &str) -> Vec<String> {
    let (reference, pinned) = match strip_pin(raw) {
        Some(reference) => (reference, true),
        None => (raw, false),
    };
    let mut forms = Vec::new();
    if let Some(rest) = reference.strip_prefix("refs/pull/") {
        let Some((number, kind)) = rest.split_once('/') else {
            return forms;
        };
        let digits = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        if !digits || !matches!(kind, "head" | "merge") {
            return forms;
        }
        forms.push(format!("pr/{number}"));
    } else if let Some(name) = reference
        .strip_prefix("refs/heads/")
        .or_else(|| reference.strip_prefix("refs/tags/"))
    {
        if !is_ref_name(name) {
            return forms;
        }
        forms.push(name.to_string());
    } else {
        return forms;
    }
    if pinned {
        forms.push(reference.to_string());
    }
    forms
}

/// `REF^{X}` → `REF`, for a non-empty `X` without braces; `None` for anything else.
fn strip_pin(raw: &str) -> Option<&str> {
    let inner = raw.strip_suffix('}')?;
    let at = inner.rfind("^{")?;
    let pin = &inner[at + 2..];
    let reference = &inner[..at];
    (!pin.is_empty() && !pin.contains(['{', '}']) && !reference.is_empty()).then_some(reference)
}

/// A branch or tag name Git would accept (`git check-ref-format`, in short): no empty
/// segment or one starting with `.`, no `..` or `@{`, none of `~^:?*[\`, no space or
/// control character.
fn is_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with(".lock")
        && !name.ends_with('.')
        && name
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
        && !name
            .chars()
            .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::canonical_forms;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn canonical_forms_of_each_way_a_batch_records_its_source() {
        let pinned_main = format!("refs/heads/main^{{{SHA}}}");
        let pinned_release = format!("refs/heads/release/1.2^{{{SHA}}}");
        let pinned_pr = format!("refs/pull/7/head^{{{SHA}}}");
        let pinned_tag = format!("refs/tags/v1.2.3^{{{SHA}}}");
        let table: Vec<(&str, Vec<&str>)> = vec![
            // Pull requests.
            ("refs/pull/7/head", vec!["pr/7"]),
            ("refs/pull/7/merge", vec!["pr/7"]),
            ("refs/pull/1234/head", vec!["pr/1234"]),
            (&pinned_pr, vec!["pr/7", "refs/pull/7/head"]),
            // Branches.
            ("refs/heads/main", vec!["main"]),
            (&pinned_main, vec!["main", "refs/heads/main"]),
            ("refs/heads/release/1.2", vec!["release/1.2"]),
            (
                &pinned_release,
                vec!["release/1.2", "refs/heads/release/1.2"],
            ),
            ("refs/heads/main^{commit}", vec!["main", "refs/heads/main"]),
            // Tags.
            ("refs/tags/v1.2.3", vec!["v1.2.3"]),
            (&pinned_tag, vec!["v1.2.3", "refs/tags/v1.2.3"]),
            // Already canonical, or nothing to canonicalise.
            ("pr/7", vec![]),
            ("main", vec![]),
            (SHA, vec![]),
            ("", vec![]),
            // Look like refs, but are not ones the gate can read: matched raw only.
            ("refs/pull/7", vec![]),
            ("refs/pull/x/head", vec![]),
            ("refs/pull//head", vec![]),
            ("refs/pull/7/files", vec![]),
            ("refs/pull/7/head/extra", vec![]),
            ("refs/heads/", vec![]),
            ("refs/heads//main", vec![]),
            ("refs/heads/main/", vec![]),
            ("refs/tags/", vec![]),
            ("refs/heads/main^{}", vec![]),
            ("refs/heads/main^{a{b}", vec![]),
            ("^{abc}", vec![]),
            ("refs/remotes/origin/main", vec![]),
            ("heads/main", vec![]),
            ("REFS/HEADS/main", vec![]),
            ("refs/heads/a..b", vec![]),
            ("refs/heads/.hidden", vec![]),
            ("refs/heads/x.lock", vec![]),
            ("refs/heads/a b", vec![]),
            ("refs/tags/v1~1", vec![]),
            ("refs/heads/main@{1}", vec![]),
        ];
        for (raw, want) in table {
            assert_eq!(canonical_forms(raw), want, "canonical forms of {raw:?}");
        }
    }
}
