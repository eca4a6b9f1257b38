//! The command line's words: its sentences in the system's language (`LANG`),
//! from the same Fluent files as the app, and its errors explained in that
//! language.

use fluent_bundle::FluentValue;
use sync_core::sync::{EnrolRefusal, ErrorCode};
use sync_core::{FieldError, FieldErrors, Group, Kind, Problem};

use crate::cli::FileLang;
use crate::interchange::import::ImportFileError;
use crate::net::NetError;
use crate::web::i18n::{self, Lang};
use relay::enrol_code::EnrolCodeError;

/// The command line's language: the system's (`LC_ALL`, `LC_MESSAGES`,
/// `LANG`, as POSIX orders them).
pub fn lang() -> Lang {
    FileLang::or_system(None)
}

/// One of the command line's sentences, in its language.
pub fn say(id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    i18n::text(lang(), id, args)
}

/// A sentence about `count` things: `$count` chooses the plural, `$n` is the
/// number in plain digits (scripts read these lines).
pub fn say_count(id: &str, count: u64, args: &[(&str, FluentValue<'_>)]) -> String {
    let mut all = vec![("count", count.into()), ("n", count.to_string().into())];
    all.extend(args.iter().cloned());
    say(id, &all)
}

/// The command line's help in `lang`: English is written in the source
/// (the doc comments clap reads); Latvian comes from `locales/cli-help.lv.ftl`,
/// one message per command (`help-<command path>`) and per argument
/// (`help-<command path>--<argument>`; arguments every command has, such
/// as `--data-dir` and `--help`, once as `help--<argument>`), with clap's
/// own headings. (clap's error messages stay in English.)
pub fn localized_help(mut command: clap::Command, lang: Lang) -> clap::Command {
    if lang == Lang::En {
        return command;
    }
    // Built first, so that the arguments clap adds (`--help`, `--version`,
    // the `help` command) and the global ones are there to be translated.
    command.build();
    localize(command, lang, "help")
}

/// One command and, below it, its subcommands.
fn localize(mut command: clap::Command, lang: Lang, path: &str) -> clap::Command {
    let heading = |id| i18n::t(lang, id);
    if let Some(about) = i18n::help_text(lang, path) {
        command = command.about(about);
    }
    if path == "help-help" {
        return command;
    }
    let usage = format!(
        "{{before-help}}{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
        heading("help-usage-heading")
    );
    command = command
        .help_template(usage)
        .subcommand_help_heading(heading("help-commands-heading"))
        .subcommand_value_name(heading("help-command-value"))
        .mut_args(|arg| {
            let id = arg_help_id(path, &arg);
            let section = if arg.is_positional() {
                "help-arguments-heading"
            } else {
                "help-options-heading"
            };
            let arg = arg.help_heading(heading(section));
            match i18n::help_text(lang, &id) {
                Some(help) => arg.help(help),
                None => arg,
            }
        });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = subcommand_help_id(path, &name);
        command = command.mut_subcommand(&name, |sub| localize(sub, lang, &sub_path));
    }
    command
}

/// The help id of an argument: the same everywhere for the ones every
/// command has.
fn arg_help_id(path: &str, arg: &clap::Arg) -> String {
    let id = arg.get_id().as_str();
    if arg.is_global_set() || id == "help" || id == "version" {
        format!("help--{id}")
    } else {
        format!("{path}--{id}")
    }
}

/// The help id of a subcommand: the `help` command clap adds is one.
fn subcommand_help_id(path: &str, name: &str) -> String {
    if name == "help" {
        "help-help".to_owned()
    } else {
        format!("{path}-{name}")
    }
}

/// Every help message id the command line's help asks for, for the test
/// that each is written in Latvian.
pub fn help_ids(command: &clap::Command) -> std::collections::BTreeSet<String> {
    fn walk(command: &clap::Command, path: &str, out: &mut std::collections::BTreeSet<String>) {
        out.insert(path.to_owned());
        for arg in command.get_arguments() {
            out.insert(arg_help_id(path, arg));
        }
        for sub in command.get_subcommands() {
            let sub_path = subcommand_help_id(path, sub.get_name());
            if sub_path == "help-help" {
                out.insert(sub_path);
            } else {
                walk(sub, &sub_path, out);
            }
        }
    }
    let mut command = command.clone();
    command.build();
    let mut out = std::collections::BTreeSet::new();
    walk(&command, "help", &mut out);
    out
}

/// An error and its causes, one per line, as `main` prints them.
pub fn error_lines(lang: Lang, error: &anyhow::Error) -> String {
    let mut lines = error.chain().map(|cause| explain(lang, cause));
    let mut message = i18n::text(
        lang,
        "cli-error",
        &[("message", lines.next().unwrap_or_default().into())],
    );
    for cause in lines {
        message.push('\n');
        message.push_str(&i18n::text(
            lang,
            "cli-because",
            &[("message", cause.into())],
        ));
    }
    message
}

/// One cause in `lang`. The command line's own sentences are already in
/// it; of the libraries' errors, those a volunteer meets (a field typed
/// wrong, a file that cannot be imported) are said in Latvian too, the
/// rest in the library's English words.
fn explain(lang: Lang, cause: &(dyn std::error::Error + 'static)) -> String {
    if lang == Lang::En {
        return cause.to_string();
    }
    if let Some(errors) = cause.downcast_ref::<FieldErrors>() {
        let each: Vec<String> = errors.0.iter().map(|e| field_error(lang, e)).collect();
        return join_problems(lang, &each);
    }
    if let Some(error) = cause.downcast_ref::<ImportFileError>() {
        return error.say(lang);
    }
    if let Some(error) = cause.downcast_ref::<NetError>() {
        return net_error(lang, error);
    }
    if let Some(error) = cause.downcast_ref::<EnrolCodeError>() {
        return enrol_code_problem(lang, error);
    }
    if let Some(error) = cause.downcast_ref::<crate::service::ServiceError>() {
        return service_error(lang, error);
    }
    cause.to_string()
}

/// Why a sync or an enrolment did not happen, in `lang`; what the office
/// server or a library said stays in its own words.
pub fn net_error(lang: Lang, error: &NetError) -> String {
    let detail = |id: &str, words: String| i18n::text(lang, id, &[("details", words.into())]);
    match error {
        NetError::NotEnrolled => i18n::t(lang, "net-not-enrolled"),
        NetError::AlreadyEnrolled(server) => detail("net-already-enrolled", server.clone()),
        NetError::BadAddress(address) => detail("net-bad-address", address.clone()),
        NetError::Unreachable(_) => i18n::t(lang, "net-unreachable"),
        NetError::Transport(_) if crate::net::relay_busy(error) => i18n::t(lang, "net-busy"),
        NetError::Transport(e) => detail("net-transport", e.to_string()),
        NetError::Refused { code, message } => refusal(lang, *code, message),
        NetError::UnreadableAnswer(words) => detail("net-unreadable-answer", words.clone()),
        NetError::Request(words) => detail("net-request", words.clone()),
        NetError::JournalChangedMeanwhile => i18n::t(lang, "net-journal-changed"),
        NetError::Revoked => i18n::t(lang, "net-revoked"),
        NetError::Session(e) => detail("net-interrupted", e.to_string()),
        NetError::Code(e) => enrol_code_problem(lang, e),
        NetError::TooSlow(_) => i18n::t(lang, "net-too-slow"),
        NetError::Panicked(words) => detail("net-panicked", words.clone()),
        NetError::Stopped => i18n::t(lang, "net-stopped"),
        NetError::Version(mismatch) => version_mismatch(lang, mismatch),
        NetError::BudgetSpent { budget } => detail("net-budget-spent", i18n::bytes(lang, *budget)),
        other => other.to_string(),
    }
}

/// The relay's refusal in `lang`: a refused enrolment code in the user's
/// words; otherwise what the refusal's code means, with the relay's own
/// (English) words after it.
pub fn refusal(lang: Lang, code: ErrorCode, message: &str) -> String {
    if let Some(refused) = EnrolRefusal::from_text(message) {
        return i18n::t(lang, enrol_refusal_id(refused));
    }
    let id = match code {
        ErrorCode::Malformed => "net-refused-malformed",
        ErrorCode::TooLarge => "net-refused-too-large",
        ErrorCode::NotAllowed => "net-refused-not-allowed",
        ErrorCode::UnknownJournal => "net-refused-unknown-journal",
        ErrorCode::LimitReached => "net-refused-limit",
        ErrorCode::Internal => "net-refused-internal",
        // Told in their own words before they reach here (crate::net::closed).
        ErrorCode::UnsupportedVersion | ErrorCode::Revoked | ErrorCode::Unavailable => {
            "net-refused"
        }
    };
    i18n::text(lang, id, &[("details", message.into())])
}

/// A refused enrolment code, as its message says it.
pub fn enrol_refusal_id(refused: EnrolRefusal) -> &'static str {
    match refused {
        EnrolRefusal::UnknownCode => "enrol-code-unknown",
        EnrolRefusal::ExpiredCode => "enrol-code-expired",
        EnrolRefusal::UsedCode => "enrol-code-used",
        EnrolRefusal::AlreadyEnrolled => "enrol-already-enrolled",
    }
}

/// Why the background service was not set up or removed, in `lang`.
fn service_error(lang: Lang, error: &crate::service::ServiceError) -> String {
    use crate::service::ServiceError;
    let path = |p: &std::path::Path| p.display().to_string().into();
    match error {
        ServiceError::Unsupported => i18n::t(lang, "service-unsupported"),
        ServiceError::NoHome => i18n::t(lang, "service-no-home"),
        ServiceError::Write { path: p, source } => i18n::text(
            lang,
            "service-cannot-write",
            &[("path", path(p)), ("why", source.to_string().into())],
        ),
        ServiceError::Remove { path: p, source } => i18n::text(
            lang,
            "service-cannot-remove",
            &[("path", path(p)), ("why", source.to_string().into())],
        ),
        ServiceError::NoSystemctl { args, source } => i18n::text(
            lang,
            "service-no-systemctl",
            &[
                ("args", args.as_str().into()),
                ("why", source.to_string().into()),
            ],
        ),
        ServiceError::Systemctl { args, said } => i18n::text(
            lang,
            "service-systemctl-failed",
            &[
                ("args", args.as_str().into()),
                ("why", said.as_str().into()),
            ],
        ),
    }
}

/// Which program must be updated, in `lang` (with the relay's own words
/// when it did not say its version).
fn version_mismatch(lang: Lang, mismatch: &sync_core::sync::VersionMismatch) -> String {
    use sync_core::sync::VersionMismatch;
    match mismatch {
        VersionMismatch::UpdateThisProgram { .. } => i18n::t(lang, "status-update-this-program"),
        VersionMismatch::UpdateServer { .. } => i18n::t(lang, "status-update-server"),
        VersionMismatch::UpdateEither { message, .. } => i18n::text(
            lang,
            "net-update-either",
            &[("details", message.as_str().into())],
        ),
        _ => mismatch.to_string(),
    }
}

/// A code that is not a valid enrolment code, in plain words.
pub fn enrol_code_problem(lang: Lang, e: &EnrolCodeError) -> String {
    let id = match e {
        EnrolCodeError::NotACode => "enrol-code-not-a-code",
        EnrolCodeError::Mistyped => "enrol-code-mistyped",
        EnrolCodeError::OldFormat => "enrol-code-old",
        _ => "enrol-code-damaged",
    };
    i18n::t(lang, id)
}

/// A field's problem as the command line says it: the field's name, then
/// what is wrong, with the accepted words where a word was not known.
pub fn field_error(lang: Lang, error: &FieldError) -> String {
    if lang == Lang::En {
        return error.to_string();
    }
    let problem = match error.code {
        Problem::UnknownKind => i18n::text(
            lang,
            "cli-problem-unknown-kind",
            &[("known", keys(Kind::ALL.map(Kind::key)).into())],
        ),
        Problem::UnknownGroup => i18n::text(
            lang,
            "cli-problem-unknown-group",
            &[("known", keys(Group::ALL.map(Group::key)).into())],
        ),
        other => i18n::problem(lang, other),
    };
    format!("{}: {problem}", field_label(lang, &error.field))
}

/// Problems one after another: the Latvian ones are sentences of their
/// own ("Šis lauks ir obligāts."), the English ones clauses.
pub fn join_problems(lang: Lang, problems: &[String]) -> String {
    problems.join(match lang {
        Lang::Lv => " ",
        Lang::En => "; ",
    })
}

/// A field's name as the app labels it.
fn field_label(lang: Lang, field: &sync_core::Field) -> String {
    use sync_core::Field;
    let id = match field {
        Field::Count(group) => {
            return Group::parse(group)
                .map_or_else(|| group.clone(), |g| i18n::group_name(lang, g));
        }
        Field::Title => "field-title",
        Field::Kind => "field-kind",
        Field::Date => "field-date",
        Field::Start => "field-start",
        Field::Hours => "field-hours",
        Field::Place => "field-place",
        Field::Organisers => "field-organisers",
        Field::Institutions => "field-institutions",
        Field::Description => "field-description",
        Field::Notes => "field-notes",
    };
    i18n::t(lang, id)
}

fn keys<const N: usize>(keys: [&str; N]) -> String {
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::ActivityInput;

    fn errors_of(input: ActivityInput) -> FieldErrors {
        input.parse().expect_err("the input is wrong")
    }

    #[test]
    fn a_field_typed_wrong_is_explained_in_latvian_with_its_label() {
        let errors = errors_of(ActivityInput {
            kind: Some("concert".into()),
            date: Some("31.02.2026.".into()),
            ..ActivityInput::default()
        });
        let said = error_lines(Lang::Lv, &anyhow::Error::new(errors));
        assert!(said.starts_with("kļūda: "), "{said}");
        assert!(said.contains("Veids: Tāda veida nav; der: "), "{said}");
        assert!(said.contains("workshop"), "{said}");
        assert!(said.contains("Datums: Ierakstiet datumu"), "{said}");
    }

    #[test]
    fn every_command_and_option_has_its_latvian_help_and_none_is_stale() {
        use clap::CommandFactory;
        let wanted = help_ids(&crate::cli::Cli::command());
        let written: std::collections::BTreeSet<String> = i18n::help_message_ids()
            .into_iter()
            .filter(|id| !id.ends_with("-heading") && id != "help-command-value")
            .collect();
        let missing: Vec<_> = wanted.difference(&written).collect();
        let stale: Vec<_> = written.difference(&wanted).collect();
        assert!(missing.is_empty(), "no Latvian help for {missing:#?}");
        assert!(stale.is_empty(), "Latvian help for nothing: {stale:#?}");
    }

    #[test]
    fn the_relays_refusals_are_said_in_the_users_language() {
        use sync_core::sync::{EnrolRefusal, ErrorCode};
        let mut said = std::collections::BTreeSet::new();
        for refused in EnrolRefusal::ALL {
            let latvian = refusal(Lang::Lv, ErrorCode::NotAllowed, refused.text());
            assert!(!latvian.contains(refused.text()), "{latvian}");
            assert!(said.insert(latvian), "two refusals said alike");
        }
        let used = refusal(
            Lang::Lv,
            ErrorCode::NotAllowed,
            EnrolRefusal::UsedCode.text(),
        );
        assert_eq!(
            used,
            "Šis kods jau ir izmantots. Palūdziet birojam jaunu kodu."
        );
        // Other refusals: what the code means, with the relay's own words.
        let busy = refusal(Lang::Lv, ErrorCode::LimitReached, "too many sessions");
        assert!(
            busy.starts_with("biroja serveris šobrīd ir aizņemts"),
            "{busy}"
        );
        assert!(busy.contains("too many sessions"), "{busy}");
    }

    #[test]
    fn in_english_the_libraries_words_are_kept() {
        let errors = errors_of(ActivityInput {
            date: Some("tomorrow".into()),
            ..ActivityInput::default()
        });
        let english = errors.to_string();
        let error = anyhow::Error::new(errors).context("the activity was not saved");
        assert_eq!(
            error_lines(Lang::En, &error),
            format!("error: the activity was not saved\n  because: {english}")
        );
    }
}
