//! TODO(issue 3): in-memory store.
