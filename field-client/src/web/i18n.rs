//! The app's two languages: Fluent messages (`locales/*.ftl`, compiled into the
//! binary) and the Latvian and English ways of writing dates and numbers.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Local, NaiveDate, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use sync_core::{Group, Kind, Problem};
use unic_langid::{LanguageIdentifier, langid};

/// A language of the interface. Latvian is the default: the volunteers'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Lv,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Lv, Lang::En];

    /// The code in the `lang` cookie and the page's `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Lv => "lv",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The language's own name, shown in the language switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Lv => "Latviski",
            Lang::En => "English",
        }
    }
}

const LATVIAN_FTL: &str = include_str!("locales/lv.ftl");
const ENGLISH_FTL: &str = include_str!("locales/en.ftl");
/// The command line's help in Latvian (its English is the source's doc
/// comments: crate::words::localized_help).
const LATVIAN_HELP_FTL: &str = include_str!("locales/cli-help.lv.ftl");

type Bundle = FluentBundle<FluentResource>;

static BUNDLES: LazyLock<[Bundle; 2]> = LazyLock::new(|| {
    [
        bundle(langid!("lv"), sources(Lang::Lv)),
        bundle(langid!("en"), sources(Lang::En)),
    ]
});

fn bundle(lang: LanguageIdentifier, sources: &[&str]) -> Bundle {
    let mut bundle = Bundle::new_concurrent(vec![lang.clone()]);
    // Unicode isolation marks around arguments would end up inside HTML
    // attributes and copied text; every argument here is plain text.
    bundle.set_use_isolating(false);
    for source in sources {
        // The files are part of the binary and checked by the tests: a
        // syntax error is a build defect, not a user's problem.
        let resource = FluentResource::try_new((*source).to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{lang}.ftl does not parse: {errors:?}"));
        bundle
            .add_resource(resource)
            .expect("message ids are unique");
    }
    bundle
}

/// A help message of the command line in `lang`, if it is written.
pub fn help_text(lang: Lang, id: &str) -> Option<String> {
    BUNDLES[lang as usize]
        .get_message(id)
        .is_some()
        .then(|| text(lang, id, &[]))
}

/// Every message id of the Latvian help file, for the test that none is
/// stale.
pub fn help_message_ids() -> Vec<String> {
    ids_of(LATVIAN_HELP_FTL)
}

/// The message `id` in `lang`, without arguments.
pub fn t(lang: Lang, id: &str) -> String {
    text(lang, id, &[])
}

/// The message `id` in `lang`, with `args`. A missing message shows its id in
/// brackets (and the tests fail on any), never an empty string.
pub fn text(lang: Lang, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let Some((formatted, errors)) = formatted(lang, id, args) else {
        return format!("[{id}]");
    };
    // A message that does not format (an argument missing or misnamed) is a
    // defect of the program: the tests, built with debug assertions, fail
    // on it, and `every_message_formats_in_both_languages` formats every
    // message; a user still gets the text as far as it formats.
    debug_assert!(
        errors.is_empty(),
        "message {id} in {} does not format: {errors:?}",
        lang.code()
    );
    formatted
}

/// The message `id` in `lang` with `args` (None if there is no such
/// message), and what kept it from formatting whole (a missing argument, a
/// reference to a message or function that does not exist), in Fluent's
/// words; for the test that formats every message.
pub fn formatted(
    lang: Lang,
    id: &str,
    args: &[(&str, FluentValue<'_>)],
) -> Option<(String, Vec<String>)> {
    let bundle = &BUNDLES[lang as usize];
    let pattern = bundle.get_message(id).and_then(|m| m.value())?;
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, value.clone());
    }
    let mut errors = Vec::new();
    let formatted = bundle
        .format_pattern(pattern, Some(&fluent_args), &mut errors)
        .into_owned();
    Some((formatted, errors.iter().map(ToString::to_string).collect()))
}

/// The source of every message of `lang` (the app's and, in Latvian, the
/// command line's help), for the tests that read the messages themselves.
pub fn sources(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Lv => &[LATVIAN_FTL, LATVIAN_HELP_FTL],
        Lang::En => &[ENGLISH_FTL],
    }
}

/// Every message id of one language, for the tests that check both languages
/// have the same messages.
pub fn message_ids(lang: Lang) -> Vec<String> {
    let source = match lang {
        Lang::Lv => LATVIAN_FTL,
        Lang::En => ENGLISH_FTL,
    };
    ids_of(source)
}

fn ids_of(source: &str) -> Vec<String> {
    let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(r, _)| r);
    resource
        .entries()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
            _ => None,
        })
        .collect()
}

pub fn kind_name(lang: Lang, kind: Kind) -> String {
    text(lang, &format!("kind-{}", kind.key().replace('_', "-")), &[])
}

pub fn group_name(lang: Lang, group: Group) -> String {
    text(
        lang,
        &format!("group-{}", group.key().replace('_', "-")),
        &[],
    )
}

/// A date as people write it: "14.05.2026." in Latvian, "14 May 2026" in English.
pub fn date(lang: Lang, day: NaiveDate) -> String {
    match lang {
        Lang::Lv => day.format("%d.%m.%Y.").to_string(),
        Lang::En => day.format("%-d %B %Y").to_string(),
    }
}

/// A moment in local time: the date and "14:02".
pub fn moment(lang: Lang, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Local);
    format!(
        "{} {}",
        date(lang, local.date_naive()),
        local.format("%H:%M")
    )
}

/// A month for the month filter: "2026. gada maijs" / "May 2026".
pub fn month(lang: Lang, year: i32, month: u32) -> String {
    let name = text(lang, &format!("month-{month}"), &[]);
    text(
        lang,
        "month-of-year",
        &[("month", name.into()), ("year", year.to_string().into())],
    )
}

/// A whole number with the language's digit grouping: "10 000" / "10,000".
pub fn number(lang: Lang, n: u64) -> String {
    let digits = n.to_string();
    let separator = match lang {
        // Latvian groups digits with a (no-break) space.
        Lang::Lv => '\u{a0}',
        Lang::En => ',',
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// A byte count as "12.3 MB" / "12,3 MB".
pub fn bytes(lang: Lang, n: u64) -> String {
    let text = crate::budget::Bytes(n).to_string();
    match lang {
        Lang::Lv => text.replace('.', ","),
        Lang::En => text,
    }
}

/// Hours with up to two decimals and the language's decimal mark: "1,5" / "1.5".
pub fn hours(lang: Lang, h: f64) -> String {
    let text = format!("{h:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match lang {
        Lang::Lv => text.replace('.', ","),
        Lang::En => text.to_owned(),
    }
}

/// How long ago `then` was, in words: "pirms 2 stundām" / "2 hours ago".
pub fn ago(lang: Lang, then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    let (id, n) = match minutes {
        0 => return text(lang, "ago-just-now", &[]),
        1..60 => ("ago-minutes", minutes),
        60..1440 => ("ago-hours", minutes / 60),
        _ => ("ago-days", minutes / 1440),
    };
    text(lang, id, &[("count", n.into())])
}

/// The year and month of a date, as the month filter's value ("2026-05").
pub fn month_key(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// What is wrong with a field, as the app says it beside the field.
pub fn problem(lang: Lang, problem: Problem) -> String {
    let (id, limit) = match problem {
        Problem::Required => ("problem-required", None),
        Problem::Empty => ("problem-empty", None),
        Problem::UnknownKind => ("problem-unknown-kind", None),
        Problem::NotADate => ("problem-not-a-date", None),
        Problem::NotATime => ("problem-not-a-time", None),
        Problem::HoursOutOfRange { limit } => ("problem-hours-out-of-range", Some(limit as u64)),
        Problem::NotHours => ("problem-not-hours", None),
        Problem::UnknownGroup => ("problem-unknown-group", None),
        Problem::Negative => ("problem-negative", None),
        Problem::OverLimit { limit } => ("problem-over-limit", Some(u64::from(limit))),
        Problem::NotAWholeNumber => ("problem-not-a-whole-number", None),
        Problem::TooManyNames { limit } => ("problem-too-many-names", Some(limit as u64)),
        Problem::TooLong { limit } => ("problem-too-long", Some(limit as u64)),
        Problem::ControlCharacters => ("problem-control-characters", None),
        Problem::GivenTwice => ("problem-given-twice", None),
    };
    let args = limit
        .map(|l| vec![("limit", number(lang, l).into())])
        .unwrap_or_default();
    text(lang, id, &args)
}
