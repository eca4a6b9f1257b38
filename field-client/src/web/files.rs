//! Files attached to an activity, in the app (docs/ATTACHMENTS.md): add one
//! or more from the activity's page, see them, open or remove one. An
//! upload is streamed to a file in the data folder, checked whole, and only
//! then attached; a refused file is named with its reason and nothing is
//! attached.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use sync_core::ActivityId;
use sync_core::files::{FileHash, FileProblem, MediaType, check_source};
use sync_core::limits::{MAX_FILE_BYTES, MAX_FILES_PER_ACTIVITY};

use super::i18n::{self, Lang};
use super::routes::{Failure, Reply, UiLang, fail, parse_id, posted};
use super::{App, CSRF_FIELD, WebError, guard};

/// Most bytes one upload may carry: every file an activity may hold, at
/// the largest size, and room for the form's other fields. Streamed to
/// disk, so the bound is on the data folder, not on memory.
pub(super) const MAX_UPLOAD_BYTES: usize =
    MAX_FILES_PER_ACTIVITY * (MAX_FILE_BYTES as usize + 64 * 1024);

/// Folder in the data folder where uploads wait while they are checked.
const INCOMING_DIR: &str = "incoming";

/// An uploaded file waiting in the data folder; removed when dropped.
struct Incoming {
    path: PathBuf,
    name: String,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `POST /activities/{id}/files`: the form's token, then its files.
pub(super) async fn upload(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Reply {
    let id = parse_id(&id).map_err(fail(lang))?;
    let folder = app
        .read(|view| Ok(view.store().path().with_file_name(INCOMING_DIR)))
        .await
        .map_err(fail(lang))?;
    let mut token_seen = false;
    let mut files = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(|_| bad_form(lang))? {
        match field.name() {
            Some(CSRF_FIELD) => {
                let value = field.text().await.map_err(|_| bad_form(lang))?;
                if !guard::token_matches(&app, Some(value.as_str())) {
                    return Err(Failure(lang, WebError::StaleForm));
                }
                token_seen = true;
            }
            Some("files") if token_seen => {
                let name = field.file_name().unwrap_or_default().to_owned();
                // A form sent with no file chosen carries one empty part.
                if name.is_empty() {
                    continue;
                }
                if files.len() == MAX_FILES_PER_ACTIVITY {
                    return Err(too_many(lang));
                }
                let path = folder.join(format!("{}.part", uuid::Uuid::new_v4()));
                let incoming = Incoming { path, name };
                let written = write_field(&mut field, &incoming.path)
                    .await
                    .map_err(fail(lang))?;
                if let Some(bytes) = written {
                    let problem = FileProblem::TooLarge {
                        bytes,
                        max: MAX_FILE_BYTES,
                    };
                    let words = refusal(lang, &incoming.name, problem);
                    return Err(Failure(lang, WebError::FileRefused(words)));
                }
                files.push(incoming);
            }
            // The "smaller copy" box: the browser already made the copies.
            Some("smaller") => {}
            _ => return Err(bad_form(lang)),
        }
    }
    let mut sources = Vec::new();
    for file in &files {
        sources.push((check(lang, file)?, file.name.clone()));
    }
    let held = app
        .read(move |view| Ok(view.get(id)?.map(|(_, a)| a.attachments.len())))
        .await
        .map_err(fail(lang))?
        .ok_or(Failure(lang, WebError::NotFound))?;
    if held + files.len() > MAX_FILES_PER_ACTIVITY {
        return Err(too_many(lang));
    }
    let count = sources.len();
    app.with_journal(move |replica| {
        for (source, name) in sources {
            replica.attach_file(id, source, &name, Utc::now())?;
        }
        Ok(())
    })
    .await
    .map_err(fail(lang))?;
    drop(files);
    let done = if count == 0 {
        "no-files"
    } else {
        "files-added"
    };
    Ok(Redirect::to(&format!("/activities/{id}?done={done}")).into_response())
}

/// Streams one uploaded file into `path`; past [`MAX_FILE_BYTES`] it stops
/// reading and returns the bytes come so far (the file is refused).
async fn write_field(
    field: &mut axum::extract::multipart::Field<'_>,
    path: &FsPath,
) -> Result<Option<u64>, WebError> {
    let io = |e: std::io::Error| WebError::Store(e.to_string());
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(io)?;
    }
    let mut out = std::fs::File::create(path).map_err(io)?;
    let mut written = 0;
    while let Some(chunk) = field.chunk().await.map_err(|_| WebError::BadForm)? {
        written += chunk.len() as u64;
        if written > MAX_FILE_BYTES {
            return Ok(Some(written));
        }
        out.write_all(&chunk).map_err(io)?;
    }
    Ok(None)
}

/// Checks an uploaded file whole, and opens it to be stored; a refusal
/// names it and says why.
fn check(lang: Lang, file: &Incoming) -> Result<std::fs::File, Failure> {
    let store_failure = |e: std::io::Error| Failure(lang, WebError::Store(e.to_string()));
    let mut source = std::fs::File::open(&file.path).map_err(store_failure)?;
    match check_source(&mut source).map_err(store_failure)? {
        Ok(_) => {}
        Err(problem) => {
            let words = refusal(lang, &file.name, problem);
            return Err(Failure(lang, WebError::FileRefused(words)));
        }
    }
    std::fs::File::open(&file.path).map_err(store_failure)
}

/// Why a file cannot be attached, in the interface language.
pub(super) fn refusal(lang: Lang, name: &str, problem: FileProblem) -> String {
    let why = match problem {
        FileProblem::Empty => i18n::text(lang, "file-empty", &[]),
        FileProblem::TooLarge { bytes, max } => i18n::text(
            lang,
            "file-too-large",
            &[
                ("size", i18n::bytes(lang, bytes).into()),
                ("max", i18n::bytes(lang, max).into()),
            ],
        ),
        FileProblem::UnknownType => i18n::text(lang, "file-unknown-type", &[]),
        FileProblem::Damaged(kind) => {
            i18n::text(lang, "file-damaged", &[("kind", kind_name(kind).into())])
        }
    };
    i18n::text(
        lang,
        "files-refused",
        &[("name", name.to_owned().into()), ("why", why.into())],
    )
}

pub(super) fn kind_name(kind: MediaType) -> &'static str {
    match kind {
        MediaType::Jpeg => "JPEG",
        MediaType::Png => "PNG",
        MediaType::Pdf => "PDF",
    }
}

fn bad_form(lang: Lang) -> Failure {
    Failure(lang, WebError::BadForm)
}

fn too_many(lang: Lang) -> Failure {
    let max = MAX_FILES_PER_ACTIVITY.to_string();
    let words = i18n::text(lang, "files-too-many", &[("max", max.into())]);
    Failure(lang, WebError::FileRefused(words))
}

/// `GET /files/{hash}`: a file this computer holds, shown in the browser
/// (a picture, or a PDF in its viewer).
pub(super) async fn serve(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path(hash): Path<String>,
) -> Reply {
    let hash = FileHash::parse(&hash).ok_or(Failure(lang, WebError::NotFound))?;
    let read = app
        .read(move |view| {
            let Some(held) = view.store().file(hash)?.filter(|f| f.is_whole()) else {
                return Ok(None);
            };
            let mut bytes = Vec::with_capacity(held.bytes as usize);
            view.store().read_file(hash, &mut bytes)?;
            Ok(Some((held.media_type, bytes)))
        })
        .await
        .map_err(fail(lang))?;
    let Some((kind, bytes)) = read else {
        return Err(Failure(lang, WebError::NotFound));
    };
    let mime = kind.map_or("application/octet-stream", MediaType::mime);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            // The bytes of a file never change: a hash names them.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /activities/{id}/files/{hash}/fetch`: asks the running sync to
/// fetch a file this computer lacks (an office's view of a centre's photo).
pub(super) async fn fetch(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path((id, hash)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let (id, hash) = posted_file(&app, lang, (&id, &hash), &body)?;
    app.with_store(move |replica| {
        let Some((info, activity)) = replica.list_view().get(id)? else {
            return Ok(false);
        };
        let Some(file) = activity.attachments.iter().find(|f| f.file == hash) else {
            return Ok(false);
        };
        let wanted = sync_core::sync::files::FileWanted::of(info.id.0, id, file);
        Ok(crate::file_link::want(replica.store(), wanted)?)
    })
    .await
    .map_err(fail(lang))?;
    app.note_local_change();
    Ok(Redirect::to(&format!("/activities/{id}?done=file-fetching")).into_response())
}

/// `POST /activities/{id}/files/{hash}/remove`: detaches one file.
pub(super) async fn remove(
    State(app): State<App>,
    UiLang(lang): UiLang,
    Path((id, hash)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let (id, hash) = posted_file(&app, lang, (&id, &hash), &body)?;
    app.with_journal(move |replica| replica.detach_file(id, hash, Utc::now()))
        .await
        .map_err(fail(lang))?;
    Ok(Redirect::to(&format!("/activities/{id}?done=file-removed")).into_response())
}

/// The activity and file a form about one file names, once its token is
/// this run's.
fn posted_file(
    app: &App,
    lang: Lang,
    (id, hash): (&str, &str),
    body: &[u8],
) -> Result<(ActivityId, FileHash), Failure> {
    let id = parse_id(id).map_err(fail(lang))?;
    let hash = FileHash::parse(hash).ok_or(Failure(lang, WebError::NotFound))?;
    posted(app, lang, body)?;
    Ok((id, hash))
}
