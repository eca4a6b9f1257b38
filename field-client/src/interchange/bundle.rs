//! `report --format zip`: the bundle a funder asks for — the report's
//! workbook (its activities sheet lists each activity's files) and every
//! file attached to its activities, one folder per activity
//! (`2026-11-20 Seminārs/foto.jpg`). Files are copied from the store chunk
//! by chunk into the archive, stored as they are (photos and scans are
//! compressed already).

use std::collections::BTreeSet;
use std::io::{Seek, Write};

use sync_core::{Activity, Store};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::report::{Origin, Report};
use crate::web::i18n::{Lang, t};

/// Longest activity title kept in a folder's name, in characters: folder
/// names stay readable, and paths within what every system opens.
const MAX_FOLDER_TITLE_CHARS: usize = 60;

/// Why the bundle was not written whole.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Workbook(#[from] rust_xlsxwriter::XlsxError),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] sync_core::StoreError),
}

/// Writes the bundle to `out`; returns the files the store lacks (not
/// received from their centre yet), which the bundle lists in a note.
pub fn write_bundle<W: Write + Seek>(
    out: W,
    (lang, store): (Lang, &Store),
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<Vec<String>, BundleError> {
    let mut zip = ZipWriter::new(out);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file(format!("{}.xlsx", t(lang, "bundle-report-name")), deflated)?;
    zip.write_all(&super::report::xlsx_bytes(lang, report, activities)?)?;
    let mut missing = Vec::new();
    let mut folders = BTreeSet::new();
    for (_, a) in activities {
        if a.attachments.is_empty() {
            continue;
        }
        let folder = unique(&mut folders, folder_name(a));
        let mut names = BTreeSet::new();
        for file in &a.attachments {
            let path = format!("{folder}/{}", unique(&mut names, file.name.clone()));
            let held = store.file(file.file)?.is_some_and(|f| f.is_whole());
            if !held {
                missing.push(path);
                continue;
            }
            zip.start_file(path.as_str(), stored)?;
            if store.read_file(file.file, &mut zip).is_err() {
                // A damaged copy: not in the bundle, named in the note.
                zip.abort_file()?;
                missing.push(path);
            }
        }
    }
    if !missing.is_empty() {
        zip.start_file(format!("{}.txt", t(lang, "bundle-missing-name")), deflated)?;
        writeln!(zip, "{}", t(lang, "bundle-missing-text"))?;
        for path in &missing {
            writeln!(zip, "{path}")?;
        }
    }
    zip.finish()?;
    Ok(missing)
}

/// "2026-11-20 Seminārs": the date and title, without characters a file
/// system refuses, shortened.
fn folder_name(a: &Activity) -> String {
    let title: String = a
        .title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(MAX_FOLDER_TITLE_CHARS)
        .collect();
    let title = title.trim().trim_end_matches('.');
    format!("{} {title}", a.date.format("%Y-%m-%d"))
}

/// `name`, or `name (2)`, `name (3)`… when taken.
fn unique(taken: &mut BTreeSet<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        candidate = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem} ({n}).{ext}"),
            None => format!("{name} ({n})"),
        };
    }
    taken.insert(candidate.clone());
    candidate
}
