//! `relay`: the central QUIC server that stores every centre's journal.
//!
//! Not built yet: it arrives with the sync issue (QUIC transport, enrolment,
//! durable acknowledgements). Until then the field client works fully offline
//! and this binary only says so.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "relay: the central server is not part of this version yet; field clients record offline and keep every change as not yet sent"
    );
    ExitCode::from(2)
}
