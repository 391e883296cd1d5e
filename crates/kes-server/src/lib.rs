//! The KES server library: configuration, TLS and client identities,
//! authorization, the HTTP API, the key cache, logs and metrics, and the
//! server lifecycle (start, reload, shutdown).
//!
//! The binary (`kes server`) only parses flags and calls into this crate;
//! tests start the same server in-process on `127.0.0.1:0`.
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod level;
pub mod log;
pub mod metrics;
pub mod sys;

pub mod accept;
pub mod api;
pub mod auth;
pub mod configure;
pub mod dev;
pub mod run;
pub mod state;
pub mod tls;
pub mod versions;

/// The build script's commit lookup, tested in `api::system`.
#[cfg(test)]
#[path = "../build/commit.rs"]
mod build_commit;

pub use run::{ServeOptions, ServerError, run};
