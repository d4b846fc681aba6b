//! Errors: invalid configuration, and refused submissions (which hand the job back).

use std::fmt;

/// A builder or resize argument was invalid. Names the field and the value.
///
/// # Examples
///
/// ```
/// use weir_pool::{ConfigError, Pool};
///
/// let err = Pool::builder().workers(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::Zero { field: "workers" });
/// assert_eq!(err.field(), "workers");
/// assert_eq!(err.to_string(), "invalid pool config: `workers` = 0, must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least 1 was 0.
    #[error("invalid pool config: `{field}` = 0, must be at least 1")]
    Zero {
        /// The field (builder method) at fault.
        field: &'static str,
    },
    /// A count was above what the pool supports.
    #[error("invalid pool config: `{field}` = {value}, above the maximum {max}")]
    TooLarge {
        /// The field (builder method) at fault.
        field: &'static str,
        /// The value given.
        value: usize,
        /// The largest accepted value.
        max: usize,
    },
    /// A duration that must be positive was zero.
    #[error("invalid pool config: `{field}` = 0s, must be greater than zero")]
    ZeroDuration {
        /// The field (builder method) at fault.
        field: &'static str,
    },
    /// The classes' reservations add up to more than the budget.
    #[error("invalid pool config: classes reserve {reserved} in total, above the budget {budget}")]
    OverReserved {
        /// The field (builder method) at fault: `class`, `budget` or `set_budget`.
        field: &'static str,
        /// The sum of the reservations.
        reserved: usize,
        /// The budget.
        budget: usize,
    },
    /// A class name was declared twice, or a default class was not declared.
    #[error("invalid pool config: class `{name}` {problem}")]
    Class {
        /// The field (builder method) at fault: `class` or `default_class`.
        field: &'static str,
        /// The class name.
        name: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A watermark's low mark was not below its high mark.
    #[error("invalid pool config: `{field}` low mark {low} must be below the high mark {high}")]
    Watermark {
        /// The field (builder method) at fault: `shed_watermark`.
        field: &'static str,
        /// The high mark given.
        high: usize,
        /// The low mark given.
        low: usize,
    },
}

impl ConfigError {
    /// The field (builder method name) the error is about.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = weir_pool::Pool::builder().queue_capacity(0).build().unwrap_err();
    /// assert_eq!(err.field(), "queue_capacity");
    /// ```
    pub fn field(&self) -> &'static str {
        match self {
            Self::Zero { field }
            | Self::TooLarge { field, .. }
            | Self::ZeroDuration { field }
            | Self::OverReserved { field, .. }
            | Self::Class { field, .. }
            | Self::Watermark { field, .. } => field,
        }
    }
}

macro_rules! submit_error {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $msg:literal, $is:ident; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, thiserror::Error)]
        pub enum $name<J> {
            $(
                $(#[$vmeta])*
                #[error($msg)]
                $variant(J),
            )+
        }

        impl<J> $name<J> {
            /// Gives the refused job back.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let err = weir_pool::", stringify!($name), "::Closed(\"job\");")]
            /// assert_eq!(err.into_inner(), "job");
            /// ```
            pub fn into_inner(self) -> J {
                match self {
                    $( Self::$variant(job) )|+ => job,
                }
            }

            /// A reference to the refused job.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let err = weir_pool::", stringify!($name), "::TooHeavy(7);")]
            /// assert_eq!(*err.get_ref(), 7);
            /// ```
            pub fn get_ref(&self) -> &J {
                match self {
                    $( Self::$variant(job) )|+ => job,
                }
            }

            $(
                #[doc = concat!("Whether this is [`", stringify!($name), "::", stringify!($variant), "`].")]
                ///
                /// # Examples
                ///
                /// ```
                #[doc = concat!("let err = weir_pool::", stringify!($name), "::", stringify!($variant), "(());")]
                #[doc = concat!("assert!(err.", stringify!($is), "());")]
                /// ```
                pub fn $is(&self) -> bool {
                    matches!(self, Self::$variant(_))
                }
            )+
        }

        impl<J> fmt::Debug for $name<J> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( Self::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")), )+
                }
            }
        }
    };
}

submit_error! {
    /// Why [`Pool::submit`](crate::Pool::submit) refused a job. The job comes back
    /// inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::{Duration, Instant};
    /// use weir_pool::{Pool, SubmitError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// pool.close(Instant::now() + Duration::from_secs(1)).await;
    /// let err = pool.submit(std::future::ready(5)).await.unwrap_err();
    /// assert!(matches!(err, SubmitError::Closed(_)));
    /// assert_eq!(err.into_inner().await, 5);
    /// # }
    /// ```
    SubmitError {
        /// The pool is closed (or closing).
        Closed => "pool closed", is_closed;
        /// The job's weight is above the pool's budget, so it could never run.
        TooHeavy => "job weight exceeds the pool's budget", is_too_heavy;
        /// The queue is above the [shed watermark](crate::Builder::shed_watermark).
        Shed => "shed: pool queue above its high watermark", is_shed;
    }
}

submit_error! {
    /// Why [`Pool::try_submit`](crate::Pool::try_submit) refused a job. The job comes
    /// back inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Pool, TrySubmitError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// pool.try_submit(std::future::ready(1)).unwrap();
    /// let err = pool.try_submit(std::future::ready(2)).unwrap_err();
    /// assert!(matches!(err, TrySubmitError::Full(_)));
    /// assert_eq!(err.into_inner().await, 2);
    /// # }
    /// ```
    TrySubmitError {
        /// The queue is full (and the overflow policy refuses the newest job).
        Full => "pool queue full", is_full;
        /// The pool is closed (or closing).
        Closed => "pool closed", is_closed;
        /// The job's weight is above the pool's budget, so it could never run.
        TooHeavy => "job weight exceeds the pool's budget", is_too_heavy;
        /// The queue is above the [shed watermark](crate::Builder::shed_watermark).
        Shed => "shed: pool queue above its high watermark", is_shed;
    }
}

submit_error! {
    /// Why [`Pool::submit_timeout`](crate::Pool::submit_timeout) refused a job. The
    /// job comes back inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// pool.try_submit(std::future::pending::<()>()).unwrap(); // the worker takes it
    /// tokio::task::yield_now().await;
    /// pool.try_submit(std::future::pending::<()>()).unwrap(); // fills the queue
    /// let err = pool
    ///     .submit_timeout(async {}, Duration::from_millis(10))
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_timeout());
    /// # }
    /// ```
    SubmitTimeoutError {
        /// No queue room came free before the timeout.
        Timeout => "timed out waiting for pool queue room", is_timeout;
        /// The pool is closed (or closing).
        Closed => "pool closed", is_closed;
        /// The job's weight is above the pool's budget, so it could never run.
        TooHeavy => "job weight exceeds the pool's budget", is_too_heavy;
        /// The queue is above the [shed watermark](crate::Builder::shed_watermark).
        Shed => "shed: pool queue above its high watermark", is_shed;
    }
}

submit_error! {
    /// Why [`Pool::submit_cancellable`](crate::Pool::submit_cancellable) refused a
    /// job. The job comes back inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_util::sync::CancellationToken;
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// pool.try_submit(std::future::pending::<()>()).unwrap();
    /// tokio::task::yield_now().await;
    /// pool.try_submit(std::future::pending::<()>()).unwrap();
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// let err = pool.submit_cancellable(async {}, &token).await.unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    SubmitCancelledError {
        /// The token was cancelled before queue room came free.
        Cancelled => "cancelled while waiting for pool queue room", is_cancelled;
        /// The pool is closed (or closing).
        Closed => "pool closed", is_closed;
        /// The job's weight is above the pool's budget, so it could never run.
        TooHeavy => "job weight exceeds the pool's budget", is_too_heavy;
        /// The queue is above the [shed watermark](crate::Builder::shed_watermark).
        Shed => "shed: pool queue above its high watermark", is_shed;
    }
}
