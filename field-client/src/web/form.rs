//! The activity form: values as typed (so nothing is lost when a field is
//! wrong), their conversion to the core's input, and what changed between two
//! versions of a form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sync_core::{Activity, ActivityInput, Field, FieldErrors, Group};

use super::i18n::{self, Lang};

/// A posted `application/x-www-form-urlencoded` body, repeated names kept.
#[derive(Debug, Default)]
pub(super) struct FormData(Vec<(String, String)>);

impl FormData {
    pub(super) fn parse(body: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// Every field of the form, as text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ActivityForm {
    pub(super) title: String,
    pub(super) kind: String,
    pub(super) date: String,
    pub(super) start: String,
    pub(super) hours: String,
    pub(super) place: String,
    pub(super) organisers: Vec<String>,
    pub(super) institutions: Vec<String>,
    /// One per [`Group::ALL`], in that order.
    pub(super) counts: Vec<String>,
    pub(super) description: String,
    pub(super) notes: String,
}

/// The form's fields, by their HTML names, in the order the form shows them.
pub(super) const FIELD_NAMES: [&str; 10] = [
    "title",
    "kind",
    "date",
    "start",
    "hours",
    "place",
    "organiser",
    "institution",
    "description",
    "notes",
];

/// The HTML name of a group's count field.
pub(super) fn count_name(group: Group) -> String {
    format!("count-{}", group.key())
}

impl ActivityForm {
    pub(super) fn from_activity(a: &Activity) -> ActivityForm {
        ActivityForm {
            title: a.title.clone(),
            kind: a.kind.key().to_owned(),
            date: a.date.format("%Y-%m-%d").to_string(),
            start: a
                .start
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            hours: a
                .hours
                .map(|h| i18n::hours(Lang::En, h))
                .unwrap_or_default(),
            place: a.place.clone(),
            organisers: a.organisers.clone(),
            institutions: a.institutions.clone(),
            counts: Group::ALL
                .iter()
                .map(|g| match a.counts.get(*g) {
                    0 => String::new(),
                    n => n.to_string(),
                })
                .collect(),
            description: a.description.clone(),
            notes: a.notes.clone(),
        }
    }

    pub(super) fn from_posted(data: &FormData) -> ActivityForm {
        ActivityForm {
            title: data.text("title"),
            kind: data.text("kind"),
            date: canonical_date(data.text("date")),
            start: data.text("start"),
            hours: canonical_hours(data.text("hours")),
            place: data.text("place"),
            organisers: data.all("organiser"),
            institutions: data.all("institution"),
            counts: Group::ALL
                .iter()
                .map(|g| data.text(&count_name(*g)).trim().to_owned())
                .collect(),
            description: data.text("description"),
            notes: data.text("notes"),
        }
    }

    /// The core's input for every field (a new activity).
    pub(super) fn to_input(&self) -> ActivityInput {
        self.input_of(&self.changed_from(None))
    }

    /// The core's input for the fields in `changed` only (an edit).
    pub(super) fn input_of(&self, changed: &[&str]) -> ActivityInput {
        let has = |name: &str| changed.contains(&name);
        let text = |name: &str, value: &String| has(name).then(|| value.clone());
        ActivityInput {
            title: text("title", &self.title),
            kind: text("kind", &self.kind),
            date: text("date", &self.date),
            start: text("start", &self.start),
            hours: text("hours", &self.hours),
            place: text("place", &self.place),
            organisers: has("organiser").then(|| self.organisers.clone()),
            institutions: has("institution").then(|| self.institutions.clone()),
            counts: Group::ALL
                .iter()
                .zip(&self.counts)
                .filter(|(g, _)| has(&count_name(**g)))
                .map(|(g, n)| (g.key().to_owned(), n.clone()))
                .collect(),
            description: text("description", &self.description),
            notes: text("notes", &self.notes),
        }
    }

    /// Names of the fields that differ from `base` (all of them without one).
    pub(super) fn changed_from(&self, base: Option<&ActivityForm>) -> Vec<&'static str> {
        let mut changed: Vec<&'static str> = FIELD_NAMES
            .into_iter()
            .filter(|name| base.is_none_or(|b| self.value(name) != b.value(name)))
            .collect();
        for (i, group) in Group::ALL.iter().enumerate() {
            if base.is_none_or(|b| b.counts.get(i) != self.counts.get(i)) {
                changed.push(count_field_name(*group));
            }
        }
        changed
    }

    /// Copies the fields named in `names` from `other`.
    pub(super) fn take_fields(&mut self, other: &ActivityForm, names: &[&str]) {
        for name in names {
            match *name {
                "title" => self.title = other.title.clone(),
                "kind" => self.kind = other.kind.clone(),
                "date" => self.date = other.date.clone(),
                "start" => self.start = other.start.clone(),
                "hours" => self.hours = other.hours.clone(),
                "place" => self.place = other.place.clone(),
                "organiser" => self.organisers = other.organisers.clone(),
                "institution" => self.institutions = other.institutions.clone(),
                "description" => self.description = other.description.clone(),
                "notes" => self.notes = other.notes.clone(),
                count => {
                    if let Some(i) = Group::ALL.iter().position(|g| count_name(*g) == count) {
                        self.counts.resize(Group::ALL.len(), String::new());
                        self.counts[i] = other.counts.get(i).cloned().unwrap_or_default();
                    }
                }
            }
        }
    }

    /// A field's value as one text, for comparing and for showing a change.
    pub(super) fn value(&self, name: &str) -> String {
        match name {
            "title" => self.title.clone(),
            "kind" => self.kind.clone(),
            "date" => self.date.clone(),
            "start" => self.start.clone(),
            "hours" => self.hours.clone(),
            "place" => self.place.clone(),
            "organiser" => self.organisers.join(", "),
            "institution" => self.institutions.join(", "),
            "description" => self.description.clone(),
            "notes" => self.notes.clone(),
            count => Group::ALL
                .iter()
                .position(|g| count_name(*g) == count)
                .and_then(|i| self.counts.get(i).cloned())
                .unwrap_or_default(),
        }
    }

    /// The total of the counts typed so far (numbers only).
    pub(super) fn total(&self) -> u64 {
        self.counts
            .iter()
            .filter_map(|c| c.trim().parse::<u64>().ok())
            .sum()
    }
}

/// `count-teachers` and the like as `'static` names, for the changed lists.
fn count_field_name(group: Group) -> &'static str {
    match group {
        Group::Teachers => "count-teachers",
        Group::ChildrenAndYouth => "count-children_and_youth",
        Group::Parents => "count-parents",
        Group::MunicipalStaff => "count-municipal_staff",
        Group::NgoRepresentatives => "count-ngo_representatives",
        Group::Media => "count-media",
        Group::Volunteers => "count-volunteers",
        Group::Other => "count-other",
    }
}

/// Error messages by field name, in the interface language.
pub(super) type Errors = BTreeMap<String, String>;

/// The core's field errors as messages next to the fields.
pub(super) fn messages(lang: Lang, errors: &FieldErrors) -> Errors {
    let mut out = Errors::new();
    for e in &errors.0 {
        out.entry(field_name(&e.field))
            .or_insert_with(|| i18n::problem(lang, e.code));
    }
    out
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Title => "title".into(),
        Field::Kind => "kind".into(),
        Field::Date => "date".into(),
        Field::Start => "start".into(),
        Field::Hours => "hours".into(),
        Field::Place => "place".into(),
        Field::Organisers => "organiser".into(),
        Field::Institutions => "institution".into(),
        Field::Count(group) => format!("count-{group}"),
        Field::Description => "description".into(),
        Field::Notes => "notes".into(),
    }
}

/// A field's label, for showing a change made elsewhere.
pub(super) fn label(lang: Lang, name: &str) -> String {
    match name.strip_prefix("count-") {
        Some(key) => Group::parse(key)
            .map(|g| i18n::group_name(lang, g))
            .unwrap_or_else(|| key.to_owned()),
        None => {
            let id = match name {
                "organiser" => "field-organisers".to_owned(),
                "institution" => "field-institutions".to_owned(),
                other => format!("field-{other}"),
            };
            i18n::text(lang, &id, &[])
        }
    }
}

/// A date as the form keeps it: "2026-05-14", whichever way it was typed
/// ("14.05.2026."); text that is no date is kept as typed, for its error.
fn canonical_date(typed: String) -> String {
    match sync_core::activity::parse_date_text(&typed) {
        Some(day) => day.format("%Y-%m-%d").to_string(),
        None => typed,
    }
}

/// Hours as the form keeps them: with a decimal point, whichever mark was
/// typed ("1,5" in Latvian), so that an unchanged value compares equal; text
/// that is no number is kept as typed, for its error message.
fn canonical_hours(typed: String) -> String {
    let pointed = typed.trim().replace(',', ".");
    if pointed.parse::<f64>().is_ok() {
        pointed
    } else {
        typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> FormData {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        FormData::parse(body.as_bytes())
    }

    #[test]
    fn repeated_names_and_latvian_letters_survive_the_round_trip() {
        let form = ActivityForm::from_posted(&posted(&[
            ("title", "Skolotāja loma"),
            ("organiser", "Inese Kalniņa"),
            ("organiser", ""),
            ("organiser", "Jānis Bērziņš"),
            ("count-teachers", "12"),
        ]));
        assert_eq!(form.title, "Skolotāja loma");
        assert_eq!(form.organisers, ["Inese Kalniņa", "Jānis Bērziņš"]);
        assert_eq!(form.counts[0], "12");
        assert_eq!(form.total(), 12);
    }

    #[test]
    fn an_edit_sends_only_the_fields_that_changed() {
        let base = ActivityForm {
            title: "A".into(),
            counts: vec![String::new(); 8],
            ..ActivityForm::default()
        };
        let mut mine = base.clone();
        mine.place = "Rēzekne".into();
        mine.counts[1] = "4".into();
        let changed = mine.changed_from(Some(&base));
        assert_eq!(changed, ["place", "count-children_and_youth"]);
        let input = mine.input_of(&changed);
        assert_eq!(input.title, None);
        assert_eq!(input.place.as_deref(), Some("Rēzekne"));
        assert_eq!(
            input.counts,
            [("children_and_youth".to_owned(), "4".to_owned())]
        );
    }

    #[test]
    fn errors_are_said_in_the_interface_language_next_to_their_field() {
        let form = ActivityForm {
            title: " ".into(),
            kind: "seminar".into(),
            date: "14.13.2026".into(),
            counts: vec!["-3".into(), String::new()],
            ..ActivityForm::default()
        };
        let errors = form.to_input().parse().expect_err("three bad fields");
        let lv = messages(Lang::Lv, &errors);
        assert_eq!(lv["title"], "Šis lauks nedrīkst būt tukšs.");
        assert!(lv["date"].starts_with("Ierakstiet datumu"), "{lv:?}");
        assert_eq!(lv["count-teachers"], "Skaits nevar būt negatīvs.");
        let en = messages(Lang::En, &errors);
        assert_eq!(en["count-teachers"], "A count cannot be negative.");
    }
}
