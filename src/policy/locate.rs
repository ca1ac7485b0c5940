//! Where each key and value of a YAML document stands, so that errors found after
//! deserialisation (a bad glob, an unknown status, a duplicate name) can point at it.
//!
//! serde gives positions only for its own errors; this walks the parser's events once and
//! records a position for every path such as `rules[2].statuses[1]` or `budget.per-batch`.
//! Aliases are not expanded (the position of the alias itself is recorded).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScanError, Span};

/// A 1-based line and column; the default (0, 0) is "no place in the file".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// Whether this points into the file (an unreadable file has no position).
    pub fn is_known(self) -> bool {
        self.line > 0
    }
}

impl From<Span> for Pos {
    fn from(span: Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// Positions of the values and keys of one document, by path.
#[derive(Debug, Default)]
pub struct Locations {
    values: HashMap<String, Pos>,
    /// For each mapping (by path): its keys with their positions, in order.
    mappings: Vec<(String, Vec<(String, Pos)>)>,
}

/// How deep the walk goes; deeper documents are not policies, and serde refuses them too.
const MAX_DEPTH: usize = 64;

impl Locations {
    /// Walks the first document of `text`. A syntax error is returned with its position.
    pub fn of(text: &str) -> Result<Locations, (Pos, String)> {
        let mut walker = Walker {
            parser: Parser::new_from_str(text),
            found: Locations::default(),
            anchors: HashMap::new(),
            expanded: 0,
        };
        walker.document().map_err(|e| {
            let m = e.marker();
            (
                Pos {
                    line: m.line(),
                    column: m.col() + 1,
                },
                e.info().to_string(),
            )
        })?;
        Ok(walker.found)
    }

    /// The position of the value at `path` (`""` is the document itself).
    pub fn value(&self, path: &str) -> Pos {
        self.values
            .get(path)
            .copied()
            .unwrap_or(Pos { line: 1, column: 1 })
    }

    /// The position of the first key that repeats an earlier key of the same mapping.
    pub fn first_duplicate_key(&self) -> Option<Pos> {
        self.mappings
            .iter()
            .filter_map(|(_, keys)| {
                let mut seen = std::collections::HashSet::with_capacity(keys.len());
                keys.iter()
                    .find(|(k, _)| !seen.insert(k.as_str()))
                    .map(|(_, pos)| *pos)
            })
            .min_by_key(|p| (p.line, p.column))
    }

    /// Every mapping's path with its keys and their positions.
    pub fn mappings(&self) -> impl Iterator<Item = (&str, &[(String, Pos)])> {
        self.mappings
            .iter()
            .map(|(p, k)| (p.as_str(), k.as_slice()))
    }
}

struct Walker<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    found: Locations,
    /// Nodes of each anchor, counted with the aliases inside it expanded.
    anchors: HashMap<usize, u64>,
    /// Nodes of the document so far, aliases expanded as a YAML loader would.
    expanded: u64,
}

/// Nodes a policy may expand to (aliases included): bounds "billion laughs" documents
/// before any loader expands them. Real policies have a few hundred.
const MAX_EXPANDED_NODES: u64 = 200_000;

impl Walker<'_> {
    fn next(&mut self) -> Result<(Event<'_>, Span), ScanError> {
        match self.parser.next_event() {
            Some(result) => result,
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn document(&mut self) -> Result<(), ScanError> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
                Event::StreamEnd | Event::DocumentEnd => return Ok(()),
                _ => {
                    let kind = Kind::of(&event);
                    return self.node(kind, span, String::new(), 0).map(|_| ());
                }
            }
        }
    }

    /// Walks one node; returns its size with aliases expanded.
    fn node(
        &mut self,
        kind: Kind,
        span: Span,
        path: String,
        depth: usize,
    ) -> Result<u64, ScanError> {
        self.found.values.insert(path.clone(), span.into());
        if depth > MAX_DEPTH {
            return Err(ScanError::new_str(
                span.start,
                "nesting is too deep for a policy",
            ));
        }
        let size = match kind {
            Kind::Leaf => 1,
            Kind::Alias(id) => self.anchors.get(&id).copied().unwrap_or(1),
            Kind::Sequence(_) => {
                let mut size = 1;
                let mut index = 0;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd | Event::StreamEnd) {
                        break;
                    }
                    let kind = Kind::of(&event);
                    size += self.node(kind, span, format!("{path}[{index}]"), depth + 1)?;
                    index += 1;
                }
                size
            }
            Kind::Mapping(_) => {
                let mut size = 1;
                let slot = self.found.mappings.len();
                self.found.mappings.push((path.clone(), Vec::new()));
                loop {
                    let (event, key_span) = self.next()?;
                    let key = match event {
                        Event::MappingEnd | Event::StreamEnd => break,
                        Event::Scalar(ref text, ..) => text.to_string(),
                        _ => String::from("?"),
                    };
                    let key_kind = Kind::of(&event);
                    size += match key_kind {
                        // A complex key: walk it so the events stay balanced.
                        Kind::Sequence(_) | Kind::Mapping(_) => {
                            self.node(key_kind, key_span, format!("{path}.?"), depth + 1)?
                        }
                        _ => 1,
                    };
                    self.found.mappings[slot]
                        .1
                        .push((key.clone(), key_span.into()));
                    let (event, span) = self.next()?;
                    let kind = Kind::of(&event);
                    let child = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    size += self.node(kind, span, child, depth + 1)?;
                }
                size
            }
        };
        if let Kind::Alias(_) = kind {
            self.expanded = self.expanded.saturating_add(size);
        } else {
            self.expanded = self.expanded.saturating_add(1);
        }
        if self.expanded > MAX_EXPANDED_NODES || size > MAX_EXPANDED_NODES {
            return Err(ScanError::new_str(
                span.start,
                "the document expands to more than 200000 nodes (aliases included), the limit for a policy",
            ));
        }
        if let Some(anchor) = kind.anchor() {
            self.anchors.insert(anchor, size);
        }
        Ok(size)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Leaf,
    Alias(usize),
    /// A sequence, with its anchor id (0: none).
    Sequence(usize),
    /// A mapping, with its anchor id (0: none).
    Mapping(usize),
}

impl Kind {
    fn of(event: &Event<'_>) -> Kind {
        match event {
            Event::SequenceStart(anchor, _) => Kind::Sequence(*anchor),
            Event::MappingStart(anchor, _) => Kind::Mapping(*anchor),
            Event::Alias(id) => Kind::Alias(*id),
            _ => Kind::Leaf,
        }
    }

    fn anchor(self) -> Option<usize> {
        match self {
            Kind::Sequence(a) | Kind::Mapping(a) if a > 0 => Some(a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_nested_values_and_keys() {
        let text = "version: 1\nrules:\n  - name: a\n    statuses: [FAULT, FAILD]\n";
        let found = Locations::of(text).unwrap();
        assert_eq!(
            found.value("version"),
            Pos {
                line: 1,
                column: 10
            }
        );
        assert_eq!(
            found.value("rules[0].name"),
            Pos {
                line: 3,
                column: 11
            }
        );
        assert_eq!(
            found.value("rules[0].statuses[1]"),
            Pos {
                line: 4,
                column: 23
            }
        );
        let rule_keys: Vec<_> = found
            .mappings()
            .find(|(p, _)| *p == "rules[0]")
            .unwrap()
            .1
            .iter()
            .map(|(k, p)| (k.as_str(), p.line, p.column))
            .collect();
        assert_eq!(rule_keys, [("name", 3, 5), ("statuses", 4, 5)]);
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let (pos, _) = Locations::of("rules:\n  - name: [unclosed\n").unwrap_err();
        assert!(pos.line >= 2, "{pos:?}");
    }
}
