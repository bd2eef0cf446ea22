//! The fast path of cassette reading: VCR.py's `!!binary |` blocks (every downloaded
//! GLB, base64 in lines of 76) are lifted out of the text before the YAML event parser
//! runs, since it would otherwise scan them character by character, and put back into
//! the tree afterwards. Only the layout PyYAML and our writer produce is lifted
//! (`key: !!binary |`, then lines of base64 at one indentation); anything else, and
//! any doubt after parsing, leaves the whole text to the event parser, the ground truth.

use super::yaml::{Node, Scalar};

/// A lifted block: its scalar value, and the (1-based) line of its `key: !!binary |`.
pub struct Lifted {
    value: String,
    line: usize,
}

/// Stands in for a lifted block's content: one line of base64 characters, so the event
/// parser reads the same structure (a literal block scalar) wherever the block sits.
const MARKER: &str = "meshtoolkitliftedbinary";

/// The text with the content of every liftable block replaced by one marker line (its
/// other lines left empty, so line numbers stay), and the blocks' scalar values in
/// order. `None` when there is nothing to lift.
pub fn lift(text: &str) -> Option<(String, Vec<Lifted>)> {
    if !text.contains("!!binary |") || text.contains(MARKER) {
        return None;
    }
    let mut lifted = String::with_capacity(text.len() / 8);
    let mut blobs = Vec::new();
    let mut rest = text;
    // The 0-based index of the next line of `rest`.
    let mut line_number = 0;
    while let Some((line, after)) = next_line(rest) {
        lifted.push_str(line);
        rest = after;
        line_number += 1;
        if !is_header(line) {
            continue;
        }
        let Some(indent) = next_line(rest).map(|(first, _)| indent_of(first)) else {
            continue;
        };
        if indent <= indent_of(line) {
            continue;
        }
        let mut value = String::new();
        let mut count = 0;
        let mut cursor = rest;
        while let Some((content, after)) =
            next_line(cursor).and_then(|(l, after)| Some((base64_line(l, indent)?, after)))
        {
            value.push_str(content);
            value.push('\n');
            count += 1;
            cursor = after;
        }
        if count == 0 {
            continue;
        }
        lifted.push_str(&rest[..indent]);
        lifted.push_str(MARKER);
        lifted.push_str(&blobs.len().to_string());
        lifted.push('\n');
        for _ in 1..count {
            lifted.push('\n');
        }
        // The header is line `line_number` (1-based); the content starts after it.
        blobs.push(Lifted {
            value,
            line: line_number,
        });
        line_number += count;
        rest = cursor;
    }
    (!blobs.is_empty()).then_some((lifted, blobs))
}

/// The first line of `text` with its `\n` (the last one may lack it), and the rest.
fn next_line(text: &str) -> Option<(&str, &str)> {
    if text.is_empty() {
        return None;
    }
    let end = text.find('\n').map_or(text.len(), |i| i + 1);
    Some(text.split_at(end))
}

/// Puts the lifted values back; false if the tree does not hold each marker exactly
/// once, as the whole value of a `!!binary` block scalar, and nowhere else (then the
/// caller parses the original text instead).
pub fn restore(node: &mut Node, blobs: &mut [Lifted]) -> bool {
    let mut seen = vec![false; blobs.len()];
    let ok = visit(node, blobs, &mut seen);
    ok && seen.iter().all(|s| *s)
}

fn visit(node: &mut Node, blobs: &mut [Lifted], seen: &mut [bool]) -> bool {
    match node {
        Node::Scalar(scalar) => restore_scalar(scalar, blobs, seen),
        Node::Seq(items, _) => items.iter_mut().all(|n| visit(n, blobs, seen)),
        Node::Map(entries, _) => entries
            .iter_mut()
            .all(|(key, n)| !key.contains(MARKER) && visit(n, blobs, seen)),
    }
}

fn restore_scalar(scalar: &mut Scalar, blobs: &mut [Lifted], seen: &mut [bool]) -> bool {
    let Some(number) = scalar.value.strip_prefix(MARKER) else {
        return !scalar.value.contains(MARKER);
    };
    let Some(index) = number
        .strip_suffix('\n')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|i| *i < blobs.len())
    else {
        return false;
    };
    // The marker must be where it was put, as a `!!binary` block scalar: a look-alike
    // elsewhere (an escaped string, another document) is not it.
    let header = blobs[index].line;
    let placed = scalar.line == header || scalar.line == header + 1;
    if seen[index] || !placed || scalar.tag.as_deref() != Some("binary") || scalar.plain {
        return false;
    }
    seen[index] = true;
    scalar.value = std::mem::take(&mut blobs[index].value);
    true
}

/// `<indent><key>: !!binary |` with a simple key, as PyYAML writes it.
fn is_header(line: &str) -> bool {
    let Some(prefix) = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_suffix("!!binary |"))
    else {
        return false;
    };
    prefix
        .trim_start_matches(' ')
        .strip_suffix(": ")
        .is_some_and(|key| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// The base64 on a content line at exactly `indent` spaces, with nothing else on it.
fn base64_line(line: &str, indent: usize) -> Option<&str> {
    let bytes = line.as_bytes();
    let content = bytes.strip_suffix(b"\n")?.get(indent..)?;
    let ok = !content.is_empty()
        && bytes[..indent].iter().all(|b| *b == b' ')
        && content.iter().all(|b| BASE64[usize::from(*b)]);
    ok.then(|| &line[indent..line.len() - 1])
}

/// What `cassettes check` scans of a cassette's `text`: all but the content lines of
/// its YAML `!!binary |` blocks (the lines more indented than the block's key that hold
/// only base64); any other line ends the block and is scanned. Every line is checked
/// byte by byte, even in a file that parsed: text that only looks like a block (inside
/// a quoted string) parses too.
///
/// The [`lift`]ed text gives the same as the whole: each lifted block's content became
/// one base64-only marker line, indented as it was, and empty lines.
pub fn scanned(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("!!binary |") {
        return std::borrow::Cow::Borrowed(text);
    }
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let mut kept = String::with_capacity(text.len() / 4);
    // The indentation of the block whose content lines are being skipped.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        if let Some(key) = block {
            let content = line.trim();
            let base64 = || content.bytes().all(|b| BASE64[usize::from(b)]);
            if content.is_empty() || (indent(line) > key && base64()) {
                continue;
            }
            block = None;
        }
        kept.push_str(line);
        if line.trim_end().ends_with("!!binary |") {
            block = Some(indent(line));
        }
    }
    std::borrow::Cow::Owned(kept)
}

/// The characters of standard base64, padding included (the check's secret scan skips
/// lines made only of them).
const BASE64: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
        i += 1;
    }
    table
};

fn indent_of(line: &str) -> usize {
    line.bytes().take_while(|b| *b == b' ').count()
}

#[cfg(test)]
mod tests {
    use super::super::yaml::{binary_block, parse, parse_events};

    /// The fast path must give exactly the tree the event parser gives.
    fn same_tree(text: &str) {
        assert_eq!(parse(text), parse_events(text), "{text}");
    }

    #[test]
    fn lifted_blocks_read_back_as_the_event_parser_reads_them() {
        for size in [0usize, 1, 2, 3, 56, 57, 58, 76, 114, 1000, 20_000] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
            let text = format!(
                "interactions:\n- response:\n    body:\n      string: {}    status:\n      code: 200\n  request:\n    body:\n      string: {}- after: 1\nversion: 1\n",
                binary_block(&bytes, 8),
                binary_block(&bytes[..size / 2], 8),
            );
            let expected = usize::from(size > 0) + usize::from(size > 1);
            match super::lift(&text) {
                Some((lifted, mut blobs)) => {
                    assert_eq!(blobs.len(), expected, "{size}");
                    // The fast path itself is taken, not the fallback.
                    let mut node = parse_events(&lifted).unwrap();
                    assert!(super::restore(&mut node, &mut blobs), "{size}: restored");
                }
                None => assert_eq!(expected, 0, "{size}"),
            }
            same_tree(&text);
        }
    }

    #[test]
    fn unusual_layouts_go_to_the_event_parser_and_read_the_same() {
        let cases = [
            // Blank line inside the block, then more base64.
            "a:\n  string: !!binary |\n    Z2xU\n\n    Rg==\nb: 1\n",
            // Trailing blank lines, then the next key.
            "a:\n  string: !!binary |\n    Z2xURg==\n\n\nb: 1\n",
            // Trailing spaces on a content line.
            "a:\n  string: !!binary |\n    Z2xURg==  \nb: 1\n",
            // Chomping indicator, and a quoted key.
            "a:\n  string: !!binary |-\n    Z2xURg==\n  'k': !!binary |\n    Z2xURg==\n",
            // The header inside a multi-line quoted string.
            "a: \"x\n  string: !!binary |\n    Z2xURg==\n  \"\nb: 1\n",
            // A content line that is not base64, deeper than the key.
            "a:\n  string: !!binary |\n    Z2xURg==\n    not base64!\nb: 1\n",
            // The block at the very end, no final newline.
            "a:\n  string: !!binary |\n    Z2xURg==",
            // The marker itself in the text.
            "a: meshtoolkitliftedbinary0\nb:\n  string: !!binary |\n    Z2xURg==\n",
            // An escaped look-alike of the marker, the real block in a second document
            // (which the reader drops).
            "a: !!binary \"meshtoolkitlifted\\x62inary0\\n\"\n---\nb:\n  string: !!binary |\n    Z2xURg==\n",
            "a: !!binary \"meshtoolkitlifted\\\n  binary0\\n\"\n...\n---\nb:\n  string: !!binary |\n    Z2xURg==\n",
            // An empty block, then a liftable one.
            "a:\n  string: !!binary |\nb:\n  string: !!binary |\n    Z2xURg==\n",
            // A block in a sequence, and one indented no deeper than its key.
            "- string: !!binary |\n    Z2xURg==\n- string: !!binary |\n  Z2xURg==\n",
        ];
        for text in cases {
            same_tree(text);
        }
    }

    #[test]
    fn a_placeholder_the_parser_did_not_see_as_binary_means_the_slow_path() {
        // Looks liftable line by line, but the block is inside a flow mapping.
        let text = "a: {b: c,\n  string: !!binary |\n    Z2xURg==\n  }\n";
        assert_eq!(parse(text).is_ok(), parse_events(text).is_ok());
        if let Ok(tree) = parse_events(text) {
            assert_eq!(parse(text).unwrap(), tree);
        }
    }
}
