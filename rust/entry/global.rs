// SPDX-License-Identifier: GPL-2.0

//! The module's state as the callbacks that get no context reach it: sysfs,
//! debugfs, the module notifier and the client API.

use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;

use crate::state::State;

/// The published state, or null.
static STATE: AtomicPtr<State> = AtomicPtr::new(ptr::null_mut());

/// The box of the state [`with_state`] reaches.
///
/// # Invariants
///
/// `STATE` points to `0`'s contents until this is dropped. Every user of
/// [`with_state`] is gone by then: the module notifier and the debugfs file
/// are unregistered first ([`super::published::PublishedState`]'s field
/// order), sysfs callbacks are drained by [`State::shutdown`], and client
/// modules cannot call in while batchpoke unloads (each holds a reference
/// on it).
pub(super) struct GlobalState(Pin<KBox<State>>);

impl GlobalState {
    /// Makes `state` the one [`with_state`] reaches. `EBUSY` if there is one.
    ///
    /// Only [`super::published::PublishedState`] calls this: it keeps the
    /// invariant's field order.
    pub(super) fn publish(state: Pin<KBox<State>>) -> Result<Self> {
        let raw = ptr::from_ref(&*state).cast_mut();
        STATE
            .compare_exchange(ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| EBUSY)?;
        // INVARIANT: `STATE` points to the box's contents.
        Ok(GlobalState(state))
    }

    /// The state.
    pub(super) fn get(&self) -> &State {
        &self.0
    }
}

impl Drop for GlobalState {
    fn drop(&mut self) {
        self.0.shutdown();
        STATE.store(ptr::null_mut(), Ordering::Release);
        // The box is freed after this, with no user left (type invariant).
    }
}

/// Runs `f` on the module state; `ENODEV` while there is none.
pub(crate) fn with_state<R>(f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
    let state = STATE.load(Ordering::Acquire);
    // SAFETY: non-null only while a `GlobalState` holds the state, and by
    // its invariant the state outlives every caller that can see it.
    match unsafe { state.as_ref() } {
        Some(state) => f(state),
        None => Err(ENODEV),
    }
}
