//! The intrusive waiter list every weir-core primitive queues on. All of weir's
//! `unsafe` code lives in this module, behind a safe API.
//!
//! # Implementation details
//!
//! A [`Waiter`] is a list node that lives *inside* the future that waits, so joining a
//! queue allocates nothing. The future is pinned before it first links its node, and
//! the node stays at that address until it is dropped. A [`WaitList`] is a doubly
//! linked list of such nodes with head and tail pointers. The list is always owned by
//! a lock (`Mutex<...>`) of the primitive that uses it: holding `&mut WaitList` *is*
//! holding that lock, which is how the safe API proves exclusive access to the nodes.
//!
//! Every node carries an `owner` word: `0` while the node is in no list, otherwise the
//! unique id of the list it is linked into (ids come from a process-wide counter and
//! are never reused). It is the only part of a node that is read without the lock.
//!
//! # Invariants
//!
//! 1. **A linked node is alive.** A node is linked only through `Pin<&Waiter>`, so its
//!    memory stays put until its destructor runs, and that destructor aborts the
//!    process if the node is still linked. Hence every pointer stored in a list (head,
//!    tail, `prev`, `next`) points to a live, pinned node.
//! 2. **`owner` tells the truth.** `owner == list.id` exactly when the node is linked into
//!    `list`; it is written only while that list is borrowed mutably (its lock is
//!    held), set *before* the node becomes reachable and cleared with `Release` *after*
//!    the last write the list makes to the node.
//! 3. **Links and data belong to the lock.** A linked node's `links` and `data` are read
//!    and written only through `&mut WaitList` of the list it is linked into. An unlinked
//!    node's `data` is read and written only through `Pin<&mut Waiter>`, after an
//!    `Acquire` load of `owner == 0` (which pairs with invariant 2's `Release`). Nobody
//!    touches an unlinked node's `links`.
//! 4. **The list is well formed.** `head`/`tail` are both `None` or both `Some`; following
//!    `next` from `head` visits `len` nodes and ends at `tail`; every node but the head
//!    has `prev` pointing at the node before it. The head's `prev` is stale (it may
//!    point at a node long gone) and is never dereferenced: a node is known to be the
//!    head by comparing it with `head`. Popping the head therefore never writes to the
//!    node behind it, which lives in another task's memory.
//!
//! A list may move while nodes are linked to it (nodes never point at the list, and the
//! id moves with it). When a list is dropped it unlinks the nodes still in it; they stay
//! alive by invariant 1.

use std::{marker::PhantomPinned, pin::Pin, ptr::NonNull};

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// Hands out list ids. Plain `std` atomics even under loom: the id is an identity, not
/// shared state the model needs to explore.
static NEXT_LIST_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The `owner` value of a node that is in no list.
const UNLINKED: usize = 0;

/// A queue node embedded in a waiting future.
///
/// `T` is the waiter's payload: what it asks for, its waker and its outcome.
pub(crate) struct Waiter<T> {
    /// `UNLINKED`, or the id of the list this node is linked into (invariant 2).
    owner: AtomicUsize,
    /// # Safety
    /// Accessed only under the lock of the list the node is linked into (invariant 3).
    links: UnsafeCell<Links<T>>,
    /// # Safety
    /// Accessed under the list's lock while linked, by the pinned owner while unlinked.
    data: UnsafeCell<T>,
    /// Lists hold raw pointers to the node: it must never move once linked.
    _pinned: PhantomPinned,
}

struct Links<T> {
    prev: Option<NonNull<Waiter<T>>>,
    next: Option<NonNull<Waiter<T>>>,
}

// SAFETY: a `Waiter` is moved between threads together with the future that owns it.
// Its `links` are only touched under the lock of the list it is in, and its `data` is
// either under that lock or exclusively owned (invariant 3), so sending it is sending
// a `T`.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: `&Waiter` gives no access to `links` or `data` except through a
// `&mut WaitList` (the lock) or `Pin<&mut Waiter>` (exclusive), and `owner` is atomic.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    /// Creates an unlinked node carrying `data`.
    pub(crate) fn new(data: T) -> Self {
        Self {
            owner: AtomicUsize::new(UNLINKED),
            links: UnsafeCell::new(Links {
                prev: None,
                next: None,
            }),
            data: UnsafeCell::new(data),
            _pinned: PhantomPinned,
        }
    }

    /// Whether the node is in some list right now. An `Acquire` load: once it returns
    /// `false`, every write the list made to the node's data is visible.
    pub(crate) fn is_linked(&self) -> bool {
        self.owner.load(Ordering::Acquire) != UNLINKED
    }

    /// The payload of an unlinked node, or `None` while the node is in a list (then it
    /// belongs to the list's lock: use [`WaitList::get_mut`]).
    pub(crate) fn data_mut(self: Pin<&mut Self>) -> Option<&mut T> {
        if self.is_linked() {
            return None;
        }
        // SAFETY: the node is unlinked and the `Acquire` load above synchronises with
        // the `Release` that unlinked it, so no list touches `data` any more and all of
        // the list's writes are visible (invariant 3). Relinking needs `Pin<&Waiter>`,
        // which the caller cannot produce while this `&mut T` (borrowed from
        // `Pin<&mut Self>`) is alive.
        self.data.with_mut(|data| unsafe { Some(&mut *data) })
    }
}

impl<T> Drop for Waiter<T> {
    fn drop(&mut self) {
        if self.owner.load(Ordering::Acquire) != UNLINKED {
            // A list still points at this memory. Unwinding would free it under the
            // list's feet; the only sound way out is to stop the process. The
            // primitives always unlink in their futures' destructors, so this is a
            // bug in weir-core, never in user code.
            std::process::abort();
        }
    }
}

impl<T> std::fmt::Debug for Waiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("linked", &self.is_linked())
            .finish_non_exhaustive()
    }
}

/// What [`WaitList::scan`] does with the node it just visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Leave the node where it is and go on.
    Keep,
    /// Unlink the node and go on.
    Unlink,
    /// Unlink the node and end the walk, without reading the node behind it.
    UnlinkAndStop,
    /// Leave the node and end the walk.
    Stop,
}

/// An intrusive FIFO of [`Waiter`]s. Always kept behind the owning primitive's lock.
pub(crate) struct WaitList<T> {
    id: usize,
    head: Option<NonNull<Waiter<T>>>,
    tail: Option<NonNull<Waiter<T>>>,
    len: usize,
}

// SAFETY: the list only holds pointers to live nodes (invariant 1) whose shared parts
// are `T: Send` payloads; moving the list to another thread moves the right to touch
// them under the lock that owns the list.
unsafe impl<T: Send> Send for WaitList<T> {}
// SAFETY: a shared `&WaitList` only reads `len`, `id` and the head pointer's identity;
// no node is reachable through it.
unsafe impl<T: Send> Sync for WaitList<T> {}

impl<T> WaitList<T> {
    /// Creates an empty list with a fresh id.
    pub(crate) fn new() -> Self {
        Self {
            id: NEXT_LIST_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// Number of linked nodes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no node is linked.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `node` is linked into this list.
    pub(crate) fn contains(&self, node: &Waiter<T>) -> bool {
        node.owner.load(Ordering::Relaxed) == self.id
    }

    /// Links `node` at the back of the queue.
    ///
    /// # Panics
    ///
    /// Panics if `node` is already linked (into this list or another one).
    #[track_caller]
    pub(crate) fn push_back(&mut self, node: Pin<&Waiter<T>>) {
        let claimed =
            node.owner
                .compare_exchange(UNLINKED, self.id, Ordering::Relaxed, Ordering::Relaxed);
        assert!(claimed.is_ok(), "waiter is already linked into a list");
        let ptr = NonNull::from(node.get_ref());
        // SAFETY: we just claimed the node for this list, so by invariant 3 its links
        // are ours under this list's lock (`&mut self`); nobody else can reach it yet.
        node.links.with_mut(|links| unsafe {
            (*links).prev = self.tail;
            (*links).next = None;
        });
        match self.tail {
            // SAFETY: `tail` is a live node of this list (invariants 1 and 4) and we
            // hold the list's lock, so its links are ours to write.
            Some(tail) => unsafe { tail.as_ref() }
                .links
                // SAFETY: as above: exclusive access to a live node's links.
                .with_mut(|links| unsafe { (*links).next = Some(ptr) }),
            None => self.head = Some(ptr),
        }
        self.tail = Some(ptr);
        self.len += 1;
    }

    /// Runs `f` on the oldest node's payload, then unlinks that node. The node's owner
    /// sees `f`'s writes once it observes it is unlinked.
    pub(crate) fn pop_front_with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let head = self.head?;
        // SAFETY: `head` is a live node of this list and we hold the lock (invariant 3);
        // the `&mut T` does not outlive this statement.
        let out = unsafe { head.as_ref() }
            .data
            // SAFETY: same as above.
            .with_mut(|data| f(unsafe { &mut *data }));
        self.unlink(head);
        Some(out)
    }

    /// The payload of `node` if it is linked into this list.
    pub(crate) fn get_mut<'a>(&'a mut self, node: Pin<&'a Waiter<T>>) -> Option<&'a mut T> {
        if !self.contains(&node) {
            return None;
        }
        // SAFETY: `node` is linked into this list and `&mut self` is its lock
        // (invariant 3). Both borrows last as long as the result, so the list cannot
        // unlink it meanwhile.
        Some(node.get_ref().data.with_mut(|data| unsafe { &mut *data }))
    }

    /// Unlinks `node` if it is linked into this list; returns whether it was.
    pub(crate) fn remove(&mut self, node: Pin<&Waiter<T>>) -> bool {
        if !self.contains(&node) {
            return false;
        }
        self.unlink(NonNull::from(node.get_ref()));
        true
    }

    /// Walks the queue from oldest to newest, calling `visit` on each payload; the
    /// returned [`Visit`] keeps the node, unlinks it, or ends the walk. `visit` may
    /// update the payload in every case.
    #[inline]
    pub(crate) fn scan(&mut self, mut visit: impl FnMut(&mut T) -> Visit) {
        let mut cursor = self.head;
        while let Some(node) = cursor {
            // SAFETY: `node` is a live node of this list (invariants 1 and 4) and we
            // hold its lock.
            let node_ref = unsafe { node.as_ref() };
            // SAFETY: as above, a linked node's links are ours under the lock; `next`
            // is read before `node` can be unlinked.
            cursor = node_ref.links.with(|links| unsafe { (*links).next });
            // SAFETY: as above; the `&mut T` ends before the node is unlinked.
            let step = node_ref.data.with_mut(|data| visit(unsafe { &mut *data }));
            match step {
                Visit::Keep => {}
                Visit::Unlink => self.unlink(node),
                Visit::UnlinkAndStop => return self.unlink(node),
                Visit::Stop => return,
            }
        }
    }

    /// Unlinks a node known to be linked into this list.
    #[inline]
    fn unlink(&mut self, node: NonNull<Waiter<T>>) {
        // SAFETY: callers pass a node linked into this list, which is alive
        // (invariant 1); we hold the list's lock, so its links are ours.
        let node_ref = unsafe { node.as_ref() };
        debug_assert_eq!(node_ref.owner.load(Ordering::Relaxed), self.id);
        // SAFETY: see above.
        let (prev, next) = node_ref.links.with_mut(|links| unsafe {
            let links = &mut *links;
            (links.prev.take(), links.next.take())
        });
        if self.head == Some(node) {
            // The node behind becomes the head; its `prev` may go stale (invariant 4).
            self.head = next;
            if next.is_none() {
                self.tail = None;
            }
        } else {
            let prev = prev.expect("a node other than the head has a predecessor");
            // SAFETY: `prev` of a node other than the head is its live predecessor in
            // this list (invariant 4), and we hold the lock.
            unsafe { prev.as_ref() }
                .links
                // SAFETY: as above, under the lock.
                .with_mut(|links| unsafe { (*links).next = next });
            match next {
                // SAFETY: `next` is a live neighbour in this list (invariant 4) and
                // not the head, so its `prev` must stay exact.
                Some(next) => unsafe { next.as_ref() }
                    .links
                    // SAFETY: as above, under the lock.
                    .with_mut(|links| unsafe { (*links).prev = Some(prev) }),
                None => self.tail = Some(prev),
            }
        }
        self.len -= 1;
        // Last: publish the unlink (and every earlier write to the payload) to the
        // node's owner (invariant 2).
        node_ref.owner.store(UNLINKED, Ordering::Release);
    }
}

impl<T> Drop for WaitList<T> {
    fn drop(&mut self) {
        // Nodes outlive a list only when their futures were leaked; unlink them so
        // their (never-run or later) destructors find them free.
        while self.pop_front_with(|_| ()).is_some() {}
    }
}

impl<T> std::fmt::Debug for WaitList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList").field("len", &self.len).finish()
    }
}
