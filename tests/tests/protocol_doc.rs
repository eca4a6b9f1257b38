//! docs/PROTOCOL.md is checked against the bytes: its "Examples" section
//! shows every frame fixture of `tests/fixtures/protocol-5-store-4/frames/`
//! and the file frames (kinds 15 to 19) of
//! `tests/fixtures/protocol-6-store-8/frames/` byte by byte, and each example
//! must be exactly that fixture's bytes.
//!
//! An example is introduced by `<!-- frame: NAME -->` and is the next
//! fenced block. On each line, the bytes come first, as two hex digits each
//! separated by single spaces, then two spaces and a comment; a line
//! `.. N bytes …` stands for N bytes not shown (an Automerge change, whose
//! layout is Automerge's). The header (length, kind, flags) is the frame's as
//! sent; the payload is shown as its fields are read, that is decompressed
//! when the frame's flags say it is compressed (`payload_of`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use sync_core::sync::wire::{FRAME_HEADER_BYTES, payload_of};

/// Where the examples come from: a folder of frame fixtures, and the first
/// kind taken from it (kinds 1 to 14 from protocol 5, the file frames that
/// protocol 6 added from its folder).
const FRAMES: [(&str, u8); 2] = [
    ("fixtures/protocol-5-store-4/frames", 1),
    ("fixtures/protocol-6-store-8/frames", 15),
];
/// A frame's kind byte follows its 4-byte length.
const FRAME_KIND_AT: usize = 4;
const MARKER: &str = "<!-- frame: ";

/// One byte of an example: its value, or a byte the example does not show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Byte(u8),
    Elided,
}

fn read_doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    std::fs::read_to_string(path).expect("docs/PROTOCOL.md")
}

/// Every example of the document by frame name.
fn examples(doc: &str) -> BTreeMap<String, Vec<Shown>> {
    let mut out = BTreeMap::new();
    let mut rest = doc;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let end = rest.find(" -->").expect("a marker ends with -->");
        let name = rest[..end].trim().to_owned();
        let open = rest.find("```").expect("a fenced block after the marker");
        let body_start = open + rest[open..].find('\n').expect("fence line") + 1;
        let close = body_start + rest[body_start..].find("```").expect("the block ends");
        let bytes = parse_example(&name, &rest[body_start..close]);
        assert!(
            out.insert(name.clone(), bytes).is_none(),
            "two examples of {name}"
        );
        rest = &rest[close..];
    }
    out
}

fn parse_example(name: &str, block: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    for line in block.lines() {
        if let Some(elided) = line.strip_prefix(".. ") {
            let n: usize = elided
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{name}: `.. N bytes` expected in {line:?}"));
            out.extend(std::iter::repeat_n(Shown::Elided, n));
            continue;
        }
        let bytes = line.split("  ").next().unwrap_or("");
        for token in bytes.split(' ').filter(|t| !t.is_empty()) {
            let byte = (token.len() == 2)
                .then(|| u8::from_str_radix(token, 16).ok())
                .flatten()
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: {token:?} is not a byte in {line:?} (bytes, two spaces, comment)"
                    )
                });
            out.push(Shown::Byte(byte));
        }
    }
    out
}

/// The frame as the examples show it: header as sent, payload as read.
fn as_shown(bytes: &[u8]) -> Vec<u8> {
    let (_, payload) = payload_of(bytes).expect("a fixture decodes");
    let mut out = bytes[..FRAME_HEADER_BYTES].to_vec();
    out.extend_from_slice(&payload);
    out
}

/// Sixteen bytes a line, for a failure message.
fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_protocol_document_shows_every_frame_fixture_byte_for_byte() {
    let examples = examples(&read_doc());
    let mut fixtures = BTreeMap::new();
    for (folder, first_kind) in FRAMES {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
        for entry in std::fs::read_dir(&dir).expect("the frame fixtures") {
            let path = entry.expect("an entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a name")
                .to_owned();
            let bytes = std::fs::read(&path).expect("read");
            if bytes[FRAME_KIND_AT] >= first_kind {
                fixtures.insert(name, bytes);
            }
        }
    }
    assert_eq!(
        examples.keys().collect::<Vec<_>>(),
        fixtures.keys().collect::<Vec<_>>(),
        "docs/PROTOCOL.md has one example per frame fixture"
    );
    for (name, bytes) in &fixtures {
        let shown = as_shown(bytes);
        let example = &examples[name];
        let matches = example.len() == shown.len()
            && example.iter().zip(&shown).all(|(e, b)| match e {
                Shown::Byte(x) => x == b,
                Shown::Elided => true,
            });
        assert!(
            matches,
            "docs/PROTOCOL.md's example of {name} is not the fixture's bytes \
             ({} shown, {} in the frame); the frame as the example shows it:\n{}",
            example.len(),
            shown.len(),
            hex_lines(&shown)
        );
        // What is left out is never the frame's own layout: only whole
        // runs inside a `bytes` field.
        let elided = example.iter().filter(|e| **e == Shown::Elided).count();
        assert!(
            elided == 0 || name.starts_with("05-changes"),
            "{name}: only the changes of a `Changes` frame may be left out"
        );
    }
}

#[test]
fn the_example_reader_takes_bytes_up_to_the_comment_and_counts_what_is_left_out() {
    let example = parse_example(
        "t",
        "00 00 00 03  length\n08  kind\n00  flags\nff  one byte",
    );
    assert_eq!(
        example,
        [0, 0, 0, 3, 8, 0, 0xff].map(Shown::Byte),
        "the parser reads bytes up to the comment"
    );
    let elided = parse_example("t", "01 02  two\n.. 3 bytes of a change");
    assert_eq!(elided.len(), 5);
    assert_eq!(elided[2..], [Shown::Elided; 3]);
}
