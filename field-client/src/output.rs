//! Plain-text output for people: the activity table, one activity's details,
//! and the status summary.

use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Local, Utc};
use sync_core::replica::Status;
use sync_core::{Activity, JournalInfo};

use crate::budget::BudgetState;
use crate::health::{CentreHealth, Silence, SyncHealth};
use crate::net::{Enrolment, SyncStatus};
use crate::web::i18n::{self, Lang, t};
use fluent_bundle::FluentValue;

/// Longest title shown in the table before it is shortened with "…".
const TABLE_TITLE_CHARS: usize = 48;

pub fn write_table(out: &mut dyn Write, lang: Lang, activities: &[Activity]) -> io::Result<()> {
    if activities.is_empty() {
        return Ok(());
    }
    let heading = |id| t(lang, id).to_uppercase();
    writeln!(
        out,
        "{}  {}  {}  {}  {:>6}  ID",
        pad(&heading("out-col-date"), 10),
        pad(&heading("out-col-start"), 5),
        pad(&heading("out-col-kind"), KIND_CHARS),
        pad(&heading("out-col-title"), TABLE_TITLE_CHARS),
        heading("out-col-people")
    )?;
    for a in activities {
        let start = a
            .start
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default();
        writeln!(
            out,
            "{}  {:<5}  {}  {}  {:>6}  {}",
            a.date.format("%Y-%m-%d"),
            start,
            pad(&kind(lang, a), KIND_CHARS),
            pad(&table_title(lang, a), TABLE_TITLE_CHARS),
            a.counts.total(),
            a.id
        )?;
    }
    Ok(())
}

/// Width of the kind column: the longest kind name in either language.
const KIND_CHARS: usize = 20;

/// The kind as the table shows it: its name in `lang`, shortened to the column.
fn kind(lang: Lang, a: &Activity) -> String {
    shorten(&i18n::kind_name(lang, a.kind), KIND_CHARS)
}

/// The title as the table shows it: marked when deleted, shortened to the column.
fn table_title(lang: Lang, a: &Activity) -> String {
    let title = if a.deleted {
        format!("[{}] {}", t(lang, "out-deleted-mark"), a.title)
    } else {
        a.title.clone()
    };
    shorten(&title, TABLE_TITLE_CHARS)
}

/// One activity in `lang`: labels, kinds, groups and hours as the app
/// shows them; the id and dates as they are typed on the command line.
pub fn write_details(
    out: &mut dyn Write,
    lang: Lang,
    centre: &str,
    a: &Activity,
) -> io::Result<()> {
    let line = |out: &mut dyn Write, label: &str, value: &str| {
        writeln!(out, "{:<14}{value}", format!("{}:", t(lang, label)))
    };
    let by = |who: &str, at: &DateTime<Utc>| {
        i18n::text(
            lang,
            "cli-show-by-at",
            &[
                ("who", crate::people::shown(lang, who).into()),
                ("at", utc(at).into()),
            ],
        )
    };
    line(out, "cli-show-id", &a.id.to_string())?;
    line(out, "cli-show-centre", centre)?;
    line(out, "cli-show-title", &a.title)?;
    line(out, "cli-show-kind", &i18n::kind_name(lang, a.kind))?;
    line(out, "cli-show-date", &a.date.format("%Y-%m-%d").to_string())?;
    let start = a.start.map(|t| t.format("%H:%M").to_string());
    line(out, "cli-show-start", &start.unwrap_or_default())?;
    let hours = a.hours.map(|h| i18n::hours(lang, h));
    line(out, "cli-show-hours", &hours.unwrap_or_default())?;
    line(out, "cli-show-place", &a.place)?;
    line(out, "cli-show-organisers", &a.organisers.join("; "))?;
    line(out, "cli-show-institutions", &a.institutions.join("; "))?;
    let total = a.counts.total();
    writeln!(
        out,
        "{}",
        i18n::text(lang, "cli-show-participants", &[("n", total.into())])
    )?;
    for (group, n) in a.counts.iter().filter(|(_, n)| *n > 0) {
        writeln!(out, "  {:<22}{n}", i18n::group_name(lang, group))?;
    }
    line(out, "cli-show-description", &a.description)?;
    line(out, "cli-show-notes", &a.notes)?;
    line(out, "cli-show-recorded", &by(&a.recorded_by, &a.created_at))?;
    line(out, "cli-show-changed", &by(&a.updated_by, &a.updated_at))?;
    if a.deleted {
        line(out, "cli-show-deleted", &t(lang, "cli-show-deleted-how"))?;
    }
    for (n, file) in a.attachments.iter().enumerate() {
        let label = if n == 0 { "cli-show-attachments" } else { "" };
        let size = i18n::bytes(lang, file.bytes);
        let text = format!("{} ({size})", file.name);
        match label {
            "" => writeln!(out, "{:<14}{text}", "")?,
            label => line(out, label, &text)?,
        }
    }
    Ok(())
}

pub fn write_centre_table(
    out: &mut dyn Write,
    lang: Lang,
    rows: &[(JournalInfo, Activity)],
) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let heading = |id| t(lang, id).to_uppercase();
    writeln!(
        out,
        "{}  {}  {}  {}  {:>6}  ID",
        pad(&heading("out-col-centre"), 24),
        pad(&heading("out-col-date"), 10),
        pad(&heading("out-col-kind"), KIND_CHARS),
        pad(&heading("out-col-title"), TABLE_TITLE_CHARS),
        heading("out-col-people")
    )?;
    for (info, a) in rows {
        writeln!(
            out,
            "{}  {}  {}  {}  {:>6}  {}",
            pad(&shorten(&info.centre, 24), 24),
            a.date.format("%Y-%m-%d"),
            pad(&kind(lang, a), KIND_CHARS),
            pad(&table_title(lang, a), TABLE_TITLE_CHARS),
            a.counts.total(),
            a.id
        )?;
    }
    Ok(())
}

/// Width of the labels of `status` and `data-plan` ("Last attempt:").
const LABEL_CHARS: usize = 15;

/// One labelled line of `status`: the label in `lang`, then the value.
fn labelled(out: &mut dyn Write, lang: Lang, label: &str, value: &str) -> io::Result<()> {
    let label = format!("{}:", t(lang, label));
    writeln!(out, "{}{value}", pad(&label, LABEL_CHARS))
}

/// A moment as `status` writes it: "2026-05-14 09:30 UTC".
fn utc(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Sync state in plain words: enrolled or not, last success, last failure.
pub fn write_sync_status(
    out: &mut dyn Write,
    lang: Lang,
    enrolment: Option<&Enrolment>,
    sync: &SyncStatus,
) -> io::Result<()> {
    let say = |id: &str, args: &[(&str, FluentValue<'_>)]| i18n::text(lang, id, args);
    let Some(enrolment) = enrolment else {
        return labelled(out, lang, "out-server", &say("out-not-enrolled", &[]));
    };
    let server = say(
        "out-server-is",
        &[
            ("server", enrolment.relay.to_string().into()),
            ("office", enrolment.office.to_string().into()),
        ],
    );
    labelled(out, lang, "out-server", &server)?;
    let last = match &sync.last_success {
        Some(at) => utc(at),
        None => say("out-never", &[]),
    };
    labelled(out, lang, "out-last-sync", &last)?;
    if let Some(error) = &sync.last_error {
        let at = sync.last_attempt.as_ref().map(utc).unwrap_or_default();
        let failed = say(
            "out-attempt-failed",
            &[("at", at.into()), ("why", error.as_str().into())],
        );
        labelled(out, lang, "out-last-attempt", &failed)?;
    }
    if let Some(since) = &sync.offline_since {
        let offline = say("out-offline-since", &[("since", utc(since).into())]);
        labelled(out, lang, "out-connection", &offline)?;
    }
    Ok(())
}

/// A file rewrite an erasure still owes, that failed: said plainly, with
/// when it is tried again.
pub fn write_rewrite_failure(
    out: &mut dyn Write,
    lang: Lang,
    failure: &sync_core::store::RewriteFailure,
) -> io::Result<()> {
    let said = i18n::text(
        lang,
        "out-rewrite-failed",
        &[
            ("count", failure.attempts.into()),
            ("n", failure.attempts.into()),
            ("why", failure.error.as_str().into()),
        ],
    );
    labelled(out, lang, "out-store-file", &said)
}

/// Erasures the office asked for: waiting ones, and the office server's
/// answers (nothing printed when there are none).
pub fn write_erasures(
    out: &mut dyn Write,
    lang: Lang,
    requests: &[sync_core::store::ErasureRequest],
) -> io::Result<()> {
    use sync_core::store::ErasureAnswer;
    for r in requests {
        let activity = ("activity", r.activity.to_string().into());
        let said = match r.answer {
            None => i18n::text(lang, "out-erasure-waits", &[activity]),
            Some(ErasureAnswer::Erased { at, .. }) => {
                let at = at
                    .with_timezone(&Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string();
                i18n::text(lang, "out-erasure-done", &[activity, ("at", at.into())])
            }
            Some(ErasureAnswer::NotFound { .. }) => {
                i18n::text(lang, "out-erasure-not-found", &[activity])
            }
        };
        labelled(out, lang, "out-erasure", &said)?;
    }
    Ok(())
}

/// The data plan and this month's use, in plain words.
pub fn write_data_plan(out: &mut dyn Write, lang: Lang, data: &BudgetState) -> io::Result<()> {
    let bytes = |n: u64| i18n::bytes(lang, n).into();
    let month = ("month", data.month.to_string().into());
    let used = ("used", bytes(data.used));
    let said = match data.plan.monthly_budget {
        None => i18n::text(lang, "out-data-no-budget", &[used, month]),
        Some(budget) if data.is_spent() => {
            let left = data.left().filter(|left| *left > 0).unwrap_or(0);
            let args = [
                used,
                month,
                ("budget", bytes(budget)),
                ("left", bytes(left)),
                ("left_n", left.into()),
            ];
            i18n::text(lang, "out-data-spent", &args)
        }
        Some(budget) => {
            let left = ("left", bytes(data.left().unwrap_or(0)));
            let args = [used, month, ("budget", bytes(budget)), left];
            i18n::text(lang, "out-data-budget", &args)
        }
    };
    labelled(out, lang, "out-data", &said)?;
    let metered = i18n::text(
        lang,
        "out-metered-is",
        &[("metered", data.plan.metered.to_string().into())],
    );
    labelled(out, lang, "out-metered", &metered)
}

pub fn write_status(out: &mut dyn Write, lang: Lang, s: &Status, store: &Path) -> io::Result<()> {
    labelled(out, lang, "out-centre", &s.centre)?;
    if let Some(municipality) = &s.municipality {
        labelled(out, lang, "out-municipality", municipality)?;
    }
    labelled(
        out,
        lang,
        "out-device",
        &format!("{} ({})", s.device_name, s.device_id),
    )?;
    let activities = i18n::text(
        lang,
        "out-activities-are",
        &[("n", s.activities.into()), ("deleted", s.deleted.into())],
    );
    labelled(out, lang, "out-activities", &activities)?;
    let sent = i18n::text(
        lang,
        "out-unsent",
        &[("count", s.unsent.into()), ("n", s.unsent.into())],
    );
    labelled(out, lang, "out-sync", &sent)?;
    if s.files_waiting > 0 {
        let waiting = i18n::text(
            lang,
            "out-files-waiting",
            &[
                ("count", s.files_waiting.into()),
                ("n", s.files_waiting.into()),
                ("size", i18n::bytes(lang, s.file_bytes_waiting).into()),
            ],
        );
        labelled(out, lang, "out-files", &waiting)?;
    }
    labelled(out, lang, "out-store", &store.display().to_string())
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars - 1).collect();
    short.push('…');
    short
}

/// Pads to a width in characters (Latvian letters are one column wide each).
fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

/// The office's sync-health table: one line per centre, its devices below.
pub fn health_table(
    out: &mut dyn Write,
    lang: Lang,
    report: &SyncHealth,
    rows: &[CentreHealth],
    silent_days: u32,
) -> io::Result<()> {
    let local = |t: DateTime<Utc>| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string();
    let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| i18n::t(lang, "out-never"), local);
    let unsent = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let heading = |id| t(lang, id).to_uppercase();
    let reported = i18n::text(
        lang,
        "out-health-reported",
        &[
            ("at", local(report.received_at).into()),
            ("days", silent_days.into()),
        ],
    );
    writeln!(out, "{reported}")?;
    writeln!(
        out,
        "{}  {}  {:>8}  {}",
        pad(&heading("out-col-centre-device"), 32),
        pad(&heading("out-col-last-sync"), 16),
        heading("out-col-not-sent"),
        heading("out-col-state")
    )?;
    for row in rows {
        writeln!(
            out,
            "{}  {}  {:>8}  {}",
            pad(&shorten(&row.centre, 32), 32),
            pad(&when(row.last_synced), 16),
            unsent(row.unsent),
            silence(lang, row.silence)
        )?;
        for d in &row.devices {
            let revoked = if d.revoked {
                t(lang, "out-revoked")
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {}  {}  {:>8}  {revoked}",
                pad(&shorten(&d.name, 30), 30),
                pad(&when(d.last_synced), 16),
                unsent(d.unsent.map(u64::from))
            )?;
        }
    }
    Ok(())
}

/// A centre's state in the health table.
fn silence(lang: Lang, silence: Silence) -> String {
    match silence {
        Silence::Fine => t(lang, "out-state-fine"),
        Silence::Silent { days } => i18n::text(
            lang,
            "out-state-silent",
            &[("count", days.into()), ("n", days.into())],
        ),
        Silence::NeverSynced => t(lang, "out-state-never"),
        Silence::Office => t(lang, "out-state-office"),
        Silence::NoDevice => t(lang, "out-state-no-device"),
    }
}

/// `field-client service status`: installed, starting at login, running.
pub fn write_service(
    out: &mut dyn Write,
    lang: Lang,
    state: &crate::service::ServiceState,
) -> io::Result<()> {
    let installed = if state.installed {
        state.places.unit.display().to_string()
    } else {
        t(lang, "out-service-not-installed")
    };
    labelled(out, lang, "out-service-unit", &installed)?;
    labelled(out, lang, "out-service-at-login", &state.enabled)?;
    labelled(out, lang, "out-service-running", &state.active)
}
