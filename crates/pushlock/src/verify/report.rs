//! Violations and their reports: what the verifier prints before it stops the system (kernel)
//! or panics (user mode), and the bug-check parameters that go with each kind.

use core::fmt;

use super::Tables;
use super::order::{Chain, Class};
use super::site::Site;
use super::threads::{Full, Held};
use crate::{LockWord, Misuse};

/// When no push lock may be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldAt {
    /// The return of a communication port's message callback.
    MessageCallbackReturn = 1,
    /// The return of a pre-operation callback.
    PreOperationReturn = 2,
    /// The exit of a system thread.
    ThreadExit = 3,
    /// `FilterUnload`: by any thread.
    Unload = 4,
}

/// A lock bug the verifier found. `kind()` is the `PLCK` bug check's first parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// A bug the lock detects in every build (kinds 2–4; bad flags keep bug check 0x152).
    Misuse(Misuse),
    /// Kind 6: an exclusive acquisition by a thread that holds the lock (in either mode): it
    /// would wait for itself.
    RecursiveExclusive,
    /// Kind 7: a shared acquisition by the thread that holds the lock exclusively.
    SharedAfterExclusive,
    /// Kind 8: a shared acquisition by a thread that holds a share while a writer waits: it
    /// would queue behind the writer, which waits for it.
    SharedWhileWriterWaits,
    /// Kind 9: a release by a thread that does not hold the lock.
    ReleaseNotOwner,
    /// Kind 10: a release in the other mode than the acquisition's.
    ReleaseWrongMode,
    /// Kind 11: an acquisition that inverts an order recorded earlier.
    OrderInversion,
    /// Kind 12: a lock held when none may be.
    HeldAt(HeldAt),
    /// Kind 13: an acquisition above `APC_LEVEL` (the IRQL).
    AboveApcLevel(u8),
    /// Kind 14: normal kernel APCs enabled while a lock taken through a `Flt*` function is held:
    /// something left the critical region the acquisition entered.
    CriticalRegionLeft,
    /// Kind 15: more threads hold push locks than the verifier's table has room for.
    TooManyThreads,
    /// Kind 16: one thread holds more push locks than the verifier records per thread.
    TooManyHeld,
    /// Kind 17: the lock-order graph is full (classes, edges or named locks).
    OrderGraphFull,
}

impl From<Full> for Violation {
    fn from(full: Full) -> Self {
        match full {
            Full::Threads => Self::TooManyThreads,
            Full::Held => Self::TooManyHeld,
        }
    }
}

impl Violation {
    /// The `PLCK` bug check's kind (parameter 1).
    #[must_use]
    pub const fn kind(self) -> usize {
        match self {
            Self::Misuse(Misuse::InvalidFlags(_)) => 1,
            Self::Misuse(Misuse::DeleteInUse(_)) => 2,
            Self::Misuse(Misuse::ReleaseNotHeld(_)) => 3,
            Self::Misuse(Misuse::ShareCountOverflow) => 4,
            Self::RecursiveExclusive => 6,
            Self::SharedAfterExclusive => 7,
            Self::SharedWhileWriterWaits => 8,
            Self::ReleaseNotOwner => 9,
            Self::ReleaseWrongMode => 10,
            Self::OrderInversion => 11,
            Self::HeldAt(_) => 12,
            Self::AboveApcLevel(_) => 13,
            Self::CriticalRegionLeft => 14,
            Self::TooManyThreads => 15,
            Self::TooManyHeld => 16,
            Self::OrderGraphFull => 17,
        }
    }

    /// Whether the call that committed it is skipped in report-only mode (it would hang,
    /// corrupt the lock or its records); the others go on as if nothing was found.
    pub(crate) const fn skips_the_call(self) -> bool {
        matches!(
            self,
            Self::Misuse(_)
                | Self::RecursiveExclusive
                | Self::SharedAfterExclusive
                | Self::SharedWhileWriterWaits
                | Self::ReleaseNotOwner
                | Self::ReleaseWrongMode
                | Self::AboveApcLevel(_)
                | Self::CriticalRegionLeft
                | Self::TooManyThreads
                | Self::TooManyHeld
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misuse(misuse) => write!(f, "{misuse}"),
            Self::RecursiveExclusive => {
                f.write_str("recursive acquisition: exclusive by a thread that holds the lock")
            }
            Self::SharedAfterExclusive => f.write_str(
                "recursive acquisition: shared by the thread that holds the lock exclusively",
            ),
            Self::SharedWhileWriterWaits => f.write_str(
                "recursive acquisition: shared again while a writer waits (it would queue behind \
                 the writer, which waits for this thread)",
            ),
            Self::ReleaseNotOwner => f.write_str("release of a push lock not held by this thread"),
            Self::ReleaseWrongMode => f.write_str("release in the wrong mode"),
            Self::OrderInversion => f.write_str("lock-order inversion (possible deadlock)"),
            Self::HeldAt(when) => write!(f, "push lock held at {}", when.describe()),
            Self::AboveApcLevel(irql) => {
                write!(
                    f,
                    "acquisition at IRQL {irql} (push locks: APC_LEVEL or below)"
                )
            }
            Self::CriticalRegionLeft => f.write_str(
                "normal kernel APCs enabled while a lock acquired through Flt* is held: the \
                 critical region it entered was left (KeLeaveCriticalRegion unbalanced)",
            ),
            Self::TooManyThreads => f.write_str("verifier thread table full"),
            Self::TooManyHeld => f.write_str("verifier: too many locks held by one thread"),
            Self::OrderGraphFull => f.write_str("verifier lock-order graph full"),
        }
    }
}

impl HeldAt {
    const fn describe(self) -> &'static str {
        match self {
            Self::MessageCallbackReturn => "the return of a message callback",
            Self::PreOperationReturn => "the return of a pre-operation callback",
            Self::ThreadExit => "system-thread exit",
            Self::Unload => "FilterUnload",
        }
    }
}

/// The other party a report names.
#[derive(Clone, Copy, Debug)]
pub enum Other {
    None,
    /// The caller's own record of this lock (recursion, wrong mode, held at the wrong time).
    Mine(Held),
    /// Another thread's record of this lock (a release by a non-owner, a delete in use).
    Theirs(usize, Held),
    /// The held lock an inversion was taken after, and the earlier chain it inverts.
    Inversion(Held, Class, Chain),
}

/// Everything about one violation: printed in full (`Display`), then the system stops.
pub struct Report<'a> {
    pub(crate) violation: Violation,
    pub(crate) lock: usize,
    pub(crate) word: LockWord,
    pub(crate) thread: usize,
    pub(crate) site: Site,
    pub(crate) other: Other,
    pub(crate) tables: Option<&'a Tables>,
}

impl Report<'_> {
    /// What was found.
    #[must_use]
    pub const fn violation(&self) -> Violation {
        self.violation
    }

    /// The `PLCK` (0x504C434B) bug check's parameters: 1 the kind, 2 the lock, 3 a detail (the
    /// lock word; for an inversion the held lock; for a lock held at the wrong time the moment,
    /// as in [`HeldAt`]; for an IRQL the IRQL), 4 the thread (`KTHREAD`).
    #[must_use]
    pub fn parameters(&self) -> [usize; 4] {
        let detail = match (self.violation, self.other) {
            (Violation::OrderInversion, Other::Inversion(held, ..)) => held.lock,
            (Violation::HeldAt(when), _) => when as usize,
            (Violation::AboveApcLevel(irql), _) => usize::from(irql),
            (Violation::Misuse(Misuse::InvalidFlags(flags)), _) => flags as usize,
            _ => self.word.0,
        };
        [self.violation.kind(), self.lock, detail, self.thread]
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "PUSH LOCK VERIFIER: {}", self.violation)?;
        writeln!(
            f,
            "  lock {:#x} ({}), word {}",
            self.lock,
            ClassName(
                self.tables
                    .map(|t| t.order.class(t.order.class_of(self.lock)))
            ),
            self.word
        )?;
        writeln!(f, "  thread {:#x}, at {}", self.thread, self.site)?;
        match self.other {
            Other::None => {}
            Other::Mine(held) => writeln!(f, "  this thread holds it: {}", HeldLine(&held))?,
            Other::Theirs(thread, held) => {
                writeln!(f, "  thread {thread:#x} holds it: {}", HeldLine(&held))?;
            }
            Other::Inversion(held, held_class, chain) => {
                writeln!(
                    f,
                    "  this thread takes it while holding lock {:#x} ({}), acquired at {}",
                    held.lock,
                    ClassName(Some(held_class)),
                    held.site
                )?;
                writeln!(f, "  but the opposite order was seen before:")?;
                let edges = chain.shown().iter();
                for edge in edges.filter_map(|&i| self.tables.map(|t| t.order.edge(i))) {
                    writeln!(
                        f,
                        "    {} (acquired at {}), then {} (acquired at {})",
                        ClassName(Some(edge.from)),
                        edge.from_site,
                        ClassName(Some(edge.to)),
                        edge.to_site
                    )?;
                }
                if chain.hidden() > 0 {
                    writeln!(f, "    ... and {} more", chain.hidden())?;
                }
            }
        }
        if let Some(tables) = self.tables {
            writeln!(f, "  locks held by this thread, oldest first:")?;
            let mut none = true;
            let mut result = Ok(());
            tables.threads.for_each_held(self.thread, |held| {
                none = false;
                result = result.and_then(|()| writeln!(f, "    {}", HeldLine(held)));
            });
            result?;
            if none {
                writeln!(f, "    (none)")?;
            }
        }
        Ok(())
    }
}

struct ClassName(Option<Class>);

impl fmt::Display for ClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(Class {
                name: Some(name), ..
            }) => write!(f, "class \"{}\"", name.name()),
            Some(Class {
                site: site @ (Site::Rust(_) | Site::Code(_)),
                ..
            }) => write!(f, "class initialised at {site}"),
            Some(Class { key, .. }) => write!(f, "unclassed lock {key:#x}"),
            None => f.write_str("class unknown"),
        }
    }
}

struct HeldLine<'a>(&'a Held);

impl fmt::Display for HeldLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.0;
        let mode = if held.exclusive {
            "exclusive"
        } else {
            "shared"
        };
        let family = if held.flt { " (Flt)" } else { "" };
        write!(
            f,
            "{:#x} {mode}{family}, acquired at {}",
            held.lock, held.site
        )
    }
}
