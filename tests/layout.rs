//! Issue 19.7: one text sanitiser at the bottom of the house. `crate::text` cleans text
//! from outside for every module; the renderings sit on top, so no module below them (the
//! policy, the facts, the judgment, the AWS and GitHub sides, batch references, history,
//! replay) may reach up into `render` — only `render/` itself and the commands, which
//! print, do.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_below_the_renderings_uses_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let above = |p: &Path| {
        let rel = p.strip_prefix(&src).unwrap();
        rel.starts_with("render")
            || rel.starts_with("commands")
            || rel == Path::new("render.rs")
            || rel == Path::new("main.rs")
            || rel == Path::new("lib.rs")
    };
    let mut offenders = Vec::new();
    let mut checked = 0;
    for file in files.iter().filter(|p| !above(p)) {
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("crate::render") || code.contains("super::render") {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(offenders.is_empty(), "{offenders:#?}");
    // And the sanitiser itself uses nothing of the house.
    let text = std::fs::read_to_string(src.join("text.rs")).unwrap();
    let uses: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("crate::") && !l.contains("crate::text"))
        .collect();
    assert!(uses.is_empty(), "src/text.rs depends on: {uses:?}");
}
