//! loom models of the rate limiter, the adaptive limiter and the watermark gate.
