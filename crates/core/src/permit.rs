//! RAII permits: [`Permit`] borrows its semaphore, [`OwnedPermit`] holds an `Arc`.

use std::{fmt, sync::Arc};

use crate::Semaphore;

/// Permits borrowed from a [`Semaphore`], returned when dropped.
///
/// # Examples
///
/// ```
/// let sem = weir_core::Semaphore::new(4);
/// {
///     let permit = sem.try_acquire_many(3).unwrap();
///     assert_eq!((permit.num_permits(), sem.available()), (3, 1));
/// }
/// assert_eq!(sem.available(), 4);
/// ```
#[must_use = "permits are released as soon as they are dropped"]
#[clippy::has_significant_drop]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(sem: &'a Semaphore, permits: usize) -> Self {
        Self { sem, permits }
    }

    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(4);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(std::ptr::eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &'a Semaphore {
        self.sem
    }

    /// Takes the permits out of circulation instead of releasing them: in-use *and*
    /// the capacity both drop by [`num_permits`](Self::num_permits) (the capacity
    /// saturating at 0). Use [`Semaphore::set_capacity`] to put them back.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(5);
    /// sem.try_acquire_many(2).unwrap().forget();
    /// assert_eq!((sem.capacity(), sem.in_use(), sem.available()), (3, 0, 3));
    /// ```
    pub fn forget(mut self) {
        forget_permits(self.sem, std::mem::take(&mut self.permits));
    }

    /// Splits `n` permits off into a new permit. Returns `None` (and leaves `self`
    /// untouched) if `n` exceeds [`num_permits`](Self::num_permits).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(5);
    /// let mut five = sem.try_acquire_many(5).unwrap();
    /// let two = five.split(2).unwrap();
    /// assert_eq!((five.num_permits(), two.num_permits()), (3, 2));
    /// assert!(five.split(4).is_none());
    /// drop(two);
    /// assert_eq!(sem.available(), 2);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.permits = self.permits.checked_sub(n)?;
        Some(Self::new(self.sem, n))
    }

    /// Absorbs `other` (from the same semaphore) into `self`.
    ///
    /// # Panics
    ///
    /// Panics if `other` comes from a different semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(5);
    /// let mut a = sem.try_acquire_many(2).unwrap();
    /// a.merge(sem.try_acquire_many(3).unwrap());
    /// assert_eq!(a.num_permits(), 5);
    /// ```
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            std::ptr::eq(self.sem, other.sem),
            "merging permits from different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Keeps the permits held without a guard (a latch's increment).
    pub(crate) fn leak(mut self) {
        self.permits = 0;
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

/// Permits that own an `Arc` of their [`Semaphore`] (`'static`), returned when
/// dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let sem = Arc::new(weir_core::Semaphore::new(2));
/// let permit = sem.clone().try_acquire_owned().unwrap();
/// assert_eq!(sem.in_use(), 1);
/// drop(permit);
/// assert_eq!(sem.in_use(), 0);
/// ```
#[must_use = "permits are released as soon as they are dropped"]
#[clippy::has_significant_drop]
pub struct OwnedPermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedPermit {
    pub(crate) fn new(sem: Arc<Semaphore>, permits: usize) -> Self {
        Self { sem, permits }
    }

    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(4));
    /// assert_eq!(sem.try_acquire_many_owned(3).unwrap().num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Takes the permits out of circulation: in-use and capacity both drop by
    /// [`num_permits`](Self::num_permits), as [`Permit::forget`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(3));
    /// sem.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!((sem.capacity(), sem.in_use()), (2, 0));
    /// ```
    pub fn forget(mut self) {
        forget_permits(&self.sem, std::mem::take(&mut self.permits));
    }

    /// Splits `n` permits off into a new permit. Returns `None` (and leaves `self`
    /// untouched) if `n` exceeds [`num_permits`](Self::num_permits).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(4));
    /// let mut four = sem.clone().try_acquire_many_owned(4).unwrap();
    /// let one = four.split(1).unwrap();
    /// assert_eq!((four.num_permits(), one.num_permits()), (3, 1));
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.permits = self.permits.checked_sub(n)?;
        Some(Self::new(Arc::clone(&self.sem), n))
    }

    /// Absorbs `other` (from the same semaphore) into `self`.
    ///
    /// # Panics
    ///
    /// Panics if `other` comes from a different semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(4));
    /// let mut a = sem.clone().try_acquire_owned().unwrap();
    /// a.merge(sem.clone().try_acquire_many_owned(2).unwrap());
    /// assert_eq!(a.num_permits(), 3);
    /// ```
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "merging permits from different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

/// Removes `n` held permits from circulation: in-use and capacity both drop by `n`.
fn forget_permits(sem: &Semaphore, n: usize) {
    if n > 0 {
        sem.reconfigure(|capacity| capacity.saturating_sub(n), n);
    }
}
