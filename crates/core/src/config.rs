//! [`ConfigError`]: the one error every weir-core builder returns.

use std::fmt;

/// A configuration value a builder refused: it names the field, the value given and
/// what was expected.
///
/// # Examples
///
/// ```
/// use weir_core::adaptive::Aimd;
///
/// let err = Aimd::builder().backoff_ratio(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "backoff_ratio");
/// assert_eq!(err.value(), "1.5");
/// assert_eq!(err.to_string(), "invalid backoff_ratio = 1.5: expected a ratio in [0.5, 1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} = {value}: expected {expected}")]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    pub(crate) fn new(
        field: &'static str,
        value: impl fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self {
            field,
            value: value.to_string(),
            expected,
        }
    }

    /// The builder field that was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = weir_core::Watermark::new(4, 8).unwrap_err();
    /// assert_eq!(err.field(), "low");
    /// ```
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The refused value, formatted.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = weir_core::Quota::per_second(0).unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("rate", "0"));
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the field accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = weir_core::Quota::per_second(0).unwrap_err();
    /// assert_eq!(err.expected(), "at least 1");
    /// ```
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

/// Checks `ok`, or refuses `field = value`.
pub(crate) fn check(
    ok: bool,
    field: &'static str,
    value: impl fmt::Display,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, value, expected))
    }
}

/// Validates the limit range every algorithm builder shares: `min ≥ 1`,
/// `max ≥ min`, and `initial` within `[min, max]`, naming the first bad field.
pub(crate) fn check_limits(min: usize, max: usize, initial: usize) -> Result<(), ConfigError> {
    check(min >= 1, "min_limit", min, "at least 1")?;
    check(max >= min, "max_limit", max, "at least min_limit")?;
    check(
        (min..=max).contains(&initial),
        "initial_limit",
        initial,
        "within [min_limit, max_limit]",
    )
}
