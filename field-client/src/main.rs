//! `field-client`: parses the command line, runs the command, and prints any
//! error with its causes in plain words.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use field_client::cli::Cli;
use field_client::{commands, words};

fn main() -> ExitCode {
    // Automerge panics on some damaged input; the sync code turns those into
    // plain errors, so they must not print as if the program had crashed.
    sync_core::sync::hide_caught_library_panics();
    let cli = parse_arguments();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader stopped reading (`export | head`): what it took was
        // written, and nothing went wrong here.
        Err(error) if stopped_reading(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", words::error_lines(words::lang(), &error));
            ExitCode::FAILURE
        }
    }
}

/// The command line, parsed. Help, `--version` and mistakes are shown in the
/// system's language: only then is the help in that language built (not at
/// every `add`).
fn parse_arguments() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(english) => {
            match words::localized_help(Cli::command(), words::lang()).try_get_matches() {
                // The same grammar in other words: it fails the same way.
                Ok(_) => english.exit(),
                Err(said) => said.exit(),
            }
        }
    }
}

/// True when the error is a write to a pipe whose reader has gone.
fn stopped_reading(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => field_client::default_data_dir()
            .with_context(|| words::say("cli-no-data-folder", &[]))?,
    };
    let result = commands::run(cli.command, &data_dir);
    // The command's store is closed: a running `run` that lent it takes it back.
    field_client::owner::give_back();
    result
}
