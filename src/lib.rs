//! Weft's server: configuration, storage adapters, the HTTP server, and the CLI.
//! The app crate holds the model, the ports and the pages; this crate plugs
//! real infrastructure into them.

pub mod api;
pub mod bus;
pub mod cli;
pub mod config;
pub mod engine;
pub mod marketplace;
pub mod metrics;
pub mod retention;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod triggers;
pub mod weigh;
