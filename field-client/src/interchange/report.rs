//! A report as a file: CSV (UTF-8 with BOM, for Excel), JSON, or an XLSX
//! workbook with one sheet of report totals and one of the activities counted.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use sync_core::{Activity, Group};

use super::export::{UTF8_BOM, csv_headers, csv_record};
use super::formula;
use crate::report::{Figures, Origin, Report};

/// The totals table's columns, after the centre's name.
fn figure_headers() -> Vec<&'static str> {
    let mut headers = vec!["centre", "activities", "hours"];
    headers.extend(Group::ALL.iter().map(|g| g.key()));
    headers.extend(["total_participants", "distinct_institutions"]);
    headers
}

/// Label of the row that adds every centre up.
const TOTAL_ROW: &str = "TOTAL";

/// Label of a municipality's row (in the same column as the centres').
fn municipality_row(name: &str) -> String {
    format!("municipality: {name}")
}

/// One row per centre, one per municipality (when centres have one), then
/// the total row.
fn figure_rows(report: &Report) -> Vec<(String, &Figures)> {
    let centres = report.centres.iter().map(|(c, f)| (c.clone(), f));
    let municipalities = report
        .municipalities
        .iter()
        .map(|(m, f)| (municipality_row(m), f));
    centres
        .chain(municipalities)
        .chain(std::iter::once((TOTAL_ROW.to_owned(), &report.total)))
        .collect()
}

fn figure_numbers(f: &Figures) -> Vec<f64> {
    let mut numbers = vec![f.activities as f64, f.hours];
    numbers.extend(Group::ALL.iter().map(|g| f.group(*g) as f64));
    numbers.extend([f.total_participants as f64, f.institutions as f64]);
    numbers
}

/// The totals table as CSV: a header row, one row per centre, the total row
/// (a centre's name a spreadsheet would run as a formula is written as text).
pub fn write_csv(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    out.write_all(UTF8_BOM)?;
    let mut writer = csv::Writer::from_writer(out);
    formula::write_record(&mut writer, figure_headers())?;
    for (centre, figures) in figure_rows(report) {
        let mut row = vec![centre];
        row.extend(figure_numbers(figures).iter().map(|n| n.to_string()));
        formula::write_record(&mut writer, row)?;
    }
    writer.flush()
}

/// The whole report as one JSON object.
pub fn write_json(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// An XLSX workbook: "Report" (the selection and the totals table) and
/// "Activities" (every activity counted, with the export's columns).
pub fn write_xlsx(
    path: &Path,
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<(), XlsxError> {
    workbook(report, activities)?.save(path)
}

/// The same workbook as bytes (for a download).
pub fn xlsx_bytes(
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<Vec<u8>, XlsxError> {
    workbook(report, activities)?.save_to_buffer()
}

fn workbook(
    report: &Report,
    activities: &[(Origin<'_>, &Activity)],
) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    report_sheet(workbook.add_worksheet(), report, &bold)?;
    activities_sheet(workbook.add_worksheet(), activities, &bold)?;
    Ok(workbook)
}

fn report_sheet(sheet: &mut Worksheet, report: &Report, bold: &Format) -> Result<(), XlsxError> {
    sheet.set_name("Report")?;
    let s = &report.selection;
    let about = [
        ("from", s.period.from.to_string()),
        ("to", s.period.to.to_string()),
        ("centre", s.centre.clone().unwrap_or_else(|| "all".into())),
        (
            "municipality",
            s.municipality.clone().unwrap_or_else(|| "all".into()),
        ),
        ("kind", s.kind.map_or("all".into(), |k| k.key().to_owned())),
    ];
    for (row, (name, value)) in about.iter().enumerate() {
        sheet.write_string_with_format(row as u32, 0, *name, bold)?;
        sheet.write_string(row as u32, 1, value)?;
    }
    let top = about.len() as u32 + 1;
    for (col, header) in figure_headers().iter().enumerate() {
        sheet.write_string_with_format(top, col as u16, *header, bold)?;
    }
    for (i, (centre, figures)) in figure_rows(report).into_iter().enumerate() {
        let row = top + 1 + i as u32;
        let format = if centre == TOTAL_ROW {
            bold.clone()
        } else {
            Format::new()
        };
        sheet.write_string_with_format(row, 0, &centre, &format)?;
        for (col, n) in figure_numbers(figures).into_iter().enumerate() {
            sheet.write_number_with_format(row, col as u16 + 1, n, &format)?;
        }
    }
    sheet.autofit();
    Ok(())
}

fn activities_sheet(
    sheet: &mut Worksheet,
    activities: &[(Origin<'_>, &Activity)],
    bold: &Format,
) -> Result<(), XlsxError> {
    sheet.set_name("Activities")?;
    let headers = csv_headers();
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, bold)?;
    }
    // Numbers as numbers, so that the sheet's own sums work.
    let numeric: Vec<bool> = headers
        .iter()
        .map(|h| *h == "hours" || *h == "total" || Group::parse(h).is_some())
        .collect();
    for (i, (origin, a)) in activities.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, cell) in csv_record(origin.centre, a).into_iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(n) if numeric[col] => sheet.write_number(row, col as u16, n)?,
                _ => sheet.write_string(row, col as u16, &cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}
