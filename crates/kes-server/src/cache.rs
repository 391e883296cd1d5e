//! TODO(issue 3): cache.
