//! Configuration errors.

use thiserror::Error;

/// Why [`Watermarks::new`](crate::Watermarks::new) rejected its arguments.
///
/// ```
/// use weir_stream::{Watermarks, WatermarkError};
/// let err = Watermarks::new(8, 9).unwrap_err();
/// assert_eq!(err, WatermarkError::LowNotBelowHigh { high: 8, low: 9 });
/// assert_eq!(err.to_string(), "low watermark 9 must be below high watermark 8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WatermarkError {
    /// `high` was 0: the buffer could hold nothing.
    #[error("high watermark must be at least 1")]
    ZeroHigh,
    /// `low >= high`: there is no hysteresis band.
    #[error("low watermark {low} must be below high watermark {high}")]
    LowNotBelowHigh {
        /// The high mark given.
        high: usize,
        /// The low mark given.
        low: usize,
    },
}

/// Why [`Rate::new`](crate::Rate::new) rejected its arguments.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use weir_stream::{Rate, RateError};
/// let err = Rate::new(NonZeroU32::new(5).unwrap(), Duration::ZERO).unwrap_err();
/// assert_eq!(err, RateError::ZeroPeriod);
/// assert_eq!(err.to_string(), "rate period must be non-zero");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RateError {
    /// The period was zero: an infinite rate.
    #[error("rate period must be non-zero")]
    ZeroPeriod,
    /// More than one item per nanosecond: not representable.
    #[error("rate above one item per nanosecond")]
    TooFast,
}
