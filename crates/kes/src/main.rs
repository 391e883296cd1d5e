//! The `kes` command-line tool. TODO(issues 3, 4).
#![forbid(unsafe_code)]

fn main() {}
