//! weir-pool: a bounded async worker pool (under construction).
#![forbid(unsafe_code)]
