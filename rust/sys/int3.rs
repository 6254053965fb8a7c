// SPDX-License-Identifier: GPL-2.0

//! The int3 handler: a CPU that traps on a site while a batch is being
//! applied is sent on to where the site's *new* instruction takes it.
//!
//! The handler sits on the die-notifier chain (`DIE_INT3`). It runs in
//! NMI-like context, so everything it reaches is lock-free, allocation-free
//! and free of panic paths. The path is two functions, both listed in the
//! module's `_kprobe_blacklist` (NOKPROBE): [`batchpoke_int3_notify`], whose
//! common case (no batch active) is a few instructions, and the cold
//! `batchpoke_int3_resolve`, into which the search and the vector access
//! are inlined.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_ulong, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use kernel::prelude::*;

use super::bindings;
use crate::pure::{plan::Poke, search};
use crate::stats::STATS;

/// The vector of the batch being applied, as the handler sees it.
///
/// # Invariants
///
/// While `refs` is non-zero, `pokes` and `len` describe a slice sorted by
/// address that stays valid and unchanged until `refs` has dropped to zero
/// after [`ActiveBatch::retire`].
pub(crate) struct ActiveBatch {
    pokes: AtomicPtr<Poke>,
    len: AtomicUsize,
    /// One for the publisher, plus one per handler using the vector.
    refs: AtomicUsize,
}

/// The only active batch: batches are serialized by `text_mutex`.
pub(crate) static ACTIVE: ActiveBatch = ActiveBatch {
    pokes: AtomicPtr::new(ptr::null_mut()),
    len: AtomicUsize::new(0),
    refs: AtomicUsize::new(0),
};

impl ActiveBatch {
    /// Makes `pokes` visible to the handler.
    ///
    /// # Safety
    ///
    /// `pokes` must be sorted by address and stay valid and unchanged until
    /// [`Self::retire`] returns; the caller holds `text_mutex`, so no other
    /// batch is published.
    pub(crate) unsafe fn publish(&self, pokes: &[Poke]) {
        self.pokes
            .store(pokes.as_ptr().cast_mut(), Ordering::Relaxed);
        self.len.store(pokes.len(), Ordering::Relaxed);
        // INVARIANT: the slice is valid until `retire` (caller's contract);
        // the release store orders the two stores above before it.
        self.refs.store(1, Ordering::Release);
    }

    /// Withdraws the vector and waits until no handler still uses it.
    ///
    /// Handlers hold their reference for a few hundred instructions with
    /// interrupts off, so the wait is a short spin.
    pub(crate) fn retire(&self) {
        self.refs.fetch_sub(1, Ordering::Release);
        while self.refs.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
        self.pokes.store(ptr::null_mut(), Ordering::Relaxed);
        self.len.store(0, Ordering::Relaxed);
    }

    /// Whether a batch is being applied (a hint: it may end at any time).
    #[inline(always)]
    fn is_active(&self) -> bool {
        self.refs.load(Ordering::Relaxed) != 0
    }

    /// Where a CPU that trapped on the site at `addr` must continue, if the
    /// site belongs to the active batch.
    #[inline(always)]
    fn resolve(&self, addr: usize) -> Option<usize> {
        let mut refs = self.refs.load(Ordering::Relaxed);
        loop {
            if refs == 0 {
                return None;
            }
            match self.refs.compare_exchange_weak(
                refs,
                refs.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => refs = now,
            }
        }
        let pokes = self.pokes.load(Ordering::Relaxed);
        let len = self.len.load(Ordering::Relaxed);
        // Not `slice::from_raw_parts()`: with CONFIG_RUST_DEBUG_ASSERTIONS its
        // precondition check is an out-of-line call with a panic path, and
        // nothing on this path may call out or panic.
        let slice = ptr::slice_from_raw_parts(pokes, len);
        // SAFETY: we hold a reference taken while `refs` was non-zero, so by
        // the type invariant `pokes`/`len` describe a valid sorted slice.
        let slice = unsafe { &*slice };
        let resume = search::find(slice, addr).map(|poke| poke.resume);
        self.refs.fetch_sub(1, Ordering::Release);
        resume
    }
}

/// `user_mode()`: the trap came from ring 3.
#[inline(always)]
fn user_mode(regs: &bindings::pt_regs) -> bool {
    // SAFETY: every member of the `cs` union is plain data; the low two bits
    // of `cs` are the privilege level in all of them.
    unsafe { regs.__bindgen_anon_1.cs & 3 != 0 }
}

/// The die-notifier callback. NOKPROBE: see [`KPROBE_BLACKLIST`].
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
    if val != c_ulong::from(bindings::die_val_DIE_INT3) || !ACTIVE.is_active() {
        return bindings::NOTIFY_DONE as c_int;
    }
    // Pointers become references by conversion, not by dereferencing: under
    // CONFIG_RUST_DEBUG_ASSERTIONS every raw-pointer dereference gains an
    // alignment and a null check that call out to panic, and nothing on
    // this path may.
    // SAFETY: for DIE_INT3 the chain passes a valid `die_args`, which lives
    // until the notifier returns; `Option<&T>` has the layout of `*const T`.
    let args = unsafe { as_ref::<bindings::die_args>(data.cast_const().cast()) };
    let Some(args) = args else {
        return bindings::NOTIFY_DONE as c_int;
    };
    // SAFETY: `regs` points to the trapping context's saved registers,
    // which this CPU owns until the handler returns.
    match unsafe { as_mut(args.regs) } {
        Some(regs) => batchpoke_int3_resolve(regs),
        None => bindings::NOTIFY_DONE as c_int,
    }
}

/// `ptr` as a reference, without a dereference (see the caller).
///
/// # Safety
///
/// `ptr` is null or valid for reads of a `T` for `'a`.
#[inline(always)]
#[allow(clippy::transmute_ptr_to_ref, clippy::useless_transmute)]
unsafe fn as_ref<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: `Option<&T>` has the layout of `*const T`, null being `None`;
    // valid by the caller's contract.
    unsafe { core::mem::transmute::<*const T, Option<&'a T>>(ptr) }
}

/// `ptr` as a mutable reference, without a dereference (see the caller).
///
/// # Safety
///
/// `ptr` is null or valid for reads and writes of a `T`, used by no one
/// else, for `'a`.
#[inline(always)]
#[allow(clippy::transmute_ptr_to_ref, clippy::useless_transmute)]
unsafe fn as_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: as for `as_ref`, exclusive by the caller's contract.
    unsafe { core::mem::transmute::<*mut T, Option<&'a mut T>>(ptr) }
}

/// The rare path of [`batchpoke_int3_notify`]: a trap while a batch is
/// being applied. Out of line and cold so the common path (no batch) stays
/// a few instructions; NOKPROBE like its caller.
#[cold]
#[inline(never)]
#[no_mangle]
extern "C" fn batchpoke_int3_resolve(regs: &mut bindings::pt_regs) -> c_int {
    if user_mode(regs) {
        return bindings::NOTIFY_DONE as c_int;
    }
    // `ip` is one past the int3, i.e. past the first byte of the site.
    match ACTIVE.resolve(regs.ip.wrapping_sub(1) as usize) {
        Some(resume) => {
            regs.ip = resume as c_ulong;
            STATS.int3_hit();
            bindings::NOTIFY_STOP as c_int
        }
        None => bindings::NOTIFY_DONE as c_int,
    }
}

/// One `_kprobe_blacklist` entry: the address of a function kprobes must
/// not probe, as `NOKPROBE_SYMBOL()` records it.
#[repr(transparent)]
struct NokprobeEntry(*const ());

// SAFETY: the entry is an immutable function address, read by the module
// loader only.
unsafe impl Sync for NokprobeEntry {}

/// Every function on the int3 path (the rest is inlined into them).
#[used(compiler)]
#[link_section = "_kprobe_blacklist"]
static KPROBE_BLACKLIST: [NokprobeEntry; 2] = [
    NokprobeEntry(batchpoke_int3_notify as *const ()),
    NokprobeEntry(batchpoke_int3_resolve as *const ()),
];

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
