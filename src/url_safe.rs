//! Values that reach a GitHub URL (a policy path, a ref, an owner or repository name): checked
//! first, so that a value cannot change which resource is asked for (`?ref=…`, `../`), then
//! percent-encoded segment by segment.

/// A policy path for the contents API: relative, `/`-separated, no `?`, `#`, `%`, `\`, no `..`
/// or empty segment, no leading `/`, no control character. A leading `./` is dropped.
pub fn policy_path(text: &str) -> Result<String, String> {
    let path = text.strip_prefix("./").unwrap_or(text);
    let bad = |why: &str| {
        Err(format!(
            "the policy path `{}` {why}",
            crate::text::clean(text, 200)
        ))
    };
    if path.is_empty() {
        return bad("is empty");
    }
    if path.starts_with('/') {
        return bad("starts with `/`; give it relative to the repository's root");
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '?' | '#' | '%' | '\\') || c.is_control())
    {
        return bad(&format!(
            "holds `{}`, which a repository path for the gate may not",
            c.escape_default()
        ));
    }
    if path
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("has an empty, `.` or `..` segment");
    }
    Ok(path.to_string())
}

/// A ref as `git check-ref-format` allows it (branch, tag, `refs/…` or a commit SHA), and
/// without `%` or `#`, so that it stays one value in a URL.
pub fn git_ref(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "policy-ref `{}` is not a git ref: it {why}",
            crate::text::clean(text, 200)
        ))
    };
    if text.is_empty() || text.len() > 255 {
        return bad("is empty or longer than 255 characters");
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\%#".contains(*c))
    {
        return bad(&format!("holds `{}`", c.escape_default()));
    }
    if text.contains("..") || text.contains("@{") || text == "@" {
        return bad("holds `..` or `@{`");
    }
    if text.starts_with('/') || text.ends_with('/') || text.contains("//") {
        return bad("has an empty path component");
    }
    if text.ends_with('.') || text.ends_with(".lock") || text.split('/').any(|s| s.starts_with('.'))
    {
        return bad("has a component that starts with `.` or ends with `.` or `.lock`");
    }
    Ok(())
}

/// An owner (user or organisation) name: letters, digits, `-` and `_` (managed users'
/// `_shortcode`), at most 100 characters.
pub fn is_owner(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A repository name: letters, digits, `-`, `_` and `.`, at most 100 characters, not `.` or
/// `..`.
pub fn is_repository_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Percent-encodes every byte of `segment` but the unreserved characters (RFC 3986 §2.3).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Each `/`-separated segment of `path`, encoded; the `/` kept.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_paths_that_could_change_the_request_are_refused() {
        assert_eq!(
            policy_path("./.github/codebuild-retry-gate.yml").unwrap(),
            ".github/codebuild-retry-gate.yml"
        );
        assert_eq!(policy_path("ci/policy v2.yml").unwrap(), "ci/policy v2.yml");
        for bad in [
            ".github/codebuild-retry-gate.yml?ref=evil",
            "a#b",
            "a%2Fb",
            "a\\b",
            "../x.yml",
            "a/../b",
            "/etc/x",
            "a//b",
            "",
            "a/./b",
            "a\nb",
        ] {
            assert!(policy_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refs_follow_git_rules() {
        for good in [
            "main",
            "release/1.0",
            "refs/heads/main",
            "v1.2.3",
            "0123abc",
        ] {
            assert!(git_ref(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a..b", "a b", "a?b", "a#b", "a%b", "/a", "a/", "a//b", "a.lock", ".a", "a@{1}",
            "a~1", "a^", "a:b", "a*", "a[b", "a\\b",
        ] {
            assert!(git_ref(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_follow_githubs_rules() {
        assert!(is_owner("acme") && is_owner("octo-cat_emu") && !is_owner("a.b"));
        assert!(!is_owner("..") && !is_owner("") && !is_owner("a/b"));
        assert!(is_repository_name("web.site") && is_repository_name("a_b-c"));
        for bad in [".", "..", "", "a/b", "a b", "a%2e"] {
            assert!(!is_repository_name(bad), "{bad}");
        }
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("a b?c#d%e/f"), "a%20b%3Fc%23d%25e%2Ff");
        assert_eq!(encode_path("ci/policy v2.yml"), "ci/policy%20v2.yml");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
