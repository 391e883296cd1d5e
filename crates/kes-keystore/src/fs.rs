//! TODO(issue 3): filesystem store.
