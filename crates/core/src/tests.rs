//! Unit tests with access to the internals: a model-based test of the intrusive
//! waiter list against `VecDeque` references.
//!
//! These use `std` atomics and cells; under `--cfg loom` the list is built on loom's
//! types, which only work inside `loom::model`, so the module is compiled out there.

#![cfg(not(loom))]

use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
};

use proptest::prelude::*;

use crate::waiter_list::{Visit, WaitList, Waiter};

/// Nodes in play.
const NODES: usize = 6;
/// Lists in play: a node linked into one must be invisible to the other.
const LISTS: usize = 2;

/// A node's payload: who it is, and values written through the list and the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Payload {
    id: usize,
    visits: u32,
    tag: u32,
}

#[derive(Debug, Clone)]
enum Op {
    Push {
        list: usize,
        node: usize,
    },
    Remove {
        list: usize,
        node: usize,
    },
    PopFront {
        list: usize,
    },
    /// One decision per visited node (0..=5 keep, 6..=8 unlink, 9 stop); nodes past
    /// the end of the plan are kept.
    Scan {
        list: usize,
        plan: Vec<u8>,
    },
    /// Write a fresh tag through `get_mut` (linked) or `data_mut` (unlinked).
    Touch {
        node: usize,
    },
    /// Drop an unlinked node and put a new one in its slot.
    Renew {
        node: usize,
    },
    /// Move both lists (with their linked nodes) to new places.
    SwapLists,
}

fn op() -> impl Strategy<Value = Op> {
    let list = 0..LISTS;
    let node = 0..NODES;
    prop_oneof![
        4 => (list.clone(), node.clone()).prop_map(|(list, node)| Op::Push { list, node }),
        2 => (list.clone(), node.clone()).prop_map(|(list, node)| Op::Remove { list, node }),
        2 => list.clone().prop_map(|list| Op::PopFront { list }),
        2 => (list, prop::collection::vec(0u8..10, 0..NODES))
            .prop_map(|(list, plan)| Op::Scan { list, plan }),
        1 => node.clone().prop_map(|node| Op::Touch { node }),
        1 => node.prop_map(|node| Op::Renew { node }),
        1 => Just(Op::SwapLists),
    ]
}

fn decision(plan: &[u8], i: usize) -> Visit {
    match plan.get(i).copied().unwrap_or(0) {
        0..=5 => Visit::Keep,
        6..=7 => Visit::Unlink,
        8 => Visit::UnlinkAndStop,
        _ => Visit::Stop,
    }
}

/// The real lists and nodes next to their reference model.
struct Harness {
    lists: Vec<WaitList<Payload>>,
    nodes: Vec<Pin<Box<Waiter<Payload>>>>,
    /// Reference queues of node ids.
    refs: Vec<VecDeque<usize>>,
    /// Reference payloads.
    payloads: Vec<Payload>,
    next_tag: u32,
}

impl Harness {
    fn new() -> Self {
        Self {
            lists: (0..LISTS).map(|_| WaitList::new()).collect(),
            nodes: (0..NODES)
                .map(|id| Box::pin(Waiter::new(payload(id))))
                .collect(),
            refs: vec![VecDeque::new(); LISTS],
            payloads: (0..NODES).map(payload).collect(),
            next_tag: 0,
        }
    }

    /// The list `node` is linked into, according to the model.
    fn home(&self, node: usize) -> Option<usize> {
        self.refs.iter().position(|r| r.contains(&node))
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Push { list, node } => {
                if self.home(node).is_none() {
                    self.lists[list].push_back(self.nodes[node].as_ref());
                    self.refs[list].push_back(node);
                }
            }
            Op::Remove { list, node } => {
                let expected = self.home(node) == Some(list);
                assert_eq!(self.lists[list].remove(self.nodes[node].as_ref()), expected);
                if expected {
                    self.refs[list].retain(|&n| n != node);
                }
            }
            Op::PopFront { list } => {
                let popped = self.lists[list].pop_front_with(|p| {
                    p.visits += 1;
                    p.id
                });
                let expected = self.refs[list].pop_front();
                assert_eq!(popped, expected);
                if let Some(node) = expected {
                    self.payloads[node].visits += 1;
                }
            }
            Op::Scan { list, ref plan } => {
                let mut i = 0;
                let mut seen = Vec::new();
                self.lists[list].scan(|p| {
                    p.visits += 1;
                    seen.push(p.id);
                    let step = decision(plan, i);
                    i += 1;
                    step
                });
                let mut kept = VecDeque::new();
                let mut expected_seen = Vec::new();
                let mut stopped = false;
                for (i, &node) in self.refs[list].iter().enumerate() {
                    if stopped {
                        kept.push_back(node);
                        continue;
                    }
                    expected_seen.push(node);
                    self.payloads[node].visits += 1;
                    match decision(plan, i) {
                        Visit::Keep => kept.push_back(node),
                        Visit::Unlink => {}
                        Visit::UnlinkAndStop => stopped = true,
                        Visit::Stop => {
                            kept.push_back(node);
                            stopped = true;
                        }
                    }
                }
                assert_eq!(seen, expected_seen, "scan visit order");
                self.refs[list] = kept;
            }
            Op::Touch { node } => {
                self.next_tag += 1;
                let tag = self.next_tag;
                match self.home(node) {
                    Some(list) => {
                        assert!(self.nodes[node].as_mut().data_mut().is_none());
                        let other = (list + 1) % LISTS;
                        assert!(
                            self.lists[other]
                                .get_mut(self.nodes[node].as_ref())
                                .is_none()
                        );
                        let Some(p) = self.lists[list].get_mut(self.nodes[node].as_ref()) else {
                            panic!("linked node {node} not found in list {list}");
                        };
                        p.tag = tag;
                    }
                    None => {
                        for list in &mut self.lists {
                            assert!(list.get_mut(self.nodes[node].as_ref()).is_none());
                        }
                        let Some(p) = self.nodes[node].as_mut().data_mut() else {
                            panic!("unlinked node {node} has no data");
                        };
                        p.tag = tag;
                    }
                }
                self.payloads[node].tag = tag;
            }
            Op::Renew { node } => {
                if self.home(node).is_none() {
                    self.nodes[node] = Box::pin(Waiter::new(payload(node)));
                    self.payloads[node] = payload(node);
                }
            }
            Op::SwapLists => {
                self.lists.swap(0, 1);
                self.refs.swap(0, 1);
            }
        }
    }

    /// Compares every observable of the real lists and nodes with the model.
    fn check(&mut self) {
        for (list, reference) in self.lists.iter_mut().zip(&self.refs) {
            assert_eq!(list.len(), reference.len());
            assert_eq!(list.is_empty(), reference.is_empty());
            let mut order = Vec::new();
            list.scan(|p| {
                order.push(p.id);
                Visit::Keep
            });
            assert_eq!(order, reference.iter().copied().collect::<Vec<_>>());
        }
        for node in 0..NODES {
            let home = self.home(node);
            assert_eq!(self.nodes[node].is_linked(), home.is_some(), "node {node}");
            for (l, list) in self.lists.iter().enumerate() {
                assert_eq!(
                    list.contains(self.nodes[node].as_ref().get_ref()),
                    home == Some(l)
                );
            }
            let actual = match home {
                Some(l) => self.lists[l]
                    .get_mut(self.nodes[node].as_ref())
                    .copied()
                    .unwrap(),
                None => *self.nodes[node].as_mut().data_mut().unwrap(),
            };
            assert_eq!(actual, self.payloads[node], "payload of node {node}");
        }
    }

    /// Drops the lists first (they unlink what is left), then checks every node is
    /// free and kept its payload, then drops the nodes.
    fn finish(mut self) {
        drop(std::mem::take(&mut self.lists));
        for (node, waiter) in self.nodes.iter_mut().enumerate() {
            assert!(!waiter.is_linked());
            assert_eq!(
                waiter.as_mut().data_mut().copied(),
                Some(self.payloads[node])
            );
        }
    }
}

fn payload(id: usize) -> Payload {
    Payload {
        id,
        ..Payload::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn waiter_list_matches_a_vecdeque_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op);
            harness.check();
        }
        harness.finish();
    }
}

#[test]
fn pushing_a_linked_node_panics_and_leaves_the_lists_intact() {
    let node = Box::pin(Waiter::new(payload(7)));
    let mut a = WaitList::new();
    let mut b = WaitList::new();
    a.push_back(node.as_ref());
    for list in [&mut a, &mut b] {
        let result = catch_unwind(AssertUnwindSafe(|| list.push_back(node.as_ref())));
        assert!(result.is_err());
    }
    assert_eq!((a.len(), b.len()), (1, 0));
    assert!(a.contains(&node) && !b.contains(&node));
    assert!(a.remove(node.as_ref()));
    assert!(!node.is_linked());
}

#[test]
fn dropping_a_list_unlinks_its_nodes() {
    let mut nodes: Vec<_> = (0..3)
        .map(|id| Box::pin(Waiter::new(payload(id))))
        .collect();
    let mut list = WaitList::new();
    for node in &nodes {
        list.push_back(node.as_ref());
    }
    let moved = list; // a list may move while nodes are linked
    assert_eq!(moved.len(), 3);
    drop(moved);
    for (id, node) in nodes.iter_mut().enumerate() {
        assert!(!node.is_linked());
        assert_eq!(node.as_mut().data_mut().map(|p| p.id), Some(id));
    }
}

#[test]
fn a_node_can_be_relinked_after_removal() {
    let node = Box::pin(Waiter::new(payload(0)));
    let other = Box::pin(Waiter::new(payload(1)));
    let mut list = WaitList::new();
    for _ in 0..3 {
        list.push_back(node.as_ref());
        list.push_back(other.as_ref());
        assert_eq!(list.pop_front_with(|p| p.id), Some(0));
        assert!(list.remove(other.as_ref()));
        assert!(list.is_empty());
    }
}
