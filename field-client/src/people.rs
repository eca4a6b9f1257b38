//! Who records on this computer.
//!
//! Several volunteers share a centre's computer, so the computer's name says
//! little about who recorded or changed something. The app asks once for the
//! names of the people who record here and remembers who is recording now (a
//! switch in its header); that person's name is written with every change
//! made here, by the app and by commands alike (`Replica::recording_as`).
//!
//! On the office's device the name is marked as the office's, so a centre
//! reads "Anna (birojs)" beside a correction, in its own language: the
//! stored form is `office:Anna`, or `office` when nobody is named ([`shown`]).

use serde::{Deserialize, Serialize};
use sync_core::limits::MAX_NAME_CHARS;
use sync_core::{Replica, ReplicaError, Store};

use crate::net;
use crate::web::i18n::{self, Lang};

/// Settings key of [`People`].
const PEOPLE_KEY: &str = "people";

/// How the office's changes are marked in the name written with them.
const OFFICE_MARK: &str = "office";

/// Names kept for one computer: a centre's few volunteers, with room to
/// spare; a longer list is a mistake (a pasted document), not a team.
pub const MAX_PEOPLE: usize = 50;

/// The people who record on this computer, and who is recording now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct People {
    pub names: Vec<String>,
    pub current: Option<String>,
}

/// Why a list of names was not kept.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("a name may be at most {MAX_NAME_CHARS} characters long")]
    NameTooLong,
    #[error("at most {MAX_PEOPLE} names can be kept on one computer")]
    TooMany,
    #[error("\"{0}\" is not among the people who record on this computer")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] ReplicaError),
}

pub fn load(store: &Store) -> Result<People, ReplicaError> {
    Ok(store.setting(PEOPLE_KEY)?.unwrap_or_default())
}

/// Keeps `names` (one per line as typed: trimmed, empty lines and repeats
/// dropped). Whoever was recording stays if still named; else the first
/// name takes over.
pub fn save_names(replica: &Replica, typed: &str) -> Result<People, PeopleError> {
    let mut names: Vec<String> = Vec::new();
    for name in typed.lines().map(str::trim).filter(|n| !n.is_empty()) {
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(PeopleError::NameTooLong);
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.len() > MAX_PEOPLE {
        return Err(PeopleError::TooMany);
    }
    let before = load(replica.store())?;
    let current = before
        .current
        .filter(|c| names.contains(c))
        .or_else(|| names.first().cloned());
    let people = People { names, current };
    keep(replica, &people)?;
    Ok(people)
}

/// `name` records from now on.
pub fn switch_to(replica: &Replica, name: &str) -> Result<(), PeopleError> {
    let mut people = load(replica.store())?;
    if !people.names.iter().any(|n| n == name) {
        return Err(PeopleError::Unknown(name.to_owned()));
    }
    people.current = Some(name.to_owned());
    keep(replica, &people)?;
    Ok(())
}

fn keep(replica: &Replica, people: &People) -> Result<(), ReplicaError> {
    replica.store().set_setting(PEOPLE_KEY, people)?;
    refresh_author(replica)
}

/// Sets the name written with this device's changes from who records now
/// and whether this is the office's device (after an enrolment too).
pub fn refresh_author(replica: &Replica) -> Result<(), ReplicaError> {
    let office = net::enrolment(replica.store())?.is_some_and(|e| e.office);
    let current = load(replica.store())?.current;
    let author = match (office, current) {
        (false, person) => person,
        (true, None) => Some(OFFICE_MARK.to_owned()),
        (true, Some(person)) => Some(format!("{OFFICE_MARK}:{person}")),
    };
    // Unchanged (every start of `run` asks): no write.
    let wanted = author
        .clone()
        .unwrap_or_else(|| replica.store().device_name().to_owned());
    if replica.recording_as()? == wanted {
        return Ok(());
    }
    replica.set_recording_as(author.as_deref())
}

/// A name written with a change, as people read it in `lang`: the office's
/// marked as such ("Anna (birojs)", "birojs").
pub fn shown(lang: Lang, stored: &str) -> String {
    match stored.strip_prefix(OFFICE_MARK) {
        Some("") => i18n::t(lang, "author-office"),
        Some(rest) if rest.starts_with(':') && rest.len() > 1 => i18n::text(
            lang,
            "author-office-person",
            &[("name", rest[1..].to_owned().into())],
        ),
        _ => stored.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offices_names_are_shown_in_the_readers_language() {
        assert_eq!(shown(Lang::Lv, "office:Anna"), "Anna (birojs)");
        assert_eq!(shown(Lang::En, "office:Anna"), "Anna (office)");
        assert_eq!(shown(Lang::Lv, "office"), "birojs");
        assert_eq!(shown(Lang::En, "Līga"), "Līga");
        assert_eq!(shown(Lang::En, "officer"), "officer");
    }
}
