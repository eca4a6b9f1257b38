//! Plain-text output for people: the activity table, one activity's details,
//! and the status summary.

use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Local, Utc};
use sync_core::replica::Status;
use sync_core::{Activity, JournalInfo};

use crate::budget::{BudgetState, Bytes};
use crate::health::{CentreHealth, Silence, SyncHealth};
use crate::net::{Enrolment, SyncStatus};
use crate::web::i18n::{self, Lang, t};

/// Longest title shown in the table before it is shortened with "…".
const TABLE_TITLE_CHARS: usize = 48;

pub fn write_table(out: &mut dyn Write, activities: &[Activity]) -> io::Result<()> {
    if activities.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:<10}  {:<5}  {:<20}  {:<48}  {:>6}  ID",
        "DATE", "START", "KIND", "TITLE", "PEOPLE"
    )?;
    for a in activities {
        let start = a
            .start
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default();
        let mut title = shorten(&a.title, TABLE_TITLE_CHARS);
        if a.deleted {
            title = shorten(&format!("[deleted] {}", a.title), TABLE_TITLE_CHARS);
        }
        writeln!(
            out,
            "{}  {:<5}  {:<20}  {}  {:>6}  {}",
            a.date.format("%Y-%m-%d"),
            start,
            a.kind.key(),
            pad(&title, TABLE_TITLE_CHARS),
            a.counts.total(),
            a.id
        )?;
    }
    Ok(())
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
                ("at", at.format("%Y-%m-%d %H:%M UTC").to_string().into()),
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
    Ok(())
}

pub fn write_centre_table(out: &mut dyn Write, rows: &[(JournalInfo, Activity)]) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:<24}  {:<10}  {:<20}  {:<48}  {:>6}  ID",
        "CENTRE", "DATE", "KIND", "TITLE", "PEOPLE"
    )?;
    for (info, a) in rows {
        let title = if a.deleted {
            format!("[deleted] {}", a.title)
        } else {
            a.title.clone()
        };
        writeln!(
            out,
            "{}  {}  {:<20}  {}  {:>6}  {}",
            pad(&shorten(&info.centre, 24), 24),
            a.date.format("%Y-%m-%d"),
            a.kind.key(),
            pad(&shorten(&title, TABLE_TITLE_CHARS), TABLE_TITLE_CHARS),
            a.counts.total(),
            a.id
        )?;
    }
    Ok(())
}

/// Sync state in plain words: enrolled or not, last success, last failure.
pub fn write_sync_status(
    out: &mut dyn Write,
    enrolment: Option<&Enrolment>,
    sync: &SyncStatus,
) -> io::Result<()> {
    let Some(enrolment) = enrolment else {
        return writeln!(
            out,
            "Server:        not enrolled yet (field-client enrol CODE)"
        );
    };
    let role = if enrolment.office {
        " (office device)"
    } else {
        ""
    };
    writeln!(out, "Server:        {}{role}", enrolment.relay)?;
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match &sync.last_success {
        Some(t) => writeln!(out, "Last sync:     {}", when(t))?,
        None => writeln!(out, "Last sync:     never")?,
    }
    if let Some(error) = &sync.last_error {
        let at = sync.last_attempt.as_ref().map(when).unwrap_or_default();
        writeln!(out, "Last attempt:  failed at {at}: {error}")?;
    }
    if let Some(since) = &sync.offline_since {
        writeln!(
            out,
            "Connection:    no connection to the office server since {}",
            when(since)
        )?;
    }
    Ok(())
}

/// A file rewrite an erasure still owes, that failed: said plainly, with
/// when it is tried again.
pub fn write_rewrite_failure(
    out: &mut dyn Write,
    failure: &sync_core::store::RewriteFailure,
) -> io::Result<()> {
    writeln!(
        out,
        "Store file:    still to be rewritten after an erasure (old bytes of the erased record \
         may remain in it); {} attempt(s) failed, the last: {}. `field-client run` tries again \
         when it starts and daily.",
        failure.attempts, failure.error
    )
}

/// Erasures the office asked for: waiting ones, and the office server's
/// answers (nothing printed when there are none).
pub fn write_erasures(
    out: &mut dyn Write,
    requests: &[sync_core::store::ErasureRequest],
) -> io::Result<()> {
    use sync_core::store::ErasureAnswer;
    for r in requests {
        let what = format!("of activity {}", r.activity);
        match r.answer {
            None => writeln!(
                out,
                "Erasure:       {what} waits for the next sync with the office server"
            )?,
            Some(ErasureAnswer::Erased { at, .. }) => writeln!(
                out,
                "Erasure:       {what} was erased by the office server on {}",
                at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
            )?,
            Some(ErasureAnswer::NotFound { .. }) => writeln!(
                out,
                "Erasure:       {what}: the office server holds no such record \
                 (erased before, or never sent); it stays hidden here"
            )?,
        }
    }
    Ok(())
}

/// The data plan and this month's use, in plain words.
pub fn write_data_plan(out: &mut dyn Write, data: &BudgetState) -> io::Result<()> {
    let used = Bytes(data.used);
    match data.plan.monthly_budget {
        None => writeln!(
            out,
            "Data:          {used} used this month ({}), no budget set",
            data.month
        )?,
        Some(budget) if data.is_spent() => writeln!(
            out,
            "Data:          the budget of {} for {} is used up ({used} used{}): syncing is \
             paused until the budget is raised or the month ends; records are still saved here",
            Bytes(budget),
            data.month,
            match data.left() {
                Some(left) if left > 0 => format!(
                    "; the rest of the sync needs more than the {} left",
                    Bytes(left)
                ),
                _ => String::new(),
            }
        )?,
        Some(budget) => writeln!(
            out,
            "Data:          {used} of {} used this month ({}), {} left",
            Bytes(budget),
            data.month,
            Bytes(data.left().unwrap_or(0))
        )?,
    }
    let metered = if data.plan.metered {
        "yes: connects only to send, and once an hour"
    } else {
        "no: stays connected while a network exists"
    };
    writeln!(out, "Metered:       {metered}")
}

pub fn write_status(out: &mut dyn Write, s: &Status, store: &Path) -> io::Result<()> {
    writeln!(out, "Centre:        {}", s.centre)?;
    writeln!(out, "Device:        {} ({})", s.device_name, s.device_id)?;
    writeln!(
        out,
        "Activities:    {} ({} deleted)",
        s.activities, s.deleted
    )?;
    let sent = if s.unsent == 0 {
        "everything is sent (as far as this device knows)".to_owned()
    } else {
        format!(
            "{} {} not yet sent to the office server",
            s.unsent,
            if s.unsent == 1 {
                "activity"
            } else {
                "activities"
            }
        )
    };
    writeln!(out, "Sync:          {sent}")?;
    writeln!(out, "Data:          {}", store.display())
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
    report: &SyncHealth,
    rows: &[CentreHealth],
    silent_days: u32,
) -> io::Result<()> {
    let local = |t: DateTime<Utc>| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string();
    let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| "never".to_owned(), local);
    let unsent = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    writeln!(
        out,
        "As the office server reported at {} (a centre is silent after {silent_days} days)",
        local(report.received_at)
    )?;
    writeln!(
        out,
        "{:<32}  {:<16}  {:>8}  STATE",
        "CENTRE / DEVICE", "LAST SYNC", "NOT SENT"
    )?;
    for row in rows {
        let state = match row.silence {
            Silence::Fine => "ok".to_owned(),
            Silence::Silent { days } => format!("SILENT for {days} days"),
            Silence::NeverSynced => "SILENT: never synced".to_owned(),
            Silence::Office => "office".to_owned(),
            Silence::NoDevice => {
                "NO DEVICE: make it an enrolment code (relay enrol-code --centre ID)".to_owned()
            }
        };
        writeln!(
            out,
            "{}  {:<16}  {:>8}  {state}",
            pad(&shorten(&row.centre, 32), 32),
            when(row.last_synced),
            unsent(row.unsent)
        )?;
        for d in &row.devices {
            let revoked = if d.revoked { "revoked" } else { "" };
            writeln!(
                out,
                "  {}  {:<16}  {:>8}  {revoked}",
                pad(&shorten(&d.name, 30), 30),
                when(d.last_synced),
                unsent(d.unsent.map(u64::from))
            )?;
        }
    }
    Ok(())
}
