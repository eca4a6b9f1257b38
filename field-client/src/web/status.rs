//! The sync status in plain words: what is waiting, when it was last sent,
//! since when the office server is out of reach, and the data budget.

use chrono::{DateTime, Local, Utc};
use sync_core::ReplicaError;

use super::i18n::{self, Lang};
use crate::budget::{self, BudgetState, Bytes, DataPlan};
use crate::net::{self, SyncStatus};
use crate::people::People;

/// What the status line is made of, read from the store.
#[derive(Debug)]
pub(super) struct SyncFacts {
    pub(super) centre: String,
    pub(super) enrolled: bool,
    /// Enrolled with an office code.
    pub(super) office: bool,
    /// Activities with changes the office server has not confirmed storing.
    pub(super) waiting: u64,
    pub(super) sync: SyncStatus,
    pub(super) data: BudgetState,
    /// Who records on this computer (the header's switch).
    pub(super) people: People,
}

impl SyncFacts {
    /// Reads settings and counters only, never the activities.
    pub(super) fn read(view: &super::View<'_>) -> Result<SyncFacts, ReplicaError> {
        let store = view.store();
        let mut waiting = 0;
        for journal in store.journals()? {
            waiting += store.unsent_count(journal.id)?;
        }
        let enrolment = net::enrolment(store)?;
        Ok(SyncFacts {
            centre: view.home()?.centre,
            enrolled: enrolment.is_some(),
            office: enrolment.is_some_and(|e| e.office),
            waiting,
            sync: net::sync_status(store)?,
            data: budget::state(store, Local::now())?,
            people: crate::people::load(store)?,
        })
    }

    /// The status as sentences, most important first.
    pub(super) fn sentences(&self, lang: Lang, now: DateTime<Utc>) -> Vec<String> {
        let mut out = vec![match self.waiting {
            0 => i18n::text(lang, "status-all-sent", &[]),
            n => i18n::text(
                lang,
                "status-waiting",
                &[("count", n.into()), ("n", i18n::number(lang, n).into())],
            ),
        }];
        if !self.enrolled {
            out.push(i18n::text(lang, "status-not-enrolled", &[]));
            return out;
        }
        if self.sync.revoked {
            out.push(i18n::text(lang, "status-revoked", &[]));
            return out;
        }
        if self.sync.relay_unavailable {
            out.push(i18n::text(lang, "status-office-disk-full", &[]));
        }
        out.push(match self.sync.last_success {
            Some(at) => i18n::text(
                lang,
                "status-last-sent",
                &[("ago", i18n::ago(lang, at, now).into())],
            ),
            None => i18n::text(lang, "status-never-sent", &[]),
        });
        if let Some(since) = self.sync.offline_since {
            out.push(i18n::text(
                lang,
                "status-offline-since",
                &[("since", since_text(lang, since, now).into())],
            ));
        }
        out.extend(self.data_sentence(lang));
        out
    }

    fn data_sentence(&self, lang: Lang) -> Option<String> {
        if self.data.plan == DataPlan::default() {
            return None;
        }
        if self.data.is_spent() {
            return Some(i18n::text(lang, "status-budget-spent", &[]));
        }
        match self.data.plan.monthly_budget {
            Some(budget) => Some(i18n::text(
                lang,
                "status-budget",
                &[
                    ("used", bytes(lang, self.data.used).into()),
                    ("budget", bytes(lang, budget).into()),
                ],
            )),
            None => Some(i18n::text(lang, "status-metered", &[])),
        }
    }
}

/// "09:14" today, else the date and time.
fn since_text(lang: Lang, since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = since.with_timezone(&Local);
    if local.date_naive() == now.with_timezone(&Local).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        i18n::moment(lang, since)
    }
}

/// A byte count as "12.3 MB" / "12,3 MB".
fn bytes(lang: Lang, n: u64) -> String {
    let text = Bytes(n).to_string();
    match lang {
        Lang::Lv => text.replace('.', ","),
        Lang::En => text,
    }
}
