//! The GitHub Actions runner's contract: `INPUT_*` variables, `$GITHUB_OUTPUT`,
//! `$GITHUB_STEP_SUMMARY` and workflow commands (escaped as GitHub's toolkit does).

use std::io::Write;
use std::path::Path;

/// The value of an Action input as the runner passes it: `INPUT_<NAME>` upper-cased with
/// hyphens kept (`INPUT_BATCH-ID`). Empty counts as unset.
pub fn input(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let key = format!("INPUT_{}", name.to_ascii_uppercase().replace(' ', "_"));
    env(&key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A boolean input (`true`/`false`, as YAML booleans arrive).
pub fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!(
            "input `{name}` is `{}`; expected true or false",
            crate::text::clean(other, 40)
        )),
    }
}

/// Escapes the data of a workflow command (`::warning::DATA`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command (`::error file=PROP,line=PROP::`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::KIND key=value,…::message`, with every part escaped.
pub fn command(kind: &str, properties: &[(&str, String)], message: &str) -> String {
    let props: Vec<String> = properties
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    let sep = if props.is_empty() { "" } else { " " };
    format!("::{kind}{sep}{}::{}", props.join(","), escape_data(message))
}

/// A policy diagnostic as an `::error` annotation on its file, line and column.
pub fn annotation(d: &crate::policy::Diagnostic) -> String {
    let mut message = format!("[{}] {}", d.code, d.message);
    if let Some(help) = &d.help {
        message.push_str(&format!(" (help: {help})"));
    }
    command(
        "error",
        &[
            ("file", d.file.clone()),
            ("line", d.pos.line.to_string()),
            ("col", d.pos.column.to_string()),
            ("title", "codebuild-retry-gate policy".to_string()),
        ],
        &message,
    )
}

/// Appends `name<<DELIM\nvalue\nDELIM\n` entries to the `$GITHUB_OUTPUT` file. The
/// delimiter is chosen so that it occurs in no value.
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let mut delimiter = String::from("ghadelimiter_codebuild_retry_gate");
        let mut n = 0;
        while value.contains(&delimiter) || name.contains(&delimiter) {
            n += 1;
            delimiter = format!("ghadelimiter_codebuild_retry_gate_{n}");
        }
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    append(path, &text)
}

/// Appends markdown to the `$GITHUB_STEP_SUMMARY` file.
pub fn write_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    append(path, markdown)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_keep_hyphens_and_empty_means_unset() {
        let env = |k: &str| match k {
            "INPUT_BATCH-ID" => Some("p:1".to_string()),
            "INPUT_POLICY" => Some("  ".to_string()),
            _ => None,
        };
        assert_eq!(input(&env, "batch-id").as_deref(), Some("p:1"));
        assert_eq!(input(&env, "policy"), None);
        assert_eq!(input(&env, "project"), None);
    }

    #[test]
    fn commands_escape_data_and_properties() {
        assert_eq!(
            command(
                "error",
                &[("file", "a,b:c.yml".into()), ("line", "3".into())],
                "50% bad\n::add-mask::x"
            ),
            "::error file=a%2Cb%3Ac.yml,line=3::50%25 bad%0A::add-mask::x"
        );
        assert_eq!(command("warning", &[], "r\rn"), "::warning::r%0Dn");
    }

    #[test]
    fn outputs_use_a_delimiter_that_is_not_in_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let evil = "x\nghadelimiter_codebuild_retry_gate\ndecision<<y".to_string();
        write_outputs(
            &path,
            &[("decision", "retry".into()), ("reason", evil.clone())],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("decision<<ghadelimiter_codebuild_retry_gate\nretry\nghadelimiter_codebuild_retry_gate\n"));
        assert!(text.contains(&format!("reason<<ghadelimiter_codebuild_retry_gate_1\n{evil}\nghadelimiter_codebuild_retry_gate_1\n")));
    }

    #[test]
    fn policy_diagnostics_become_error_annotations() {
        let d = crate::policy::Diagnostic {
            file: "a,b.yml".into(),
            pos: crate::policy::Pos { line: 3, column: 7 },
            code: "unknown-value",
            message: "unknown status `FAULTY`\n::add-mask::x".into(),
            help: Some("did you mean `FAULT`?".into()),
        };
        assert_eq!(
            annotation(&d),
            "::error file=a%2Cb.yml,line=3,col=7,title=codebuild-retry-gate policy::[unknown-value] unknown status `FAULTY`%0A::add-mask::x (help: did you mean `FAULT`?)"
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("dry-run", "true"), Ok(true));
        assert_eq!(parse_bool("dry-run", "False"), Ok(false));
        assert!(parse_bool("dry-run", "maybe").is_err());
    }
}
