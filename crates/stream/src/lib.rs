//! weir-stream: backpressure-aware `Stream` adapters (under construction).
#![forbid(unsafe_code)]
