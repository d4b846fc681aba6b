//! The scheduler behind the queue: one FIFO per key, deficit round robin across
//! the keys of a class, and priority classes sharing one budget with reserved
//! shares. Everything here runs under the queue lock.
//!
//! # Implementation details
//!
//! **Keys** live in a slab of key states; see the `keys` module for their life
//! cycle (live, dormant, freed).
//!
//! **Deficit round robin** (Shreedhar and Varghese, 1995), one ring per class of
//! the keys with queued jobs. A key joins the back of the ring with a deficit of
//! one quantum (its share, in weight units). At the front, it is served while its
//! head job's cost (its weight, at least 1) is at most its deficit (the cost is
//! subtracted); otherwise
//! it gets another quantum and moves to the back. A key that empties leaves the
//! ring and forgets its deficit. When a whole pass serves nobody (heavy jobs,
//! small quanta), the rounds in which nobody could be served are added at once,
//! so a pick costs O(keys in the ring), never O(weight). A key alone in its
//! ring is served without the accounting (there is nobody to be fair to); its
//! deficit stays spent, so when another key joins, the rounds start from there.
//!
//! **Classes.** See `Builder::class` for the contract. A class `C` is *owed*
//! `reserved(C) - in_use(C)` (saturating) while it has queued jobs. The candidate of
//! a class (its DRR front) may start if its weight fits in
//! `free - (owed of the other classes)`; classes are tried in priority order, and
//! once a class's candidate does not fit, the classes after it may only start jobs
//! within what they are owed themselves (the unreserved budget is held for the
//! blocked class, so a heavy job is not starved by lighter, lower ones).
//!
//! # Invariants
//!
//! 1. `in_use(C)` is the weight of the running jobs of class `C`, and the budget's
//!    permits held by jobs are their sum: both move together, under the lock,
//!    when any class reserves weight. (Without reservations `in_use` only feeds
//!    `Pool::class_in_use`, so an unkeyed job gives its weight back without the
//!    lock: see `Queue::release`. That is why `in_use` is atomic. With a single
//!    class it is not tracked at all: the budget's count is the class's.)
//! 2. A job starts only with its weight taken from the budget, so the global
//!    budget is never exceeded; a job of class `C` starts only if, after it, every
//!    other class with queued jobs can still get what it is owed.
//! 3. A key is in its class's ring iff it has queued jobs; `queued(C)` is the sum
//!    of its keys' queue lengths.
//! 4. A keyed slot's latch count is its queued jobs plus pinned submitters that
//!    won a slot and have not pushed yet.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use hashbrown::HashTable;
use weir_core::{Latch, Permit, Semaphore};

use crate::{
    job::JobId,
    queue::Entry,
    tenant::{AnyKey, KeyStats},
};

mod keys;

/// The queue room a taken job leaves, which the worker gives back once it has
/// released the queue lock: giving it back may wake a waiting submitter, and
/// that wake-up should not lengthen the critical section. Until then the room
/// still counts as taken, which only holds admission back a moment (never lets
/// the queue overflow). A keyed slot cannot be reclaimed meanwhile: its taken job
/// is counted running until the same worker releases it.
#[must_use = "the room must be given back"]
pub(crate) enum Room {
    /// The pool's unkeyed latch.
    Unkeyed,
    /// A key's latch.
    Key(Arc<Latch>),
}

impl Room {
    /// Gives the room back; `unkeyed` is the pool's latch.
    pub(crate) fn give_back(self, unkeyed: &Latch) {
        let released = match self {
            Self::Unkeyed => unkeyed.decrement(),
            Self::Key(latch) => latch.decrement(),
        };
        debug_assert!(released.is_ok(), "queue slot count out of step");
    }
}

/// A class as declared on the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassSpec {
    pub(crate) name: &'static str,
    pub(crate) reserved: usize,
}

pub(crate) struct Sched {
    classes: Vec<Class>,
    /// Weight running per class, indexed like `classes`; shared with the queue
    /// (see invariant 1).
    in_use: Arc<[AtomicUsize]>,
    keys: Vec<KeyState>,
    /// Free keyed slots.
    free: BTreeSet<u32>,
    /// Queued jobs in every key.
    queued: usize,
    /// Live keyed slots.
    live_keys: usize,
    key_capacity: usize,
    /// Shares set with `Pool::set_share`, applied to a key's state when it is
    /// created.
    shares: HashMap<Arc<dyn AnyKey>, u32>,
}

struct Class {
    reserved: usize,
    queued: usize,
    ring: VecDeque<u32>,
    /// The class's keyed slots, filed under their key's hash (see
    /// [`key_hash`](crate::tenant::key_hash)), which is kept with the slot so the
    /// table grows without hashing again.
    keys: HashTable<(u64, u32)>,
    /// The slot `slot_for` found last: checked first, by one comparison. May be
    /// stale (reclaimed, reused by another key, or past the truncated slab), so it
    /// is verified.
    last: Option<u32>,
    /// The class's dormant keys, the one idle the longest first; at most
    /// `DORMANT_KEYS` (see `keys::reclaim`).
    dormant: VecDeque<u32>,
}

impl Class {
    /// `in_use` is `None` when the pool has this class only (nothing to owe).
    fn owed(&self, in_use: Option<&AtomicUsize>) -> usize {
        match in_use {
            Some(in_use) if self.queued > 0 && self.reserved > 0 => {
                self.reserved.saturating_sub(in_use.load(Ordering::Relaxed))
            }
            _ => 0,
        }
    }
}

struct KeyState {
    entries: VecDeque<Entry>,
    /// `None` for the unkeyed queues and free slots.
    key: Option<Arc<dyn AnyKey>>,
    /// The key's hash (see [`key_hash`](crate::tenant::key_hash)).
    hash: u64,
    /// The queue's room; the unkeyed queues share the pool's.
    latch: Option<Arc<Latch>>,
    class: usize,
    share: u32,
    deficit: u64,
    in_ring: bool,
    /// Idle, but kept (map entry, latch, buffers) for its next busy period; not
    /// counted live and not visible to `key_stats`. At most one per class.
    dormant: bool,
    /// Jobs taken and not yet released. Counted for keyed slots only (the
    /// unkeyed queues are never reclaimed, and their counters are not exposed;
    /// see `Queue::release`); the same goes for `finished`.
    running: u64,
    /// Submitters holding on to this slot while they wait for room.
    pins: u64,
    accepted: u64,
    refused: u64,
    finished: u64,
    dropped: u64,
}

impl KeyState {
    fn vacant() -> Self {
        Self {
            entries: VecDeque::new(),
            key: None,
            hash: 0,
            latch: None,
            class: 0,
            share: 1,
            deficit: 0,
            in_ring: false,
            dormant: false,
            running: 0,
            pins: 0,
            accepted: 0,
            refused: 0,
            finished: 0,
            dropped: 0,
        }
    }

    fn stats(&self) -> KeyStats {
        KeyStats {
            accepted: self.accepted,
            refused: self.refused,
            finished: self.finished,
            dropped: self.dropped,
            queued: self.entries.len() as u64,
            running: self.running,
            capacity: self.latch.as_ref().map_or(0, |l| l.max()),
            share: self.share,
        }
    }

    fn release_slot(&self) {
        self.release_slots(1);
    }

    fn release_slots(&self, n: usize) {
        let latch = self.latch.as_ref().expect("live key without a latch");
        let released = latch.decrement_many(n);
        debug_assert!(released.is_ok(), "key slot count out of step");
    }
}

impl Sched {
    pub(crate) fn new(classes: &[ClassSpec], key_capacity: usize, unkeyed: &Arc<Latch>) -> Self {
        let keys = (0..classes.len())
            .map(|class| KeyState {
                latch: Some(unkeyed.clone()),
                class,
                ..KeyState::vacant()
            })
            .collect();
        Self {
            classes: classes
                .iter()
                .map(|spec| Class {
                    reserved: spec.reserved,
                    queued: 0,
                    ring: VecDeque::new(),
                    keys: HashTable::new(),
                    last: None,
                    dormant: VecDeque::new(),
                })
                .collect(),
            // With one class the budget's own count is the class's: nothing to
            // track (see `Queue::class_in_use`).
            in_use: classes
                .iter()
                .filter(|_| classes.len() > 1)
                .map(|_| AtomicUsize::new(0))
                .collect(),
            keys,
            free: BTreeSet::new(),
            queued: 0,
            live_keys: 0,
            key_capacity,
            shares: HashMap::new(),
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The per-class running weight, for the queue's lock-free release; empty
    /// when the pool has one class.
    pub(crate) fn in_use(&self) -> &Arc<[AtomicUsize]> {
        &self.in_use
    }

    pub(crate) fn live_keys(&self) -> usize {
        self.live_keys
    }

    /// Pushes an entry into `slot`, whose room the caller holds.
    pub(crate) fn push(&mut self, slot: u32, entry: Entry) {
        self.push_with(slot, || entry);
    }

    /// Pushes the entry `make` builds into `slot`, whose room the caller holds
    /// (built in place, rather than moved in).
    #[inline]
    pub(crate) fn push_with(&mut self, slot: u32, make: impl FnOnce() -> Entry) {
        let key = &mut self.keys[slot as usize];
        let class = u32::try_from(key.class).expect("more than u32::MAX classes");
        key.entries.push_back(Entry {
            slot,
            class,
            ..make()
        });
        key.accepted += 1;
        let class = &mut self.classes[key.class];
        class.queued += 1;
        self.queued += 1;
        if !key.in_ring {
            key.in_ring = true;
            key.deficit = u64::from(key.share);
            class.ring.push_back(slot);
        }
    }

    /// Evicts the oldest queued job of `slot`; its room passes to the caller.
    pub(crate) fn evict(&mut self, slot: u32) -> Option<Entry> {
        let id = self.keys[slot as usize].entries.front()?.id;
        self.unlink(slot, id)
    }

    /// Of the unkeyed queues, the one whose head is the oldest job.
    pub(crate) fn oldest_unkeyed(&self) -> Option<u32> {
        (0..self.classes.len())
            .filter_map(|c| self.keys[c].entries.front().map(|e| (e.id, c as u32)))
            .min()
            .map(|(_, slot)| slot)
    }

    /// Takes the next job that may start, with its weight from `budget`. The job's
    /// queue room is not given back here: the caller does that with the returned
    /// [`Room`] once it has released the queue lock (see [`Room`]).
    // Forced, for the common case to be picked in line; the rest is `pick_any`.
    #[inline(always)]
    pub(crate) fn pick<'a>(&mut self, budget: &'a Semaphore) -> Option<(Entry, Permit<'a>, Room)> {
        if self.queued == 0 {
            return None;
        }
        if self.in_use.is_empty() && self.keys[0].entries.len() == self.queued {
            // One class, and only unkeyed jobs are queued: their queue is alone in
            // the ring.
            return self.pick_unkeyed(budget);
        }
        self.pick_any(budget)
    }

    /// [`pick`](Self::pick) with queued jobs, in general.
    fn pick_any<'a>(&mut self, budget: &'a Semaphore) -> Option<(Entry, Permit<'a>, Room)> {
        if self.in_use.is_empty() {
            // One class: nothing is owed to another, so the head may start if the
            // budget has its weight.
            let (slot, weight) = self.candidate(0);
            let permit = budget.try_acquire_many(weight).ok()?;
            let (entry, room) = self.take(slot, weight);
            return Some((entry, permit, room));
        }
        let free = budget.available();
        let owed_total: usize = self
            .classes
            .iter()
            .enumerate()
            .map(|(c, class)| class.owed(self.in_use.get(c)))
            .sum();
        let mut blocked = false;
        for c in 0..self.classes.len() {
            if self.classes[c].queued == 0 {
                continue;
            }
            let owed = self.classes[c].owed(self.in_use.get(c));
            let mut room = free.saturating_sub(owed_total - owed);
            if blocked {
                room = room.min(owed);
            }
            let (slot, weight) = self.candidate(c);
            if weight <= room {
                // Only fails if the budget shrank under us (`set_budget` wakes a
                // worker afterwards).
                let permit = budget.try_acquire_many(weight).ok()?;
                let (entry, room) = self.take(slot, weight);
                return Some((entry, permit, room));
            }
            blocked = true;
        }
        None
    }

    /// [`pick`](Self::pick) in a pool of one class whose queued jobs are all
    /// unkeyed (at least one): the unkeyed queue, alone in the ring, is served
    /// as [`candidate`](Self::candidate) and [`take`](Self::take) would serve it,
    /// without looking it up.
    #[inline(always)]
    fn pick_unkeyed<'a>(&mut self, budget: &'a Semaphore) -> Option<(Entry, Permit<'a>, Room)> {
        let key = &mut self.keys[0];
        let weight = key.entries.front()?.weight;
        let permit = budget.try_acquire_many(weight).ok()?;
        let entry = key.entries.pop_front()?;
        self.queued -= 1;
        self.classes[0].queued -= 1;
        if key.entries.is_empty() {
            key.in_ring = false;
            key.deficit = 0;
            let front = self.classes[0].ring.pop_front();
            debug_assert_eq!(front, Some(0));
        } else {
            key.deficit = key.deficit.saturating_sub(cost(weight));
        }
        Some((entry, permit, Room::Unkeyed))
    }

    /// Moves class `c`'s ring to the key to serve next; returns it and its head's
    /// weight. The class has queued jobs.
    fn candidate(&mut self, c: usize) -> (u32, usize) {
        // A key alone in the ring has nobody to be fair to: serve it without the
        // round-robin accounting (its deficit stays spent, at 0 at most one quantum
        // below what it would be, until another key joins and the rounds resume).
        let ring = &self.classes[c].ring;
        if ring.len() == 1 {
            let slot = ring[0];
            let key = &self.keys[slot as usize];
            let weight = key.entries.front().expect("empty key in the ring").weight;
            return (slot, weight);
        }
        let mut misses = 0;
        loop {
            let ring = &mut self.classes[c].ring;
            let slot = *ring
                .front()
                .expect("class with queued jobs has an empty ring");
            let key = &mut self.keys[slot as usize];
            let weight = key.entries.front().expect("empty key in the ring").weight;
            if key.deficit >= cost(weight) {
                return (slot, weight);
            }
            key.deficit += u64::from(key.share);
            ring.rotate_left(1);
            misses += 1;
            if misses == ring.len() {
                // A whole pass served nobody: skip the rounds that would serve
                // nobody either.
                let keys = &mut self.keys;
                let rounds = ring
                    .iter()
                    .map(|&s| {
                        let k = &keys[s as usize];
                        let need = k.entries.front().map_or(0, |e| cost(e.weight));
                        need.saturating_sub(k.deficit).div_ceil(u64::from(k.share))
                    })
                    .min()
                    .unwrap_or(0);
                if rounds > 1 {
                    for &s in ring.iter() {
                        let k = &mut keys[s as usize];
                        k.deficit += (rounds - 1) * u64::from(k.share);
                    }
                }
                misses = 0;
            }
        }
    }

    /// Takes the head of `slot` (the front of its class's ring) to run; its room
    /// is for the caller to give back.
    fn take(&mut self, slot: u32, weight: usize) -> (Entry, Room) {
        let key = &mut self.keys[slot as usize];
        let entry = key.entries.pop_front().expect("took from an empty key");
        // Saturating: a key served alone (see `candidate`) may start below its cost.
        key.deficit = key.deficit.saturating_sub(cost(weight));
        let room = if key.key.is_some() {
            key.running += 1;
            Room::Key(key.latch.clone().expect("live key without a latch"))
        } else {
            Room::Unkeyed
        };
        let class = &mut self.classes[key.class];
        class.queued -= 1;
        if let Some(in_use) = self.in_use.get(key.class) {
            in_use.fetch_add(weight, Ordering::Relaxed);
        }
        self.queued -= 1;
        if key.entries.is_empty() {
            key.in_ring = false;
            key.deficit = 0;
            let front = class.ring.pop_front();
            debug_assert_eq!(front, Some(slot));
        }
        (entry, room)
    }

    /// A taken job ended (`ran`) or was discarded before it started: its weight
    /// goes back to the budget and to its class together.
    pub(crate) fn release(&mut self, slot: u32, class: usize, permit: Permit<'_>, ran: bool) {
        if let Some(in_use) = self.in_use.get(class) {
            in_use.fetch_sub(permit.num_permits(), Ordering::Relaxed);
        }
        drop(permit);
        let key = &mut self.keys[slot as usize];
        if key.key.is_none() {
            return;
        }
        key.running -= 1;
        if ran {
            key.finished += 1;
        } else {
            key.dropped += 1;
        }
        self.reclaim(slot);
    }

    /// Removes queued job `id` from `slot`, if it is there, freeing its room.
    pub(crate) fn remove(&mut self, slot: u32, id: JobId) -> Option<Entry> {
        let entry = self.unlink(slot, id)?;
        self.keys[slot as usize].release_slot();
        self.reclaim(slot);
        Some(entry)
    }

    /// Takes queued job `id` out of `slot`, keeping its room taken.
    fn unlink(&mut self, slot: u32, id: JobId) -> Option<Entry> {
        let key = self.keys.get_mut(slot as usize)?;
        let at = key.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        let entry = key.entries.remove(at)?;
        key.dropped += 1;
        let class = &mut self.classes[key.class];
        class.queued -= 1;
        self.queued -= 1;
        if key.entries.is_empty() {
            key.in_ring = false;
            key.deficit = 0;
            if let Some(at) = class.ring.iter().position(|&s| s == slot) {
                class.ring.remove(at);
            }
        }
        Some(entry)
    }

    /// Takes every queued job out.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        let mut drained = Vec::with_capacity(self.queued);
        for class in &mut self.classes {
            for slot in class.ring.drain(..) {
                let key = &mut self.keys[slot as usize];
                key.in_ring = false;
                key.deficit = 0;
                let n = key.entries.len();
                key.dropped += n as u64;
                drained.extend(key.entries.drain(..));
                key.release_slots(n);
            }
            class.queued = 0;
        }
        self.queued = 0;
        for slot in self.classes.len()..self.keys.len() {
            self.reclaim(slot as u32);
        }
        drained
    }

    /// `None` when the pool has one class: its running weight is the budget's.
    pub(crate) fn class_in_use(&self, class: usize) -> Option<usize> {
        self.in_use
            .get(class)
            .map(|in_use| in_use.load(Ordering::Relaxed))
    }
}

/// What a job costs in the round robin: its weight, but at least 1, so that a key
/// of weight-0 jobs cannot hold the front of the ring forever.
fn cost(weight: usize) -> u64 {
    weight.max(1) as u64
}
