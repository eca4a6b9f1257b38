//! The reports page: a period (month, quarter, year or custom) and optionally
//! one centre or kind; the figures per centre and in total, two charts drawn
//! on the server as SVG (so they work offline), and CSV/XLSX downloads.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use chrono::{Datelike, Local, Months, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;
use sync_core::{Activity, Group, Kind};

use super::i18n::{self, Lang, t};
use super::routes::{Failure, Reply, UiLang, facts_and_activities, fail, page};
use super::{App, Listed, WebError};
use crate::report::{self, Figures, Origin, Period, Report, Selection};

/// The page's query: `?period=this-quarter&centre=…&kind=…`, or
/// `?period=custom&from=2026-01-01&to=2026-03-31`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct ReportQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    centre: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    kind: String,
}

/// The quick choices of period, by query value.
const PERIODS: [&str; 7] = [
    "this-month",
    "last-month",
    "this-quarter",
    "last-quarter",
    "this-year",
    "last-year",
    "custom",
];

impl ReportQuery {
    fn period(&self, today: NaiveDate) -> Period {
        let month_start = today.with_day(1).expect("day 1 exists");
        let quarter_start = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1)
            .expect("a quarter's first day");
        let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January");
        let span = |from: NaiveDate, months: u32| {
            let to = from + Months::new(months) - chrono::Days::new(1);
            Period { from, to }
        };
        match self.period.as_str() {
            "this-month" => span(month_start, 1),
            "last-month" => span(month_start - Months::new(1), 1),
            "last-quarter" => span(quarter_start - Months::new(3), 3),
            "this-year" => span(year_start, 12),
            "last-year" => span(year_start - Months::new(12), 12),
            "custom" => self.custom().unwrap_or_else(|| span(quarter_start, 3)),
            _ => span(quarter_start, 3),
        }
    }

    fn custom(&self) -> Option<Period> {
        let from = sync_core::activity::parse_date_text(&self.from)?;
        let to = sync_core::activity::parse_date_text(&self.to)?;
        Period::new(from, to).ok()
    }

    fn selection(&self) -> Selection {
        Selection {
            period: self.period(Local::now().date_naive()),
            centre: Some(self.centre.clone()).filter(|c| !c.is_empty()),
            municipality: Some(self.municipality.clone()).filter(|m| !m.is_empty()),
            kind: Kind::parse(&self.kind),
        }
    }

    /// This query as a URL query string, for the download links.
    fn encoded(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("period", &self.period)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .append_pair("centre", &self.centre)
            .append_pair("municipality", &self.municipality)
            .append_pair("kind", &self.kind)
            .finish()
    }
}

fn query_or_default(query: Result<Query<ReportQuery>, QueryRejection>) -> ReportQuery {
    query.map(|Query(q)| q).unwrap_or_default()
}

fn counted<'a>(listed: &'a [Listed], selection: &Selection) -> Vec<(Origin<'a>, &'a Activity)> {
    listed
        .iter()
        .map(|l| {
            let origin = Origin {
                centre: &l.centre,
                municipality: l.municipality.as_deref(),
            };
            (origin, &l.activity)
        })
        .filter(|(origin, a)| selection.includes(*origin, a))
        .collect()
}

pub(super) async fn reports_page(
    State(app): State<App>,
    UiLang(lang): UiLang,
    uri: Uri,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Reply {
    let query = query_or_default(query);
    let (facts, listed) = facts_and_activities(&app).await.map_err(fail(lang))?;
    let selection = query.selection();
    let report = report::build(selection, counted(&listed, &query.selection()));
    let places = Places {
        centres: super::find::centres(&listed),
        municipalities: super::find::municipalities(&listed),
    };
    let title = i18n::text(lang, "report-heading", &[]);
    let content = html! {
        h1 { (title) }
        (report_form(lang, &query, &report, &places))
        (headline(lang, &report))
        @if report.total.activities > 0 {
            (figures_table(lang, &report))
            (month_chart(lang, &report))
            (group_chart(lang, &report.total))
            p.actions {
                a.button href=(format!("/reports/report.csv?{}", query.encoded())) download { (i18n::text(lang, "download-csv", &[])) }
                a.button href=(format!("/reports/report.xlsx?{}", query.encoded())) download { (i18n::text(lang, "download-xlsx", &[])) }
            }
        }
    };
    Ok(page(&app, lang, &facts, &uri, &title, content).into_response())
}

/// The report as CSV or XLSX, named after its period.
pub(super) async fn report_file(
    State(app): State<App>,
    UiLang(lang): UiLang,
    axum::extract::Path(file): axum::extract::Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Reply {
    let query = query_or_default(query);
    let (_, listed) = facts_and_activities(&app).await.map_err(fail(lang))?;
    let selection = query.selection();
    let rows = counted(&listed, &selection);
    let name = format!(
        "krc-report-{}-{}",
        selection.period.from, selection.period.to
    );
    let report = report::build(selection, rows.iter().copied());
    let (body, content_type, extension) = match file.as_str() {
        "report.csv" => {
            let mut bytes = Vec::new();
            crate::interchange::report::write_csv(&mut bytes, lang, &report)
                .map_err(|e| Failure(lang, WebError::Store(e.to_string())))?;
            (bytes, "text/csv; charset=utf-8", "csv")
        }
        "report.xlsx" => {
            let bytes = crate::interchange::report::xlsx_bytes(lang, &report, &rows)
                .map_err(|e| Failure(lang, WebError::Store(e.to_string())))?;
            (
                bytes,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        }
        _ => return Err(Failure(lang, WebError::PageNotFound)),
    };
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The centres and municipalities the form offers to choose from.
struct Places {
    centres: Vec<String>,
    municipalities: Vec<String>,
}

fn report_form(lang: Lang, query: &ReportQuery, report: &Report, places: &Places) -> Markup {
    let centres = &places.centres;
    let period = &report.selection.period;
    let chosen = if PERIODS.contains(&query.period.as_str()) {
        query.period.as_str()
    } else {
        "this-quarter"
    };
    html! {
        form.search.report-form method="get" action="/reports" {
            div.field {
                label for="period" { (t(lang, "report-period")) }
                select #period name="period" {
                    @for p in PERIODS {
                        option value=(p) selected[chosen == p] { (t(lang, &format!("period-{p}"))) }
                    }
                }
            }
            div.field {
                label for="from" { (t(lang, "report-from")) }
                input #from type="text" inputmode="numeric" name="from" value=(super::pages::shown_date(lang, &period.from.to_string())) placeholder=(t(lang, "field-date-placeholder"));
            }
            div.field {
                label for="to" { (t(lang, "report-to")) }
                input #to type="text" inputmode="numeric" name="to" value=(super::pages::shown_date(lang, &period.to.to_string())) placeholder=(t(lang, "field-date-placeholder"));
            }
            @if centres.len() > 1 {
                div.field {
                    label for="centre" { (t(lang, "filter-centre")) }
                    select #centre name="centre" {
                        option value="" { (t(lang, "filter-centre-all")) }
                        @for c in centres { option value=(c) selected[query.centre == *c] { (c) } }
                    }
                }
            }
            @if !places.municipalities.is_empty() {
                div.field {
                    label for="municipality" { (t(lang, "filter-municipality")) }
                    select #municipality name="municipality" {
                        option value="" { (t(lang, "filter-municipality-all")) }
                        @for m in &places.municipalities { option value=(m) selected[query.municipality == *m] { (m) } }
                    }
                }
            }
            div.field {
                label for="kind" { (t(lang, "filter-kind")) }
                select #kind name="kind" {
                    option value="" { (t(lang, "filter-kind-all")) }
                    @for kind in Kind::ALL {
                        option value=(kind.key()) selected[query.kind == kind.key()] { (i18n::kind_name(lang, kind)) }
                    }
                }
            }
            div.actions { button.button type="submit" { (t(lang, "filter-apply")) } }
        }
    }
}

/// The sentence funders quote: "… activities, … participants, … institutions".
fn headline(lang: Lang, report: &Report) -> Markup {
    let f = &report.total;
    let period = &report.selection.period;
    let n = |v: u64| i18n::number(lang, v);
    let text = i18n::text(
        lang,
        "report-headline",
        &[
            ("from", i18n::date(lang, period.from).into()),
            ("to", i18n::date(lang, period.to).into()),
            ("activities", f.activities.into()),
            ("activities_n", n(f.activities).into()),
            ("participants", f.total_participants.into()),
            ("participants_n", n(f.total_participants).into()),
            ("institutions", (f.institutions as u64).into()),
            ("institutions_n", n(f.institutions as u64).into()),
            ("hours", i18n::hours(lang, f.hours).into()),
        ],
    );
    html! { p.headline #report-headline { (text) } }
}

fn figures_table(lang: Lang, report: &Report) -> Markup {
    let rows: Vec<(String, &Figures)> = report
        .centres
        .iter()
        .map(|(c, f)| (c.clone(), f))
        .chain(std::iter::once((t(lang, "totals-all"), &report.total)))
        .collect();
    let by_municipality: Vec<(String, &Figures)> = report
        .municipalities
        .iter()
        .map(|(m, f)| (m.clone(), f))
        .collect();
    html! {
        (figures_rows_table(lang, "report-table", "col-centre", &rows, true))
        @if !by_municipality.is_empty() {
            h2 { (t(lang, "report-by-municipality")) }
            (figures_rows_table(lang, "report-municipalities", "col-municipality", &by_municipality, false))
        }
    }
}

/// A table of figures, one row per name; the last row is the sum when
/// `last_is_sum`.
fn figures_rows_table(
    lang: Lang,
    id: &str,
    first_column: &str,
    rows: &[(String, &Figures)],
    last_is_sum: bool,
) -> Markup {
    html! {
        div.scroll {
            table.activities.report id=(id) {
                thead { tr {
                    th scope="col" { (t(lang, first_column)) }
                    th scope="col" .num { (t(lang, "col-activities")) }
                    th scope="col" .num { (t(lang, "totals-hours")) }
                    @for g in Group::ALL { th scope="col" .num { (i18n::group_name(lang, g)) } }
                    th scope="col" .num { (t(lang, "totals-all")) }
                    th scope="col" .num { (t(lang, "col-institutions")) }
                } }
                // Each value carries its column's name: on a phone the table
                // becomes one card per row, its head hidden.
                tbody {
                    @for (i, (centre, f)) in rows.iter().enumerate() {
                        tr .sum[last_is_sum && i + 1 == rows.len()] {
                            th scope="row" { (centre) }
                            td.num data-label=(t(lang, "col-activities")) { (i18n::number(lang, f.activities)) }
                            td.num data-label=(t(lang, "totals-hours")) { (i18n::hours(lang, f.hours)) }
                            @for g in Group::ALL {
                                td.num data-label=(i18n::group_name(lang, g)) { (i18n::number(lang, f.group(g))) }
                            }
                            td.num data-label=(t(lang, "totals-all")) { (i18n::number(lang, f.total_participants)) }
                            td.num data-label=(t(lang, "col-institutions")) { (i18n::number(lang, f.institutions as u64)) }
                        }
                    }
                }
            }
        }
    }
}

/// Colours for up to ten centres (then they repeat), told apart in print too.
const PALETTE: [&str; 10] = [
    "#1f5fa8", "#d9822b", "#2e8b57", "#b03a48", "#6f4e9c", "#8c6d1f", "#3a9fb0", "#c2549d",
    "#5b6473", "#7a9a2f",
];

/// Participants per month, one bar per month stacked by centre.
/// Text size in the charts, in their own units: a chart is drawn 600 units
/// wide, so this reads as about 9 px on a phone and 18 px on a laptop.
const CHART_TEXT: &str = "15";

fn month_chart(lang: Lang, report: &Report) -> Markup {
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 260.0;
    // Room for the axis's highest figure written whole, up to seven
    // characters ("100 000") at CHART_TEXT.
    const LEFT: f64 = 64.0;
    const BOTTOM: f64 = 30.0;
    const TOP: f64 = 22.0;
    let centres: Vec<&String> = report.centres.keys().collect();
    let highest = report
        .months
        .values()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT) / report.months.len().max(1) as f64;
    let scale = (HEIGHT - BOTTOM - TOP) / highest as f64;
    let title = t(lang, "chart-months");
    html! {
        figure.chart {
            figcaption { (title) }
            svg #chart-months xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#5b6473" {}
                text x=(LEFT - 6.0) y=(TOP + 5.0) text-anchor="end" font-size=(CHART_TEXT) { (i18n::number(lang, highest)) }
                text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" font-size=(CHART_TEXT) { "0" }
                @for (i, (month, by_centre)) in report.months.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + slot * 0.15;
                    @let mut y = HEIGHT - BOTTOM;
                    @for (c, centre) in centres.iter().enumerate() {
                        @let n = by_centre.get(*centre).copied().unwrap_or(0);
                        @if n > 0 {
                            @let h = n as f64 * scale;
                            @let top = { y -= h; y };
                            rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", slot * 0.7)) height=(format!("{h:.1}")) fill=(PALETTE[c % PALETTE.len()]) {
                                title { (centre) ", " (month_label(lang, month)) ": " (i18n::number(lang, n)) }
                            }
                        }
                    }
                    // The month's total on its bar: the chart reads on paper too.
                    text.value x=(format!("{:.1}", x + slot * 0.35)) y=(format!("{:.1}", y - 5.0)) text-anchor="middle" font-size=(CHART_TEXT) font-weight="600" {
                        (i18n::number(lang, by_centre.values().sum::<u64>()))
                    }
                    text x=(format!("{:.1}", x + slot * 0.35)) y=(HEIGHT - 9.0) text-anchor="middle" font-size=(CHART_TEXT) { (month_label(lang, month)) }
                }
            }
            ul.legend {
                @for (c, centre) in centres.iter().enumerate() {
                    li {
                        svg.swatch xmlns="http://www.w3.org/2000/svg" width="12" height="12" aria-hidden="true" {
                            rect width="12" height="12" fill=(PALETTE[c % PALETTE.len()]) {}
                        }
                        (centre)
                    }
                }
            }
        }
    }
}

/// "05.2026." / "05/2026" under a month's bar.
fn month_label(lang: Lang, key: &str) -> String {
    let (year, month) = key.split_once('-').unwrap_or((key, ""));
    match lang {
        Lang::Lv => format!("{month}.{year}."),
        Lang::En => format!("{month}/{year}"),
    }
}

/// Participants by group, one horizontal bar each.
fn group_chart(lang: Lang, total: &Figures) -> Markup {
    const WIDTH: f64 = 600.0;
    const ROW: f64 = 30.0;
    const LABEL: f64 = 200.0;
    let highest = Group::ALL
        .iter()
        .map(|g| total.group(*g))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * Group::ALL.len() as f64 + 8.0;
    let title = t(lang, "chart-groups");
    html! {
        figure.chart {
            figcaption { (title) }
            svg #chart-groups xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(title) {
                @for (i, g) in Group::ALL.iter().enumerate() {
                    @let n = total.group(*g);
                    @let y = i as f64 * ROW + 4.0;
                    @let w = (WIDTH - LABEL - 70.0) * n as f64 / highest as f64;
                    text x=(LABEL - 8.0) y=(y + 17.0) text-anchor="end" font-size=(CHART_TEXT) { (i18n::group_name(lang, *g)) }
                    rect x=(LABEL) y=(y) width=(format!("{w:.1}")) height=(ROW - 8.0) fill=(PALETTE[0]) {
                        title { (i18n::group_name(lang, *g)) ": " (i18n::number(lang, n)) }
                    }
                    text.value x=(format!("{:.1}", LABEL + w + 6.0)) y=(y + 17.0) font-size=(CHART_TEXT) { (i18n::number(lang, n)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_choices_cover_whole_months_quarters_and_years() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let period = |p: &str| {
            ReportQuery {
                period: p.into(),
                ..ReportQuery::default()
            }
            .period(today)
        };
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(
            period("this-month"),
            Period {
                from: d(2026, 11, 1),
                to: d(2026, 11, 30)
            }
        );
        assert_eq!(
            period("last-month"),
            Period {
                from: d(2026, 10, 1),
                to: d(2026, 10, 31)
            }
        );
        assert_eq!(
            period("this-quarter"),
            Period {
                from: d(2026, 10, 1),
                to: d(2026, 12, 31)
            }
        );
        assert_eq!(
            period("last-quarter"),
            Period {
                from: d(2026, 7, 1),
                to: d(2026, 9, 30)
            }
        );
        assert_eq!(
            period("last-year"),
            Period {
                from: d(2025, 1, 1),
                to: d(2025, 12, 31)
            }
        );
        let custom = ReportQuery {
            period: "custom".into(),
            from: "01.02.2026".into(),
            to: "2026-02-28".into(),
            ..ReportQuery::default()
        };
        assert_eq!(
            custom.period(today),
            Period {
                from: d(2026, 2, 1),
                to: d(2026, 2, 28)
            }
        );
    }
}
