//! The relay library (transport, registry, storage, server); the `relay` binary is a thin shell.

pub mod backup;
pub mod check;
pub mod config;
pub mod enrol_code;
mod file_stream;
pub mod limits;
pub mod registry;
pub mod serve_lock;
pub mod server;
mod session;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod transport;
