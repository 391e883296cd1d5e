//! `kes-bench`: a closed-loop load generator for KES servers (issue 8).
//!
//! It presents a client certificate (PEM files or an API key), keeps
//! connections alive over HTTP/1.1 or multiplexes streams over HTTP/2, runs
//! the generate / decrypt / encrypt / create-delete / MinIO-mix / handshake
//! workloads for a request count or a duration, and reports requests/s,
//! latency quantiles from a log-linear histogram and error counts (text or
//! JSON). The binary is a thin wrapper around [`run`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod conn;
pub mod driver;
pub mod error;
pub mod histogram;
pub mod report;
pub mod tls;
pub mod workload;

pub use cli::{Args, BenchConfig, Stop, Workload};
pub use driver::run;
pub use error::BenchError;
pub use report::Report;
