//! Keys (tenants) and priority classes: [`ClassId`], [`KeyStats`], and the type
//! erasure that lets one pool hold keys of any `Hash + Eq` type.

use std::{
    any::Any,
    fmt,
    hash::{BuildHasher, Hash, Hasher},
};

/// A priority class of a pool, declared with [`Builder::class`](crate::Builder::class)
/// and looked up with [`Pool::class`](crate::Pool::class). Put a job in a class with
/// [`Job::class`](crate::Job::class); jobs that name no class go to the pool's
/// default class.
///
/// See [Priority classes](crate::Builder::class) for the exact semantics.
///
/// # Examples
///
/// ```
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder()
///     .budget(8)
///     .class("critical", 2)
///     .class("batch", 1)
///     .build()
///     .unwrap();
/// let critical = pool.class("critical").unwrap();
/// assert_eq!(critical.name(), "critical");
/// assert_eq!(critical.index(), 0); // the first declared: the highest priority
/// assert!(pool.class("nope").is_none());
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassId {
    pub(crate) index: usize,
    pub(crate) name: &'static str,
}

impl ClassId {
    /// The class's position in declaration order: 0 is the highest priority.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().class("a", 0).class("b", 0).build().unwrap();
    /// assert_eq!(pool.class("b").unwrap().index(), 1);
    /// # }
    /// ```
    pub fn index(self) -> usize {
        self.index
    }

    /// The name the class was declared with.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().build().unwrap();
    /// assert_eq!(pool.default_class().name(), "default");
    /// # }
    /// ```
    pub fn name(self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClassId({}: {:?})", self.index, self.name)
    }
}

/// The counters of one key, from [`Pool::key_stats`](crate::Pool::key_stats).
///
/// A key has state in the pool only while it is *live*: it has jobs queued or
/// running, or a submitter waiting for room in its queue. When it goes idle its
/// state (and these counters) is reclaimed, so the counters cover the key's current
/// busy period. For long-run per-key accounting, count in your own code around
/// [`submit_for`](crate::Pool::submit_for).
///
/// While the key is live, its counters add up:
///
/// ```text
/// accepted = finished + dropped + queued + running
/// ```
///
/// Keyed jobs are also counted in the pool's [`Stats`](crate::Stats) as any job.
///
/// # Examples
///
/// ```
/// use tokio_util::sync::CancellationToken;
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).key_capacity(2).build().unwrap();
/// let gate = CancellationToken::new();
/// let g = gate.clone();
/// let first = pool.submit_for("acme", async move { g.cancelled().await }).await.unwrap();
/// tokio::task::yield_now().await; // the worker starts it
/// pool.try_submit_for("acme", async {}).unwrap();
/// pool.try_submit_for("acme", async {}).unwrap();
/// assert!(pool.try_submit_for("acme", async {}).unwrap_err().is_full());
///
/// let acme = pool.key_stats(&"acme").unwrap();
/// assert_eq!((acme.accepted, acme.refused, acme.running, acme.queued), (3, 1, 1, 2));
/// assert_eq!(acme.accepted, acme.finished + acme.dropped + acme.queued + acme.running);
///
/// gate.cancel();
/// first.await.unwrap();
/// # for _ in 0..8 { tokio::task::yield_now().await; }
/// assert!(pool.key_stats(&"acme").is_none()); // idle: reclaimed
/// assert_eq!(pool.stats().keys, 0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct KeyStats {
    /// Jobs accepted for the key.
    pub accepted: u64,
    /// Submissions for the key refused while it was live (its queue was full, or
    /// the pool closed). Refusals of an idle key leave no state behind and are
    /// counted only in the pool's [`Stats`](crate::Stats).
    pub refused: u64,
    /// Jobs that started and have ended, whatever their outcome.
    pub finished: u64,
    /// Jobs that left without starting: cancelled while queued, evicted, or
    /// dropped by a close.
    pub dropped: u64,
    /// Jobs in the key's queue now.
    pub queued: u64,
    /// Jobs running now.
    pub running: u64,
    /// The key's queue capacity ([`Builder::key_capacity`](crate::Builder::key_capacity)).
    pub capacity: usize,
    /// The key's share of its class ([`Pool::set_share`](crate::Pool::set_share)).
    pub share: u32,
}

/// A key of any `Hash + Eq` type, behind a trait object so that one (non-generic)
/// pool can hold them. Two keys are equal only if they have the same type and
/// compare equal.
pub(crate) trait AnyKey: Send + Sync + 'static {
    fn eq_key(&self, other: &dyn AnyKey) -> bool;
    fn hash_key(&self, state: &mut dyn Hasher);
    /// The key's hash in the pool's key tables: [`key_hash`] of the concrete key.
    fn table_hash(&self, hasher: &KeyHasher) -> u64;
    fn as_any(&self) -> &dyn Any;
}

impl<K: Hash + Eq + Send + Sync + 'static> AnyKey for K {
    fn eq_key(&self, other: &dyn AnyKey) -> bool {
        other.as_any().downcast_ref::<K>() == Some(self)
    }

    fn hash_key(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }

    fn table_hash(&self, hasher: &KeyHasher) -> u64 {
        key_hash(hasher, self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Seeds the hashes of keys (see [`key_hash`]).
pub(crate) type KeyHasher = std::hash::RandomState;

/// The hash under which a key is filed in the pool's key tables. The pool's
/// `hasher` is std's randomly seeded SipHash-1-3, so keys that come from untrusted
/// input cannot be chosen to collide. It is computed on the concrete key type
/// (statically dispatched, before the queue lock is taken); a key behind
/// `dyn AnyKey` gets the same value through [`AnyKey::table_hash`].
pub(crate) fn key_hash<K: Hash + ?Sized>(hasher: &KeyHasher, key: &K) -> u64 {
    hasher.hash_one(key)
}

/// Whether `stored` is `key`: the same type and equal.
pub(crate) fn is_key<K: Eq + 'static>(stored: &dyn AnyKey, key: &K) -> bool {
    stored.as_any().downcast_ref::<K>() == Some(key)
}

impl PartialEq for dyn AnyKey {
    fn eq(&self, other: &Self) -> bool {
        self.eq_key(other)
    }
}

impl Eq for dyn AnyKey {}

impl Hash for dyn AnyKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash_key(state);
    }
}
