//! [`Watermark`]: an admission gate with high/low hysteresis.

use crate::{
    config::{ConfigError, check},
    sync::{AtomicBool, AtomicU64, Ordering},
};

/// An admission gate with hysteresis: it starts **shedding** when an observed depth
/// (a queue length, in-flight count, memory in use) reaches `high`, and stops only
/// once the depth falls to `low` or below. Between the marks it keeps its state,
/// so a depth hovering around one threshold does not flap.
///
/// Feed it with [`observe`](Self::observe) wherever the depth changes, and ask
/// [`admit`](Self::admit) before taking work ([`admit_at`](Self::admit_at) does
/// both). Lock-free; counts admissions, sheds and shedding episodes.
///
/// # Examples
///
/// ```
/// use weir_core::Watermark;
///
/// let gate = Watermark::new(8, 4).unwrap();
/// assert!(gate.admit_at(7));
/// assert!(!gate.admit_at(8)); // high reached: shedding
/// assert!(!gate.admit_at(5)); // still above low
/// assert!(gate.admit_at(4)); // low reached: admitting again
/// let snap = gate.snapshot();
/// assert_eq!((snap.admitted, snap.shed, snap.episodes), (2, 2, 1));
/// ```
#[derive(Debug)]
pub struct Watermark {
    high: usize,
    low: usize,
    shedding: AtomicBool,
    admitted: AtomicU64,
    shed: AtomicU64,
    episodes: AtomicU64,
}

/// Counters of a [`Watermark`], read without a lock.
///
/// # Examples
///
/// ```
/// let gate = weir_core::Watermark::new(2, 1).unwrap();
/// assert_eq!(gate.snapshot(), weir_core::WatermarkSnapshot::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WatermarkSnapshot {
    /// Whether the gate is shedding now.
    pub shedding: bool,
    /// Calls to `admit` that said yes.
    pub admitted: u64,
    /// Calls to `admit` that said no.
    pub shed: u64,
    /// Times shedding started.
    pub episodes: u64,
}

impl Watermark {
    /// A gate that sheds from `high` until the depth is back to `low`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] unless `low < high`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::Watermark;
    ///
    /// assert!(Watermark::new(10, 5).is_ok());
    /// let err = Watermark::new(10, 10).unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("low", "10"));
    /// ```
    pub fn new(high: usize, low: usize) -> Result<Self, ConfigError> {
        check(low < high, "low", low, "below high")?;
        Ok(Self {
            high,
            low,
            shedding: AtomicBool::new(false),
            admitted: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            episodes: AtomicU64::new(0),
        })
    }

    /// Updates the state from a depth: shedding starts at `depth ≥ high` and stops
    /// at `depth ≤ low`; in between nothing changes. Returns whether it is shedding.
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = weir_core::Watermark::new(3, 1).unwrap();
    /// assert!(!gate.observe(2));
    /// assert!(gate.observe(3));
    /// assert!(gate.observe(2));
    /// assert!(!gate.observe(1));
    /// ```
    pub fn observe(&self, depth: usize) -> bool {
        if depth >= self.high {
            if self
                .shedding
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.episodes.fetch_add(1, Ordering::Relaxed);
            }
            true
        } else if depth <= self.low {
            self.shedding.store(false, Ordering::Release);
            false
        } else {
            self.shedding.load(Ordering::Acquire)
        }
    }

    /// Whether to take one more unit of work now, counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = weir_core::Watermark::new(1, 0).unwrap();
    /// assert!(gate.admit());
    /// gate.observe(1);
    /// assert!(!gate.admit());
    /// ```
    pub fn admit(&self) -> bool {
        let admit = !self.shedding.load(Ordering::Acquire);
        let counter = if admit { &self.admitted } else { &self.shed };
        counter.fetch_add(1, Ordering::Relaxed);
        admit
    }

    /// [`observe`](Self::observe) then [`admit`](Self::admit).
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = weir_core::Watermark::new(4, 2).unwrap();
    /// assert!(!gate.admit_at(9));
    /// assert_eq!(gate.snapshot().shed, 1);
    /// ```
    pub fn admit_at(&self, depth: usize) -> bool {
        self.observe(depth);
        self.admit()
    }

    /// Whether the gate is shedding.
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = weir_core::Watermark::new(4, 2).unwrap();
    /// gate.observe(4);
    /// assert!(gate.is_shedding());
    /// ```
    pub fn is_shedding(&self) -> bool {
        self.shedding.load(Ordering::Acquire)
    }

    /// The high mark: shedding starts at this depth.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_core::Watermark::new(4, 2).unwrap().high(), 4);
    /// ```
    pub fn high(&self) -> usize {
        self.high
    }

    /// The low mark: shedding stops at this depth.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_core::Watermark::new(4, 2).unwrap().low(), 2);
    /// ```
    pub fn low(&self) -> usize {
        self.low
    }

    /// The state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = weir_core::Watermark::new(4, 2).unwrap();
    /// gate.admit();
    /// assert_eq!(gate.snapshot().admitted, 1);
    /// ```
    pub fn snapshot(&self) -> WatermarkSnapshot {
        WatermarkSnapshot {
            shedding: self.shedding.load(Ordering::Acquire),
            admitted: self.admitted.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
            episodes: self.episodes.load(Ordering::Relaxed),
        }
    }
}
