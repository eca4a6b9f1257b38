//! `attach`, `attachments` and `detach`: files kept as evidence with an
//! activity (docs/ATTACHMENTS.md). Every file is checked before anything is
//! stored, so a refused one changes nothing.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde::Serialize;
use sync_core::files::{FileProblem, check_source};
use sync_core::limits::MAX_FILES_PER_ACTIVITY;
use sync_core::store::StoredFile;
use sync_core::sync::files::FileWanted;
use sync_core::{Activity, ActivityId, Attachment, Store};

use crate::commands::{open, open_view, parse_id};
use crate::web::i18n::{self, Lang};
use crate::words::{lang, say, say_count};

/// Characters of a file's hash `attachments` prints: enough to tell the
/// files of one activity apart, and what `detach` accepts.
pub const SHORT_HASH_CHARS: usize = 12;

/// `field-client attach ID FILE…`: checks every file, then stores each,
/// durably, with the record's reference.
pub fn attach(store: &Path, id: &str, files: &[PathBuf]) -> Result<()> {
    let id = parse_id(id)?;
    for path in files {
        check(path)?;
    }
    let mut replica = open(store)?;
    let held = replica
        .get(id)?
        .ok_or_else(|| no_such_activity(id))?
        .attachments;
    if held.len() + files.len() > MAX_FILES_PER_ACTIVITY {
        bail!(
            "{}",
            say(
                "cli-attach-too-many",
                &[
                    ("held", held.len().into()),
                    ("max", MAX_FILES_PER_ACTIVITY.into())
                ]
            )
        );
    }
    for path in files {
        let file = File::open(path).with_context(|| cannot_read(path))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let attached = replica
            .attach_file(id, file, &name, Utc::now())
            .map_err(|e| file_error(path, e))?;
        let name = path.display().to_string();
        match attached {
            Some(a) => {
                println!("{}", a.file);
                let size = i18n::bytes(lang(), a.bytes);
                let args = [("name", name.into()), ("size", size.into())];
                eprintln!("{}", say("cli-attached", &args));
            }
            None => eprintln!("{}", say("cli-already-attached", &[("name", name.into())])),
        }
    }
    Ok(())
}

/// Reads a file through before anything is stored: a refused file is named
/// with the reason, in plain words.
fn check(path: &Path) -> Result<()> {
    let mut file = File::open(path).with_context(|| cannot_read(path))?;
    let checked = check_source(&mut file).with_context(|| cannot_read(path))?;
    match checked {
        Ok(_) => Ok(()),
        Err(problem) => bail!("{}", refused(path, problem)),
    }
}

/// Why a file was refused, in the user's language.
fn refused(path: &Path, problem: FileProblem) -> String {
    let name = path.display().to_string();
    let why = match problem {
        FileProblem::Empty => say("file-empty", &[]),
        FileProblem::TooLarge { bytes, max } => say(
            "file-too-large",
            &[
                ("size", i18n::bytes(lang(), bytes).into()),
                ("max", i18n::bytes(lang(), max).into()),
            ],
        ),
        FileProblem::UnknownType => say("file-unknown-type", &[]),
        FileProblem::Damaged(kind) => say("file-damaged", &[("kind", kind_name(kind).into())]),
    };
    say(
        "cli-file-refused",
        &[("name", name.into()), ("why", why.into())],
    )
}

fn kind_name(kind: sync_core::files::MediaType) -> &'static str {
    match kind {
        sync_core::files::MediaType::Jpeg => "JPEG",
        sync_core::files::MediaType::Png => "PNG",
        sync_core::files::MediaType::Pdf => "PDF",
    }
}

fn file_error(path: &Path, e: sync_core::ReplicaError) -> anyhow::Error {
    use sync_core::store::PutFileError;
    match e {
        sync_core::ReplicaError::File(e) => match *e {
            PutFileError::Problem(problem) => anyhow::anyhow!(refused(path, problem)),
            PutFileError::ChangedWhileRead => anyhow::anyhow!(say(
                "cli-file-changed",
                &[("name", path.display().to_string().into())]
            )),
            e => anyhow::Error::new(e).context(cannot_read(path)),
        },
        e => anyhow::Error::new(e).context(say("cli-not-saved", &[])),
    }
}

/// Fetches what this computer lacks of the files attached to `activities`
/// (a report's, for its bundle), as [`fetch_lacking`] does.
pub(crate) fn fetch_for<'a>(
    data_dir: &Path,
    store: &Store,
    activities: impl Iterator<Item = (sync_core::JournalId, &'a Activity)>,
) -> Result<()> {
    let mut lacking = Vec::new();
    for (journal, a) in activities {
        for file in &a.attachments {
            if !store.file(file.file)?.is_some_and(|f| f.is_whole()) {
                lacking.push(FileWanted::of(journal.0, a.id, file));
            }
        }
    }
    for batch in lacking.chunks(sync_core::limits::MAX_FILE_REQUESTS_QUEUED) {
        fetch_lacking(data_dir, store, batch.to_vec())?;
    }
    Ok(())
}

/// Fetches the files this computer lacks from the office server (an office
/// computer keeps only the files it opened): said, not fatal, when it
/// cannot (not enrolled, offline): the files held are saved anyway.
fn fetch_lacking(data_dir: &Path, store: &Store, lacking: Vec<FileWanted>) -> Result<()> {
    if crate::net::enrolment(store)?.is_none() {
        return Ok(());
    }
    let count = lacking.len() as u64;
    eprintln!("{}", say_count("cli-fetching-files", count, &[]));
    let fetched = crate::commands::runtime()?.block_on(async {
        tokio::time::timeout(
            crate::net::SYNC_COMMAND_TIMEOUT,
            crate::file_link::fetch(data_dir, store, lacking),
        )
        .await
    });
    match fetched {
        Ok(Ok(fetched)) => {
            if !fetched.not_yet.is_empty() {
                let n = fetched.not_yet.len() as u64;
                eprintln!("{}", say_count("cli-files-not-at-relay", n, &[]));
            }
            for (_, why) in fetched.refused {
                eprintln!("{}", say("cli-because", &[("message", why.into())]));
            }
        }
        Ok(Err(e)) => {
            eprintln!("{}", say("cli-fetch-failed", &[]));
            eprintln!(
                "{}",
                say("cli-because", &[("message", e.to_string().into())])
            );
        }
        Err(_) => eprintln!("{}", say("cli-fetch-failed", &[])),
    }
    Ok(())
}

/// One attached file as `attachments --json` prints it.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    attachment: &'a Attachment,
    /// Whether this computer holds the file: "whole", "partial" or "absent"
    /// (an office computer fetches a file when it is opened).
    held: &'static str,
}

/// `field-client attachments ID [--json] [--save DIR]`.
pub fn list(
    (data_dir, store): (&Path, &Path),
    id: &str,
    json: bool,
    save: Option<&Path>,
) -> Result<()> {
    let id = parse_id(id)?;
    let view = open_view(store)?;
    let (info, activity) = view.get(id)?.ok_or_else(|| no_such_activity(id))?;
    let held_now = |view: &sync_core::replica::ListView| -> Result<Vec<Option<StoredFile>>> {
        let held = activity
            .attachments
            .iter()
            .map(|a| view.store().file(a.file));
        Ok(held.collect::<Result<_, _>>()?)
    };
    let mut held = held_now(&view)?;
    if save.is_some() {
        let lacking: Vec<FileWanted> = activity
            .attachments
            .iter()
            .zip(&held)
            .filter(|(_, held)| !held.is_some_and(|f| f.is_whole()))
            .map(|(a, _)| FileWanted::of(info.id.0, id, a))
            .collect();
        if !lacking.is_empty() {
            fetch_lacking(data_dir, view.store(), lacking)?;
            held = held_now(&view)?;
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let listed: Vec<Listed<'_>> = activity
            .attachments
            .iter()
            .zip(&held)
            .map(|(attachment, held)| Listed {
                attachment,
                held: held_word(held.as_ref()),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &listed)?;
        writeln!(out)?;
    } else {
        write_list(&mut out, lang(), &activity, &held)?;
    }
    if let Some(folder) = save {
        save_copies(view.store(), &activity, folder)?;
    }
    Ok(())
}

fn held_word(held: Option<&StoredFile>) -> &'static str {
    match held {
        Some(f) if f.is_whole() => "whole",
        Some(_) => "partial",
        None => "absent",
    }
}

fn write_list(
    out: &mut dyn Write,
    lang: Lang,
    activity: &Activity,
    held: &[Option<StoredFile>],
) -> std::io::Result<()> {
    if activity.attachments.is_empty() {
        eprintln!("{}", i18n::t(lang, "cli-no-attachments"));
        return Ok(());
    }
    for (a, held) in activity.attachments.iter().zip(held) {
        let hash = a.file.to_string();
        let state = match held_word(held.as_ref()) {
            "whole" => String::new(),
            "partial" => i18n::t(lang, "cli-file-partial"),
            _ => i18n::t(lang, "cli-file-absent"),
        };
        writeln!(
            out,
            "{}  {:<5} {:>9}  {}  {} {}  {state}",
            &hash[..SHORT_HASH_CHARS],
            kind_name(a.media_type),
            i18n::bytes(lang, a.bytes),
            a.name,
            crate::people::shown(lang, &a.added_by),
            a.added_at.format("%Y-%m-%d %H:%M UTC"),
        )?;
    }
    Ok(())
}

/// Writes every whole file of `activity` into `folder`, each under its
/// name (a second file of one name gets its hash's start before it).
fn save_copies(store: &Store, activity: &Activity, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| cannot_write(folder))?;
    let mut used = Vec::new();
    for a in &activity.attachments {
        let mut name = a.name.clone();
        if used.contains(&name) {
            name = format!("{} {}", &a.file.to_string()[..SHORT_HASH_CHARS], a.name);
        }
        let path = folder.join(&name);
        let mut file = File::create(&path).with_context(|| cannot_write(&path))?;
        match store.read_file(a.file, &mut file) {
            Ok(_) => {
                file.sync_all().with_context(|| cannot_write(&path))?;
                eprintln!(
                    "{}",
                    say(
                        "cli-file-saved",
                        &[("path", path.display().to_string().into())]
                    )
                );
                used.push(name);
            }
            Err(e) => {
                drop(file);
                // A copy cut short is worse than none.
                let _ = std::fs::remove_file(&path);
                let args = [("name", a.name.clone().into())];
                eprintln!("{}", say("cli-file-not-saved", &args));
                eprintln!(
                    "{}",
                    say("cli-because", &[("message", e.to_string().into())])
                );
            }
        }
    }
    Ok(())
}

/// `field-client detach ID ATTACHMENT`: the attachment named by its hash
/// (or the hash's start) or by its name.
pub fn detach(store: &Path, id: &str, which: &str) -> Result<()> {
    let id = parse_id(id)?;
    let mut replica = open(store)?;
    let activity = replica.get(id)?.ok_or_else(|| no_such_activity(id))?;
    let file = pick(&activity.attachments, which)?;
    replica.detach_file(id, file.file, Utc::now())?;
    let args = [("name", file.name.clone().into())];
    eprintln!("{}", say("cli-detached", &args));
    Ok(())
}

/// The one attachment `which` names: a hash, its start (at least
/// [`MIN_HASH_PREFIX`] characters), or a name.
fn pick<'a>(attachments: &'a [Attachment], which: &str) -> Result<&'a Attachment> {
    /// Fewer hexadecimal digits could name two files by chance.
    const MIN_HASH_PREFIX: usize = 6;
    let which_lower = which.to_ascii_lowercase();
    let by_hash = |a: &&Attachment| {
        which.len() >= MIN_HASH_PREFIX && a.file.to_string().starts_with(&which_lower)
    };
    let mut found: Vec<&Attachment> = attachments.iter().filter(by_hash).collect();
    if found.is_empty() {
        found = attachments.iter().filter(|a| a.name == which).collect();
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "{}",
            say("cli-no-such-attachment", &[("which", which.into())])
        ),
        _ => bail!(
            "{}",
            say("cli-attachment-ambiguous", &[("which", which.into())])
        ),
    }
}

fn no_such_activity(id: ActivityId) -> anyhow::Error {
    anyhow::anyhow!(say(
        "cli-no-such-activity",
        &[("id", id.to_string().into())]
    ))
}

fn cannot_read(path: &Path) -> String {
    say(
        "cli-cannot-read-file",
        &[("path", path.display().to_string().into())],
    )
}

fn cannot_write(path: &Path) -> String {
    say(
        "cli-cannot-write",
        &[("path", path.display().to_string().into())],
    )
}
