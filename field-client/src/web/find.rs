//! Finding activities: the list's search and filters, and the totals of what
//! was found. Pure functions over the activities, so the tests need no server.

use std::collections::BTreeSet;

use serde::Deserialize;
use sync_core::activity::fold_diacritics;
use sync_core::{Activity, Group, Kind};

use super::i18n::month_key;

/// The list's query string: `?q=skolotaja&kind=seminar&month=2026-05&page=2`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) month: String,
    /// One centre's activities only (an office device holds every centre's).
    #[serde(default)]
    pub(super) centre: String,
    #[serde(default)]
    pub(super) page: usize,
    /// Show the deleted activities instead of the current ones.
    #[serde(default)]
    pub(super) deleted: bool,
    /// What was just done, for the message at the top (`saved`, `deleted`, …).
    #[serde(default)]
    pub(super) done: String,
    #[serde(default)]
    pub(super) id: String,
}

/// A parsed filter; unknown kinds and months filter nothing out.
#[derive(Debug)]
pub(super) struct Filter {
    words: Vec<String>,
    kind: Option<Kind>,
    month: Option<String>,
    centre: Option<String>,
    deleted: bool,
}

impl Filter {
    pub(super) fn new(query: &ListQuery) -> Filter {
        Filter {
            words: fold_diacritics(&query.q)
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            kind: Kind::parse(&query.kind),
            month: Some(query.month.trim().to_owned()).filter(|m| !m.is_empty()),
            centre: Some(query.centre.clone()).filter(|c| !c.is_empty()),
            deleted: query.deleted,
        }
    }

    /// True when `a` matches: every word of the search appears in one of its
    /// texts (Latvian letters folded: "skolotaja" finds "Skolotāja").
    pub(super) fn matches(&self, centre: &str, a: &Activity) -> bool {
        a.deleted == self.deleted
            && self.centre.as_deref().is_none_or(|c| c == centre)
            && self.kind.is_none_or(|k| k == a.kind)
            && self.month.as_ref().is_none_or(|m| *m == month_key(a.date))
            && (self.words.is_empty() || {
                let haystack = searchable_text(a);
                self.words.iter().all(|w| haystack.contains(w.as_str()))
            })
    }
}

fn searchable_text(a: &Activity) -> String {
    let mut text = String::with_capacity(a.title.len() + a.description.len() + 64);
    for part in [&a.title, &a.place, &a.description, &a.notes, &a.recorded_by] {
        text.push_str(part);
        text.push('\n');
    }
    for name in a.organisers.iter().chain(&a.institutions) {
        text.push_str(name);
        text.push('\n');
    }
    fold_diacritics(&text)
}

/// What the activities found add up to.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Totals {
    pub(super) activities: usize,
    pub(super) per_group: [u64; Group::ALL.len()],
    pub(super) participants: u64,
    pub(super) hours: f64,
}

impl Totals {
    pub(super) fn of<'a>(activities: impl IntoIterator<Item = &'a Activity>) -> Totals {
        let mut totals = Totals::default();
        for a in activities {
            totals.activities += 1;
            for (i, group) in Group::ALL.iter().enumerate() {
                totals.per_group[i] += u64::from(a.counts.get(*group));
            }
            totals.participants += a.counts.total();
            totals.hours += a.hours.unwrap_or(0.0);
        }
        totals
    }
}

/// The months that have activities, newest first, as "YYYY-MM".
pub(super) fn months<'a>(activities: impl Iterator<Item = &'a Activity>) -> Vec<String> {
    let set: BTreeSet<String> = activities.map(|a| month_key(a.date)).collect();
    set.into_iter().rev().collect()
}

/// The centres whose activities are listed, by name.
pub(super) fn centres(listed: &[super::Listed]) -> Vec<String> {
    let set: BTreeSet<&str> = listed.iter().map(|l| l.centre.as_str()).collect();
    set.into_iter().map(str::to_owned).collect()
}

/// The municipalities of the listed activities' centres, by name.
pub(super) fn municipalities(listed: &[super::Listed]) -> Vec<String> {
    let set: BTreeSet<&str> = listed
        .iter()
        .filter_map(|l| l.municipality.as_deref())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

/// Names this centre used before, for the form's suggestions: organisers and
/// institutions, each sorted and without repeats.
pub(super) fn used_names<'a>(
    activities: impl Iterator<Item = &'a Activity>,
) -> (Vec<String>, Vec<String>) {
    let mut organisers = BTreeSet::new();
    let mut institutions = BTreeSet::new();
    for a in activities.filter(|a| !a.deleted) {
        organisers.extend(a.organisers.iter().cloned());
        institutions.extend(a.institutions.iter().cloned());
    }
    (
        organisers.into_iter().collect(),
        institutions.into_iter().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};
    use sync_core::{ActivityId, Counts};

    fn activity(title: &str, kind: Kind, date: (i32, u32, u32), teachers: u32) -> Activity {
        let mut counts = Counts::default();
        counts.set(Group::Teachers, teachers);
        counts.set(Group::Parents, 1);
        Activity {
            id: ActivityId::new_random(),
            title: title.into(),
            kind,
            date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).expect("date"),
            start: None,
            hours: Some(1.5),
            place: "Smilšu iela 92".into(),
            organisers: vec!["Inese Kalniņa".into()],
            institutions: vec!["20.PII".into()],
            total_participants: counts.total(),
            counts,
            description: String::new(),
            notes: String::new(),
            recorded_by: "laptop".into(),
            created_at: Utc::now(),
            updated_by: "laptop".into(),
            updated_at: Utc::now(),
            deleted: false,
            attachments: Vec::new(),
        }
    }

    fn query(q: &str, kind: &str, month: &str) -> ListQuery {
        ListQuery {
            q: q.into(),
            kind: kind.into(),
            month: month.into(),
            ..ListQuery::default()
        }
    }

    #[test]
    fn search_folds_latvian_letters_both_ways_and_needs_every_word() {
        let a = activity("Skolotāja loma kopienā", Kind::Seminar, (2026, 5, 14), 3);
        assert!(Filter::new(&query("skolotaja", "", "")).matches("Daugavpils KRC", &a));
        assert!(Filter::new(&query("SKOLOTĀJA kopiena", "", "")).matches("Daugavpils KRC", &a));
        assert!(
            Filter::new(&query("kalnina", "", "")).matches("Daugavpils KRC", &a),
            "organisers"
        );
        assert!(
            Filter::new(&query("20.pii", "", "")).matches("Daugavpils KRC", &a),
            "institutions"
        );
        assert!(!Filter::new(&query("skolotaja vecaki", "", "")).matches("Daugavpils KRC", &a));
    }

    #[test]
    fn kind_month_and_deleted_filter() {
        let mut a = activity("Darbnīca", Kind::Workshop, (2026, 5, 14), 3);
        assert!(Filter::new(&query("", "workshop", "2026-05")).matches("Daugavpils KRC", &a));
        assert!(!Filter::new(&query("", "seminar", "")).matches("Daugavpils KRC", &a));
        assert!(!Filter::new(&query("", "", "2026-06")).matches("Daugavpils KRC", &a));
        a.deleted = true;
        assert!(!Filter::new(&query("", "", "")).matches("Daugavpils KRC", &a));
        let deleted = ListQuery {
            deleted: true,
            ..ListQuery::default()
        };
        assert!(Filter::new(&deleted).matches("Daugavpils KRC", &a));
    }

    #[test]
    fn the_centre_filter_keeps_one_centres_activities() {
        let a = activity("Darbnīca", Kind::Workshop, (2026, 5, 14), 3);
        let only = ListQuery {
            centre: "Rēzeknes KRC".into(),
            ..ListQuery::default()
        };
        assert!(Filter::new(&only).matches("Rēzeknes KRC", &a));
        assert!(!Filter::new(&only).matches("Daugavpils KRC", &a));
    }

    #[test]
    fn totals_add_up_every_group() {
        let list = [
            activity("A", Kind::Seminar, (2026, 5, 1), 3),
            activity("B", Kind::Seminar, (2026, 5, 2), 4),
        ];
        let t = Totals::of(&list);
        assert_eq!(t.activities, 2);
        assert_eq!(t.per_group[0], 7, "teachers");
        assert_eq!(t.per_group[2], 2, "parents");
        assert_eq!(t.participants, 9);
        assert!((t.hours - 3.0).abs() < 1e-9);
    }

    #[test]
    fn months_are_distinct_and_newest_first() {
        let list = [
            activity("A", Kind::Seminar, (2026, 4, 1), 0),
            activity("B", Kind::Seminar, (2026, 5, 2), 0),
            activity("C", Kind::Seminar, (2026, 4, 9), 0),
        ];
        assert_eq!(months(list.iter()), ["2026-05", "2026-04"]);
    }
}
