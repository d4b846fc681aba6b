//! Behaviour tests for every adapter, in one binary (one link on a small machine).

mod support;

mod batch;
mod bounded;
mod coop;
mod par_map;
mod send;
mod shed;
mod throttle;
mod until_cancelled;
