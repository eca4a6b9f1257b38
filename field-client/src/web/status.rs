//! The sync status in plain words: what is waiting, when it was last sent,
//! since when the office server is out of reach, and the data budget.

use chrono::{DateTime, Local, Utc};
use sync_core::ReplicaError;
use sync_core::sync::Update;

use super::i18n::{self, Lang};
use crate::budget::{self, BudgetState, DataPlan};
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
    /// Photos and scans attached here that the office server does not hold
    /// whole yet, and their bytes.
    pub(super) files: sync_core::store::FilesWaiting,
    pub(super) sync: SyncStatus,
    pub(super) data: BudgetState,
    /// Who records on this computer (the header's switch).
    pub(super) people: People,
    /// The store's file still holds an erased record's old bytes: its
    /// rewrite failed (and is tried again at `run`'s start and daily).
    pub(super) rewrite_failed: bool,
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
            files: store.files_waiting()?,
            sync: net::sync_status(store)?,
            data: budget::state(store, Local::now())?,
            people: crate::people::load(store)?,
            rewrite_failed: store.rewrite_failure()?.is_some(),
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
        if let Some(update) = self.sync.update_needed {
            let id = match update {
                Update::ThisProgram => "status-update-this-program",
                Update::Server => "status-update-server",
                Update::Either => "status-update-either",
            };
            out.push(i18n::text(lang, id, &[]));
        }
        if self.sync.relay_unavailable {
            out.push(i18n::text(lang, "status-office-disk-full", &[]));
        }
        out.extend(self.connection_sentences(lang, now));
        out.extend(self.files_sentence(lang));
        out.extend(self.data_sentence(lang));
        if self.rewrite_failed {
            out.push(i18n::t(lang, "status-rewrite-failed"));
        }
        out
    }

    /// When it last sent and whether it is offline, in one sentence when
    /// both ("last sent just now" beside "no connection" read as a
    /// contradiction); on the office's device, when the centres' records
    /// last came and where each centre's is.
    fn connection_sentences(&self, lang: Lang, now: DateTime<Utc>) -> Vec<String> {
        let ago = |at| i18n::ago(lang, at, now);
        let since = |at| since_text(lang, at, now);
        let mut out = match (self.sync.last_success, self.sync.offline_since) {
            (Some(at), Some(off)) => vec![i18n::text(
                lang,
                "status-offline-last-sent",
                &[("since", since(off).into()), ("ago", ago(at).into())],
            )],
            (None, Some(off)) => vec![
                i18n::t(lang, "status-never-sent"),
                i18n::text(
                    lang,
                    "status-offline-since",
                    &[("since", since(off).into())],
                ),
            ],
            (Some(at), None) => vec![i18n::text(
                lang,
                "status-last-sent",
                &[("ago", ago(at).into())],
            )],
            (None, None) => vec![i18n::t(lang, "status-never-sent")],
        };
        if let (true, Some(at)) = (self.office, self.sync.last_success) {
            out.push(i18n::text(
                lang,
                "status-office-received",
                &[("ago", ago(at).into())],
            ));
        }
        out
    }

    /// What files wait, and whether the data budget holds them back (files
    /// use at most `FILE_SHARE_OF_BUDGET_PERCENT` of what the month leaves).
    fn files_sentence(&self, lang: Lang) -> Option<String> {
        let sync_core::store::FilesWaiting { files, bytes } = self.files;
        if files == 0 {
            return None;
        }
        let share = |left: u64| left / 100 * crate::file_link::FILE_SHARE_OF_BUDGET_PERCENT;
        let held_back =
            self.data.is_spent() || self.data.left().is_some_and(|left| share(left) < bytes);
        let id = match held_back {
            true => "status-files-waiting-budget",
            false => "status-files-waiting",
        };
        Some(i18n::text(
            lang,
            id,
            &[
                ("count", files.into()),
                ("n", i18n::number(lang, files).into()),
                ("size", i18n::bytes(lang, bytes).into()),
            ],
        ))
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
                    ("used", i18n::bytes(lang, self.data.used).into()),
                    ("budget", i18n::bytes(lang, budget).into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn facts(office: bool, sync: SyncStatus) -> SyncFacts {
        SyncFacts {
            centre: "Ludzas KRC".into(),
            enrolled: true,
            office,
            waiting: 0,
            files: sync_core::store::FilesWaiting::default(),
            sync,
            data: BudgetState {
                plan: DataPlan::default(),
                month: "2026-12".into(),
                used: 0,
                stopped: false,
            },
            people: crate::people::People::default(),
            rewrite_failed: false,
        }
    }

    #[test]
    fn a_file_not_yet_rewritten_after_an_erasure_is_told() {
        let mut facts = facts(false, SyncStatus::default());
        let said = |facts: &SyncFacts| facts.sentences(Lang::Lv, Utc::now()).join(" ");
        assert!(!said(&facts).contains("izdzēst"), "{}", said(&facts));
        facts.rewrite_failed = true;
        assert!(
            said(&facts).contains("Izdzēstā ieraksta"),
            "{}",
            said(&facts)
        );
    }

    #[test]
    fn files_waiting_are_told_and_whether_the_budget_holds_them_back() {
        let mut facts = facts(false, SyncStatus::default());
        let said = |facts: &SyncFacts, lang| facts.sentences(lang, Utc::now()).join(" ");
        assert!(!said(&facts, Lang::En).contains("scan"));
        facts.files = sync_core::store::FilesWaiting {
            files: 2,
            bytes: 3_400_000,
        };
        let text = said(&facts, Lang::En);
        assert!(
            text.contains("2 photos or scans (3.4 MB) are waiting to be sent."),
            "{text}"
        );
        // A budget whose half of what is left is less than they need.
        facts.data.plan.monthly_budget = Some(50_000_000);
        facts.data.used = 44_000_000;
        let text = said(&facts, Lang::En);
        assert!(
            text.contains("2 photos or scans (3.4 MB) wait: files use at most half"),
            "{text}"
        );
        assert!(text.contains("on Wi-Fi, no budget is needed"), "{text}");
        let text = said(&facts, Lang::Lv);
        assert!(
            text.contains("2 foto vai skenējumi (3,4 MB) gaida:"),
            "{text}"
        );
        // Enough left: they are only waiting.
        facts.data.used = 10_000_000;
        let text = said(&facts, Lang::En);
        assert!(text.contains("are waiting to be sent"), "{text}");
    }

    #[test]
    fn offline_after_a_recent_send_is_one_sentence_not_a_contradiction() {
        let now = Utc::now();
        let sync = SyncStatus {
            last_success: Some(now - TimeDelta::minutes(3)),
            offline_since: Some(now - TimeDelta::minutes(1)),
            ..SyncStatus::default()
        };
        let said = facts(false, sync).sentences(Lang::Lv, now);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[1].starts_with("Nav savienojuma ar biroja serveri kopš "),
            "{said:?}"
        );
        assert!(
            said[1].contains("; pēdējoreiz nosūtīts pirms 3 minūtēm."),
            "{said:?}"
        );
    }

    #[test]
    fn the_office_is_told_when_the_centres_records_came_and_where_to_look() {
        let now = Utc::now();
        let sync = SyncStatus {
            last_success: Some(now - TimeDelta::minutes(2)),
            ..SyncStatus::default()
        };
        let said = facts(true, sync.clone()).sentences(Lang::En, now);
        assert!(
            said.iter()
                .any(|s| s.starts_with("Centres' records received 2 minutes ago")),
            "{said:?}"
        );
        let centre = facts(false, sync).sentences(Lang::En, now);
        assert!(
            !centre.iter().any(|s| s.contains("Centres' records")),
            "{centre:?}"
        );
    }

    #[test]
    fn a_relay_of_another_version_is_told_as_which_program_to_update_in_both_languages() {
        let now = Utc::now();
        for (update, lv, en) in [
            (
                Update::ThisProgram,
                "Šī programma ir vecāka par biroja serveri: atjauniniet to šajā datorā",
                "This program is older than the office server: update it on this computer",
            ),
            (
                Update::Server,
                "Biroja serveris ir vecāks par šo programmu: birojam tas jāatjaunina",
                "The office server is older than this program: the office must update it",
            ),
            (
                Update::Either,
                "Šī programma un biroja serveris runā dažādās versijās",
                "This program and the office server speak different versions",
            ),
        ] {
            let sync = SyncStatus {
                update_needed: Some(update),
                ..SyncStatus::default()
            };
            for (lang, words) in [(Lang::Lv, lv), (Lang::En, en)] {
                let said = facts(false, sync.clone()).sentences(lang, now);
                assert!(said.iter().any(|s| s.starts_with(words)), "{said:?}");
            }
        }
        let said = facts(false, SyncStatus::default()).sentences(Lang::En, now);
        assert!(!said.iter().any(|s| s.contains("update")), "{said:?}");
    }
}
