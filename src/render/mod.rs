//! Renderings of one [`crate::decision::Decision`]: each a pure function to a `String`.

pub mod json;
pub mod links;
pub mod markdown;
pub mod status;
pub mod text;

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
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_removes_control_characters_and_cuts() {
        assert_eq!(clean("a\nb\x1b[31mc", 100), "a b [31mc");
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(clean("abcd", 4), "abcd");
    }
}
