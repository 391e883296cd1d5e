//! TODO(issue 3): configuration file.
