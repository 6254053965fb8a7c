// SPDX-License-Identifier: GPL-2.0

//! The module's state, published, with the kernel registrations that use
//! it: what the module holds while loaded.

use core::pin::Pin;

use kernel::prelude::*;

use super::debugfs::DebugDir;
use super::global::GlobalState;
use super::module_notifier::ModuleNotifier;
use crate::state::State;

/// The module's state, published: reachable through
/// [`super::global::with_state`], with the module notifier and the debugfs
/// file, which use it, registered.
///
/// Fields are dropped in declaration order, which is the teardown order:
/// the module notifier and the debugfs file go first (each waits for its
/// running callbacks), so no `MODULE_STATE_GOING` callback or debugfs
/// reader can still be using the state when [`GlobalState`] shuts it down,
/// withdraws it and frees it.
pub(crate) struct PublishedState {
    _module_notifier: ModuleNotifier,
    _debugfs: DebugDir,
    state: GlobalState,
}

impl PublishedState {
    /// Publishes `state`. `EBUSY` if a state is published already.
    pub(crate) fn publish(state: Pin<KBox<State>>) -> Result<Self> {
        // From here on, dropping `state` withdraws it.
        let state = GlobalState::publish(state)?;
        Ok(PublishedState {
            _module_notifier: ModuleNotifier::register()?,
            _debugfs: DebugDir::create(),
            state,
        })
    }
}

impl core::ops::Deref for PublishedState {
    type Target = State;

    fn deref(&self) -> &State {
        self.state.get()
    }
}
