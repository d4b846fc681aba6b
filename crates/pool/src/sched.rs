//! The scheduler behind the queue: one FIFO per key, deficit round robin across
//! the keys of a class, and priority classes sharing one budget with reserved
//! shares. Everything here runs under the queue lock.
//!
//! # Implementation details
//!
//! **Keys.** Key states live in a slab (`keys`). Slot `c` for `c < classes.len()`
//! is the permanent queue of unkeyed jobs of class `c`; the others hold keyed
//! queues and are found through their class's map. A keyed slot is *live* while it
//! has queued or running jobs or pinned submitters (waiting for room); the moment
//! it has none, it stops being live (it is not counted, and has no stats), and
//! becomes one of its class's *dormant* keys: its map entry, latch and buffers
//! stay, so that a busy key whose queue keeps running dry is revived (with fresh
//! counters) instead of rebuilt. A class keeps at most [`DORMANT_KEYS`] dormant
//! keys, the most recently idle; past that, the one idle the longest is freed: its
//! map entry, latch and buffers go, and the slot goes back to the free set. Free
//! slots are reused lowest first, a key going dormant moves down to the lowest
//! free slot, and the slab is truncated from the end, so memory follows the
//! number of live keys (plus at most [`DORMANT_KEYS`] per class, with their
//! buffers cut to [`DORMANT_ENTRIES`]), not the number of keys ever seen.
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
    tenant::{AnyKey, KeyStats, is_key},
};

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
    /// [`DORMANT_KEYS`] (see `reclaim`).
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
    pub(crate) fn push(&mut self, slot: u32, mut entry: Entry) {
        let key = &mut self.keys[slot as usize];
        entry.slot = slot;
        entry.class = u32::try_from(key.class).expect("more than u32::MAX classes");
        key.entries.push_back(entry);
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

    /// Takes room in `slot`'s queue, unless it is full or submitters wait for room.
    pub(crate) fn try_room(&self, slot: u32) -> bool {
        let latch = self.keys[slot as usize].latch.as_ref();
        latch
            .expect("live key without a latch")
            .try_increment()
            .is_ok()
    }

    /// Pins `slot` for a submitter about to wait for room; returns the latch to
    /// wait on.
    pub(crate) fn pin(&mut self, slot: u32) -> Arc<Latch> {
        let key = &mut self.keys[slot as usize];
        key.pins += 1;
        key.latch.clone().expect("live key without a latch")
    }

    /// The live slot of `key` (whose [`key_hash`](crate::tenant::key_hash) is
    /// `hash`) in `class`, created if needed.
    pub(crate) fn slot_for<K: std::hash::Hash + Eq + Send + Sync + 'static>(
        &mut self,
        class: usize,
        key: K,
        hash: u64,
    ) -> u32 {
        // A key submitting again and again (the usual case for a busy tenant) is
        // found by one comparison, without a table lookup.
        if let Some(slot) = self.classes[class].last {
            let hit = self.keys.get(slot as usize).is_some_and(|state| {
                // On the `dyn AnyKey` itself: `Arc<dyn AnyKey>` is a key type too.
                state.hash == hash
                    && state.class == class
                    && state.key.as_deref().is_some_and(|k| is_key(k, &key))
            });
            if hit {
                self.revive(slot);
                return slot;
            }
        }
        let keys = &self.keys;
        let found = self.classes[class].keys.find(hash, |&(h, slot)| {
            h == hash
                && keys[slot as usize]
                    .key
                    .as_deref()
                    .is_some_and(|k| is_key(k, &key))
        });
        if let Some(&(_, slot)) = found {
            self.classes[class].last = Some(slot);
            self.revive(slot);
            return slot;
        }
        let key: Arc<dyn AnyKey> = Arc::new(key);
        let share = if self.shares.is_empty() {
            1
        } else {
            self.shares.get(&*key).copied().unwrap_or(1)
        };
        let state = KeyState {
            key: Some(key),
            hash,
            latch: Some(Arc::new(Latch::new(self.key_capacity))),
            class,
            share,
            ..KeyState::vacant()
        };
        let slot = match self.free.pop_first() {
            Some(slot) => {
                self.keys[slot as usize] = state;
                slot
            }
            None => {
                self.keys.push(state);
                u32::try_from(self.keys.len() - 1).expect("more than u32::MAX live keys")
            }
        };
        let class = &mut self.classes[class];
        class.keys.insert_unique(hash, (hash, slot), |&(h, _)| h);
        class.last = Some(slot);
        self.live_keys += 1;
        slot
    }

    /// Starts a new busy period for `slot` if it was dormant: live again, with
    /// fresh counters.
    fn revive(&mut self, slot: u32) {
        let key = &mut self.keys[slot as usize];
        if !key.dormant {
            return;
        }
        key.dormant = false;
        key.accepted = 0;
        key.refused = 0;
        key.finished = 0;
        key.dropped = 0;
        key.deficit = 0;
        let dormant = &mut self.classes[key.class].dormant;
        // At most `DORMANT_KEYS` to search, and the most recently idle (the likeliest
        // to come back) last.
        if let Some(at) = dormant.iter().rposition(|&s| s == slot) {
            dormant.remove(at);
        }
        self.live_keys += 1;
    }

    /// A pinned submitter won room in `slot`: pushes its entry and unpins.
    pub(crate) fn push_pinned(&mut self, slot: u32, entry: Entry) {
        self.keys[slot as usize].pins -= 1;
        self.push(slot, entry);
    }

    /// A pinned submitter gave up (or the pool closed while it held room, in which
    /// case `release` frees that room too).
    pub(crate) fn unpin(&mut self, slot: u32, release: bool) {
        let key = &mut self.keys[slot as usize];
        key.pins -= 1;
        if release {
            key.release_slot();
        }
        self.reclaim(slot);
    }

    /// Counts a refusal against a live key.
    pub(crate) fn refused(&mut self, slot: u32) {
        self.keys[slot as usize].refused += 1;
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
    pub(crate) fn pick<'a>(&mut self, budget: &'a Semaphore) -> Option<(Entry, Permit<'a>, Room)> {
        if self.queued == 0 {
            return None;
        }
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

    /// Closes every live key's latch (waiting submitters fail).
    pub(crate) fn close_keys(&self) {
        for key in &self.keys[self.classes.len()..] {
            if let (Some(latch), Some(_)) = (&key.latch, &key.key) {
                latch.close();
            }
        }
    }

    /// Retires `slot` if it is a live keyed slot with nothing left. It stops
    /// counting as live at once, but the class keeps its most recently idle keys
    /// dormant (map entry, latch and buffers in place), so that busy tenants whose
    /// queues keep running dry do not pay for building their state again each
    /// time; past [`DORMANT_KEYS`], the class's key idle the longest is freed. So at
    /// most [`DORMANT_KEYS`] idle keys per class hold memory (their buffers cut
    /// down to [`DORMANT_ENTRIES`]), whatever the number of keys seen.
    fn reclaim(&mut self, slot: u32) {
        let index = slot as usize;
        if index < self.classes.len() || index >= self.keys.len() {
            return;
        }
        let key = &mut self.keys[index];
        if key.key.is_none()
            || key.dormant
            || !key.entries.is_empty()
            || key.running > 0
            || key.pins > 0
        {
            return;
        }
        debug_assert_eq!(key.latch.as_ref().map(|l| l.count()), Some(0));
        key.dormant = true;
        if key.entries.capacity() > DORMANT_ENTRIES {
            key.entries.shrink_to(DORMANT_ENTRIES);
        }
        let class = key.class;
        // Dormant keys are kept low in the slab, so that they do not hold its tail
        // (and the memory of the keys that were live with them).
        let slot = match self.free.first() {
            Some(&low) if low < slot => self.relocate(slot, low),
            _ => slot,
        };
        let dormant = &mut self.classes[class].dormant;
        dormant.push_back(slot);
        self.live_keys -= 1;
        if dormant.len() > DORMANT_KEYS {
            let oldest = dormant.pop_front().expect("more than DORMANT_KEYS");
            self.free_slot(oldest);
        }
    }

    /// Frees dormant `slot`: its map entry, latch and buffers.
    fn free_slot(&mut self, slot: u32) {
        let index = slot as usize;
        debug_assert!(self.keys[index].dormant, "freeing a live key");
        let state = std::mem::replace(&mut self.keys[index], KeyState::vacant());
        let class = &mut self.classes[state.class];
        if let Ok(entry) = class.keys.find_entry(state.hash, |&(_, s)| s == slot) {
            entry.remove();
        }
        if class.keys.capacity() > 64 && class.keys.len() < class.keys.capacity() / 4 {
            class.keys.shrink_to(class.keys.len() * 2, |&(h, _)| h);
        }
        self.free.insert(slot);
        self.truncate();
    }

    /// Moves dormant `from` down to free slot `to`, so that dormant keys do not
    /// hold the slab's tail: nothing refers to a dormant slot but its class's table
    /// and dormant list (no entries, running jobs or pinned submitters; a finished
    /// job's handle still names it, but only to look up its own id, which is gone).
    fn relocate(&mut self, from: u32, to: u32) -> u32 {
        self.free.remove(&to);
        self.keys.swap(from as usize, to as usize);
        let key = &self.keys[to as usize];
        let class = &mut self.classes[key.class];
        if let Ok(mut entry) = class.keys.find_entry(key.hash, |&(_, s)| s == from) {
            entry.get_mut().1 = to;
        }
        if class.last == Some(from) {
            class.last = Some(to);
        }
        self.free.insert(from);
        self.truncate();
        to
    }

    /// Cuts the free tail of the slab, so that it follows the keys it holds.
    fn truncate(&mut self) {
        while self.keys.len() > self.classes.len() {
            let last = (self.keys.len() - 1) as u32;
            if !self.free.remove(&last) {
                break;
            }
            self.keys.pop();
        }
        if self.keys.capacity() > 64 && self.keys.len() < self.keys.capacity() / 4 {
            self.keys.shrink_to(self.keys.len() * 2);
        }
    }

    /// The live slot of `key` (whose hash is `hash`) in `class`, or its dormant one.
    fn find(&self, class: usize, key: &dyn AnyKey, hash: u64) -> Option<u32> {
        self.classes[class]
            .keys
            .find(hash, |&(h, slot)| {
                h == hash
                    && self.keys[slot as usize]
                        .key
                        .as_deref()
                        .is_some_and(|k| k.eq_key(key))
            })
            .map(|&(_, slot)| slot)
    }

    pub(crate) fn key_stats(&self, key: &dyn AnyKey, hash: u64) -> Option<KeyStats> {
        let mut found: Option<KeyStats> = None;
        for c in 0..self.classes.len() {
            if let Some(slot) = self.find(c, key, hash) {
                if self.keys[slot as usize].dormant {
                    continue;
                }
                let stats = self.keys[slot as usize].stats();
                found = Some(match found {
                    None => stats,
                    Some(sum) => KeyStats {
                        accepted: sum.accepted + stats.accepted,
                        refused: sum.refused + stats.refused,
                        finished: sum.finished + stats.finished,
                        dropped: sum.dropped + stats.dropped,
                        queued: sum.queued + stats.queued,
                        running: sum.running + stats.running,
                        ..sum
                    },
                });
            }
        }
        found
    }

    pub(crate) fn set_share(&mut self, key: Arc<dyn AnyKey>, hash: u64, share: u32) {
        for c in 0..self.classes.len() {
            if let Some(slot) = self.find(c, &*key, hash) {
                self.keys[slot as usize].share = share;
            }
        }
        if share == 1 {
            self.shares.remove(&*key);
            shrink_map(&mut self.shares);
        } else {
            self.shares.insert(key, share);
        }
    }

    /// `None` when the pool has one class: its running weight is the budget's.
    pub(crate) fn class_in_use(&self, class: usize) -> Option<usize> {
        self.in_use
            .get(class)
            .map(|in_use| in_use.load(Ordering::Relaxed))
    }
}

/// The idle keys a class keeps dormant, ready to be revived: enough for a few
/// dozen tenants whose queues keep running dry between bursts to keep their
/// state, few enough that a stream of distinct keys leaves a small, fixed amount
/// of memory behind.
pub(crate) const DORMANT_KEYS: usize = 32;

/// The queue buffer (in entries) a dormant key keeps.
const DORMANT_ENTRIES: usize = 64;

/// What a job costs in the round robin: its weight, but at least 1, so that a key
/// of weight-0 jobs cannot hold the front of the ring forever.
fn cost(weight: usize) -> u64 {
    weight.max(1) as u64
}

/// Gives a map's memory back once it is mostly empty.
fn shrink_map<K: Eq + std::hash::Hash + ?Sized, V>(map: &mut HashMap<Arc<K>, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}
