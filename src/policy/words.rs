//! Parser messages in plain words: what serde and libyaml say ("invalid type: string \"1\",
//! expected u32", "unknown anchor") becomes what a policy author can act on, with no Rust type
//! names, and a hint for the common YAML mistakes (a tab indent, an unquoted `*` read as an
//! alias, an unclosed bracket).

use super::locate::Pos;

/// Type and value words of serde's messages, in plain words.
fn thing(serde: &str) -> String {
    let serde = serde.trim();
    if let Some(rest) = serde.strip_prefix("string ") {
        return format!("the text {rest}");
    }
    for (prefix, _) in [("integer ", ()), ("floating point ", ())] {
        if let Some(rest) = serde.strip_prefix(prefix) {
            return format!("the number {}", rest.trim_matches('`'));
        }
    }
    if let Some(rest) = serde.strip_prefix("boolean ") {
        return format!("the boolean {}", rest.trim_matches('`'));
    }
    match serde {
        "sequence" | "a sequence" => "a list".into(),
        "map" | "a map" => "a mapping of keys".into(),
        "unit value" | "null" => "an empty value".into(),
        "a string" | "string" => "text".into(),
        "a boolean" | "bool" => "true or false".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        other if other.starts_with("struct ") || other.contains("Raw") => {
            "a mapping of keys".into()
        }
        other if other.starts_with("enum ") => "one of the allowed values".into(),
        other => other.to_string(),
    }
}

/// A serde message about a value of the wrong type or range, in plain words, with a hint.
/// `None` when the message is of another kind.
pub fn wrong_type(message: &str) -> Option<(String, Option<String>)> {
    let (path, rest) = match message.split_once(": invalid ") {
        Some((path, rest)) => (Some(path), rest),
        None => (None, message.strip_prefix("invalid ")?),
    };
    let (kind, rest) = rest.split_once(": ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let found_words = thing(found);
    let expected_words = thing(expected);
    let what = path.map_or("the policy".to_string(), |p| format!("`{p}`"));
    let text = match kind {
        "value" => format!("{what} is {found_words}; it must be {expected_words}"),
        _ => format!("{what} must be {expected_words}, not {found_words}"),
    };
    let quoted_number = found.starts_with("string ")
        && found
            .trim_start_matches("string ")
            .trim_matches('"')
            .parse::<f64>()
            .is_ok()
        && expected_words.contains("number");
    let hint = if quoted_number {
        Some("remove the quotes: numbers are written without them".to_string())
    } else if expected_words == "a list" {
        Some("write a list: `[A, B]`, or one `- item` per line".to_string())
    } else if path.is_none() && expected_words == "a mapping of keys" {
        Some("a policy is a mapping: `version: 1`, then `rules:` with a list of rules".to_string())
    } else {
        None
    };
    Some((text, hint))
}

/// A serde "missing field `x`" message in plain words, with what the key is for.
pub fn missing_key(message: &str) -> Option<(String, Option<String>)> {
    let (path, rest) = match message.split_once(": missing field ") {
        Some((path, rest)) => (Some(path), rest),
        None => (None, message.strip_prefix("missing field ")?),
    };
    let key = rest.trim().trim_matches('`');
    let at = path.map_or(String::new(), |p| format!(" in `{p}`"));
    let help = match key {
        "version" | "rules" => "a policy needs `version: 1` and `rules` (a list of rules)",
        "name" => "every rule needs a unique `name`",
        _ => "add the key (see docs/policy.md)",
    };
    Some((format!("missing key `{key}`{at}"), Some(help.to_string())))
}

/// What the document is when it is not a policy-shaped mapping: empty (nothing, or only
/// comments), a list, or a single value. `None` for a mapping.
pub fn not_a_mapping(value: &yaml_serde::Value) -> Option<(&'static str, String, String)> {
    use yaml_serde::Value;
    let needs = "a policy needs `version: 1` and `rules`".to_string();
    match value {
        Value::Null => Some(("empty-file", "the file is empty".to_string(), needs)),
        Value::Sequence(_) => Some((
            "wrong-type",
            "the policy is a list; it must be a mapping of keys".to_string(),
            format!("{needs}, at the top level (not under `- `)"),
        )),
        Value::Mapping(_) => None,
        Value::Tagged(t) => not_a_mapping(&t.value),
        _ => Some((
            "wrong-type",
            "the policy is a single value; it must be a mapping of keys".to_string(),
            needs,
        )),
    }
}

/// A hint for a YAML syntax error at `pos` of `text`: a tab used for indentation, an
/// unquoted value starting with `*` (read as an alias).
pub fn syntax_hint(text: &str, pos: Pos, message: &str) -> Option<String> {
    let line = text
        .lines()
        .nth(pos.line.checked_sub(1)?)
        .unwrap_or_default();
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    if indent.contains('\t') || (message.contains("cannot start any token") && line.contains('\t'))
    {
        return Some("YAML does not allow tabs for indentation: indent with spaces".to_string());
    }
    if message.contains("anchor") || message.contains("alias") {
        return Some(
            "a value starting with `*` is read as a YAML alias: quote it, e.g. `[\"*-web\"]` or `\"*\"`"
                .to_string(),
        );
    }
    None
}

/// libyaml's "did not find expected ',' or ']' …, while parsing a flow sequence at line L
/// column C": the bracket that was never closed, with where it opened.
pub fn unclosed(message: &str) -> Option<(Pos, String, String)> {
    for (kind, open, close) in [("flow sequence", '[', ']'), ("flow mapping", '{', '}')] {
        let marker = format!("while parsing a {kind} at line ");
        let Some(i) = message.find(&marker) else {
            continue;
        };
        let rest = &message[i + marker.len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(rest);
        let line: usize = rest[..n].parse().ok()?;
        let col_text = rest[n..].strip_prefix(" column ")?;
        let column: usize = col_text[..digits(col_text)].parse().ok()?;
        let what = if open == '[' { "list" } else { "mapping" };
        return Some((
            Pos { line, column },
            format!("this `{open}` is never closed"),
            format!(
                "close the {what} with `{close}` (a `{open}…{close}` {what} may span lines, but every item needs a `,` after it except the last)"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words a policy author should never meet in a message.
    pub const RUST_WORDS: [&str; 9] = [
        "Raw", "u32", "u64", "i64", "f64", "usize", "struct ", "Option<", "Vec<",
    ];

    #[test]
    fn wrong_types_in_plain_words() {
        let (m, h) = wrong_type("version: invalid type: string \"1\", expected u32").unwrap();
        assert_eq!(
            m,
            "`version` must be a whole number (0 or more), not the text \"1\""
        );
        assert_eq!(
            h.as_deref(),
            Some("remove the quotes: numbers are written without them")
        );
        let (m, _) = wrong_type("invalid type: sequence, expected struct RawPolicy").unwrap();
        assert_eq!(m, "the policy must be a mapping of keys, not a list");
        let (m, _) =
            wrong_type("rules[0].max-retries: invalid value: integer `-1`, expected u32").unwrap();
        assert_eq!(
            m,
            "`rules[0].max-retries` is the number -1; it must be a whole number (0 or more)"
        );
        let (m, h) =
            wrong_type("rules[0].statuses: invalid type: string \"FAULT\", expected a sequence")
                .unwrap();
        assert_eq!(
            m,
            "`rules[0].statuses` must be a list, not the text \"FAULT\""
        );
        assert!(h.unwrap().contains("[A, B]"));
        for (m, h) in [&(m, None::<String>)] {
            for w in RUST_WORDS {
                assert!(!m.contains(w) && h.as_deref().is_none_or(|h| !h.contains(w)));
            }
        }
    }

    #[test]
    fn unclosed_brackets_point_where_they_opened() {
        let (pos, m, _) = unclosed(
            "did not find expected ',' or ']' at line 6 column 9, while parsing a flow sequence at line 4 column 15",
        )
        .unwrap();
        assert_eq!(
            pos,
            Pos {
                line: 4,
                column: 15
            }
        );
        assert_eq!(m, "this `[` is never closed");
        assert!(unclosed("found character that cannot start any token").is_none());
    }

    #[test]
    fn hints_for_tabs_and_aliases() {
        let text = "version: 1\nrules:\n\t- name: a\n";
        assert!(
            syntax_hint(
                text,
                Pos { line: 3, column: 1 },
                "found character that cannot start any token"
            )
            .unwrap()
            .contains("tabs")
        );
        assert!(
            syntax_hint("a: *web\n", Pos { line: 1, column: 4 }, "unknown anchor")
                .unwrap()
                .contains("quote it")
        );
    }
}
