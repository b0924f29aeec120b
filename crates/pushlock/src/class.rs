//! Names for locks: what verifier reports call a lock, and the class it is ordered by.

/// A named class of locks: one node in the verifier's lock-order graph.
///
/// Every lock given the same class is the same node (see the `verify` module, feature
/// `verify`), as in Linux's lockdep. Declare one `static` per kind of lock and give it to each
/// lock of that kind:
///
/// ```
/// use pushlock::{LockClass, RawPushLock, StdPlatform};
///
/// static POLICY: LockClass = LockClass::new("policy");
/// let lock = RawPushLock::<StdPlatform>::new();
/// lock.set_class(&POLICY);
/// ```
///
/// Without the `verify` feature a class costs one static string and naming does nothing.
#[derive(Debug)]
pub struct LockClass {
    name: &'static str,
}

impl LockClass {
    /// A class called `name` in reports.
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The name reports use.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }
}
