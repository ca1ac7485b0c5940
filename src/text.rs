//! The one sanitiser for text that came from outside — a build, a log, a test report, the
//! service, GitHub, a policy file — before it is shown anywhere. It sits at the bottom of the
//! house: the policy, the AWS and GitHub sides, batch references and every rendering use it,
//! and it uses nothing of theirs.

/// Text from a build or the service made safe to show: control characters (newlines, ESC,
/// CR…) become spaces, and the result is cut at `max` characters with an ellipsis.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    defuse(&out)
}

/// The first `n` characters of `text` (all of it when shorter): a cut by characters, never
/// inside one, so text from outside (a `resolvedSourceVersion`, a timestamp) cannot panic.
pub fn first_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// At most `max` bytes (a limit a service counts in bytes), cut on a character boundary,
/// with `...` when cut.
pub fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", text[..end].trim_end())
}

/// Breaks the sequences the Actions runner reads as workflow commands — `::` (at a line's
/// start, after whitespace) and the legacy `##[` (anywhere) — with a plain space, so text
/// from a build can be shown but never obeyed (no invisible character to normalise away).
pub fn defuse(text: &str) -> String {
    if !text.contains("::") && !text.contains("##[") {
        return text.to_string();
    }
    text.replace("::", ": :").replace("##[", "# #[")
}

#[cfg(test)]
mod tests {
    use crate::text::{clean, cut_bytes, first_chars};

    #[test]
    fn first_chars_cuts_by_characters() {
        assert_eq!(first_chars("abcdef", 3), "abc");
        assert_eq!(first_chars("ab", 3), "ab");
        assert_eq!(first_chars("éé€x", 3), "éé€");
        assert_eq!(first_chars("", 0), "");
    }

    #[test]
    fn cut_bytes_respects_bytes_and_char_boundaries() {
        assert_eq!(cut_bytes("abcdef", 6), "abcdef");
        assert_eq!(cut_bytes("abcdefg", 6), "abc...");
        let s = "ééééé"; // 10 bytes
        let c = cut_bytes(s, 8);
        assert!(c.len() <= 8, "{c}");
        assert!(c.ends_with("..."));
    }

    #[test]
    fn clean_removes_control_characters_and_cuts() {
        assert_eq!(clean("a\nb\x1b[31mc", 100), "a b [31mc");
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(clean("abcd", 4), "abcd");
        assert_eq!(
            clean("::add-mask::x ##[error]y", 100),
            ": :add-mask: :x # #[error]y"
        );
    }
}
