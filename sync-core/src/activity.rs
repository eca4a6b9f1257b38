//! The activity record: what a centre ran, when, where, and who took part.
//!
//! [`Activity`] is the typed view of one record read from a journal.
//! [`ActivityInput`] is what people type (strings, from the CLI, a form or an
//! imported row); [`ActivityInput::parse`] validates every field and names each
//! field that is wrong, producing an [`ActivityPatch`] that a journal applies.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::files::{FileHash, MediaType};
use crate::limits::{
    MAX_ACTIVITY_HOURS, MAX_LONG_TEXT_CHARS, MAX_NAME_CHARS, MAX_NAMES_PER_LIST,
    MAX_PARTICIPANTS_PER_GROUP, MAX_TITLE_CHARS,
};

/// The stable identity of one activity, a random UUID chosen where it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActivityId(pub Uuid);

impl ActivityId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for ActivityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for ActivityId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

/// What sort of activity it was, as the centres and the office classify them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Seminar,
    Workshop,
    Training,
    Consultation,
    CommunityInitiative,
    Event,
    Meeting,
    Symposium,
    Other,
}

impl Kind {
    /// Every kind, in the order forms and reports show them.
    pub const ALL: [Kind; 9] = [
        Kind::Seminar,
        Kind::Workshop,
        Kind::Training,
        Kind::Consultation,
        Kind::CommunityInitiative,
        Kind::Event,
        Kind::Meeting,
        Kind::Symposium,
        Kind::Other,
    ];

    /// The stable English key stored in journals and exports.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Seminar => "seminar",
            Kind::Workshop => "workshop",
            Kind::Training => "training",
            Kind::Consultation => "consultation",
            Kind::CommunityInitiative => "community_initiative",
            Kind::Event => "event",
            Kind::Meeting => "meeting",
            Kind::Symposium => "symposium",
            Kind::Other => "other",
        }
    }

    /// The Latvian name, accepted on input (spreadsheets from the centres use it).
    pub fn latvian(self) -> &'static str {
        match self {
            Kind::Seminar => "seminārs",
            Kind::Workshop => "darbnīca",
            Kind::Training => "apmācība",
            Kind::Consultation => "konsultācija",
            Kind::CommunityInitiative => "kopienas iniciatīva",
            Kind::Event => "pasākums",
            Kind::Meeting => "sanāksme",
            Kind::Symposium => "simpozijs",
            Kind::Other => "cits",
        }
    }

    /// Other names a Latvian spreadsheet gives the kind: the plural a column
    /// of activities often uses ("semināri", "darbnīcas"), and English plurals.
    fn other_names(self) -> &'static [&'static str] {
        match self {
            Kind::Seminar => &["semināri", "seminars"],
            Kind::Workshop => &["darbnīcas", "workshops"],
            Kind::Training => &["apmācības", "trainings"],
            Kind::Consultation => &["konsultācijas", "consultations"],
            Kind::CommunityInitiative => &["kopienas iniciatīvas", "community initiatives"],
            Kind::Event => &["pasākumi", "events"],
            Kind::Meeting => &["sanāksmes", "meetings"],
            Kind::Symposium => &["simpoziji", "symposia", "symposiums"],
            Kind::Other => &["citi", "cita"],
        }
    }

    /// Reads a kind from its English key or Latvian name, singular or plural,
    /// ignoring case, spaces versus underscores and Latvian diacritics
    /// ("seminars" finds "seminārs").
    pub fn parse(text: &str) -> Option<Kind> {
        // Stored keys are exact: no folding needed (it dominated reading a view).
        if let Some(kind) = Kind::ALL.into_iter().find(|k| k.key() == text) {
            return Some(kind);
        }
        let wanted = fold_key(text);
        Kind::ALL.into_iter().find(|k| {
            fold_key(k.key()) == wanted
                || fold_key(k.latvian()) == wanted
                || k.other_names().iter().any(|name| fold_key(name) == wanted)
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A group of participants counted separately in every report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Teachers,
    ChildrenAndYouth,
    Parents,
    MunicipalStaff,
    NgoRepresentatives,
    Media,
    Volunteers,
    Other,
}

impl Group {
    /// Every group, in the order forms, exports and reports show them.
    pub const ALL: [Group; 8] = [
        Group::Teachers,
        Group::ChildrenAndYouth,
        Group::Parents,
        Group::MunicipalStaff,
        Group::NgoRepresentatives,
        Group::Media,
        Group::Volunteers,
        Group::Other,
    ];

    /// The English snake_case key used in journals, JSON and CSV headers.
    pub fn key(self) -> &'static str {
        match self {
            Group::Teachers => "teachers",
            Group::ChildrenAndYouth => "children_and_youth",
            Group::Parents => "parents",
            Group::MunicipalStaff => "municipal_staff",
            Group::NgoRepresentatives => "ngo_representatives",
            Group::Media => "media",
            Group::Volunteers => "volunteers",
            Group::Other => "other",
        }
    }

    /// The Latvian name, accepted on input.
    pub fn latvian(self) -> &'static str {
        match self {
            Group::Teachers => "pedagogi",
            Group::ChildrenAndYouth => "bērni un jaunieši",
            Group::Parents => "vecāki",
            Group::MunicipalStaff => "pašvaldības darbinieki",
            Group::NgoRepresentatives => "NVO pārstāvji",
            Group::Media => "mediji",
            Group::Volunteers => "brīvprātīgie",
            Group::Other => "citi",
        }
    }

    /// Reads a group from its key or Latvian name, forgiving case and diacritics.
    pub fn parse(text: &str) -> Option<Group> {
        // Stored keys are exact: no folding needed (it dominated reading a view).
        if let Some(group) = Group::ALL.into_iter().find(|g| g.key() == text) {
            return Some(group);
        }
        let wanted = fold_key(text);
        Group::ALL
            .into_iter()
            .find(|g| fold_key(g.key()) == wanted || fold_key(g.latvian()) == wanted)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Participant counts, one per [`Group`]. Counts are plain values a person sets
/// ("12 teachers came"), not counters: a correction replaces the number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts([u32; 8]);

impl Counts {
    pub fn get(&self, group: Group) -> u32 {
        self.0[group.index()]
    }

    pub fn set(&mut self, group: Group, value: u32) {
        self.0[group.index()] = value;
    }

    /// All participants together.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    /// (group, count) pairs in display order.
    pub fn iter(&self) -> impl Iterator<Item = (Group, u32)> + '_ {
        Group::ALL.into_iter().map(|g| (g, self.get(g)))
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Group::ALL.len()))?;
        for (group, n) in self.iter() {
            map.serialize_entry(group.key(), &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, u32>::deserialize(deserializer)?;
        let mut counts = Counts::default();
        for (name, n) in raw {
            let group = Group::parse(&name).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown participant group \"{name}\""))
            })?;
            counts.set(group, n);
        }
        Ok(counts)
    }
}

/// One activity as read from a journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: ActivityId,
    pub title: String,
    pub kind: Kind,
    pub date: NaiveDate,
    /// Start time, local to the centre, if known.
    #[serde(with = "hhmm_opt")]
    pub start: Option<NaiveTime>,
    /// Duration in hours, if known.
    pub hours: Option<f64>,
    pub place: String,
    pub organisers: Vec<String>,
    pub institutions: Vec<String>,
    pub counts: Counts,
    /// Sum of all participant counts, included for scripts and spreadsheets.
    #[serde(default)]
    pub total_participants: u64,
    pub description: String,
    pub notes: String,
    /// Who recorded the activity (a person's or device's name).
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
    /// Who made the latest change.
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    /// Files attached as evidence (photos, scanned sheets), oldest first;
    /// the record holds these references, the store the bytes.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file attached to an activity, as its record refers to it
/// (docs/ATTACHMENTS.md): the bytes live in the store under `file`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's content address (SHA-256 of its bytes).
    pub file: FileHash,
    /// The name it had where it was attached ("seminars.jpg").
    pub name: String,
    pub media_type: MediaType,
    pub bytes: u64,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    /// A photo's thumbnail, made where it was attached (none for a PDF, a
    /// photo attached by an older version, or one too large to shrink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Thumbnail>,
}

/// A photo's thumbnail (docs/ATTACHMENTS.md, "Thumbnails"): a small JPEG
/// file of its own (`sync_core::thumbnail`), which travels before the
/// photo, so an office sees it without fetching the photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub file: FileHash,
    pub bytes: u64,
}

impl Attachment {
    /// The files this attachment refers to: itself, and its thumbnail.
    pub fn files(&self) -> impl Iterator<Item = (FileHash, u64)> + '_ {
        std::iter::once((self.file, self.bytes)).chain(self.thumbnail.map(|t| (t.file, t.bytes)))
    }
}

/// A set of typed field values to write; `None` leaves a field as it is.
/// Produced by [`ActivityInput::parse`], so every value in it is valid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityPatch {
    pub title: Option<String>,
    pub kind: Option<Kind>,
    pub date: Option<NaiveDate>,
    /// `Some(None)` clears the start time.
    pub start: Option<Option<NaiveTime>>,
    /// `Some(None)` clears the duration.
    pub hours: Option<Option<f64>>,
    pub place: Option<String>,
    pub organisers: Option<Vec<String>>,
    pub institutions: Option<Vec<String>>,
    pub counts: Vec<(Group, u32)>,
    pub description: Option<String>,
    pub notes: Option<String>,
}

impl ActivityPatch {
    /// True when the patch would change nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == ActivityPatch::default()
    }

    /// The part of this patch that would change `a`: its fields that differ
    /// from the activity's (empty when it would change nothing).
    pub fn changes_to(&self, a: &Activity) -> ActivityPatch {
        fn differing<T: PartialEq + Clone>(given: &Option<T>, now: &T) -> Option<T> {
            given.as_ref().filter(|v| *v != now).cloned()
        }
        ActivityPatch {
            title: differing(&self.title, &a.title),
            kind: differing(&self.kind, &a.kind),
            date: differing(&self.date, &a.date),
            start: differing(&self.start, &a.start),
            hours: differing(&self.hours, &a.hours),
            place: differing(&self.place, &a.place),
            organisers: differing(&self.organisers, &a.organisers),
            institutions: differing(&self.institutions, &a.institutions),
            counts: self
                .counts
                .iter()
                .filter(|(group, n)| a.counts.get(*group) != *n)
                .copied()
                .collect(),
            description: differing(&self.description, &a.description),
            notes: differing(&self.notes, &a.notes),
        }
    }

    /// Checks that a patch for a *new* activity has the fields every record needs.
    pub fn check_complete(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.title.is_none() {
            errors.push(Field::Title, Problem::Required, "is required");
        }
        if self.kind.is_none() {
            errors.push(Field::Kind, Problem::Required, "is required");
        }
        if self.date.is_none() {
            errors.push(Field::Date, Problem::Required, "is required");
        }
        errors.into_result(())
    }
}

/// Field values as people type them. Empty strings clear optional fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityInput {
    pub title: Option<String>,
    pub kind: Option<String>,
    pub date: Option<String>,
    pub start: Option<String>,
    pub hours: Option<String>,
    pub place: Option<String>,
    pub organisers: Option<Vec<String>>,
    pub institutions: Option<Vec<String>>,
    /// (group name, count) pairs, as in `--count teachers=12`.
    pub counts: Vec<(String, String)>,
    pub description: Option<String>,
    pub notes: Option<String>,
}

/// A field of an activity, as named in error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Title,
    Kind,
    Date,
    Start,
    Hours,
    Place,
    Organisers,
    Institutions,
    Count(String),
    Description,
    Notes,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Title => f.write_str("title"),
            Field::Kind => f.write_str("kind"),
            Field::Date => f.write_str("date"),
            Field::Start => f.write_str("start"),
            Field::Hours => f.write_str("hours"),
            Field::Place => f.write_str("place"),
            Field::Organisers => f.write_str("organiser"),
            Field::Institutions => f.write_str("institution"),
            Field::Count(group) => write!(f, "count {group}"),
            Field::Description => f.write_str("description"),
            Field::Notes => f.write_str("notes"),
        }
    }
}

/// What is wrong with a field, for a user interface to say in its own language
/// (`FieldError::problem` says it in English, with the value quoted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    Required,
    Empty,
    UnknownKind,
    NotADate,
    NotATime,
    /// Hours outside (0, `limit`].
    HoursOutOfRange {
        limit: u32,
    },
    NotHours,
    UnknownGroup,
    Negative,
    OverLimit {
        limit: u32,
    },
    NotAWholeNumber,
    TooManyNames {
        limit: usize,
    },
    TooLong {
        limit: usize,
    },
    ControlCharacters,
    /// The same participant group given twice (`--count teachers=1 --count
    /// teachers=2`): which one was meant is not for the program to guess.
    GivenTwice,
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    pub code: Problem,
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    fn push(&mut self, field: Field, code: Problem, problem: impl Into<String>) {
        self.0.push(FieldError {
            field,
            code,
            problem: problem.into(),
        });
    }

    fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ActivityInput {
    /// Validates every field given, collecting a message for each bad one.
    pub fn parse(&self) -> Result<ActivityPatch, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut patch = ActivityPatch {
            title: self
                .title
                .as_deref()
                .and_then(|t| parse_title(t, &mut errors)),
            kind: self
                .kind
                .as_deref()
                .and_then(|k| parse_kind(k, &mut errors)),
            date: self
                .date
                .as_deref()
                .and_then(|d| parse_date(d, &mut errors)),
            start: self
                .start
                .as_deref()
                .and_then(|s| parse_start(s, &mut errors)),
            hours: self
                .hours
                .as_deref()
                .and_then(|h| parse_hours(h, &mut errors)),
            place: text_field(&self.place, Field::Place, MAX_NAME_CHARS, &mut errors),
            organisers: name_list(&self.organisers, Field::Organisers, &mut errors),
            institutions: name_list(&self.institutions, Field::Institutions, &mut errors),
            counts: Vec::new(),
            description: text_field(
                &self.description,
                Field::Description,
                MAX_LONG_TEXT_CHARS,
                &mut errors,
            ),
            notes: text_field(&self.notes, Field::Notes, MAX_LONG_TEXT_CHARS, &mut errors),
        };
        for (group, value) in &self.counts {
            let Some((parsed, n)) = parse_count(group, value, &mut errors) else {
                continue;
            };
            if patch.counts.iter().any(|(g, _)| *g == parsed) {
                errors.push(
                    Field::Count(parsed.key().to_owned()),
                    Problem::GivenTwice,
                    "is given more than once; give each group once",
                );
                continue;
            }
            patch.counts.push((parsed, n));
        }
        errors.into_result(patch)
    }
}

fn parse_title(text: &str, errors: &mut FieldErrors) -> Option<String> {
    let title = text.trim();
    if title.is_empty() {
        errors.push(Field::Title, Problem::Empty, "must not be empty");
        return None;
    }
    check_length(title, Field::Title, MAX_TITLE_CHARS, errors).then(|| title.to_owned())
}

fn parse_kind(text: &str, errors: &mut FieldErrors) -> Option<Kind> {
    let kind = Kind::parse(text);
    if kind.is_none() {
        let known: Vec<_> = Kind::ALL.iter().map(|k| k.key()).collect();
        errors.push(
            Field::Kind,
            Problem::UnknownKind,
            format!(
                "\"{}\" is not a known kind (use one of: {})",
                text.trim(),
                known.join(", ")
            ),
        );
    }
    kind
}

/// Reads a date as YYYY-MM-DD, or the Latvian DD.MM.YYYY (with or without the final dot).
pub fn parse_date_text(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t.trim_end_matches('.'), "%d.%m.%Y"))
        .ok()
        .filter(|d| (1900..=2200).contains(&chrono::Datelike::year(d)))
}

fn parse_date(text: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    let date = parse_date_text(text);
    if date.is_none() {
        errors.push(
            Field::Date,
            Problem::NotADate,
            format!(
                "\"{}\" is not a date (write it as YYYY-MM-DD, e.g. 2026-05-14)",
                text.trim()
            ),
        );
    }
    date
}

fn parse_start(text: &str, errors: &mut FieldErrors) -> Option<Option<NaiveTime>> {
    let t = text.trim();
    if t.is_empty() {
        return Some(None);
    }
    let time = NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .or_else(|_| NaiveTime::parse_from_str(t, "%H.%M"));
    match time {
        Ok(time) => Some(Some(time)),
        Err(_) => {
            errors.push(
                Field::Start,
                Problem::NotATime,
                format!("\"{t}\" is not a time of day (write it as HH:MM, e.g. 14:30)"),
            );
            None
        }
    }
}

fn parse_hours(text: &str, errors: &mut FieldErrors) -> Option<Option<f64>> {
    let t = text.trim();
    if t.is_empty() {
        return Some(None);
    }
    // Latvian spreadsheets write one and a half as "1,5".
    match t.replace(',', ".").parse::<f64>() {
        Ok(h) if h.is_finite() && h > 0.0 && h <= MAX_ACTIVITY_HOURS => Some(Some(h)),
        Ok(_) => {
            errors.push(
                Field::Hours,
                Problem::HoursOutOfRange {
                    limit: MAX_ACTIVITY_HOURS as u32,
                },
                format!("must be more than 0 and at most {MAX_ACTIVITY_HOURS}, not {t}"),
            );
            None
        }
        Err(_) => {
            errors.push(
                Field::Hours,
                Problem::NotHours,
                format!("\"{t}\" is not a number of hours"),
            );
            None
        }
    }
}

fn parse_count(group: &str, value: &str, errors: &mut FieldErrors) -> Option<(Group, u32)> {
    let Some(parsed) = Group::parse(group) else {
        let known: Vec<_> = Group::ALL.iter().map(|g| g.key()).collect();
        errors.push(
            Field::Count(group.trim().to_owned()),
            Problem::UnknownGroup,
            format!(
                "is not a participant group (use one of: {})",
                known.join(", ")
            ),
        );
        return None;
    };
    let field = Field::Count(parsed.key().to_owned());
    let v = value.trim();
    if v.is_empty() {
        return Some((parsed, 0));
    }
    match v.parse::<i64>() {
        Ok(n) if n < 0 => errors.push(
            field,
            Problem::Negative,
            format!("must not be negative, not {n}"),
        ),
        Ok(n) if n > i64::from(MAX_PARTICIPANTS_PER_GROUP) => errors.push(
            field,
            Problem::OverLimit {
                limit: MAX_PARTICIPANTS_PER_GROUP,
            },
            format!("{n} is more than the limit of {MAX_PARTICIPANTS_PER_GROUP} per group"),
        ),
        Ok(n) => return Some((parsed, n as u32)),
        Err(_) => errors.push(
            field,
            Problem::NotAWholeNumber,
            format!("\"{v}\" is not a whole number"),
        ),
    }
    None
}

fn text_field(
    value: &Option<String>,
    field: Field,
    max_chars: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    let text = value.as_deref()?.trim();
    check_length(text, field, max_chars, errors).then(|| text.to_owned())
}

fn name_list(
    value: &Option<Vec<String>>,
    field: Field,
    errors: &mut FieldErrors,
) -> Option<Vec<String>> {
    let names = value.as_ref()?;
    let mut cleaned: Vec<String> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !check_length(name, field.clone(), MAX_NAME_CHARS, errors) {
            return None;
        }
        if !cleaned.iter().any(|c| c == name) {
            cleaned.push(name.to_owned());
        }
    }
    if cleaned.len() > MAX_NAMES_PER_LIST {
        errors.push(
            field,
            Problem::TooManyNames {
                limit: MAX_NAMES_PER_LIST,
            },
            format!("at most {MAX_NAMES_PER_LIST} names"),
        );
        return None;
    }
    Some(cleaned)
}

fn check_length(text: &str, field: Field, max_chars: usize, errors: &mut FieldErrors) -> bool {
    let n = text.chars().count();
    if n > max_chars {
        errors.push(
            field,
            Problem::TooLong { limit: max_chars },
            format!("is {n} characters long; the limit is {max_chars}"),
        );
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        errors.push(
            field,
            Problem::ControlCharacters,
            "contains control characters",
        );
        return false;
    }
    true
}

/// Folds text for forgiving comparison: lower case, Latvian (and other Latin)
/// diacritics removed, so "Skolotāja" and "skolotaja" compare equal.
pub fn fold_diacritics(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ā' | 'á' | 'à' | 'â' | 'ä' | 'ą' => 'a',
            'č' | 'ć' | 'ç' => 'c',
            'ē' | 'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ė' => 'e',
            'ģ' => 'g',
            'ī' | 'í' | 'ì' | 'î' | 'ï' | 'į' => 'i',
            'ķ' => 'k',
            'ļ' | 'ł' => 'l',
            'ņ' | 'ń' | 'ñ' => 'n',
            'ō' | 'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ŗ' => 'r',
            'š' | 'ś' => 's',
            'ū' | 'ú' | 'ù' | 'û' | 'ü' | 'ų' => 'u',
            'ž' | 'ź' | 'ż' => 'z',
            other => other,
        })
        .collect()
}

/// Folds a key or name for matching: diacritics, case, and spaces/dashes/underscores.
fn fold_key(text: &str) -> String {
    fold_diacritics(text.trim())
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .collect()
}

/// Serde helper: an optional time as "HH:MM".
mod hhmm_opt {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.format("%H:%M").to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<NaiveTime>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        match text.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => NaiveTime::parse_from_str(t, "%H:%M")
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("\"{t}\" is not a time (HH:MM)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ActivityInput {
        ActivityInput {
            title: Some("Skolotāja loma".into()),
            kind: Some("seminar".into()),
            date: Some("2026-05-14".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_group_given_twice_is_refused_not_overwritten() {
        let twice = ActivityInput {
            counts: vec![
                ("teachers".into(), "1".into()),
                ("pedagogi".into(), "2".into()),
            ],
            ..input()
        };
        let errors = twice.parse().expect_err("refused");
        assert_eq!(errors.0.len(), 1, "{errors:?}");
        assert_eq!(errors.0[0].field, Field::Count("teachers".into()));
        assert_eq!(errors.0[0].code, Problem::GivenTwice);
    }

    #[test]
    fn kinds_are_read_by_key_latvian_name_and_plural() {
        for (text, kind) in [
            ("seminar", Kind::Seminar),
            ("Seminārs", Kind::Seminar),
            ("semināri", Kind::Seminar),
            ("seminari", Kind::Seminar),
            ("Darbnīcas", Kind::Workshop),
            ("apmācības", Kind::Training),
            ("Kopienas iniciatīvas", Kind::CommunityInitiative),
            ("pasākumi", Kind::Event),
            ("sanāksmes", Kind::Meeting),
            ("meetings", Kind::Meeting),
        ] {
            assert_eq!(Kind::parse(text), Some(kind), "{text}");
        }
        assert_eq!(Kind::parse("ballīte"), None);
    }

    #[test]
    fn refuses_bad_fields_naming_each() {
        let bad = ActivityInput {
            title: Some("   ".into()),
            kind: Some("party".into()),
            date: Some("14/05/2026".into()),
            counts: vec![
                ("teachers".into(), "-3".into()),
                ("aliens".into(), "2".into()),
            ],
            ..Default::default()
        };
        let errors = bad.parse().unwrap_err().to_string();
        assert!(errors.contains("title: must not be empty"), "{errors}");
        assert!(
            errors.contains("kind: \"party\" is not a known kind"),
            "{errors}"
        );
        assert!(
            errors.contains("date: \"14/05/2026\" is not a date"),
            "{errors}"
        );
        assert!(
            errors.contains("count teachers: must not be negative"),
            "{errors}"
        );
        assert!(
            errors.contains("count aliens: is not a participant group"),
            "{errors}"
        );
    }

    #[test]
    fn accepts_latvian_names_and_formats() {
        let mut i = input();
        i.kind = Some("Darbnīca".into());
        i.date = Some("14.05.2026.".into());
        i.hours = Some("1,5".into());
        i.counts = vec![
            ("pedagogi".into(), "12".into()),
            ("bērni un jaunieši".into(), "3".into()),
        ];
        let p = i.parse().unwrap();
        assert_eq!(p.kind, Some(Kind::Workshop));
        assert_eq!(p.date, NaiveDate::from_ymd_opt(2026, 5, 14));
        assert_eq!(p.hours, Some(Some(1.5)));
        assert_eq!(
            p.counts,
            vec![(Group::Teachers, 12), (Group::ChildrenAndYouth, 3)]
        );
    }

    #[test]
    fn folds_latvian_diacritics() {
        assert_eq!(
            fold_diacritics("Skolotāja ĶĒĢĪ ŠŪŽ čļņ"),
            "skolotaja kegi suz cln"
        );
    }
}
