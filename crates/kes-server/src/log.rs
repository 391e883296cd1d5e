//! TODO(issue 3): log.
