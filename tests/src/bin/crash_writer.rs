//! Helper for the crash tests: opens the journal store given on the command
//! line and records activities in an endless loop, printing each id on stdout
//! (flushed) right after `Replica::add` returned `Ok`, i.e. once it is durable.
//! The test kills this process with SIGKILL at random moments.
//!
//! Usage: `crash_writer STORE RUN`. Activity `n` of run `RUN` gets the id
//! `tests::crash_id(RUN, n)` and the fields `tests::crash_input(RUN, n)`.
//! Before compacting it prints `compacting`, after it `compacted`, so the test
//! can aim a kill at a compaction.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use sync_core::Replica;
use sync_core::limits::COMPACT_AFTER_CHANGES;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, run] = args.as_slice() else {
        eprintln!("usage: crash_writer STORE RUN");
        return ExitCode::from(2);
    };
    let Ok(run) = run.parse::<u64>() else {
        eprintln!("RUN must be a number, not {run}");
        return ExitCode::from(2);
    };
    match write_forever(PathBuf::from(store), run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash_writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_forever(store: PathBuf, run: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut replica = Replica::open(&store)?;
    let journal = replica.journal_id();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let id = tests::crash_id(run, n);
        let patch = tests::crash_input(run, n)
            .parse()
            .map_err(|e| format!("bad input for {run}/{n}: {e}"))?;
        replica.add(id, &patch, Utc::now())?;
        // Only now, with the activity durable, is its id printed. A failed write
        // means the test is gone: stop.
        writeln!(out, "{id}")?;
        out.flush()?;
        if replica.store().appended_count(journal)? >= COMPACT_AFTER_CHANGES {
            writeln!(out, "compacting")?;
            out.flush()?;
            replica.compact_due()?;
            writeln!(out, "compacted")?;
            out.flush()?;
        }
    }
    Ok(())
}
