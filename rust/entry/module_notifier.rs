// SPDX-License-Identifier: GPL-2.0

//! Drops the keys of a module that goes away without unregistering them,
//! while its memory still exists (`MODULE_STATE_GOING`).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_ulong, c_void};
use core::ptr;

use kernel::prelude::*;

use super::global::with_state;
use crate::machine::bindings;

struct NotifierCell(UnsafeCell<bindings::notifier_block>);

// SAFETY: the block is only handed to the notifier chain, which serializes
// all access to it.
unsafe impl Sync for NotifierCell {}

/// # Safety
///
/// Called by the module notifier chain only, with `data` the `struct module`.
unsafe extern "C" fn module_event(
    _nb: *mut bindings::notifier_block,
    event: c_ulong,
    data: *mut c_void,
) -> c_int {
    if event == c_ulong::from(bindings::module_state_MODULE_STATE_GOING) {
        let module = data.cast::<bindings::module>().cast_const();
        let _ = with_state(|state| {
            let dropped = state.unregister_module(module);
            if dropped != 0 {
                pr_warn!(
                    "a module went away with {} keys still registered; dropped them\n",
                    dropped
                );
            }
            Ok(())
        });
    }
    bindings::NOTIFY_OK as c_int
}

static NOTIFIER: NotifierCell = NotifierCell(UnsafeCell::new(bindings::notifier_block {
    notifier_call: Some(module_event),
    next: ptr::null_mut(),
    priority: 0,
}));

/// The notifier's registration; dropping it unregisters.
///
/// # Invariants
///
/// `NOTIFIER` is on the module notifier chain while this exists, and only
/// one `ModuleNotifier` exists (the module creates one, in `init`).
pub(crate) struct ModuleNotifier(());

impl ModuleNotifier {
    /// Registers the notifier. Only [`super::published::PublishedState`]
    /// calls this, once: only one state can be published.
    pub(super) fn register() -> Result<Self> {
        // SAFETY: the static block is not on any chain (only `init` registers it).
        let ret = unsafe { bindings::register_module_notifier(NOTIFIER.0.get()) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: registered just above.
        Ok(ModuleNotifier(()))
    }
}

impl Drop for ModuleNotifier {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant).
        unsafe { bindings::unregister_module_notifier(NOTIFIER.0.get()) };
    }
}
