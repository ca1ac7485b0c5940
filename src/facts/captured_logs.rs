//! Build logs captured to files, for offline `explain --logs DIR` (and `explain DIR` with a
//! `logs/` directory): one file per build, named by its id `PROJECT:UUID` or its UUID,
//! `.log` for plain text, `.json` for `aws logs get-log-events` output, or `.gz` for the S3
//! log object as `aws s3 cp` saves it (`UUID.gz`). A capture is taken as the whole log; only
//! the end each rule needs is judged.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use super::expensive::{gunzip_tail, raw_window};
use super::{Fetched, LogTail};

/// A `.json` capture larger than this is not read (a `.log` file is read from its end).
pub const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;
/// The kinds of capture, in the order they are looked for.
const EXTENSIONS: [&str; 3] = ["log", "json", "gz"];

/// The logs of `wanted` (build id → bytes of the end) from `dir`. Every build gets a fact:
/// known, absent (no file for it) or unreadable (why).
pub fn read_dir(
    dir: &Path,
    wanted: &BTreeMap<String, usize>,
) -> BTreeMap<String, Fetched<LogTail>> {
    wanted
        .iter()
        .map(|(id, bytes)| (id.clone(), read_one(dir, id, *bytes)))
        .collect()
}

fn read_one(dir: &Path, id: &str, bytes: usize) -> Fetched<LogTail> {
    let uuid = id.rsplit_once(':').map_or(id, |(_, u)| u);
    let mut names: Vec<String> = EXTENSIONS.iter().map(|e| format!("{id}.{e}")).collect();
    if uuid != id {
        names.extend(EXTENSIONS.iter().map(|e| format!("{uuid}.{e}")));
    }
    let found: Vec<std::path::PathBuf> = names
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    let path = match found.as_slice() {
        [] => {
            return Fetched::Absent(format!(
                "no captured log for it in {} (looked for {})",
                dir.display(),
                names.join(", ")
            ));
        }
        [path] => path,
        several => {
            // Which one is the log? Guessing could judge the wrong one: keep one capture.
            let shown: Vec<String> = several.iter().map(|p| p.display().to_string()).collect();
            return Fetched::Unreadable(format!(
                "{} captures of its log ({}): keep one",
                several.len(),
                shown.join(", ")
            ));
        }
    };
    let shown = path.display().to_string();
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => read_json(path, bytes),
        Some("gz") => read_gzip(path, bytes),
        _ => read_text(path, bytes),
    };
    match result {
        Ok(tail) => Fetched::Known(tail),
        Err(why) => Fetched::Unreadable(format!("{shown}: {why}")),
    }
}

/// The last `bytes` of a text file (and the byte before them, to know whether the first line
/// is whole), without reading the rest.
fn read_text(path: &Path, bytes: usize) -> Result<LogTail, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let raw = raw_window(bytes);
    let want = (raw as u64).saturating_add(1).min(len);
    file.seek(SeekFrom::Start(len - want))
        .map_err(|e| e.to_string())?;
    let mut text = Vec::with_capacity(want as usize);
    file.take(want)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    // Whole when the file fits; the extra byte before the tail tells whether its first line
    // was cut.
    Ok(LogTail::from_text(
        &path.display().to_string(),
        &text,
        raw,
        want == len,
    ))
}

/// The end of a gzip capture, gunzipped as it is read (only the tail is kept).
fn read_gzip(path: &Path, bytes: usize) -> Result<LogTail, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let raw = raw_window(bytes);
    let (text, whole) = gunzip_tail(std::io::BufReader::new(file), raw)?;
    Ok(LogTail::from_text(
        &path.display().to_string(),
        &text,
        raw,
        whole,
    ))
}

#[derive(Deserialize)]
struct Capture {
    events: Vec<Event>,
    /// Only in `aws logs filter-log-events` output.
    #[serde(rename = "searchedLogStreams")]
    searched_log_streams: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Event {
    message: Option<String>,
    /// Only in `aws logs filter-log-events` output.
    #[serde(rename = "eventId")]
    event_id: Option<String>,
}

/// `aws logs get-log-events` output: its events' messages, in order.
fn read_json(path: &Path, bytes: usize) -> Result<LogTail, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_JSON_BYTES {
        return Err(format!(
            "larger than 64 MiB ({len} bytes); capture the end of the log only"
        ));
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let capture: Capture = serde_json::from_slice(&text)
        .map_err(|e| format!("not `aws logs get-log-events` output: {e}"))?;
    if capture.searched_log_streams.is_some() || capture.events.iter().any(|e| e.event_id.is_some())
    {
        return Err("`aws logs filter-log-events` output holds only the lines its filter matched, not the log; capture it with `aws logs get-log-events` or as text".into());
    }
    let mut joined = Vec::new();
    for message in capture.events.iter().filter_map(|e| e.message.as_deref()) {
        joined.extend_from_slice(message.as_bytes());
        if !message.ends_with('\n') {
            joined.push(b'\n');
        }
    }
    Ok(LogTail::from_text(
        &path.display().to_string(),
        &joined,
        raw_window(bytes),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_found_by_id_or_uuid_as_text_or_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web:aaa.log"), "one\ntwo\n").unwrap();
        std::fs::write(
            dir.path().join("bbb.json"),
            r#"{"events": [{"timestamp": 1, "message": "first\n"}, {"timestamp": 2, "message": "second"}], "nextForwardToken": "f/1"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("web:ccc.json"), "not json").unwrap();
        let wanted: BTreeMap<String, usize> = ["web:aaa", "web:bbb", "web:ccc", "web:ddd"]
            .iter()
            .map(|id| (id.to_string(), 1024))
            .collect();
        let got = read_dir(dir.path(), &wanted);
        let a = got["web:aaa"].known().unwrap();
        assert_eq!(a.lines, ["one", "two"]);
        assert!(a.whole);
        assert_eq!(got["web:bbb"].known().unwrap().lines, ["first", "second"]);
        assert!(
            matches!(&got["web:ccc"], Fetched::Unreadable(why) if why.contains("get-log-events"))
        );
        assert!(matches!(&got["web:ddd"], Fetched::Absent(why) if why.contains("ddd.log")));
    }

    #[test]
    fn an_s3_log_saved_as_gzip_is_read_and_a_broken_one_is_unreadable() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"npm ci\nnpm ERR! 429 Too Many Requests\n")
            .unwrap();
        std::fs::write(dir.path().join("aaa.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("web:bbb.gz"), "plain text, not gzip").unwrap();
        let wanted: BTreeMap<String, usize> =
            [("web:aaa", 1024), ("web:bbb", 1024), ("web:ccc", 1024)]
                .iter()
                .map(|(id, n)| (id.to_string(), *n))
                .collect();
        let got = read_dir(dir.path(), &wanted);
        let a = got["web:aaa"].known().unwrap();
        assert_eq!(a.lines, ["npm ci", "npm ERR! 429 Too Many Requests"]);
        assert!(a.whole);
        assert!(
            matches!(&got["web:bbb"], Fetched::Unreadable(why) if why.contains("web:bbb.gz") && why.contains("not a gzip log")),
            "{:?}",
            got["web:bbb"]
        );
        assert!(matches!(&got["web:ccc"], Fetched::Absent(why) if why.contains("ccc.gz")));
    }

    #[test]
    fn two_captures_of_one_log_or_a_filtered_one_are_unreadable_never_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web:aaa.log"), "429 Too Many Requests\n").unwrap();
        std::fs::write(
            dir.path().join("aaa.json"),
            r#"{"events": [{"timestamp": 1, "message": "AssertionError"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("bbb.json"),
            r#"{"events": [{"logStreamName": "s", "timestamp": 1, "message": "429", "eventId": "1"}], "searchedLogStreams": []}"#,
        )
        .unwrap();
        let wanted: BTreeMap<String, usize> = ["web:aaa", "web:bbb"]
            .iter()
            .map(|id| (id.to_string(), 1024))
            .collect();
        let got = read_dir(dir.path(), &wanted);
        assert!(
            matches!(&got["web:aaa"], Fetched::Unreadable(why) if why.starts_with("2 captures of its log") && why.contains("web:aaa.log") && why.contains("aaa.json")),
            "{:?}",
            got["web:aaa"]
        );
        assert!(
            matches!(&got["web:bbb"], Fetched::Unreadable(why) if why.contains("filter-log-events")),
            "{:?}",
            got["web:bbb"]
        );
    }

    #[test]
    fn a_long_text_log_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\nlast line\n", "x".repeat(200_000));
        std::fs::write(dir.path().join("web:aaa.log"), text).unwrap();
        let wanted = BTreeMap::from([("web:aaa".to_string(), 16)]);
        let got = read_dir(dir.path(), &wanted);
        let tail = got["web:aaa"].known().unwrap();
        // The raw window (2 × 16 bytes + 64 KiB) ends inside the long line: dropped.
        assert_eq!(tail.lines, ["last line"]);
        assert!(!tail.whole);
        assert_eq!(tail.bytes, crate::facts::expensive::raw_window(16));
        assert_eq!(tail.within(16).unwrap().as_ref(), ["last line"]);
        assert!(
            tail.within(crate::facts::expensive::raw_window(16) + 1)
                .is_none()
        );
    }
}
