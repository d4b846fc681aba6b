//! The key slab of [`Sched`]: finding or creating a key's slot, pinning it for a
//! submitter that waits for room, and what happens when a key runs idle.
//!
//! Key states live in a slab (`keys`). Slot `c` for `c < classes.len()`
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

use std::{collections::HashMap, sync::Arc};

use weir_core::Latch;

use super::{KeyState, Sched};
use crate::{
    queue::Entry,
    tenant::{AnyKey, KeyStats, is_key},
};

impl Sched {
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
    pub(super) fn reclaim(&mut self, slot: u32) {
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
}

/// The idle keys a class keeps dormant, ready to be revived: enough for a few
/// dozen tenants whose queues keep running dry between bursts to keep their
/// state, few enough that a stream of distinct keys leaves a small, fixed amount
/// of memory behind.
pub(crate) const DORMANT_KEYS: usize = 32;

/// The queue buffer (in entries) a dormant key keeps.
const DORMANT_ENTRIES: usize = 64;

/// Gives a map's memory back once it is mostly empty.
fn shrink_map<K: Eq + std::hash::Hash + ?Sized, V>(map: &mut HashMap<Arc<K>, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}
