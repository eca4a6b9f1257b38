//! Writing activities as CSV (for Excel) and JSON (for scripts and re-import).

use std::io::Write;

use serde::Serialize;
use sync_core::{Activity, Group};

use super::formula;

/// Byte-order mark: tells Excel the CSV is UTF-8, so Latvian letters show right.
pub const UTF8_BOM: &[u8] = "\u{feff}".as_bytes();

/// Separator between names in one CSV cell (organisers, institutions).
pub const NAME_SEPARATOR: &str = "; ";

/// One activity with its centre, as exported and listed in JSON.
#[derive(Debug, Serialize)]
pub struct ActivityRow<'a> {
    pub centre: &'a str,
    #[serde(flatten)]
    pub activity: &'a Activity,
}

/// CSV column headers, in order. The per-group columns use the group keys.
pub fn csv_headers() -> Vec<&'static str> {
    let mut headers = vec![
        "id",
        "centre",
        "title",
        "kind",
        "date",
        "start",
        "hours",
        "place",
        "organisers",
        "institutions",
    ];
    headers.extend(Group::ALL.iter().map(|g| g.key()));
    headers.extend([
        "total",
        "description",
        "notes",
        "recorded_by",
        "created_at",
        "updated_by",
        "updated_at",
        "deleted",
    ]);
    headers
}

pub(crate) fn csv_record(centre: &str, a: &Activity) -> Vec<String> {
    let mut row = vec![
        a.id.to_string(),
        centre.to_owned(),
        a.title.clone(),
        a.kind.key().to_owned(),
        a.date.format("%Y-%m-%d").to_string(),
        a.start
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default(),
        a.hours.map(|h| h.to_string()).unwrap_or_default(),
        a.place.clone(),
        a.organisers.join(NAME_SEPARATOR),
        a.institutions.join(NAME_SEPARATOR),
    ];
    row.extend(a.counts.iter().map(|(_, n)| n.to_string()));
    row.extend([
        a.counts.total().to_string(),
        a.description.clone(),
        a.notes.clone(),
        a.recorded_by.clone(),
        a.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        a.updated_by.clone(),
        a.updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        a.deleted.to_string(),
    ]);
    row
}

/// Writes UTF-8 CSV with a byte-order mark and a header row; a cell a
/// spreadsheet would run as a formula is written as text (`formula`).
pub fn write_csv<'a>(
    out: &mut dyn Write,
    delimiter: u8,
    rows: impl IntoIterator<Item = ActivityRow<'a>>,
) -> std::io::Result<()> {
    out.write_all(UTF8_BOM)?;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    formula::write_record(&mut writer, csv_headers())?;
    for row in rows {
        formula::write_record(&mut writer, csv_record(row.centre, row.activity))?;
    }
    writer.flush()
}

/// Writes one JSON array of activities, pretty-printed, ending in a newline.
pub fn write_json<'a>(
    out: &mut dyn Write,
    rows: impl IntoIterator<Item = ActivityRow<'a>>,
) -> std::io::Result<()> {
    let rows: Vec<_> = rows.into_iter().collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    out.write_all(b"\n")
}
