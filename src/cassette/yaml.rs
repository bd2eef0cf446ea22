//! The YAML layer of cassettes: a reader that builds a small tree from
//! `saphyr-parser` events, keeping each scalar's tag and style (so VCR.py's `!!binary`
//! survives), and the writing helpers that produce PyYAML-compatible block YAML.
//!
//! Only what cassettes use is supported: block and flow mappings and sequences of
//! scalars; anchors and aliases are refused.

use base64::Engine as _;
use saphyr_parser::{Event, Parser, ScalarStyle};

/// A parsed YAML node with the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>, usize),
    Map(Vec<(String, Node)>, usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub value: String,
    /// Plain (unquoted) scalars are the ones YAML resolves to null, numbers or booleans.
    pub plain: bool,
    /// The tag's suffix for core-schema tags (`binary` for `!!binary`), else the whole tag.
    pub tag: Option<String>,
    pub line: usize,
}

impl Node {
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar(s) => s.line,
            Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// True for `null`, `~`, an empty plain scalar, or `!!null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if (s.plain && matches!(s.value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
            || s.tag.as_deref() == Some("null"))
    }
}

/// Where and why parsing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The deepest nesting read. Cassettes nest 6 levels; a deeper tree from a damaged
/// or hostile file would overflow the stack when it is dropped.
const MAX_DEPTH: usize = 64;

/// Parses one YAML document. `!!binary |` blocks in the usual layout are lifted out
/// first ([`super::binary_blocks`]), which makes reading a cassette of GLBs many times
/// faster; the tree is the one [`parse_events`] gives, which reads anything unusual.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    parse_lifting(text).0
}

/// [`parse`], also giving the text with its blocks lifted out, when there were any
/// (whether or not the lifted text parsed).
pub fn parse_lifting(text: &str) -> (Result<Node, YamlError>, Option<String>) {
    let Some((lifted, mut blobs)) = super::binary_blocks::lift(text) else {
        return (parse_events(text), None);
    };
    if let Ok(mut node) = parse_events(&lifted)
        && super::binary_blocks::restore(&mut node, &mut blobs)
    {
        return (Ok(node), Some(lifted));
    }
    (parse_events(text), Some(lifted))
}

/// Parses one YAML document from `saphyr-parser`'s events: the ground truth.
pub fn parse_events(text: &str) -> Result<Node, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let line = span.start.line();
        let node = match event {
            Event::Scalar(value, style, _, tag) => Node::Scalar(Scalar {
                value: value.into_owned(),
                plain: style == ScalarStyle::Plain,
                tag: tag.map(|t| {
                    if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" {
                        t.suffix.clone()
                    } else {
                        format!("{}{}", t.handle, t.suffix)
                    }
                }),
                line,
            }),
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(YamlError {
                    line,
                    column: span.start.col() + 1,
                    message: format!(
                        "lists and mappings nested more than {MAX_DEPTH} deep; a cassette nests 6 (is this a cassette?)"
                    ),
                });
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new(), line));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), None, line));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, line)) => Node::Seq(items, line),
                Some(Frame::Map(entries, _, line)) => Node::Map(entries, line),
                None => continue,
            },
            Event::Alias(_) => {
                return Err(YamlError {
                    line,
                    column: span.start.col() + 1,
                    message: "aliases are not supported in cassettes".into(),
                });
            }
            _ => continue,
        };
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(node);
                }
            }
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, key, _)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => match node {
                    Node::Scalar(s) => *key = Some(s.value),
                    other => {
                        return Err(YamlError {
                            line: other.line(),
                            column: 1,
                            message: "mapping keys must be scalars".into(),
                        });
                    }
                },
            },
        }
    }
    root.ok_or(YamlError {
        line: 1,
        column: 1,
        message: "the file holds no YAML document".into(),
    })
}

enum Frame {
    Seq(Vec<Node>, usize),
    /// Entries so far, and the key waiting for its value.
    Map(Vec<(String, Node)>, Option<String>, usize),
}

/// A scalar as YAML text: plain when that reads back as the same string in both YAML
/// 1.1 (PyYAML) and 1.2, otherwise double-quoted with escapes.
pub fn quote(value: &str) -> String {
    if is_safe_plain(value) {
        value.to_owned()
    } else {
        double_quoted(value)
    }
}

fn is_safe_plain(value: &str) -> bool {
    const SPECIAL: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf",
    ];
    let Some(first) = value.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./;,=+-()*@%&?".contains(c))
        && !value.ends_with(' ')
        && !value.contains(" #")
        && !SPECIAL.contains(&value.to_ascii_lowercase().as_str())
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Printable in both YAML versions, as PyYAML's reader defines it.
            ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..
                if !is_line_break(c) && c != '\u{FEFF}' =>
            {
                out.push(c)
            }
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `!!binary |` followed by base64 lines of 76 characters, indented by `indent`.
pub fn binary_block(bytes: &[u8], indent: usize) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let pad = " ".repeat(indent);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * (indent + 1) + 16);
    out.push_str("!!binary |\n");
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(&pad);
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Decodes a `!!binary` scalar (white space inside the base64 is ignored).
pub fn decode_binary(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let engine = &base64::engine::general_purpose::STANDARD;
    // The usual layout, lines of base64: joined a line at a time. Any other white
    // space fails to decode and takes the general way below.
    let mut compact = Vec::with_capacity(text.len());
    for line in text.split('\n') {
        compact.extend_from_slice(line.as_bytes());
    }
    if let Ok(bytes) = engine.decode(&compact) {
        return Ok(bytes);
    }
    if !text.is_ascii() {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        return engine.decode(compact);
    }
    // ASCII white space is what char::is_whitespace finds.
    compact.clear();
    compact.extend(
        text.bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != 0x0b),
    );
    engine.decode(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines joined fast or white space filtered the general way: the same bytes.
    #[test]
    fn binary_scalars_decode_whatever_white_space_they_hold() {
        let expected = b"glTF and some bytes \x00\xff of a model".to_vec();
        let plain = base64::engine::general_purpose::STANDARD.encode(&expected);
        let (head, tail) = plain.split_at(12);
        for text in [
            format!("{head}\n{tail}\n"),
            format!("{head}\r\n{tail}\r\n"),
            format!("  {head} \t\n {tail}\u{b}"),
            format!("{head}\u{a0}{tail}"),
        ] {
            assert_eq!(decode_binary(&text).as_ref(), Ok(&expected), "{text:?}");
        }
        assert!(decode_binary(&format!("{head}\n!{tail}")).is_err());
    }

    /// Found by the fuzz tests: 100 000 nested block lists (`- - - …`) overflowed the
    /// stack (an abort, not even a panic) instead of being refused.
    #[test]
    fn deep_nesting_is_refused_with_the_place() {
        let err = parse(&"- ".repeat(100_000)).unwrap_err();
        assert_eq!((err.line, err.column), (1, 129), "{err:?}");
        assert!(
            err.message
                .starts_with("lists and mappings nested more than 64 deep"),
            "{err:?}"
        );
        assert!(parse(&"[".repeat(200_000)).is_err());
        let ok = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn keeps_the_binary_tag_and_the_scalar_styles() {
        let node = parse(
            "body:\n  string: !!binary |\n    Z2xURg==\nnothing: null\ncode: 200\nq: 'null'\n",
        )
        .unwrap();
        let Node::Scalar(binary) = node.get("body").unwrap().get("string").unwrap() else {
            panic!()
        };
        assert_eq!(binary.tag.as_deref(), Some("binary"));
        assert_eq!(decode_binary(&binary.value).unwrap(), b"glTF");
        assert!(node.get("nothing").unwrap().is_null());
        assert!(
            !node.get("q").unwrap().is_null(),
            "a quoted 'null' is a string"
        );
        let Node::Scalar(code) = node.get("code").unwrap() else {
            panic!()
        };
        assert_eq!(
            (code.value.as_str(), code.plain, code.line),
            ("200", true, 5)
        );
    }

    #[test]
    fn folded_single_quoted_lines_read_back_joined() {
        let node =
            parse("string: '{\"id\": \"x\", \"status\": \"IN_PROGRESS\",\n  \"progress\": 33}'\n")
                .unwrap();
        let Node::Scalar(s) = node.get("string").unwrap() else {
            panic!()
        };
        assert_eq!(
            s.value,
            r#"{"id": "x", "status": "IN_PROGRESS", "progress": 33}"#
        );
    }

    #[test]
    fn quoting_round_trips_awkward_strings() {
        let awkward = [
            "",
            "yes",
            "No",
            "null",
            "~",
            "200",
            "1.5",
            "-x",
            "a: b",
            "a #b",
            "trailing ",
            "'q'",
            "\"dq\"",
            "{\"json\": [1, 2]}",
            "tab\there",
            "line\nbreak",
            "bell\u{7}",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{FEFF}",
            "ünïcödé ✓ 🦦",
            "back\\slash",
            "* star",
            "!tag",
            "&anchor",
            "%percent",
            "@at",
            "`tick`",
            "? q",
            "key:",
        ];
        for value in awkward {
            let doc = format!("k: {}\n", quote(value));
            let node = parse(&doc).unwrap_or_else(|e| panic!("{value:?} -> {doc:?}: {e:?}"));
            let Node::Scalar(s) = node.get("k").unwrap() else {
                panic!()
            };
            assert_eq!(s.value, value, "{doc:?}");
            assert!(!node.get("k").unwrap().is_null() || value.is_empty() && !s.plain);
        }
        assert_eq!(
            quote("application/json; charset=utf-8"),
            "application/json; charset=utf-8"
        );
        assert_eq!(quote("v2025.11.18"), "v2025.11.18");
    }

    #[test]
    fn binary_blocks_wrap_at_76_columns() {
        let bytes: Vec<u8> = (0..=255).collect();
        let block = binary_block(&bytes, 8);
        assert!(
            block
                .lines()
                .skip(1)
                .all(|l| l.len() <= 84 && l.starts_with("        "))
        );
        let node = parse(&format!("b: {block}")).unwrap();
        let Node::Scalar(s) = node.get("b").unwrap() else {
            panic!()
        };
        assert_eq!(decode_binary(&s.value).unwrap(), bytes);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        let err = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert_eq!(err.message, "aliases are not supported in cassettes");
    }
}
