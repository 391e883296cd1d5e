//! TODO(issue 2): see the workspace plan.
