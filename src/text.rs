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

/// Renderers pass their whole output through this too: two cleaned pieces side by side (a
/// group named `:` before `: allowed…`) must not make a command either.
/// Breaks the sequences the Actions runner reads as workflow commands — `::` at a line's
/// start (after whitespace: `ActionCommand.TryParseV2` trims the line's start) and the legacy
/// `##[` anywhere (`ActionCommand.TryParse`) — with a plain space, so text from a build can be
/// shown but never obeyed. Conservatively, any line break (also U+2028, U+0085…) starts a
/// line, and invisible characters (zero-width, BOM, soft hyphen) count as nothing, before
/// and between the two colons. A `::` inside a line (`checkout.spec.ts::pays`, `std::io`)
/// is left as it is: the runner does not read it, and a name shown must be the name.
pub fn defuse(text: &str) -> String {
    if !text.contains(':') && !text.contains("##[") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut at_start = true;
    for (i, c) in text.char_indices() {
        out.push(c);
        if is_line_break(c) {
            at_start = true;
        } else if at_start && c == ':' {
            at_start = false;
            let next = text[i + 1..].chars().find(|n| !is_invisible(*n));
            if next == Some(':') {
                out.push(' ');
            }
        } else if at_start && !(c.is_whitespace() || is_invisible(c)) {
            at_start = false;
        }
    }
    if out.contains("##[") {
        out = out.replace("##[", "# #[");
    }
    out
}

/// Characters after which some reader may start a new line.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Characters that show as nothing: zero-width spaces and joiners, direction marks, word
/// joiners, the byte-order mark, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}')
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
            ": :add-mask::x # #[error]y"
        );
    }

    #[test]
    fn defuse_breaks_commands_at_a_line_start_and_leaves_names_alone() {
        use crate::text::defuse;
        // A name with `::` inside a line is shown as it is.
        assert_eq!(
            defuse("test `checkout.spec.ts::pays` failed"),
            "test `checkout.spec.ts::pays` failed"
        );
        assert_eq!(defuse("std::io::Error"), "std::io::Error");
        // At a line's start, after whitespace or invisible characters, and after any break.
        assert_eq!(defuse("::error::x"), ": :error::x");
        assert_eq!(defuse("  \t::error::x"), "  \t: :error::x");
        assert_eq!(defuse("\u{200b}::x"), "\u{200b}: :x");
        assert_eq!(defuse(":\u{200b}:x"), ": \u{200b}:x");
        for brk in ["\n", "\r", "\r\n", "\u{2028}", "\u{85}"] {
            assert_eq!(defuse(&format!("a{brk}::x")), format!("a{brk}: :x"));
        }
        // A single colon, or one not at the start, is nothing.
        assert_eq!(defuse(": x"), ": x");
        assert_eq!(defuse("a ::x"), "a ::x");
        assert_eq!(defuse("::"), ": :");
        // The legacy form anywhere.
        assert_eq!(defuse("x ##[error]y"), "x # #[error]y");
    }
}
