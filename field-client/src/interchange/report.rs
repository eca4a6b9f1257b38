//! A report as a file: CSV (UTF-8 with BOM, for Excel), JSON, or an XLSX
//! workbook with one sheet of report totals and one of the activities counted.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use sync_core::{Activity, Group};

use super::export::{NAME_SEPARATOR, UTF8_BOM, activity_columns, default_delimiter};
use super::formula;
use crate::report::{Figures, Origin, Report};
use crate::web::i18n::{self, Lang, t};

/// The totals table's columns in `lang`, the centre's name first.
fn figure_headers(lang: Lang) -> Vec<String> {
    let mut headers: Vec<String> = ["file-col-centre", "file-col-activities", "file-col-hours"]
        .iter()
        .map(|id| t(lang, id))
        .collect();
    headers.extend(Group::ALL.iter().map(|g| i18n::group_name(lang, *g)));
    headers.extend(
        ["file-col-participants", "file-col-distinct-institutions"]
            .iter()
            .map(|id| t(lang, id)),
    );
    headers
}

/// One row of the totals table: who (a centre, a municipality, the total).
enum RowOf {
    Centre,
    Municipality,
    Total,
}

/// One row per centre, one per municipality (when centres have one), then
/// the total row, each with its label in `lang`.
fn figure_rows(lang: Lang, report: &Report) -> Vec<(RowOf, String, &Figures)> {
    let centres = report
        .centres
        .iter()
        .map(|(c, f)| (RowOf::Centre, c.clone(), f));
    let municipalities = report.municipalities.iter().map(|(m, f)| {
        let label = i18n::text(lang, "file-municipality-row", &[("name", m.clone().into())]);
        (RowOf::Municipality, label, f)
    });
    let total = (RowOf::Total, t(lang, "file-total-row"), &report.total);
    centres
        .chain(municipalities)
        .chain(std::iter::once(total))
        .collect()
}

fn figure_numbers(f: &Figures) -> Vec<f64> {
    let mut numbers = vec![f.activities as f64, f.hours];
    numbers.extend(Group::ALL.iter().map(|g| f.group(*g) as f64));
    numbers.extend([f.total_participants as f64, f.institutions as f64]);
    numbers
}

/// The totals table as CSV in `lang`: a header row, one row per centre and
/// municipality, the total row; separator and decimal mark as a spreadsheet
/// in that language expects (a centre's name a spreadsheet would run as a
/// formula is written as text).
pub fn write_csv(out: &mut dyn Write, lang: Lang, report: &Report) -> std::io::Result<()> {
    out.write_all(UTF8_BOM)?;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(default_delimiter(lang))
        .from_writer(out);
    formula::write_record(&mut writer, figure_headers(lang))?;
    for (_, label, figures) in figure_rows(lang, report) {
        let mut row = vec![label];
        row.extend(
            figure_numbers(figures)
                .iter()
                .map(|n| i18n::hours(lang, *n)),
        );
        formula::write_record(&mut writer, row)?;
    }
    writer.flush()
}

/// The whole report as one JSON object.
pub fn write_json(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// An XLSX workbook in `lang`: a sheet of the selection and the totals
/// table, and a sheet of every activity counted (numbers as numbers, dates
/// as dates, kinds by their names; no internal columns).
pub fn write_xlsx(
    path: &Path,
    lang: Lang,
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<(), XlsxError> {
    workbook(lang, report, activities)?.save(path)
}

/// The same workbook as bytes (for a download).
pub fn xlsx_bytes(
    lang: Lang,
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<Vec<u8>, XlsxError> {
    workbook(lang, report, activities)?.save_to_buffer()
}

fn workbook(
    lang: Lang,
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    report_sheet(workbook.add_worksheet(), lang, report, &bold)?;
    activities_sheet(workbook.add_worksheet(), lang, activities, &bold)?;
    Ok(workbook)
}

/// How a date cell shows: as people of `lang` write dates.
fn date_format(lang: Lang) -> Format {
    Format::new().set_num_format(match lang {
        Lang::Lv => "dd.mm.yyyy.",
        Lang::En => "d mmm yyyy",
    })
}

fn date_cell(day: chrono::NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    use chrono::Datelike;
    ExcelDateTime::from_ymd(day.year() as u16, day.month() as u8, day.day() as u8)
}

fn report_sheet(
    sheet: &mut Worksheet,
    lang: Lang,
    report: &Report,
    bold: &Format,
) -> Result<(), XlsxError> {
    sheet.set_name(t(lang, "sheet-report"))?;
    let s = &report.selection;
    let all = || t(lang, "file-all");
    let dates = date_format(lang);
    for (row, (label, day)) in [("report-from", s.period.from), ("report-to", s.period.to)]
        .into_iter()
        .enumerate()
    {
        sheet.write_string_with_format(row as u32, 0, t(lang, label), bold)?;
        sheet.write_datetime_with_format(row as u32, 1, date_cell(day)?, &dates)?;
    }
    let about = [
        ("file-col-centre", s.centre.clone().unwrap_or_else(all)),
        (
            "file-col-municipality",
            s.municipality.clone().unwrap_or_else(all),
        ),
        (
            "file-col-kind",
            s.kind.map_or_else(all, |k| i18n::kind_name(lang, k)),
        ),
    ];
    for (i, (label, value)) in about.iter().enumerate() {
        let row = i as u32 + 2;
        sheet.write_string_with_format(row, 0, t(lang, label), bold)?;
        sheet.write_string(row, 1, value)?;
    }
    let top = about.len() as u32 + 3;
    for (col, header) in figure_headers(lang).iter().enumerate() {
        sheet.write_string_with_format(top, col as u16, header, bold)?;
    }
    for (i, (of, label, figures)) in figure_rows(lang, report).into_iter().enumerate() {
        let row = top + 1 + i as u32;
        let format = match of {
            RowOf::Total => bold.clone(),
            RowOf::Centre | RowOf::Municipality => Format::new(),
        };
        sheet.write_string_with_format(row, 0, &label, &format)?;
        for (col, n) in figure_numbers(figures).into_iter().enumerate() {
            sheet.write_number_with_format(row, col as u16 + 1, n, &format)?;
        }
    }
    sheet.autofit();
    Ok(())
}

/// A cell of the activities sheet.
enum Cell {
    Text(String),
    Number(f64),
    Date(chrono::NaiveDate),
}

fn activity_cells(lang: Lang, centre: &str, a: &Activity) -> Vec<Cell> {
    let mut cells = vec![
        Cell::Text(centre.to_owned()),
        Cell::Text(a.title.clone()),
        Cell::Text(i18n::kind_name(lang, a.kind)),
        Cell::Date(a.date),
        Cell::Text(
            a.start
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
        ),
        a.hours.map_or(Cell::Text(String::new()), Cell::Number),
        Cell::Text(a.place.clone()),
        Cell::Text(a.organisers.join(NAME_SEPARATOR)),
        Cell::Text(a.institutions.join(NAME_SEPARATOR)),
    ];
    cells.extend(a.counts.iter().map(|(_, n)| Cell::Number(f64::from(n))));
    cells.extend([
        Cell::Number(a.counts.total() as f64),
        Cell::Text(a.description.clone()),
        Cell::Text(a.notes.clone()),
        Cell::Text(crate::people::shown(lang, &a.recorded_by)),
        Cell::Text(attachment_names(a)),
    ]);
    cells
}

/// The names of the files attached to `a`, one per line (a cell of the
/// activities sheet).
fn attachment_names(a: &Activity) -> String {
    let names: Vec<&str> = a.attachments.iter().map(|f| f.name.as_str()).collect();
    names.join("\n")
}

fn activities_sheet(
    sheet: &mut Worksheet,
    lang: Lang,
    activities: &[(Origin<'_>, &Activity)],
    bold: &Format,
) -> Result<(), XlsxError> {
    sheet.set_name(t(lang, "sheet-activities"))?;
    // What a funder or the office reads: no internal columns.
    for (col, header) in activity_columns(lang, false).iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, header, bold)?;
    }
    let dates = date_format(lang);
    for (i, (origin, a)) in activities.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, cell) in activity_cells(lang, origin.centre, a)
            .into_iter()
            .enumerate()
        {
            let col = col as u16;
            match cell {
                Cell::Text(text) => sheet.write_string(row, col, &text)?,
                Cell::Number(n) => sheet.write_number(row, col, n)?,
                Cell::Date(day) => {
                    sheet.write_datetime_with_format(row, col, date_cell(day)?, &dates)?
                }
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    Ok(())
}
