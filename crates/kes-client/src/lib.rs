//! Async client library for the KES HTTP API. TODO(issue 4).
#![forbid(unsafe_code)]
