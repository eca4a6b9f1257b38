//! The relay library (transport, registry, server); the `relay` binary is a thin shell.

pub mod enrol_code;
pub mod journals;
pub mod registry;
pub mod server;
pub mod tls;
pub mod transport;
