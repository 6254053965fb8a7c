// SPDX-License-Identifier: GPL-2.0

//! Where an int3 enters batchpoke: its callback on the die-notifier chain
//! (`DIE_INT3`) and the registration that puts it there.
//!
//! The callback only filters and converts; whether the trap is at a
//! batchpoke site and where the CPU resumes is decided by the machine
//! edge's handler ([`int3`]), whose table it reads.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_ulong, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;

use crate::machine::{bindings, int3, mut_from_ptr, ref_from_ptr, NokprobeEntry};

/// The die-notifier callback. NOKPROBE (see [`KPROBE_BLACKLIST`]); the
/// common case is a few instructions.
///
/// # Safety
///
/// Called by the die-notifier chain only, with `data` pointing to the
/// `struct die_args` of the event.
#[no_mangle]
unsafe extern "C" fn batchpoke_int3_notify(
    _nb: *mut bindings::notifier_block,
    val: c_ulong,
    data: *mut c_void,
) -> c_int {
    if val != c_ulong::from(bindings::die_val_DIE_INT3) || !int3::may_be_ours() {
        return bindings::NOTIFY_DONE as c_int;
    }
    // Pointers become references by conversion, not by dereferencing: under
    // CONFIG_RUST_DEBUG_ASSERTIONS every raw-pointer dereference gains an
    // alignment and a null check that call out to panic, and nothing on
    // this path may.
    // SAFETY: for DIE_INT3 the chain passes a valid `die_args`, which lives
    // until the notifier returns; `Option<&T>` has the layout of `*const T`.
    let args = unsafe { ref_from_ptr::<bindings::die_args>(data.cast_const().cast()) };
    let Some(args) = args else {
        return bindings::NOTIFY_DONE as c_int;
    };
    // SAFETY: `regs` points to the trapping context's saved registers,
    // which this CPU owns until the handler returns.
    match unsafe { mut_from_ptr(args.regs) } {
        Some(regs) => int3::batchpoke_int3_resolve(regs),
        None => bindings::NOTIFY_DONE as c_int,
    }
}

/// The callback is on the int3 path; the handler lists its own function.
#[used(compiler)]
#[link_section = "_kprobe_blacklist"]
static KPROBE_BLACKLIST: [NokprobeEntry; 1] = [NokprobeEntry(batchpoke_int3_notify as *const ())];

/// The notifier block, which must stay at a fixed address while registered.
struct NotifierCell(UnsafeCell<bindings::notifier_block>);

// SAFETY: the block is only handed to the notifier chain, which serializes
// all access to it.
unsafe impl Sync for NotifierCell {}

static NOTIFIER: NotifierCell = NotifierCell(UnsafeCell::new(bindings::notifier_block {
    notifier_call: Some(batchpoke_int3_notify),
    next: ptr::null_mut(),
    // Before anything else on the chain: a site trap is never theirs.
    priority: c_int::MAX,
}));

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The handler's registration on the die-notifier chain; dropping it
/// unregisters the handler.
///
/// # Invariants
///
/// `NOTIFIER` is on the die chain for as long as this exists.
pub(crate) struct Int3Handler(());

impl Int3Handler {
    /// Registers the handler. Fails with `EBUSY` if it is registered already.
    pub(crate) fn register() -> Result<Self> {
        if REGISTERED.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: `NOTIFIER` is a static block not on any chain (checked by
        // `REGISTERED` above), so it can be linked in.
        let ret = unsafe { bindings::register_die_notifier(NOTIFIER.0.get()) };
        if ret != 0 {
            REGISTERED.store(false, Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: registered just above.
        Ok(Int3Handler(()))
    }
}

impl Drop for Int3Handler {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the block is on the chain. The call
        // waits for an RCU grace period, after which no CPU runs the handler.
        unsafe { bindings::unregister_die_notifier(NOTIFIER.0.get()) };
        REGISTERED.store(false, Ordering::Release);
    }
}
