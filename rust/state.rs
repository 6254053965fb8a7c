// SPDX-License-Identifier: GPL-2.0

//! The module's state, shared by sysfs, the client API and module teardown.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::alloc::KVec;
use kernel::prelude::*;
use kernel::sync::{new_mutex, Mutex};

use crate::batchpoke_api::{Change, Key};
use crate::engine::{Applied, Engine, Strategy};
use crate::ffi::bindings;
use crate::ffi::sysfs::Dir;
use crate::knob::parse_error;
use crate::pure::txn;
use crate::registry::{KeyEntry, Registry};
use crate::stats::STATS;

/// Everything batchpoke runs on.
#[pin_data]
pub(crate) struct State {
    pub(crate) engine: Engine,
    #[pin]
    registry: Mutex<Registry>,
}

impl State {
    /// The state, with sysfs directories `root_dir` and `keys_dir`.
    pub(crate) fn new(engine: Engine, root_dir: Dir, keys_dir: Dir) -> impl PinInit<Self, Error> {
        try_pin_init!(State {
            engine,
            registry <- new_mutex!(Registry::new(root_dir, keys_dir)),
        })
    }

    /// Registers `keys` of `owner`; see [`Registry::register`].
    ///
    /// # Safety
    ///
    /// `owner` stays loaded until [`Self::unregister_module`] is called for
    /// it, and every key in `keys` is in `owner`'s memory.
    pub(crate) unsafe fn register(&self, owner: *const bindings::module, keys: &[&Key]) -> Result {
        // SAFETY: caller's contract.
        let result = unsafe { self.registry.lock().register(owner, keys) };
        if result.is_err() {
            self.remove_dead();
        }
        result
    }

    /// Removes every key of `owner`. Returns how many there were.
    pub(crate) fn unregister_module(&self, owner: *const bindings::module) -> usize {
        let count = self.registry.lock().retire_module(Some(owner));
        self.remove_dead();
        count
    }

    /// Removes every key and the sysfs tree; nothing can be registered after.
    pub(crate) fn shutdown(&self) {
        self.registry.lock().retire_module(None);
        self.remove_dead();
        let dirs = self.registry.lock().take_dirs();
        drop(dirs);
    }

    fn remove_dead(&self) {
        loop {
            let dir = self.registry.lock().take_dead_dir();
            match dir {
                // Dropped here, with the lock released.
                Some(dir) => drop(dir),
                None => break,
            }
        }
        self.registry.lock().remove_dead();
    }

    /// Applies a `name=value ...` request as one transaction.
    pub(crate) fn transaction(&self, request: &[u8]) -> Result<Applied> {
        counted(self.parse_and_apply(request))
    }

    fn parse_and_apply(&self, request: &[u8]) -> Result<Applied> {
        let registry = self.registry.lock();
        let mut changes = KVec::new();
        let mut unknown = false;
        let mut alloc = Ok(());
        txn::parse_transaction(request, |name, enable| match registry.find(name) {
            Some(index) if alloc.is_ok() => alloc = changes.push((index, enable), GFP_KERNEL),
            Some(_) => {}
            None => unknown = true,
        })
        .map_err(parse_error)?;
        alloc?;
        if unknown {
            return Err(ENOENT);
        }
        registry.apply(&self.engine, &changes, self.engine.strategy())
    }

    /// Applies `changes` (key address, state) as one transaction.
    pub(crate) fn apply_changes(&self, changes: &[Change], strategy: Strategy) -> Result<Applied> {
        counted(self.apply_changes_locked(changes, strategy))
    }

    fn apply_changes_locked(&self, changes: &[Change], strategy: Strategy) -> Result<Applied> {
        let registry = self.registry.lock();
        let mut indices = KVec::with_capacity(changes.len(), GFP_KERNEL)?;
        for change in changes {
            let index = registry.find_key(change.key).ok_or(ENOENT)?;
            indices.push((index, change.enable), GFP_KERNEL)?;
        }
        registry.apply(&self.engine, &indices, strategy)
    }

    /// Sets the key called `name`.
    pub(crate) fn set_key(&self, name: &[u8], enable: bool) -> Result<Applied> {
        let registry = self.registry.lock();
        let index = registry.find(name).ok_or(ENOENT);
        counted(index.and_then(|index| {
            registry.apply(&self.engine, &[(index, enable)], self.engine.strategy())
        }))
    }

    /// Runs `f` on every live key, in registration order, registry locked:
    /// no key comes or goes and no transaction runs meanwhile.
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(&KeyEntry)) {
        for entry in self.registry.lock().live() {
            f(entry);
        }
    }

    /// Runs `f` on the key called `name`, registry locked.
    pub(crate) fn with_key<R>(&self, name: &[u8], f: impl FnOnce(&KeyEntry) -> R) -> Result<R> {
        let registry = self.registry.lock();
        let index = registry.find(name).ok_or(ENOENT)?;
        registry.get(index).map(f).ok_or(ENOENT)
    }
}

/// Counts a refused request.
pub(crate) fn counted<T>(result: Result<T>) -> Result<T> {
    if result.is_err() {
        STATS.refusal();
    }
    result
}

/// The state, for callbacks that get no context (sysfs, the client API).
static STATE: AtomicPtr<State> = AtomicPtr::new(ptr::null_mut());

/// Makes `state` reachable through [`with_state`].
///
/// # Safety
///
/// `state` must stay valid until [`withdraw`] returns and no callback that
/// calls [`with_state`] can run any more.
pub(crate) unsafe fn publish(state: &State) {
    STATE.store(ptr::from_ref(state).cast_mut(), Ordering::Release);
}

/// Makes the state unreachable. The caller then ensures no callback is
/// still running before freeing it (see [`publish`]).
pub(crate) fn withdraw() {
    STATE.store(ptr::null_mut(), Ordering::Release);
}

/// Runs `f` on the module state; `ENODEV` while there is none.
pub(crate) fn with_state<R>(f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
    let state = STATE.load(Ordering::Acquire);
    // SAFETY: non-null only between `publish` and `withdraw`, and by
    // `publish`'s contract the state outlives every callback that can see it.
    match unsafe { state.as_ref() } {
        Some(state) => f(state),
        None => Err(ENODEV),
    }
}
