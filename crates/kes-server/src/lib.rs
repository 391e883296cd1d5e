//! The KES server library. TODO(issue 3).
#![forbid(unsafe_code)]
