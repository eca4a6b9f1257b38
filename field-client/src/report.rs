//! Reports for partners and funders: for a period (and optionally one centre,
//! municipality or kind), the number of activities, hours, participants per
//! group and in total, and the distinct partner institutions — per centre,
//! per municipality and overall.
//! Pure functions over activities; the writers are in `interchange::report`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;
use sync_core::{Activity, Group, Kind};

/// What a report covers. Both dates are included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, String> {
        if from > to {
            return Err(format!(
                "the period ends ({to}) before it starts ({from}); give --from before --to"
            ));
        }
        Ok(Period { from, to })
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }
}

/// Where an activity was recorded: its centre, and the centre's municipality
/// when the office set one (`relay centre set-municipality`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    pub centre: &'a str,
    pub municipality: Option<&'a str>,
}

impl<'a> From<&'a sync_core::JournalInfo> for Origin<'a> {
    fn from(info: &'a sync_core::JournalInfo) -> Origin<'a> {
        Origin {
            centre: &info.centre,
            municipality: info.municipality.as_deref(),
        }
    }
}

/// Which activities a report counts: not deleted, in the period, and of the
/// centre, municipality and kind when given.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub period: Period,
    pub centre: Option<String>,
    pub municipality: Option<String>,
    pub kind: Option<Kind>,
}

impl Selection {
    pub fn includes(&self, origin: Origin<'_>, a: &Activity) -> bool {
        !a.deleted
            && self.period.contains(a.date)
            && self.centre.as_deref().is_none_or(|c| c == origin.centre)
            && self
                .municipality
                .as_deref()
                .is_none_or(|m| Some(m) == origin.municipality)
            && self.kind.is_none_or(|k| k == a.kind)
    }
}

/// The figures of a set of activities.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub activities: u64,
    pub hours: f64,
    /// Participants per group, by group key, in [`Group::ALL`] order.
    pub participants: BTreeMap<&'static str, u64>,
    pub total_participants: u64,
    /// Distinct partner institutions (names compared without case and extra spaces).
    pub institutions: usize,
    #[serde(skip)]
    institution_names: BTreeSet<String>,
}

impl Figures {
    fn add(&mut self, a: &Activity) {
        self.activities += 1;
        self.hours += a.hours.unwrap_or(0.0);
        for group in Group::ALL {
            *self.participants.entry(group.key()).or_default() += u64::from(a.counts.get(group));
        }
        self.total_participants += a.counts.total();
        self.institution_names
            .extend(a.institutions.iter().map(|name| institution_key(name)));
        self.institutions = self.institution_names.len();
    }

    /// Participants of one group.
    pub fn group(&self, group: Group) -> u64 {
        self.participants.get(group.key()).copied().unwrap_or(0)
    }
}

/// One name per institution however it was typed: "20.PII", "20.pii " and
/// "20. PII" are one.
pub fn institution_key(name: &str) -> String {
    name.split_whitespace().collect::<String>().to_lowercase()
}

/// A report: the selection, each centre's figures and the overall ones.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub selection: Selection,
    /// By centre name, only centres with activities in the selection.
    pub centres: BTreeMap<String, Figures>,
    /// By municipality, only those with activities in the selection (centres
    /// without a municipality are in no row here).
    pub municipalities: BTreeMap<String, Figures>,
    pub total: Figures,
    /// Participants per month ("YYYY-MM") per centre, for the chart.
    pub months: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Builds the report of `selection` over every activity given with where it
/// was recorded.
pub fn build<'a>(
    selection: Selection,
    activities: impl IntoIterator<Item = (Origin<'a>, &'a Activity)>,
) -> Report {
    let mut centres: BTreeMap<String, Figures> = BTreeMap::new();
    let mut municipalities: BTreeMap<String, Figures> = BTreeMap::new();
    let mut total = Figures::default();
    let mut months: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (origin, a) in activities {
        if !selection.includes(origin, a) {
            continue;
        }
        let centre = origin.centre;
        centres.entry(centre.to_owned()).or_default().add(a);
        if let Some(municipality) = origin.municipality {
            municipalities
                .entry(municipality.to_owned())
                .or_default()
                .add(a);
        }
        total.add(a);
        *months
            .entry(a.date.format("%Y-%m").to_string())
            .or_default()
            .entry(centre.to_owned())
            .or_default() += a.counts.total();
    }
    Report {
        selection,
        centres,
        municipalities,
        total,
        months,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use sync_core::{ActivityId, Counts};

    const INSTITUTIONS: [&str; 6] = [
        "20.PII",
        "20.pii ",
        "13.vsk",
        "13. VSK",
        "BJC Mezgls",
        "Izglītības pārvalde",
    ];
    const CENTRES: [&str; 3] = ["Daugavpils KRC", "Rēzeknes KRC", "Preiļu KRC"];
    /// Each centre's municipality; the last has none set.
    const MUNICIPALITIES: [Option<&str>; 3] = [Some("Daugavpils"), Some("Rēzeknes novads"), None];

    fn origin(c: usize) -> Origin<'static> {
        Origin {
            centre: CENTRES[c],
            municipality: MUNICIPALITIES[c],
        }
    }

    prop_compose! {
        fn activity()(
            centre in 0..CENTRES.len(),
            day in 0..730_u64,
            kind in 0..Kind::ALL.len(),
            counts in proptest::collection::vec(0..500_u32, Group::ALL.len()),
            hours in proptest::option::of(1..40_u32),
            institutions in proptest::collection::vec(0..INSTITUTIONS.len(), 0..4),
            deleted in proptest::bool::weighted(0.1),
        ) -> (usize, Activity) {
            let mut c = Counts::default();
            for (g, n) in Group::ALL.iter().zip(&counts) {
                c.set(*g, *n);
            }
            let date = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Days::new(day);
            (centre, Activity {
                id: ActivityId::new_random(),
                title: "t".into(),
                kind: Kind::ALL[kind],
                date,
                start: None,
                hours: hours.map(|h| f64::from(h) / 4.0),
                place: String::new(),
                organisers: vec![],
                institutions: institutions.iter().map(|i| INSTITUTIONS[*i].to_owned()).collect(),
                total_participants: c.total(),
                counts: c,
                description: String::new(),
                notes: String::new(),
                recorded_by: "x".into(),
                created_at: Utc::now(),
                updated_by: "x".into(),
                updated_at: Utc::now(),
                deleted,
                attachments: Vec::new(),
            })
        }
    }

    proptest! {
        /// The report's figures equal those computed directly from the raw
        /// records, for any records, period, centre and kind.
        #[test]
        fn report_totals_match_an_independent_count(
            records in proptest::collection::vec(activity(), 0..200),
            start in 0..730_u64,
            length in 0..400_u64,
            centre in proptest::option::of(0..CENTRES.len()),
            municipality in proptest::option::of(0..2_usize),
            kind in proptest::option::of(0..Kind::ALL.len()),
        ) {
            let from = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Days::new(start);
            let to = from + chrono::Days::new(length);
            let selection = Selection {
                period: Period::new(from, to).expect("period"),
                centre: centre.map(|c| CENTRES[c].to_owned()),
                municipality: municipality.and_then(|m| MUNICIPALITIES[m]).map(str::to_owned),
                kind: kind.map(|k| Kind::ALL[k]),
            };
            let report = build(selection, records.iter().map(|(c, a)| (origin(*c), a)));

            // Independently: filter by hand, then add up.
            let chosen: Vec<&(usize, Activity)> = records
                .iter()
                .filter(|(c, a)| !a.deleted && a.date >= from && a.date <= to
                    && centre.is_none_or(|x| x == *c)
                    && municipality.is_none_or(|m| MUNICIPALITIES[m] == MUNICIPALITIES[*c])
                    && kind.is_none_or(|k| Kind::ALL[k] == a.kind))
                .collect();
            prop_assert_eq!(report.total.activities, chosen.len() as u64);
            let people: u64 = chosen.iter().map(|(_, a)| Group::ALL.iter().map(|g| u64::from(a.counts.get(*g))).sum::<u64>()).sum();
            prop_assert_eq!(report.total.total_participants, people);
            for g in Group::ALL {
                let n: u64 = chosen.iter().map(|(_, a)| u64::from(a.counts.get(g))).sum();
                prop_assert_eq!(report.total.group(g), n);
            }
            let hours: f64 = chosen.iter().filter_map(|(_, a)| a.hours).sum();
            prop_assert!((report.total.hours - hours).abs() < 1e-6);
            let distinct: HashSet<String> = chosen
                .iter()
                .flat_map(|(_, a)| a.institutions.iter())
                .map(|n| n.to_lowercase().replace(' ', ""))
                .collect();
            prop_assert_eq!(report.total.institutions, distinct.len());
            // The months add up to the total participants.
            let monthly: u64 = report.months.values().flat_map(|m| m.values()).sum();
            prop_assert_eq!(monthly, people);
            // The centres' figures add up to the total.
            let by_centre: u64 = report.centres.values().map(|f| f.activities).sum();
            prop_assert_eq!(by_centre, report.total.activities);
            for (name, figures) in &report.centres {
                let own = chosen.iter().filter(|(c, _)| CENTRES[*c] == name.as_str()).count() as u64;
                prop_assert_eq!(figures.activities, own);
            }
            // Each municipality holds exactly its centres' activities.
            for (name, figures) in &report.municipalities {
                let own: Vec<_> = chosen.iter().filter(|(c, _)| MUNICIPALITIES[*c] == Some(name.as_str())).collect();
                prop_assert_eq!(figures.activities, own.len() as u64);
                let people: u64 = own.iter().map(|(_, a)| a.counts.total()).sum();
                prop_assert_eq!(figures.total_participants, people);
            }
            let in_some: usize = chosen.iter().filter(|(c, _)| MUNICIPALITIES[*c].is_some()).count();
            let by_municipality: u64 = report.municipalities.values().map(|f| f.activities).sum();
            prop_assert_eq!(by_municipality, in_some as u64);
        }
    }

    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 5, d).expect("date");
        assert!(Period::new(day(2), day(1)).is_err());
        assert!(Period::new(day(1), day(1)).is_ok());
    }
}
