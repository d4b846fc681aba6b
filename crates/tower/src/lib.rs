//! weir-tower: a [tower] [`Layer`] that admits each request through a weir
//! [`Semaphore`], waiting at most an admission deadline.
//!
//! [`AdmissionLayer`] wraps a service in [`Admission`]. Every call takes one permit
//! from the shared semaphore before the inner service is called, and holds it until
//! the inner response future completes. A request that cannot be admitted is
//! refused with one of two errors, so a server can answer each correctly:
//!
//! - [`Busy`]: refused **at once** — too many requests were already waiting
//!   ([`AdmissionLayer::max_waiting`]), or the semaphore is closed (shutting down).
//!   An HTTP server answers `503 Service Unavailable` with `Retry-After`.
//! - [`Timeout`]: the request waited its whole admission deadline without a permit.
//!   An HTTP server answers `504 Gateway Timeout` (or `503`, by taste).
//!
//! Because the limit is a weir [`Semaphore`], it can be moved at runtime
//! ([`Semaphore::set_capacity`], without preempting requests in flight), drained on
//! shutdown ([`Semaphore::close`] then [`Semaphore::wait_idle`]), and read for
//! metrics ([`Semaphore::in_use`], [`Semaphore::waiters`]). Waiting requests are
//! admitted strictly in arrival order.
//!
//! To let the limit find itself, build the layer with
//! [`AdmissionLayer::adaptive`] over a weir-core [`AdaptiveLimiter`] (AIMD, Vegas,
//! Gradient): each completed response reports its latency and outcome, and the
//! limiter moves the semaphore's ceiling.
//!
//! ```
//! use std::{convert::Infallible, sync::Arc, time::Duration};
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//! use weir_core::Semaphore;
//! use weir_tower::{AdmissionLayer, Busy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let limit = Arc::new(Semaphore::new(2));
//! let mut svc = ServiceBuilder::new()
//!     .layer(AdmissionLayer::new(limit.clone(), Duration::from_millis(100)).max_waiting(0))
//!     .service(service_fn(|x: u32| async move { Ok::<_, Infallible>(x * 2) }));
//!
//! assert_eq!(svc.ready().await.unwrap().call(21).await.unwrap(), 42);
//!
//! // Both permits held elsewhere, and no one may wait: refused at once.
//! let _held = limit.acquire_many(2).await.unwrap();
//! let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
//! assert!(err.is::<Busy>());
//! # }
//! ```
//!
//! [tower]: https://docs.rs/tower
//!
//! # When not to use weir-tower
//!
//! - A fixed limit with no deadline, resizing or drain: tower's own
//!   `ConcurrencyLimitLayer` (waits in `poll_ready`) or `LoadShedLayer` (never waits)
//!   are enough.
//! - Per-client quotas or rate limits: this layer bounds concurrency, not rate.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;
use weir_core::{
    AcquireOwned, AdaptiveLimiter, Outcome, OwnedPermit, Sample, Semaphore, TryAcquireError,
};

/// The error type of [`Admission`]: a [`Busy`], a [`Timeout`], or the inner
/// service's error, boxed (as tower's own middleware does).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A request refused at once: the wait queue was full, or the semaphore is closed.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use tower::{ServiceExt, service_fn};
/// use weir_core::Semaphore;
/// use weir_tower::{AdmissionLayer, Busy};
/// use tower::Layer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limit = Arc::new(Semaphore::new(1));
/// let svc = AdmissionLayer::new(limit.clone(), Duration::from_secs(1))
///     .layer(service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }));
/// limit.close();
/// let err = svc.oneshot(()).await.unwrap_err();
/// let busy = err.downcast_ref::<Busy>().unwrap();
/// assert!(busy.is_closed());
/// assert_eq!(busy.to_string(), "service closed: not admitting requests");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Busy {
    closed: bool,
}

impl Busy {
    /// Whether the semaphore was closed (the service is shutting down), rather than
    /// the wait queue being full.
    ///
    /// # Examples
    ///
    /// See [`Busy`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.closed {
            "service closed: not admitting requests"
        } else {
            "service busy: too many requests waiting"
        })
    }
}

impl std::error::Error for Busy {}

/// A request that waited its whole admission deadline without a permit.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use tower::{Layer, ServiceExt, service_fn};
/// use weir_core::Semaphore;
/// use weir_tower::{AdmissionLayer, Timeout};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limit = Arc::new(Semaphore::new(1));
/// let svc = AdmissionLayer::new(limit.clone(), Duration::from_millis(100))
///     .layer(service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) }));
/// let _held = limit.acquire().await.unwrap();
/// let err = svc.oneshot(()).await.unwrap_err();
/// let timeout = err.downcast_ref::<Timeout>().unwrap();
/// assert_eq!(timeout.deadline(), Duration::from_millis(100));
/// assert_eq!(timeout.to_string(), "no permit within the admission deadline (100ms)");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    deadline: Duration,
}

impl Timeout {
    /// The admission deadline that passed.
    ///
    /// # Examples
    ///
    /// See [`Timeout`].
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no permit within the admission deadline ({:?})",
            self.deadline
        )
    }
}

impl std::error::Error for Timeout {}

/// Wraps services in [`Admission`]; every wrapped service shares the one semaphore.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use weir_core::Semaphore;
/// use weir_tower::AdmissionLayer;
///
/// let layer = AdmissionLayer::new(Arc::new(Semaphore::new(8)), Duration::from_millis(100))
///     .max_waiting(32);
/// assert_eq!(layer.semaphore().capacity(), 8);
/// assert_eq!(layer.deadline(), Duration::from_millis(100));
/// assert_eq!(layer.max_waiting_requests(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    semaphore: Arc<Semaphore>,
    deadline: Duration,
    max_waiting: usize,
    /// When set, `semaphore` is the limiter's and every admitted request reports a
    /// sample to it.
    limiter: Option<Arc<AdaptiveLimiter>>,
}

impl AdmissionLayer {
    /// Admits each request through `semaphore`, waiting at most `deadline` for a
    /// permit. By default any number of requests may wait (each for at most
    /// `deadline`); bound that with [`max_waiting`](Self::max_waiting).
    ///
    /// # Examples
    ///
    /// See [`AdmissionLayer`].
    pub fn new(semaphore: Arc<Semaphore>, deadline: Duration) -> Self {
        AdmissionLayer {
            config: Config {
                semaphore,
                deadline,
                max_waiting: usize::MAX,
                limiter: None,
            },
        }
    }

    /// Admits each request through an [`AdaptiveLimiter`]'s semaphore, waiting at
    /// most `deadline`, and feeds the limiter one [`Sample`] per admitted request
    /// when its response completes: the time from admission to response, the
    /// permits in use at admission, and [`Outcome::Success`] for an `Ok` response or
    /// [`Outcome::Overload`] for an error from the inner service. A response future
    /// dropped before completing reports nothing (an ignored sample). Requests the
    /// layer refuses itself ([`Busy`], [`Timeout`]) report nothing either: they never
    /// reached the service, and the limit they saw is the limiter's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
    /// use weir_tower::AdmissionLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let aimd = Aimd::builder().initial_limit(10).build().unwrap();
    /// let limiter: Arc<AdaptiveLimiter> = Arc::new(AdaptiveLimiter::new(aimd));
    /// let layer = AdmissionLayer::adaptive(limiter.clone(), Duration::from_millis(100));
    /// let failing = layer.layer(service_fn(|()| async { Err::<(), _>("overloaded") }));
    /// assert!(failing.oneshot(()).await.is_err());
    /// assert_eq!(limiter.limit(), 9); // AIMD backed off on the error
    /// # }
    /// ```
    pub fn adaptive(limiter: Arc<AdaptiveLimiter>, deadline: Duration) -> Self {
        let mut layer = Self::new(limiter.semaphore().clone(), deadline);
        layer.config.limiter = Some(limiter);
        layer
    }

    /// Refuses a request with [`Busy`] at once, instead of queueing it, when no
    /// permit is free and `n` requests are already waiting. `0` means never wait.
    ///
    /// The check and the enqueue are two steps, so under a race a few more than
    /// `n` may wait; each still waits at most the deadline.
    ///
    /// # Examples
    ///
    /// See [`AdmissionLayer`].
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.config.max_waiting = n;
        self
    }

    /// The shared semaphore.
    ///
    /// # Examples
    ///
    /// See [`AdmissionLayer`].
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.config.semaphore
    }

    /// The adaptive limiter fed by this layer, if it was built with
    /// [`adaptive`](Self::adaptive).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use weir_core::Semaphore;
    /// use weir_tower::AdmissionLayer;
    ///
    /// let layer = AdmissionLayer::new(Arc::new(Semaphore::new(1)), Duration::from_secs(1));
    /// assert!(layer.limiter().is_none());
    /// ```
    pub fn limiter(&self) -> Option<&Arc<AdaptiveLimiter>> {
        self.config.limiter.as_ref()
    }

    /// The admission deadline.
    ///
    /// # Examples
    ///
    /// See [`AdmissionLayer`].
    pub fn deadline(&self) -> Duration {
        self.config.deadline
    }

    /// The bound set by [`max_waiting`](Self::max_waiting) (`usize::MAX` if unset).
    ///
    /// # Examples
    ///
    /// See [`AdmissionLayer`].
    pub fn max_waiting_requests(&self) -> usize {
        self.config.max_waiting
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            config: self.config.clone(),
        }
    }
}

/// A service whose calls each hold one permit of a weir [`Semaphore`] from
/// admission until the inner response future completes. Built by
/// [`AdmissionLayer`].
///
/// `poll_ready` only asks the inner service; admission happens in the response
/// future, so a waiting request never blocks the caller's `poll_ready` (and axum,
/// hyper and friends can keep accepting and refusing). The inner service must be
/// `Clone`: each call takes the ready instance and leaves a fresh clone in place.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use tower::{Layer, ServiceExt, service_fn};
/// use weir_core::Semaphore;
/// use weir_tower::AdmissionLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limit = Arc::new(Semaphore::new(1));
/// let probe = limit.clone();
/// let svc = AdmissionLayer::new(limit.clone(), Duration::from_millis(100)).layer(service_fn(
///     move |()| {
///         let in_use = probe.in_use();
///         async move { Ok::<_, std::convert::Infallible>(in_use) }
///     },
/// ));
/// assert_eq!(svc.oneshot(()).await.unwrap(), 1); // the request held the permit
/// assert_eq!(limit.in_use(), 0); // and gave it back
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    config: Config,
}

impl<S> Admission<S> {
    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use tower::Layer;
    /// use weir_tower::AdmissionLayer;
    ///
    /// let layer = AdmissionLayer::new(Arc::new(weir_core::Semaphore::new(1)), Duration::ZERO);
    /// assert_eq!(*layer.layer(7u8).get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes the wrapper, returning the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use tower::Layer;
    /// use weir_tower::AdmissionLayer;
    ///
    /// let layer = AdmissionLayer::new(Arc::new(weir_core::Semaphore::new(1)), Duration::ZERO);
    /// assert_eq!(layer.layer(7u8).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Admission<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The instance that was driven to ready serves this call; a fresh clone
        // waits for the next `poll_ready`.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let config = &self.config;
        let state = match config.semaphore.clone().try_acquire_owned() {
            Ok(permit) => State::Running {
                report: Report::start(config.limiter.as_ref(), &config.semaphore),
                future: inner.call(req),
                _permit: permit,
            },
            Err(TryAcquireError::Closed) => refuse(Busy { closed: true }),
            Err(_) if config.semaphore.waiters() >= config.max_waiting => {
                refuse(Busy { closed: false })
            }
            // No permit now (or the ceiling is below one for the moment): wait.
            Err(_) => State::Admitting {
                acquire: tokio::time::timeout(
                    config.deadline,
                    config.semaphore.clone().acquire_owned(),
                ),
                call: Some((inner, req)),
            },
        };
        ResponseFuture {
            state,
            deadline: config.deadline,
            limiter: config.limiter.clone(),
        }
    }
}

fn refuse<S: Service<Req>, Req>(busy: Busy) -> State<S, Req> {
    tracing::debug!(closed = busy.closed, "request refused: busy");
    State::Refused {
        error: Some(busy.into()),
    }
}

pin_project! {
    /// The response future of [`Admission`]: waits for a permit (at most the
    /// deadline), then runs the inner service's future while holding it.
    ///
    /// # Cancel safety
    ///
    /// Dropping it gives back its place in the queue, or its permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use tower::{Layer, Service, service_fn};
    /// use weir_core::Semaphore;
    /// use weir_tower::AdmissionLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = Arc::new(Semaphore::new(0));
    /// let mut svc = AdmissionLayer::new(limit.clone(), Duration::from_secs(60))
    ///     .layer(service_fn(|()| async { Ok::<_, std::convert::Infallible>("done") }));
    /// let fut = svc.call(()); // a `ResponseFuture`
    /// let task = tokio::spawn(fut);
    /// tokio::task::yield_now().await;
    /// assert_eq!(limit.waiters(), 1);
    /// limit.set_capacity(1);
    /// assert_eq!(task.await.unwrap().unwrap(), "done");
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S: Service<Req>, Req> {
        #[pin]
        state: State<S, Req>,
        deadline: Duration,
        limiter: Option<Arc<AdaptiveLimiter>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S: Service<Req>, Req> {
        Refused { error: Option<BoxError> },
        Admitting {
            #[pin]
            acquire: tokio::time::Timeout<AcquireOwned>,
            call: Option<(S, Req)>,
        },
        Running {
            report: Option<Report>,
            #[pin]
            future: S::Future,
            // Held until the inner future completes (then the whole future is
            // dropped or replaced), which returns the permit.
            _permit: OwnedPermit,
        },
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Refused { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
                StateProj::Admitting { acquire, call } => {
                    let permit = match ready!(acquire.poll(cx)) {
                        Ok(Ok(permit)) => permit,
                        Ok(Err(_closed)) => {
                            tracing::debug!("request refused: closed while waiting");
                            this.state.set(State::Refused { error: None });
                            return Poll::Ready(Err(Busy { closed: true }.into()));
                        }
                        Err(_elapsed) => {
                            tracing::debug!(deadline = ?this.deadline, "request refused: admission deadline passed");
                            this.state.set(State::Refused { error: None });
                            return Poll::Ready(Err(Timeout {
                                deadline: *this.deadline,
                            }
                            .into()));
                        }
                    };
                    let (mut inner, req) = call.take().expect("admitted once");
                    let report = Report::start(this.limiter.as_ref(), permit.semaphore());
                    let future = inner.call(req);
                    this.state.set(State::Running {
                        report,
                        future,
                        _permit: permit,
                    });
                }
                StateProj::Running { future, report, .. } => {
                    let out = ready!(future.poll(cx)).map_err(Into::into);
                    if let Some(report) = report.take() {
                        report.finish(out.is_ok());
                    }
                    // Give the permit back as soon as the response is ready.
                    this.state.set(State::Refused { error: None });
                    return Poll::Ready(out);
                }
            }
        }
    }
}

/// What an admitted request reports to an adaptive limiter when it completes.
struct Report {
    limiter: Arc<AdaptiveLimiter>,
    admitted: Instant,
    in_flight: usize,
}

impl Report {
    /// Starts timing an admitted request, if there is a limiter to tell.
    fn start(limiter: Option<&Arc<AdaptiveLimiter>>, semaphore: &Semaphore) -> Option<Self> {
        limiter.map(|limiter| Report {
            limiter: limiter.clone(),
            admitted: Instant::now(),
            in_flight: semaphore.in_use(),
        })
    }

    fn finish(self, ok: bool) {
        let outcome = if ok {
            Outcome::Success
        } else {
            Outcome::Overload
        };
        self.limiter.record(Sample::new(
            self.admitted.elapsed(),
            self.in_flight,
            outcome,
        ));
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Admitting { .. } => "admitting",
            State::Running { .. } => "running",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("deadline", &self.deadline)
            .finish()
    }
}
