//! Unit tests with access to the internals.
