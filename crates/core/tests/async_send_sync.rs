//! Compile-time checks of the auto traits (`Send`, `Sync`, `Unpin`) of every public
//! type and future, positive and negative: if a change adds or removes one, this file
//! stops compiling.

#![cfg(not(loom))]
#![allow(
    clippy::type_complexity,
    reason = "the types are spelled out on purpose"
)]

use std::{error::Error, fmt::Debug, future::Future};

use weir_core::{
    Acquire, AcquireError, AcquireOwned, AdaptiveLimiter, DecrementError, Increment, Latch,
    OwnedPermit, Permit, Semaphore, TryAcquireError, WaitIdle,
};

/// Asserts at compile time that `$ty` implements every listed trait.
macro_rules! assert_impl {
    ($ty:ty: $($tr:path),+ $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized $(+ $tr)+>() {}
            check::<$ty>();
        };
    };
}

/// Asserts at compile time that `$ty` does *not* implement `$tr` (the
/// `static_assertions::assert_not_impl_any` trick: if `$ty: $tr`, the method call
/// is ambiguous and compilation fails).
macro_rules! assert_not_impl {
    ($ty:ty: $tr:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code, reason = "only its type is used")]
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

// Shared state and guards: `Send + Sync + Unpin`.
assert_impl!(Semaphore: Send, Sync, Unpin, Debug);
assert_impl!(Latch: Send, Sync, Unpin, Debug);
assert_impl!(Permit<'static>: Send, Sync, Unpin, Debug);
assert_impl!(OwnedPermit: Send, Sync, Unpin, Debug);

// Futures: `Send + Sync`, and `!Unpin` because each carries its own pinned queue node.
assert_impl!(Acquire<'static>: Send, Sync, Debug, Future<Output = Result<Permit<'static>, AcquireError>>);
assert_impl!(AcquireOwned: Send, Sync, Debug, Future<Output = Result<OwnedPermit, AcquireError>>);
assert_impl!(WaitIdle<'static>: Send, Sync, Debug, Future<Output = ()>);
assert_impl!(Increment<'static>: Send, Sync, Debug, Future<Output = Result<(), AcquireError>>);
assert_not_impl!(Acquire<'static>: Unpin);
assert_not_impl!(AcquireOwned: Unpin);
assert_not_impl!(WaitIdle<'static>: Unpin);
assert_not_impl!(Increment<'static>: Unpin);

// Errors: plain values that cross threads and box into `dyn Error`.
assert_impl!(AcquireError: Send, Sync, Unpin, Copy, Eq, Error);
assert_impl!(TryAcquireError: Send, Sync, Unpin, Copy, Eq, Error);
assert_impl!(DecrementError: Send, Sync, Unpin, Copy, Eq, Error);

// Nothing is `Clone` that should not be: permits are unique.
assert_not_impl!(Permit<'static>: Clone);
assert_not_impl!(OwnedPermit: Clone);
assert_not_impl!(Semaphore: Clone);

/// The futures can be held across an `.await` in a task spawned on a multi-thread
/// runtime (a `Send` future that borrows the semaphore).
#[test]
fn futures_are_spawnable() {
    fn require_send<T: Send + 'static>(_: T) {}
    let sem = std::sync::Arc::new(Semaphore::new(1));
    let latch = std::sync::Arc::new(Latch::new(1));
    require_send(async move {
        let _p = sem.acquire().await;
        let _o = sem.clone().acquire_owned().await;
        sem.wait_idle().await;
        let _ = latch.increment().await;
        latch.wait_for_empty().await;
    });
    // The adaptive limiter's futures, with its default (boxed, `dyn`) algorithm.
    let limiter: std::sync::Arc<AdaptiveLimiter> = std::sync::Arc::new(AdaptiveLimiter::new(
        Box::new(weir_core::adaptive::Fixed::new(1)),
    ));
    require_send(async move {
        let _p = limiter.acquire().await;
        let _u = limiter.acquire_untimed().await;
        let _o = limiter.clone().acquire_owned().await;
    });
}
