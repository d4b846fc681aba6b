//! weir-stream: backpressure-aware `Stream` adapters (under construction).
#![forbid(unsafe_code)]

/// Extension methods for [`futures_core::Stream`] (adapters land here).
pub trait WeirStreamExt: futures_core::Stream {}

impl<S: futures_core::Stream + ?Sized> WeirStreamExt for S {}
