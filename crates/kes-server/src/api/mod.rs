//! The HTTP API: route table, request pipeline, handlers, error mapping.

pub mod body;
pub mod error;
pub mod routes;
