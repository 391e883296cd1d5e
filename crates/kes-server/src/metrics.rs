//! TODO(issue 3): metrics.
