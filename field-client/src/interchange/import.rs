//! Reading activities from CSV (ours, or a spreadsheet saved as CSV by Excel)
//! and JSON (ours). Every row is checked; a bad row is reported by its line and
//! field. Nothing here writes: the caller decides what to import.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use sync_core::activity::fold_diacritics;
use sync_core::limits::MAX_IMPORT_ROWS;
use sync_core::{ActivityId, ActivityInput, ActivityPatch, Group, JournalId};
use uuid::Uuid;

use super::formula;
use crate::web::i18n::{self, Lang};

/// Largest file `import` reads: far beyond ten years of a centre's activities
/// (about 1 KB each), small enough to hold in memory on any laptop.
pub const MAX_IMPORT_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Namespace for ids derived from a row's content when the row has no id, so
/// that importing the same file twice yields the same ids (and adds nothing).
const ROW_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6b72_635f_696d_706f_7274_5f6b_6579_0001);

/// Why a whole file cannot be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is {size} bytes; the limit is {MAX_IMPORT_FILE_BYTES} bytes")]
    TooLarge { path: String, size: u64 },
    #[error("the file has more than {MAX_IMPORT_ROWS} rows; split it into smaller files")]
    TooManyRows,
    #[error("the file has no header row")]
    NoHeader,
    #[error("the header row lacks the column(s): {0}")]
    MissingColumns(String),
    #[error("the CSV cannot be read: {0}")]
    Csv(#[from] csv::Error),
    #[error("the JSON cannot be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the JSON must be an array of activities, as `export --format json` writes")]
    NotAnArray,
}

impl ImportFileError {
    /// The error in `lang`; the reader's own details (an I/O or CSV error)
    /// stay in its English words.
    pub fn say(&self, lang: Lang) -> String {
        let (id, args): (&str, Vec<(&str, fluent_bundle::FluentValue<'_>)>) = match self {
            ImportFileError::Io { path, source } => (
                "import-cannot-read",
                vec![
                    ("path", path.as_str().into()),
                    ("why", source.to_string().into()),
                ],
            ),
            ImportFileError::TooLarge { path, size } => (
                "import-too-large",
                vec![
                    ("path", path.as_str().into()),
                    ("size", i18n::number(lang, *size).into()),
                    ("limit", i18n::number(lang, MAX_IMPORT_FILE_BYTES).into()),
                ],
            ),
            ImportFileError::TooManyRows => (
                "import-too-many-rows",
                vec![("limit", i18n::number(lang, MAX_IMPORT_ROWS as u64).into())],
            ),
            ImportFileError::NoHeader => ("import-no-header", vec![]),
            ImportFileError::MissingColumns(columns) => (
                "import-missing-columns",
                vec![("columns", columns.as_str().into())],
            ),
            ImportFileError::Csv(e) => ("import-bad-csv", vec![("why", e.to_string().into())]),
            ImportFileError::Json(e) => ("import-bad-json", vec![("why", e.to_string().into())]),
            ImportFileError::NotAnArray => ("import-not-an-array", vec![]),
        };
        i18n::text(lang, id, &args)
    }
}

/// Where a row is in its file: a CSV line or a JSON array position (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Line(u64),
    Record(usize),
}

impl Location {
    /// "line 3" / "3. rinda", in `lang`.
    pub fn say(self, lang: Lang) -> String {
        let (id, n) = match self {
            Location::Line(n) => ("import-line", n),
            Location::Record(n) => ("import-record", n as u64),
        };
        i18n::text(lang, id, &[("n", n.into())])
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// One row that passed every check.
#[derive(Clone, Debug)]
pub struct GoodRow {
    pub location: Location,
    pub id: ActivityId,
    pub patch: ActivityPatch,
}

/// One row that did not, with every problem found in it.
#[derive(Clone, Debug)]
pub struct BadRow {
    pub location: Location,
    pub problems: Vec<RowProblem>,
}

impl BadRow {
    /// "line 3: date: …; total: …", in `lang`.
    pub fn say(&self, lang: Lang) -> String {
        let problems: Vec<String> = self.problems.iter().map(|p| p.say(lang)).collect();
        let problems = crate::words::join_problems(lang, &problems);
        format!("{}: {problems}", self.location.say(lang))
    }
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.say(Lang::En))
    }
}

/// What is wrong with one row.
#[derive(Clone, Debug)]
pub enum RowProblem {
    /// A field's value.
    Field(sync_core::FieldError),
    /// The id cell is not an activity id.
    NotAnId(String),
    /// The total column disagrees with the groups' sum.
    TotalDiffers { total: String, sum: u64 },
    /// The same id as an earlier row.
    SameId(Location),
    /// No id, and the same event as an earlier row.
    SameEvent(Location),
}

impl RowProblem {
    pub fn say(&self, lang: Lang) -> String {
        match self {
            RowProblem::Field(error) => crate::words::field_error(lang, error),
            RowProblem::NotAnId(text) => {
                i18n::text(lang, "import-not-an-id", &[("text", text.as_str().into())])
            }
            RowProblem::TotalDiffers { total, sum } => i18n::text(
                lang,
                "import-total-differs",
                &[("total", total.as_str().into()), ("sum", (*sum).into())],
            ),
            RowProblem::SameId(first) => {
                i18n::text(lang, "import-same-id", &[("first", first.say(lang).into())])
            }
            RowProblem::SameEvent(first) => i18n::text(
                lang,
                "import-same-event",
                &[("first", first.say(lang).into())],
            ),
        }
    }
}

/// Something worth telling about a file that is not an error.
#[derive(Debug)]
pub enum ImportNote {
    /// A column whose header means nothing here; its cells are not read.
    UnknownColumn(String),
}

impl ImportNote {
    pub fn say(&self, lang: Lang) -> String {
        match self {
            ImportNote::UnknownColumn(header) => i18n::text(
                lang,
                "import-unknown-column",
                &[("header", header.as_str().into())],
            ),
        }
    }
}

/// The checked content of a file.
#[derive(Debug, Default)]
pub struct CheckedFile {
    pub good: Vec<GoodRow>,
    pub bad: Vec<BadRow>,
    /// Rows marked deleted in the file; not imported.
    pub deleted_skipped: usize,
    /// Things worth telling the user that are not errors (ignored columns...).
    pub notes: Vec<ImportNote>,
}

/// A row before checking: where it is, its cells by column meaning.
struct RawRow {
    location: Location,
    id: Option<String>,
    input: ActivityInput,
    total: Option<String>,
    deleted: bool,
}

/// One thing found in a file, in the order of the file (see [`check_file_each`]).
#[derive(Debug)]
pub enum Checked {
    /// Worth telling, not an error (found in the header, before any row).
    Note(ImportNote),
    Good(GoodRow),
    Bad(BadRow),
    /// A row marked deleted in the file; not imported.
    Deleted,
}

/// Reads and checks a CSV or JSON file; `journal` seeds content-derived ids.
pub fn check_file(path: &Path, journal: JournalId) -> Result<CheckedFile, ImportFileError> {
    let mut checked = CheckedFile::default();
    check_file_each(path, journal, |found| {
        match found {
            Checked::Note(note) => checked.notes.push(note),
            Checked::Good(row) => checked.good.push(row),
            Checked::Bad(row) => checked.bad.push(row),
            Checked::Deleted => checked.deleted_skipped += 1,
        }
        Ok::<(), ImportFileError>(())
    })?;
    Ok(checked)
}

/// Reads and checks a CSV or JSON file, handing `each` what it finds as it
/// goes: a CSV's rows are never all in memory at once (an import of 100,000
/// rows stores them as they come). Stops at the first error, the file's or
/// `each`'s. Repeats of an earlier row's id (or, without ids, of its event)
/// are bad rows: the first one counts.
pub fn check_file_each<E: From<ImportFileError>>(
    path: &Path,
    journal: JournalId,
    mut each: impl FnMut(Checked) -> Result<(), E>,
) -> Result<(), E> {
    let shown = path.display().to_string();
    let io = |source| ImportFileError::Io {
        path: shown.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_IMPORT_FILE_BYTES {
        return Err(ImportFileError::TooLarge { path: shown, size }.into());
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = decode_text(&bytes);
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('[');
    let mut checker = RowChecker {
        journal,
        seen: HashMap::new(),
    };
    if is_json {
        for row in json_rows(&text)? {
            each(checker.check(row))?;
        }
        Ok(())
    } else {
        csv_rows(&text, |row| match row {
            CsvRow::Note(note) => each(Checked::Note(note)),
            CsvRow::Row(row) => each(checker.check(*row)),
        })
    }
}

/// UTF-8 (with or without BOM) as is; anything else is taken to be Windows-1257,
/// the Baltic code page Excel uses when it saves "CSV" on a Latvian Windows.
/// UTF-8 is read in place: a copy would double what a large file takes.
fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes
        .strip_prefix(crate::interchange::export::UTF8_BOM)
        .unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::WINDOWS_1257.decode(bytes).0,
    }
}

/// The meaning of a column, from its header in English or Latvian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Id,
    Title,
    Kind,
    Date,
    Start,
    Hours,
    Place,
    Organisers,
    Institutions,
    Count(Group),
    Total,
    Description,
    Notes,
    Deleted,
    /// Written by `export` but set by the journal on import (centre, timestamps...).
    Informational,
}

fn column_for(header: &str) -> Option<Column> {
    let key: String = fold_diacritics(header.trim())
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    if let Some(group) = Group::parse(header).or_else(|| group_by_name(&key)) {
        return Some(Column::Count(group));
    }
    Some(match key.as_str() {
        "id" => Column::Id,
        "title" | "nosaukums" | "temats" => Column::Title,
        "kind" | "type" | "veids" => Column::Kind,
        "date" | "datums" => Column::Date,
        "start" | "starttime" | "time" | "sakums" | "laiks" => Column::Start,
        "hours" | "duration" | "stundas" | "ilgums" | "ilgumsstundas" => Column::Hours,
        "place" | "location" | "vieta" => Column::Place,
        "organisers" | "organizers" | "organiser" | "organizatori" | "organizators" => {
            Column::Organisers
        }
        "institutions" | "partnerinstitutions" | "iestades" | "partneri" | "partneriestades" => {
            Column::Institutions
        }
        "total" | "kopa" | "totalparticipants" | "dalibniekukopa" => Column::Total,
        "description" | "apraksts" => Column::Description,
        "notes" | "outcome" | "outcomenotes" | "piezimes" | "rezultati" => Column::Notes,
        "deleted" | "dzests" => Column::Deleted,
        "centre" | "center" | "centrs" | "recordedby" | "createdat" | "updatedby" | "updatedat"
        | "ierakstija" | "ierakstits" | "mainija" | "mainits" => Column::Informational,
        _ => return None,
    })
}

/// A group by the name an export in either language gives its column
/// ("Children and young people", "Bērni un jaunieši"), `key` folded as in
/// [`column_for`].
fn group_by_name(key: &str) -> Option<Group> {
    Group::ALL.into_iter().find(|group| {
        Lang::ALL.iter().any(|lang| {
            let name: String = fold_diacritics(&i18n::group_name(*lang, *group))
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect();
            name == key
        })
    })
}

/// Picks the separator the header row uses most: `,`, `;` (Excel with Latvian
/// regional settings) or a tab.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

/// What the CSV reader hands on: the header's notes first, then each row.
enum CsvRow {
    Note(ImportNote),
    /// Boxed: a row is large, and each is moved on once.
    Row(Box<RawRow>),
}

fn csv_rows<E: From<ImportFileError>>(
    text: &str,
    mut each: impl FnMut(CsvRow) -> Result<(), E>,
) -> Result<(), E> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(ImportFileError::from)?.clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ImportFileError::NoHeader.into());
    }
    let columns: Vec<Option<Column>> = headers.iter().map(column_for).collect();
    for (header, column) in headers.iter().zip(&columns) {
        if column.is_none() && !header.trim().is_empty() {
            each(CsvRow::Note(ImportNote::UnknownColumn(
                header.trim().to_owned(),
            )))?;
        }
    }
    require_columns(&columns)?;
    let mut lines = LineCounter::new(text);
    let mut rows = 0;
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(ImportFileError::from)?
    {
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows >= MAX_IMPORT_ROWS {
            return Err(ImportFileError::TooManyRows.into());
        }
        rows += 1;
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        // Without the mark our own export puts on cells a spreadsheet
        // would run as formulas: what was typed comes back unchanged.
        let cells = columns
            .iter()
            .zip(record.iter().map(formula::restore))
            .filter_map(|(c, v)| c.map(|c| (c, v)));
        each(CsvRow::Row(Box::new(raw_row(Location::Line(line), cells))))?;
    }
    Ok(())
}

/// The line of the file a record starts on, as a text editor numbers them
/// (the header is line 1). The CSV reader's own count is one short on files
/// with Windows line ends, which is what Excel writes. Records come in
/// order, so each call counts only the bytes since the last.
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        let mut byte = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        // After a `\r\n`, the reader's position is the `\n`: the record
        // itself starts after the line end.
        while matches!(self.text.get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte > self.at {
            let newlines = self.text[self.at..byte]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.at = byte;
        }
        self.line
    }
}

fn require_columns(columns: &[Option<Column>]) -> Result<(), ImportFileError> {
    let missing: Vec<&str> = [
        (Column::Title, "title"),
        (Column::Kind, "kind"),
        (Column::Date, "date"),
    ]
    .into_iter()
    .filter(|(c, _)| !columns.contains(&Some(*c)))
    .map(|(_, name)| name)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ImportFileError::MissingColumns(missing.join(", ")))
    }
}

fn raw_row<'a>(location: Location, cells: impl Iterator<Item = (Column, &'a str)>) -> RawRow {
    let mut row = RawRow {
        location,
        id: None,
        input: ActivityInput {
            organisers: Some(vec![]),
            institutions: Some(vec![]),
            ..Default::default()
        },
        total: None,
        deleted: false,
    };
    let names = |v: &str| {
        v.split(';')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    };
    for (column, value) in cells {
        let text = Some(value.to_owned());
        match column {
            Column::Id => row.id = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            Column::Title => row.input.title = text,
            Column::Kind => row.input.kind = text,
            Column::Date => row.input.date = text,
            Column::Start => row.input.start = text,
            Column::Hours => row.input.hours = text,
            Column::Place => row.input.place = text,
            Column::Organisers => row.input.organisers = Some(names(value)),
            Column::Institutions => row.input.institutions = Some(names(value)),
            Column::Count(g) => row
                .input
                .counts
                .push((g.key().to_owned(), value.to_owned())),
            Column::Total => row.total = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            Column::Description => row.input.description = text,
            Column::Notes => row.input.notes = text,
            Column::Deleted => {
                let value = value.trim().to_lowercase();
                row.deleted = matches!(value.as_str(), "true" | "1" | "jā" | "yes");
            }
            Column::Informational => {}
        }
    }
    row
}

fn json_rows(text: &str) -> Result<Vec<RawRow>, ImportFileError> {
    let Value::Array(items) = serde_json::from_str::<Value>(text)? else {
        return Err(ImportFileError::NotAnArray);
    };
    if items.len() > MAX_IMPORT_ROWS {
        return Err(ImportFileError::TooManyRows);
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, item)| json_row(Location::Record(i + 1), item))
        .collect())
}

fn json_row(location: Location, item: &Value) -> RawRow {
    let Value::Object(map) = item else {
        let mut row = raw_row(location, std::iter::empty());
        row.input.title = None;
        return row;
    };
    let mut cells: Vec<(Column, String)> = Vec::new();
    // Counts of groups we do not know: kept by name so the error names them.
    let mut unknown_groups: Vec<(String, String)> = Vec::new();
    for (key, value) in map {
        match (column_for(key), value) {
            (_, Value::Null) => {}
            (Some(Column::Organisers | Column::Institutions), Value::Array(names)) => {
                let joined = names
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(";");
                cells.push((column_for(key).expect("matched above"), joined));
            }
            (_, Value::Object(counts)) if key == "counts" => {
                for (group, n) in counts {
                    match Group::parse(group) {
                        Some(g) => cells.push((Column::Count(g), scalar_text(n))),
                        None => unknown_groups.push((group.clone(), scalar_text(n))),
                    }
                }
            }
            (Some(column), v) => cells.push((column, scalar_text(v))),
            (None, _) => {}
        }
    }
    let mut row = raw_row(location, cells.iter().map(|(c, v)| (*c, v.as_str())));
    row.input.counts.extend(unknown_groups);
    row
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Validates rows, derives ids for rows without one, and catches repeats:
/// it keeps only where each id was first seen.
struct RowChecker {
    journal: JournalId,
    seen: HashMap<ActivityId, Location>,
}

impl RowChecker {
    fn check(&mut self, row: RawRow) -> Checked {
        if row.deleted {
            return Checked::Deleted;
        }
        match check_row(&row, self.journal) {
            Ok((id, patch)) => match self.seen.get(&id) {
                Some(first) => Checked::Bad(BadRow {
                    location: row.location,
                    problems: vec![if row.id.is_some() {
                        RowProblem::SameId(*first)
                    } else {
                        RowProblem::SameEvent(*first)
                    }],
                }),
                None => {
                    self.seen.insert(id, row.location);
                    Checked::Good(GoodRow {
                        location: row.location,
                        id,
                        patch,
                    })
                }
            },
            Err(problems) => Checked::Bad(BadRow {
                location: row.location,
                problems,
            }),
        }
    }
}

fn check_row(
    row: &RawRow,
    journal: JournalId,
) -> Result<(ActivityId, ActivityPatch), Vec<RowProblem>> {
    let mut problems = Vec::new();
    let patch = match row
        .input
        .parse()
        .and_then(|p| p.check_complete().map(|()| p))
    {
        Ok(patch) => Some(patch),
        Err(errors) => {
            problems.extend(errors.0.into_iter().map(RowProblem::Field));
            None
        }
    };
    let id = match row.id.as_deref().map(str::parse::<ActivityId>) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            problems.push(RowProblem::NotAnId(
                row.id.as_deref().unwrap_or("").to_owned(),
            ));
            None
        }
        None => None,
    };
    if let (Some(patch), Some(total)) = (&patch, &row.total) {
        let sum: u64 = patch.counts.iter().map(|(_, n)| u64::from(*n)).sum();
        if total.parse::<u64>().ok() != Some(sum) {
            problems.push(RowProblem::TotalDiffers {
                total: total.clone(),
                sum,
            });
        }
    }
    match (patch, problems.is_empty()) {
        (Some(patch), true) => {
            let id = id.unwrap_or_else(|| content_id(journal, &patch));
            Ok((id, patch))
        }
        _ => Err(problems),
    }
}

/// A stable id for a row without one: the same event (date, start, kind, title,
/// place) in the same journal always gets the same id.
fn content_id(journal: JournalId, patch: &ActivityPatch) -> ActivityId {
    let key = format!(
        "{journal}|{}|{}|{}|{}|{}",
        patch.date.map(|d| d.to_string()).unwrap_or_default(),
        patch
            .start
            .flatten()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default(),
        patch.kind.map(|k| k.key()).unwrap_or_default(),
        fold_diacritics(patch.title.as_deref().unwrap_or_default()),
        fold_diacritics(patch.place.as_deref().unwrap_or_default()),
    );
    ActivityId(Uuid::new_v5(&ROW_KEY_NAMESPACE, key.as_bytes()))
}
