//! Facts that cost a read — a build's log, its test reports, GitHub's facts about a commit —
//! and are read only when [`crate::decide::needs()`] says they could change the outcome.
//!
//! Each is recorded as known, absent or unreadable (with why): a value the judgment sees and
//! names in its reason, never an error that ends the run, never a silent "no match".

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;

/// A gunzipped log larger than this is not read to its end.
pub const MAX_GUNZIPPED_LOG_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Builds whose logs are read for one decision, at most (CloudWatch Logs allows 10
/// `GetLogEvents` requests a second per account and region). The rest are not read, live or
/// offline, and the rules that need them do not match.
pub const MAX_LOG_BUILDS: usize = 10;

/// The logs one decision does not read: those of `wanted` (build id → bytes of the end)
/// after the first [`MAX_LOG_BUILDS`] in id order, each with why. The same cut live (the
/// log reader), in `explain` and in `simulate`, so all three judge alike.
pub fn logs_over_the_cap(wanted: &BTreeMap<String, usize>) -> BTreeMap<String, Fetched<LogTail>> {
    wanted
        .keys()
        .skip(MAX_LOG_BUILDS)
        .map(|id| {
            (
                id.clone(),
                Fetched::Unreadable(format!(
                    "it was left unread: at most {MAX_LOG_BUILDS} builds' logs are read for one decision (the first in build id order)"
                )),
            )
        })
        .collect()
}

/// A fact that costs a read, as the judgment sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    /// Read.
    Known(T),
    /// There is none: e.g. the build wrote no log anywhere. `why`, in plain words.
    Absent(String),
    /// It could not be read: access denied, expired, throttled, malformed. `why`, in plain
    /// words (already free of secrets; cleaned when shown).
    Unreadable(String),
}

impl<T> Fetched<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Fetched::Known(value) => Some(value),
            _ => None,
        }
    }
}

/// The end of a build's log: its lines, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogTail {
    /// Where it was read, for the reason (e.g. `CloudWatch Logs group/stream`, `s3://…`, a file).
    pub source: String,
    /// Lines of the tail, oldest first: each event's message split into lines, its trailing
    /// newline dropped, invalid UTF-8 replaced, ANSI escape sequences removed.
    pub lines: Vec<String>,
    /// Whether the lines reach back to the log's start (the whole log was read).
    pub whole: bool,
    /// How many bytes of the log's end the lines cover (at least what was asked for unless
    /// `whole`).
    pub bytes: usize,
}

/// How many raw bytes of a log's end to read for a tail of `tail` bytes as judged: the
/// tail is measured in cleaned text (ANSI colour codes and carriage returns removed, as
/// CloudWatch's lines are counted), so raw text is read twice over and 64 KiB more. A raw
/// read that still cleans to less than the tail leaves the rule "could not judge".
pub fn raw_window(tail: usize) -> usize {
    tail.saturating_mul(2).saturating_add(64 * 1024)
}

impl LogTail {
    /// A tail from raw log text (e.g. a captured file or an S3 object), keeping at most its last
    /// `max_bytes` raw bytes; `whole` when the text is the complete log and fits. What it
    /// covers ([`LogTail::bytes`]) is counted in cleaned text, the unit [`LogTail::within`]
    /// judges by.
    pub fn from_text(source: &str, text: &[u8], max_bytes: usize, whole: bool) -> LogTail {
        let start = text.len().saturating_sub(max_bytes);
        let cut = &text[start..];
        let mut lines = split_lines(cut);
        // Cleaned, each line with its newline (the cut first line too: its bytes are the
        // log's, though the line is not judged).
        let bytes = lines.iter().map(|l| l.len() + 1).sum();
        // The first line may have been cut: keep only whole lines, unless it is the only one.
        if start > 0 && lines.len() > 1 && text[start - 1] != b'\n' {
            lines.remove(0);
        }
        LogTail {
            source: source.to_string(),
            lines,
            whole: whole && start == 0,
            bytes,
        }
    }

    /// The lines within the last `bytes` bytes (each counted with its newline); a last line
    /// longer than that alone is cut to its end. `None` when this tail covers less than asked
    /// and is not the whole log (the rest of the tail is unknown).
    pub fn within(&self, bytes: usize) -> Option<std::borrow::Cow<'_, [String]>> {
        if !self.whole && self.bytes < bytes {
            return None;
        }
        let mut used = 0usize;
        let mut first = self.lines.len();
        for line in self.lines.iter().rev() {
            let size = line.len() + 1;
            if used + size > bytes {
                break;
            }
            used += size;
            first -= 1;
        }
        if first == self.lines.len()
            && let Some(last) = self.lines.last()
        {
            // One line larger than the whole tail: its end only.
            let mut at = last.len().saturating_sub(bytes);
            while !last.is_char_boundary(at) {
                at += 1;
            }
            return Some(std::borrow::Cow::Owned(vec![last[at..].to_string()]));
        }
        Some(std::borrow::Cow::Borrowed(&self.lines[first..]))
    }
}

/// Splits log text into lines: `\n` (and a `\r` before it) ends a line, a final newline makes
/// no empty line, invalid UTF-8 is replaced and ANSI escape sequences are removed (so patterns
/// see the text a person sees).
pub fn split_lines(text: &[u8]) -> Vec<String> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            strip_ansi(&String::from_utf8_lossy(line))
        })
        .collect()
}

/// Removes ANSI escape sequences: CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC \`) and
/// two-character escapes. Other control characters are left for the sanitiser.
pub fn strip_ansi(line: &str) -> String {
    if !line.contains('\u{1b}') && !line.contains('\u{9b}') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let csi = match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    true
                }
                Some(']') => {
                    chars.next();
                    // OSC: up to BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                    continue;
                }
                Some(_) => {
                    chars.next();
                    continue;
                }
                None => continue,
            },
            '\u{9b}' => true,
            c => {
                out.push(c);
                continue;
            }
        };
        if csi {
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The last `bytes` (and one more, to tell whether the first line is whole) of the gunzipped
/// `gzip` (an S3 log object, or one captured to a file), and whether that is all of it. Gzip
/// members are read one after another.
pub fn gunzip_tail(gzip: impl Read, bytes: usize) -> Result<(Vec<u8>, bool), String> {
    let keep = bytes.saturating_add(1);
    let mut decoder = flate2::read::MultiGzDecoder::new(gzip);
    let mut ring: VecDeque<u8> = VecDeque::with_capacity(keep.min(1 << 24));
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| format!("not a gzip log: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_GUNZIPPED_LOG_BYTES {
            return Err(format!(
                "the log is more than {} GiB gunzipped; it was not read to its end",
                MAX_GUNZIPPED_LOG_BYTES >> 30
            ));
        }
        ring.extend(&chunk[..n]);
        if ring.len() > keep {
            let extra = ring.len() - keep;
            ring.drain(..extra);
        }
    }
    let whole = total as usize == ring.len();
    Ok((ring.into_iter().collect(), whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_cleaned_of_ansi_and_lossy() {
        let lines = split_lines(b"a\r\n\x1b[31mred\x1b[0m \xff\n\x1b]0;title\x07b\n");
        assert_eq!(lines, vec!["a", "red \u{fffd}", "b"]);
        assert!(split_lines(b"").is_empty());
        assert_eq!(split_lines(b"\n\n"), vec!["", ""]);
    }

    #[test]
    fn the_tail_keeps_whole_lines_within_its_bytes() {
        let tail = LogTail::from_text("f", b"first line\nsecond\nthird\n", 1024, true);
        assert!(tail.whole);
        assert_eq!(tail.within(13).unwrap().as_ref(), ["second", "third"]);
        assert_eq!(tail.within(12).unwrap().as_ref(), ["third"]);
        assert_eq!(tail.within(3).unwrap().as_ref(), ["ird"]);
        // Cut from a larger text: the partial first line is dropped.
        let cut = LogTail::from_text("f", b"first line\nsecond\nthird\n", 14, true);
        assert!(!cut.whole);
        assert_eq!(cut.lines, vec!["second", "third"]);
        assert!(cut.within(15).is_none());
        assert!(cut.within(14).is_some());
    }

    #[test]
    fn a_raw_tail_covers_what_it_holds_once_cleaned() {
        // 100 coloured lines: each 5 visible characters and 9 bytes of escape codes.
        let line = "\x1b[31mERROR\x1b[0m\n";
        let text = format!("AssertionError: boom\n{}", line.repeat(100));
        // The last 1,500 raw bytes are 100 lines of 15 bytes, 600 bytes once cleaned: a
        // 1,000-byte tail is not covered (the line before them is unknown).
        let short = LogTail::from_text("f", text.as_bytes(), 1_500, true);
        assert_eq!(short.bytes, 600);
        assert!(short.within(1_000).is_none());
        // Read over the raw window, the whole text is there: the assertion line is seen.
        let read = LogTail::from_text("f", text.as_bytes(), super::raw_window(1_000), true);
        assert!(read.whole);
        assert!(
            read.within(1_000)
                .unwrap()
                .iter()
                .any(|l| l.starts_with("AssertionError"))
        );
    }

    #[test]
    fn a_gzip_tail_keeps_the_last_bytes() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"one\ntwo\nthree\n").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            gunzip_tail(gz.as_slice(), 100).unwrap(),
            (b"one\ntwo\nthree\n".to_vec(), true)
        );
        assert_eq!(
            gunzip_tail(gz.as_slice(), 6).unwrap(),
            (b"\nthree\n".to_vec(), false)
        );
        assert!(gunzip_tail(&b"plain text"[..], 10).is_err());
    }
}
