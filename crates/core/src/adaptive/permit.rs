//! The permits of an [`AdaptiveLimiter`] and the future that makes them.

use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;

use super::{
    LimitAlgorithm, Outcome, Sample,
    limiter::AdaptiveLimiter,
    timing::{Latency, Ticket},
};
use crate::{Acquire, AcquireError, AcquireOwned, OwnedPermit, Permit};

/// A permit made from a semaphore permit of its limiter (see [`AdaptiveAcquire`]).
pub(super) trait FromPermit<'a, A: LimitAlgorithm + ?Sized> {
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self;
}

pin_project! {
    /// The future of [`AdaptiveLimiter::acquire`] and
    /// [`acquire_untimed`](AdaptiveLimiter::acquire_untimed): the semaphore's
    /// [`Acquire`], polled in place, and the permit made from what it grants. A plain
    /// future rather than an `async fn`: no generator state to switch on, store and
    /// drop around the semaphore's lock-free fast path. Dropping it drops the
    /// `Acquire` (cancel safe, as [`Semaphore::acquire`]).
    pub(super) struct AdaptiveAcquire<'a, A: ?Sized, P> {
        limiter: &'a AdaptiveLimiter<A>,
        #[pin]
        acquire: Acquire<'a>,
        permit: PhantomData<fn() -> P>,
    }
}

impl<'a, A: LimitAlgorithm + ?Sized, P: FromPermit<'a, A>> AdaptiveAcquire<'a, A, P> {
    #[inline]
    pub(super) fn new(limiter: &'a AdaptiveLimiter<A>) -> Self {
        Self {
            limiter,
            acquire: limiter.sem.acquire(),
            permit: PhantomData,
        }
    }
}

impl<'a, A: LimitAlgorithm + ?Sized, P: FromPermit<'a, A>> Future for AdaptiveAcquire<'a, A, P> {
    type Output = Result<P, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let permit = ready!(this.acquire.poll(cx))?;
        Poll::Ready(Ok(P::from_permit(this.limiter, permit)))
    }
}

pin_project! {
    /// The future of [`AdaptiveLimiter::acquire_owned`]: the semaphore's
    /// [`AcquireOwned`], polled in place, and the owned permit made from what it
    /// grants. Dropping it drops the `AcquireOwned` (cancel safe, as
    /// [`Semaphore::acquire_owned`](crate::Semaphore::acquire_owned)).
    pub(super) struct AdaptiveAcquireOwned<A: ?Sized> {
        // `Some` until the permit is made.
        limiter: Option<Arc<AdaptiveLimiter<A>>>,
        #[pin]
        acquire: AcquireOwned,
    }
}

impl<A: LimitAlgorithm + ?Sized> AdaptiveAcquireOwned<A> {
    #[inline]
    pub(super) fn new(limiter: Arc<AdaptiveLimiter<A>>) -> Self {
        Self {
            acquire: limiter.sem.clone().acquire_owned(),
            limiter: Some(limiter),
        }
    }
}

impl<A: LimitAlgorithm + ?Sized> Future for AdaptiveAcquireOwned<A> {
    type Output = Result<OwnedAdaptivePermit<A>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let permit = ready!(this.acquire.poll(cx))?;
        let limiter = this
            .limiter
            .take()
            .expect("AdaptiveLimiter::acquire_owned polled after completion");
        Poll::Ready(Ok(OwnedAdaptivePermit::new(limiter, permit)))
    }
}

macro_rules! permit_methods {
    () => {
        /// Records a success: a latency sample from the acquire until now (no clock
        /// is read if the algorithm reads no latency).
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// limiter.try_acquire().unwrap().success();
        /// assert_eq!((limiter.snapshot().samples, limiter.in_flight()), (1, 0));
        /// ```
        // Always inlined, as `record`: out of line, the permit went through memory
        // and a six-register frame, a third of a loss-only AIMD's overhead.
        #[inline(always)]
        pub fn success(self) {
            self.record(Outcome::Success);
        }

        /// Records an overload (a timeout, a rejection): the algorithm backs off.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
        ///
        /// let limiter = AdaptiveLimiter::new(Aimd::new());
        /// limiter.try_acquire().unwrap().overload();
        /// assert_eq!(limiter.limit(), 18);
        /// ```
        #[inline]
        pub fn overload(self) {
            self.record(Outcome::Overload);
        }

        /// Releases the permit and records `outcome` with the latency since the
        /// acquire. [`Outcome::Ignore`] is the same as dropping the permit.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// limiter.try_acquire().unwrap().record(Outcome::Ignore);
        /// assert_eq!(limiter.snapshot().ignored, 1);
        /// ```
        #[inline(always)]
        pub fn record(self, outcome: Outcome) {
            let latency = self.ticket.latency(&*self.limiter, outcome);
            self.finish(outcome, latency);
        }

        /// Releases the permit and records `outcome` with a latency the caller
        /// measured (one clock read fewer).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Aimd};
        ///
        /// let aimd = Aimd::builder().timeout(Duration::from_secs(1)).build().unwrap();
        /// let limiter = AdaptiveLimiter::new(aimd);
        /// let permit = limiter.try_acquire().unwrap();
        /// permit.record_latency(Outcome::Success, Duration::from_secs(3)); // a timeout
        /// assert_eq!(limiter.limit(), 18);
        /// ```
        #[inline]
        pub fn record_latency(self, outcome: Outcome, latency: Duration) {
            self.finish(outcome, Latency::Given(latency));
        }

        /// Permits in use when this one was granted, itself included.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(2));
        /// let _a = limiter.try_acquire().unwrap();
        /// assert_eq!(limiter.try_acquire().unwrap().in_flight(), 2);
        /// ```
        pub fn in_flight(&self) -> usize {
            self.ticket.in_flight
        }

        /// Time since the permit was granted, on the limiter's clock; zero if the
        /// limiter does not time its permits (its algorithm reads no latency: see
        /// [`LimitAlgorithm::reads_latency`]).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
        /// # async fn main() {
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// let permit = limiter.acquire().await.unwrap();
        /// tokio::time::sleep(Duration::from_millis(30)).await;
        /// assert_eq!(permit.elapsed(), Duration::from_millis(30));
        /// # }
        /// ```
        pub fn elapsed(&self) -> Duration {
            Duration::from_nanos(self.ticket.elapsed_nanos(&*self.limiter))
        }
    };
}

/// A permit from an [`AdaptiveLimiter`]; record how the work went with
/// [`success`](Self::success) or [`overload`](Self::overload). Dropping it without
/// an outcome releases it as an [`Outcome::Ignore`].
///
/// # Examples
///
/// ```
/// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
///
/// let limiter = AdaptiveLimiter::new(Fixed::new(1));
/// {
///     let _permit = limiter.try_acquire().unwrap();
///     assert_eq!(limiter.in_flight(), 1);
/// }
/// assert_eq!((limiter.in_flight(), limiter.snapshot().ignored), (0, 1));
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct AdaptivePermit<'a, A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    /// Holds one permit of `limiter.sem` (released with it, not through a `Permit`
    /// field: three words rather than five, so the permit moves in registers).
    limiter: &'a AdaptiveLimiter<A>,
    pub(super) ticket: Ticket,
}

impl<'a, A: LimitAlgorithm + ?Sized> FromPermit<'a, A> for AdaptivePermit<'a, A> {
    #[inline]
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        Self::new(limiter, permit)
    }
}

impl<'a, A: LimitAlgorithm + ?Sized> FromPermit<'a, A> for UntimedPermit<'a, A> {
    #[inline]
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        Self::new(limiter, permit)
    }
}

impl<'a, A: LimitAlgorithm + ?Sized> AdaptivePermit<'a, A> {
    #[inline]
    pub(super) fn new(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        let ticket = Ticket::new(limiter);
        debug_assert_eq!(permit.num_permits(), 1);
        // Held by `Self` from here on; released in `finish` or `drop`.
        std::mem::forget(permit);
        Self { limiter, ticket }
    }

    permit_methods!();

    #[inline]
    fn finish(self, outcome: Outcome, latency: Latency) {
        let (limiter, in_flight) = (self.limiter, self.ticket.in_flight);
        // The permit is released here, not by `drop`.
        std::mem::forget(self);
        // Release first, so waiters move while the algorithm runs.
        limiter.sem.release(1);
        limiter.record_parts(outcome, in_flight, latency);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for AdaptivePermit<'_, A> {
    fn drop(&mut self) {
        self.limiter.sem.release(1);
        self.limiter
            .record_parts(Outcome::Ignore, self.ticket.in_flight, Latency::Measured(0));
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for AdaptivePermit<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("in_flight", &self.ticket.in_flight)
            .field("start", &self.ticket.start)
            .finish_non_exhaustive()
    }
}

/// An [`AdaptivePermit`] that owns an `Arc` of its limiter (`'static`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
///
/// let limiter = Arc::new(AdaptiveLimiter::new(Fixed::new(1)));
/// let permit = limiter.clone().try_acquire_owned().unwrap();
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(limiter.snapshot().samples, 1);
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct OwnedAdaptivePermit<A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    limiter: Arc<AdaptiveLimiter<A>>,
    permit: Option<OwnedPermit>,
    pub(super) ticket: Ticket,
}

impl<A: LimitAlgorithm + ?Sized> OwnedAdaptivePermit<A> {
    #[inline]
    pub(super) fn new(limiter: Arc<AdaptiveLimiter<A>>, permit: OwnedPermit) -> Self {
        Self {
            ticket: Ticket::new(&*limiter),
            limiter,
            permit: Some(permit),
        }
    }

    permit_methods!();

    fn finish(mut self, outcome: Outcome, latency: Latency) {
        // Release first, so waiters move while the algorithm runs.
        drop(self.permit.take());
        self.limiter
            .record_parts(outcome, self.ticket.in_flight, latency);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for OwnedAdaptivePermit<A> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            drop(permit);
            self.limiter
                .record_parts(Outcome::Ignore, self.ticket.in_flight, Latency::Measured(0));
        }
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for OwnedAdaptivePermit<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedAdaptivePermit")
            .field("in_flight", &self.ticket.in_flight)
            .field("start", &self.ticket.start)
            .finish_non_exhaustive()
    }
}

/// A permit from [`AdaptiveLimiter::acquire_untimed`]: no clock is read; report the
/// latency you measured with [`record`](Self::record). Dropping it without an
/// outcome releases it as an [`Outcome::Ignore`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Fixed};
///
/// let limiter = AdaptiveLimiter::new(Fixed::new(2));
/// drop(limiter.try_acquire_untimed().unwrap());
/// limiter.try_acquire_untimed().unwrap().record(Outcome::Overload, Duration::ZERO);
/// let snap = limiter.snapshot();
/// assert_eq!((snap.ignored, snap.samples, snap.overloads), (1, 1, 1));
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct UntimedPermit<'a, A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    /// Holds one permit of `limiter.sem`, as [`AdaptivePermit`] does.
    limiter: &'a AdaptiveLimiter<A>,
    in_flight: usize,
}

impl<'a, A: LimitAlgorithm + ?Sized> UntimedPermit<'a, A> {
    #[inline]
    pub(super) fn new(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        let in_flight = limiter.sem.in_use();
        debug_assert_eq!(permit.num_permits(), 1);
        // Held by `Self` from here on; released in `finish` or `drop`.
        std::mem::forget(permit);
        Self { limiter, in_flight }
    }

    /// Releases the permit and records `outcome` with the `latency` the caller
    /// measured. [`Outcome::Ignore`] is the same as dropping the permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Aimd};
    ///
    /// let limiter = AdaptiveLimiter::new(Aimd::builder().initial_limit(2).build().unwrap());
    /// let _other = limiter.try_acquire_untimed().unwrap();
    /// let permit = limiter.try_acquire_untimed().unwrap();
    /// permit.record(Outcome::Success, Duration::from_millis(1)); // 2 of 2 in use: grow
    /// assert_eq!(limiter.limit(), 3);
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome, latency: Duration) {
        let sample = Sample::new(latency, self.in_flight, outcome);
        self.finish(sample);
    }

    /// Permits in use when this one was granted, itself included.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(2));
    /// assert_eq!(limiter.try_acquire_untimed().unwrap().in_flight(), 1);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    #[inline]
    fn finish(self, sample: Sample) {
        let limiter = self.limiter;
        // The permit is released here, not by `drop`.
        std::mem::forget(self);
        // Release first, so waiters move while the algorithm runs.
        limiter.sem.release(1);
        limiter.record(sample);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for UntimedPermit<'_, A> {
    fn drop(&mut self) {
        self.limiter.sem.release(1);
        let sample = Sample::new(Duration::ZERO, self.in_flight, Outcome::Ignore);
        self.limiter.record(sample);
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for UntimedPermit<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntimedPermit")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
