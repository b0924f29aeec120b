//! Lock classes and the lock-order graph (lockdep's idea): an edge `A → B` means some thread
//! acquired a lock of class `B` while holding one of class `A`. An acquisition that would add
//! an edge closing a cycle is an inversion, reported the first time it happens, whether or not
//! the threads involved ever met: two threads taking the locks in those orders can deadlock.
//!
//! Shared acquisitions count like exclusive ones: with writer preference, two readers taking
//! `A` then `B` and `B` then `A` deadlock once a writer queues on each lock.
//!
//! A lock's class is the one it was given (`set_class`, a `static LockClass`), or the site of
//! its `Ex`/`FltInitializePushLock`, or else the lock itself. Nesting two locks of the same
//! class is not checked (it needs lockdep's subclasses to tell right from wrong).
//!
//! Lookups are lock-free; changes to the graph happen under one spin lock, taken only when an
//! acquisition adds an edge not seen before, and when locks are named or forgotten.

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicU16};

use super::map::Map;
use super::site::Site;
use crate::LockClass;

/// Locks with a class of their own (named or initialised through the `nt` functions).
pub const LOCKS: usize = 1024;
/// Classes (graph nodes).
pub const CLASSES: usize = 512;
/// Order edges.
pub const EDGES: usize = 2048;
/// Edges of an earlier chain a report shows.
pub const CHAIN: usize = 8;

/// A class as reports show it.
#[derive(Clone, Copy, Debug)]
pub struct Class {
    /// The class's key: its `LockClass`'s address, its initialisation site, or the lock's.
    pub key: usize,
    /// Its name, if it was given one.
    pub name: Option<&'static LockClass>,
    /// Where its locks were initialised (for classes keyed by initialisation site).
    pub site: Site,
}

/// An edge as reports show it: `from` was held (acquired at `from_site`) when `to` was
/// acquired at `to_site`.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    /// The class held.
    pub from: Class,
    /// The class acquired.
    pub to: Class,
    /// Where the held lock was acquired.
    pub from_site: Site,
    /// Where the second lock was acquired.
    pub to_site: Site,
}

/// The chain of recorded edges that a new edge closes into a cycle: from the class being
/// acquired to the class held.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// The edge slots of the chain's first `CHAIN` edges.
    edges: [usize; CHAIN],
    /// Edges in the whole chain.
    len: usize,
}

impl Chain {
    /// The edge slots shown, in order.
    pub fn shown(&self) -> &[usize] {
        self.edges.get(..self.len.min(CHAIN)).unwrap_or(&[])
    }

    /// Edges in the chain beyond those shown.
    pub const fn hidden(&self) -> usize {
        self.len.saturating_sub(CHAIN)
    }
}

/// What adding an edge found.
pub enum Added {
    /// Recorded, or known already.
    Fine,
    /// The edge closes this chain into a cycle (and was not recorded).
    Cycle(Chain),
    /// No room for the edge or its classes.
    Full,
}

/// The graph and the registry of classified locks.
pub struct Order {
    lock: AtomicBool,
    /// lock address → class key.
    registry: Map<LOCKS, 2, 1>,
    /// class key → `LockClass` address (or 0), initialisation site.
    classes: Map<CLASSES, 3, 1>,
    /// (from class, to class) → sites.
    edges: Map<EDGES, 4, 2>,
    /// Scratch for the search, under `lock`: how each class was reached (edge slot + 1; 0 =
    /// not yet), and the search queue.
    reached_by: [AtomicU16; CLASSES],
    queue: [AtomicU16; CLASSES],
}

/// The graph lock, held.
struct Locked<'a>(&'a Order);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.lock.store(false, Release);
    }
}

fn class_word(class: Option<&'static LockClass>) -> usize {
    class.map_or(0, |class| core::ptr::from_ref(class).expose_provenance())
}

const fn class_from_word(word: usize) -> Option<&'static LockClass> {
    if word == 0 {
        return None;
    }
    // SAFETY: non-zero words come from `class_word`, from a `&'static LockClass` whose
    // provenance was exposed.
    Some(unsafe { &*core::ptr::with_exposed_provenance::<LockClass>(word) })
}

impl Order {
    fn locked(&self) -> Locked<'_> {
        while self
            .lock
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        Locked(self)
    }

    /// The class key of `lock`.
    pub fn class_of(&self, lock: usize) -> usize {
        self.registry
            .find(&[lock])
            .map_or(lock, |index| self.registry.read(index)[1])
    }

    /// The class `key` as reports show it.
    pub fn class(&self, key: usize) -> Class {
        let words = self
            .classes
            .find(&[key])
            .map(|index| self.classes.read(index));
        Class {
            key,
            name: words.and_then(|w| class_from_word(w[1])),
            site: words.map_or(Site::Unknown, |w| Site::decode(w[2])),
        }
    }

    /// Gives `lock` the class `key` (named `name`, initialised at `site`). False if full.
    pub fn register(
        &self,
        lock: usize,
        key: usize,
        name: Option<&'static LockClass>,
        site: Site,
    ) -> bool {
        let _locked = self.locked();
        let class = [key, class_word(name), site.encode()];
        let known = self.classes.find(&[key]).is_some();
        (known || self.classes.insert(&class).is_some())
            && self.registry.insert(&[lock, key]).is_some()
    }

    /// Forgets `lock` (deleted or dropped): its registration, and the graph node it was if it
    /// had no class of its own, so that a new lock at its address starts afresh.
    pub fn forget(&self, lock: usize) {
        if self.registry.find(&[lock]).is_none() && self.classes.find(&[lock]).is_none() {
            return;
        }
        let _locked = self.locked();
        if let Some(index) = self.registry.find(&[lock]) {
            self.registry.remove(index);
        }
        if let Some(index) = self.classes.find(&[lock]) {
            self.classes.remove(index);
            for edge in self.edges.entries() {
                let [from, to, ..] = self.edges.read(edge);
                if from == lock || to == lock {
                    self.edges.remove(edge);
                }
            }
        }
    }

    /// Records that a lock of class `to` is being acquired (at `to_site`) while a lock of class
    /// `from` is held (acquired at `from_site`), unless that closes a cycle.
    pub fn add(&self, from: usize, from_site: Site, to: usize, to_site: Site) -> Added {
        if from == to || self.edges.find(&[from, to]).is_some() {
            return Added::Fine;
        }
        let _locked = self.locked();
        if self.edges.find(&[from, to]).is_some() {
            return Added::Fine;
        }
        if let Some(chain) = self.search(to, from) {
            return Added::Cycle(chain);
        }
        for key in [from, to] {
            if self.classes.find(&[key]).is_none() && self.classes.insert(&[key, 0, 0]).is_none() {
                return Added::Full;
            }
        }
        let edge = [from, to, from_site.encode(), to_site.encode()];
        if self.edges.insert(&edge).is_none() {
            return Added::Full;
        }
        Added::Fine
    }

    /// Breadth-first search for a chain of edges from class `source` to class `goal`. Caller:
    /// holds the graph lock.
    fn search(&self, source: usize, goal: usize) -> Option<Chain> {
        const SOURCE: u16 = u16::MAX;
        let start = self.classes.find(&[source])?;
        for reached in &self.reached_by {
            reached.store(0, Relaxed);
        }
        self.reached_by.get(start)?.store(SOURCE, Relaxed);
        self.queue
            .first()?
            .store(u16::try_from(start).ok()?, Relaxed);
        let (mut head, mut tail) = (0_usize, 1_usize);
        while head < tail {
            let node = usize::from(self.queue.get(head)?.load(Relaxed));
            head = head.saturating_add(1);
            let [node_key, ..] = self.classes.read(node);
            for edge in self.edges.entries() {
                let [from, to, ..] = self.edges.read(edge);
                if from != node_key {
                    continue;
                }
                let Some(next) = self.classes.find(&[to]) else {
                    continue;
                };
                let reached = self.reached_by.get(next)?;
                if reached.load(Relaxed) != 0 {
                    continue;
                }
                reached.store(u16::try_from(edge.saturating_add(1)).ok()?, Relaxed);
                if to == goal {
                    return Some(self.chain(next));
                }
                self.queue
                    .get(tail)?
                    .store(u16::try_from(next).ok()?, Relaxed);
                tail = tail.saturating_add(1);
            }
        }
        None
    }

    /// The chain the search found, from its source to class slot `goal`.
    fn chain(&self, goal: usize) -> Chain {
        let back = |class: usize| {
            let via = self.reached_by.get(class)?.load(Relaxed);
            let edge = usize::from(via.checked_sub(1)?);
            (via != u16::MAX).then_some(edge)
        };
        let walk = |each: &mut dyn FnMut(usize)| {
            let mut class = goal;
            let mut steps = 0;
            while let Some(edge) = back(class)
                && steps < CLASSES
            {
                each(edge);
                steps = steps.saturating_add(1);
                let [from, ..] = self.edges.read(edge);
                let Some(previous) = self.classes.find(&[from]) else {
                    break;
                };
                class = previous;
            }
        };
        let mut len = 0_usize;
        walk(&mut |_| len = len.saturating_add(1));
        let mut chain = Chain {
            edges: [0; CHAIN],
            len,
        };
        let mut from_end = 0_usize;
        walk(&mut |edge| {
            from_end = from_end.saturating_add(1);
            if let Some(slot) = len
                .checked_sub(from_end)
                .and_then(|i| chain.edges.get_mut(i))
            {
                *slot = edge;
            }
        });
        chain
    }

    /// The edge in slot `index`, as reports show it.
    pub fn edge(&self, index: usize) -> Edge {
        let [from, to, from_site, to_site] = self.edges.read(index);
        Edge {
            from: self.class(from),
            to: self.class(to),
            from_site: Site::decode(from_site),
            to_site: Site::decode(to_site),
        }
    }
}
