// SPDX-License-Identifier: GPL-2.0

//! The int3 handler: a CPU that traps on a batchpoke site is sent on to
//! where the site's instruction takes it, whenever the trap comes.
//!
//! While a batch is applied, a CPU that traps on one of its int3s continues
//! as the site's *new* instruction would. A CPU may also run an int3 it
//! fetched earlier after the batch has ended (a stale fetch: excluded by
//! the sync rounds on a real machine, not by every emulator); then the
//! table of every registered site ([`SiteTable`]) says the address is a
//! site, and the site's current bytes say where to go
//! ([`TrapSite::resolve`]).
//!
//! The handler is entered from the die-notifier chain (`DIE_INT3`,
//! [`crate::entry::die_notifier`]). It runs in NMI-like context, so
//! everything it reaches is lock-free, allocation-free and free of panic
//! paths. The path is two functions, both listed in the module's
//! `_kprobe_blacklist` (NOKPROBE): the notifier's entry, whose common case
//! (no site registered, or another exception) is a few instructions and
//! [`may_be_ours`], and the cold [`batchpoke_int3_resolve`], into which the
//! searches, the vector access and the reads of the site are inlined.

use core::ffi::{c_int, c_ulong};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use kernel::alloc::KVec;
use kernel::prelude::*;

use super::module::ModuleRef;
use super::{bindings, ref_from_ptr, NokprobeEntry};
use crate::pure::insn::{Insn, INT3, MAX_INSN_SIZE};
use crate::pure::site::Site;
use crate::pure::trap::{self, TrapSite, Writers};
use crate::pure::{plan::Poke, search};
use crate::stats::STATS;

/// The vector of the batch being applied, as the handler sees it.
///
/// # Invariants
///
/// While `refs` is non-zero, `pokes` and `len` describe a slice sorted by
/// address that stays valid and unchanged until `refs` has dropped to zero
/// after [`ActiveBatch::retire`], and every site in it lies in live module
/// text, readable meanwhile.
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
    /// `pokes` must be sorted by address, their sites in module text that
    /// stays live, and stay valid and unchanged until [`Self::retire`]
    /// returns; the caller holds `text_mutex`, so no other batch is
    /// published.
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

    /// Holds the active batch's vector, if a batch is active: until the
    /// returned guard drops it cannot be retired, so no later batch writes.
    ///
    /// A guard, not a closure: on KASAN builds the compiler outlines a
    /// closure of this size, and nothing on the int3 path may call out.
    #[inline(always)]
    fn hold(&self) -> Option<HeldBatch<'_>> {
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
        let pokes = ptr::slice_from_raw_parts(pokes, len);
        // SAFETY: we hold a reference taken while `refs` was non-zero, so by
        // the type invariant `pokes`/`len` describe a valid sorted slice
        // until the reference is dropped, which `HeldBatch::drop` does.
        let pokes = unsafe { &*pokes };
        // INVARIANT: the reference taken above is the guard's.
        Some(HeldBatch { batch: self, pokes })
    }
}

/// A handler's reference to the active vector.
///
/// # Invariants
///
/// Owns one of `batch.refs`, so `pokes` stays valid and unchanged.
struct HeldBatch<'a> {
    batch: &'a ActiveBatch,
    pokes: &'a [Poke],
}

impl HeldBatch<'_> {
    /// The batch's change of the site at `addr`, if it has one.
    #[inline(always)]
    fn find(&self, addr: usize) -> Option<&Poke> {
        search::find(self.pokes, addr)
    }
}

impl Drop for HeldBatch<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.batch.refs.fetch_sub(1, Ordering::Release);
    }
}

/// The table of every registered site, as the handler sees it.
///
/// # Invariants
///
/// `sites` is sorted by address (so `ptr`/`len`, its slice, can be
/// searched), and every site lies in the core text of a module, a whole
/// instruction ([`TrapSite::len`] bytes) inside it. The registry installs a
/// table without a module's sites before that module's text is freed
/// (its keys are retired in the module notifier's `GOING` call at the
/// latest), so while a table is installed its sites can be read.
pub(crate) struct SiteTable {
    ptr: *const TrapSite,
    len: usize,
    sites: KVec<TrapSite>,
}

// SAFETY: the table is plain data; `ptr` points into `sites`, owned.
unsafe impl Send for SiteTable {}
// SAFETY: as above; nothing mutates it through a shared reference.
unsafe impl Sync for SiteTable {}

impl SiteTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        SiteTable {
            ptr: ptr::null(),
            len: 0,
            sites: KVec::new(),
        }
    }

    /// Adds `site` of `module`, whose bytes `writers` write. `EINVAL` if
    /// it is not in `module`'s core text or cannot be encoded.
    pub(crate) fn push(&mut self, module: ModuleRef<'_>, site: &Site, writers: Writers) -> Result {
        if !module.core_text_holds(site.addr, site.width.len()) {
            return Err(EINVAL);
        }
        let entry = TrapSite::written_by(site, writers).ok_or(EINVAL)?;
        self.sites.push(entry, GFP_KERNEL | __GFP_NOWARN)?;
        // INVARIANT: sorted again before the table is installed.
        self.ptr = ptr::null();
        self.len = 0;
        Ok(())
    }

    /// The table, sorted, ready to install.
    fn sorted(mut self) -> Self {
        trap::sort(&mut self.sites);
        // INVARIANT: sorted just above.
        self.ptr = self.sites.as_ptr();
        self.len = self.sites.len();
        self
    }

    /// The entry of the site at `addr`, without a call or a panic path (see
    /// [`ActiveBatch::hold`]).
    #[inline(always)]
    fn find(&self, addr: usize) -> Option<&TrapSite> {
        let slice = ptr::slice_from_raw_parts(self.ptr, self.len);
        // SAFETY: by the type invariant `ptr`/`len` are the slice of
        // `sites`, which lives as long as `self` (or null and 0: empty).
        let slice = unsafe { &*slice };
        search::find(slice, addr)
    }
}

/// The installed table, or null. Readers are the handler only, inside the
/// die chain's RCU read-side critical section; a replaced table is freed
/// after a grace period.
static TABLE: AtomicPtr<SiteTable> = AtomicPtr::new(ptr::null_mut());

/// How many times a table was installed or cleared since load: debugfs
/// `trap` shows it, so a test sees that a module without keys going costs
/// no rebuild (and no RCU grace period).
static TABLE_REPLACEMENTS: AtomicUsize = AtomicUsize::new(0);

/// The `len` bytes (at most [`MAX_INSN_SIZE`]) the site at `addr` holds
/// now, read the way the instruction fetch reads them: byte by byte, as
/// other CPUs write them.
///
/// # Safety
///
/// The `len` bytes at `addr` are mapped and readable.
#[inline(always)]
unsafe fn read_text(addr: usize, len: usize) -> Insn {
    let mut insn = [INT3; MAX_INSN_SIZE];
    // One byte at a time, through a pointer to that byte alone: a short
    // site may end the module's text, so no reference may span more than
    // its `len` bytes. An index loop, not iterators: with
    // CONFIG_RUST_DEBUG_ASSERTIONS the slice iterators' precondition
    // checks are out-of-line calls.
    let mut i = 0;
    while i < len && i < MAX_INSN_SIZE {
        // SAFETY: byte `i` is one of the `len` readable bytes (caller's
        // contract); an atomic byte needs a byte's alignment, and only
        // loads are made through it.
        let text = unsafe { AtomicU8::from_ptr(addr.wrapping_add(i) as *mut u8) };
        if let Some(byte) = insn.get_mut(i) {
            *byte = text.load(Ordering::Relaxed);
        }
        i = i.wrapping_add(1);
    }
    Insn::from_prefix(insn, len)
}

/// How often the handler re-reads a site that holds an int3 no active batch
/// accounts for: a batch may be published or retired between the reads.
const RESOLVE_TRIES: usize = 3;

/// Where a CPU that trapped on the first byte of the site at `addr`
/// continues, if the trap is batchpoke's.
#[inline(always)]
fn resolve(addr: usize) -> Option<usize> {
    let table = TABLE.load(Ordering::Acquire);
    // SAFETY: a non-null `TABLE` is an installed table; we are inside the
    // die chain's RCU read-side critical section, and a replaced table is
    // freed only after a grace period (`SiteTableSlot::replace`).
    let listed = unsafe { ref_from_ptr(table.cast_const()) }.and_then(|table| table.find(addr));
    for _ in 0..RESOLVE_TRIES {
        // The vector is taken before the site is read: with an int3 there,
        // a vector that holds the site is the batch that wrote it.
        let held = ACTIVE.hold();
        let poke = match &held {
            Some(held) => held.find(addr),
            None => None,
        };
        let len = match (poke, listed) {
            (Some(poke), _) => poke.len(),
            (None, Some(site)) => site.len(),
            (None, None) => return None,
        };
        // SAFETY: the site is in the installed table or in the held
        // vector, and both types' invariants keep their `len` bytes
        // readable.
        let now = unsafe { read_text(addr, len) };
        let resume = trap::resolve(listed, &now, poke);
        drop(held);
        if resume.is_some() || now.first() != INT3 {
            return resume;
        }
    }
    None
}

/// `user_mode()`: the trap came from ring 3.
#[inline(always)]
fn user_mode(regs: &bindings::pt_regs) -> bool {
    // SAFETY: every member of the `cs` union is plain data; the low two bits
    // of `cs` are the privilege level in all of them.
    unsafe { regs.__bindgen_anon_1.cs & 3 != 0 }
}

/// Whether an int3 may be batchpoke's: a batch is being applied or sites
/// are registered. The die notifier's fast path, inlined into it.
#[inline(always)]
pub(crate) fn may_be_ours() -> bool {
    !TABLE.load(Ordering::Relaxed).is_null() || ACTIVE.is_active()
}

/// The rare path of the die notifier: an int3 in kernel mode while sites
/// are registered. Out of line and cold so the common path stays a few
/// instructions; NOKPROBE like its caller.
#[cold]
#[inline(never)]
#[no_mangle]
pub(crate) extern "C" fn batchpoke_int3_resolve(regs: &mut bindings::pt_regs) -> c_int {
    if user_mode(regs) {
        return bindings::NOTIFY_DONE as c_int;
    }
    // `ip` is one past the int3, i.e. past the first byte of the site.
    match resolve(regs.ip.wrapping_sub(1) as usize) {
        Some(resume) => {
            regs.ip = resume as c_ulong;
            STATS.int3_hit();
            bindings::NOTIFY_STOP as c_int
        }
        None => bindings::NOTIFY_DONE as c_int,
    }
}

/// `batchpoke_int3_resolve` is on the int3 path; the notifier's entry
/// lists itself.
#[used(compiler)]
#[link_section = "_kprobe_blacklist"]
static KPROBE_BLACKLIST: [NokprobeEntry; 1] = [NokprobeEntry(batchpoke_int3_resolve as *const ())];

/// The right to install the handler's table of sites: its only writer.
///
/// Installing replaces the table and frees the old one after a grace
/// period. The protocol leaves no final sync round, so a CPU may still run
/// a stale int3 at a site after its batch, and only the table resolves it:
/// a site therefore leaves the table only after a sync round, once no CPU
/// can still run such an int3 (rare: a key unregistered, a client or
/// batchpoke unloaded).
///
/// # Invariants
///
/// At most one exists, and only it writes `TABLE`; `TABLE` is null or a
/// table from [`KBox::into_raw`] that it owns.
pub(crate) struct SiteTableSlot(());

static SLOT_TAKEN: AtomicBool = AtomicBool::new(false);

impl SiteTableSlot {
    /// The slot. `EBUSY` if it exists already.
    pub(crate) fn new() -> Result<Self> {
        if SLOT_TAKEN.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // INVARIANT: the first and only one.
        Ok(SiteTableSlot(()))
    }

    /// Makes `table` the one traps are resolved from.
    pub(crate) fn install(&mut self, table: SiteTable) -> Result {
        let table = if table.sites.is_empty() {
            ptr::null_mut()
        } else {
            KBox::into_raw(KBox::new(table.sorted(), GFP_KERNEL)?)
        };
        self.replace(table);
        Ok(())
    }

    /// Installs no table: no stale int3 is resolved until the next
    /// [`Self::install`]. Cannot fail, for paths that must not.
    pub(crate) fn clear(&mut self) {
        self.replace(ptr::null_mut());
    }

    fn replace(&mut self, table: *mut SiteTable) {
        let old = TABLE.load(Ordering::Acquire);
        // SAFETY: by the type invariant only `self` writes `TABLE` and frees
        // what it held, and `self` is borrowed mutably: `old` and `table`
        // are null or live tables.
        let leaves = match unsafe {
            (
                ref_from_ptr(old.cast_const()),
                ref_from_ptr(table.cast_const()),
            )
        } {
            (None, _) => false,
            (Some(old), None) => !old.sites.is_empty(),
            (Some(old), Some(new)) => !trap::keeps_every_site(&old.sites, &new.sites),
        };
        if leaves {
            // SAFETY: plain call; it sleeps until every online CPU has run
            // a serializing instruction.
            unsafe { bindings::batchpoke_helper_sync_each_cpu() };
            STATS.sync_round();
        }
        // INVARIANT: `table` is null or from `KBox::into_raw`, now ours.
        TABLE.store(table, Ordering::Release);
        TABLE_REPLACEMENTS.fetch_add(1, Ordering::Relaxed);
        if old.is_null() {
            return;
        }
        // SAFETY: plain call; we may sleep here (the registry's callers do).
        // Every handler that could see `old` runs in the die chain's RCU
        // read-side critical section, so after this none still uses it.
        unsafe { kernel::bindings::synchronize_rcu() };
        // SAFETY: `old` came from `KBox::into_raw` (type invariant) and,
        // replaced, is owned here alone.
        drop(unsafe { KBox::from_raw(old) });
    }
}

impl Drop for SiteTableSlot {
    fn drop(&mut self) {
        self.clear();
        SLOT_TAKEN.store(false, Ordering::Release);
    }
}

/// The number of sites in the installed table, for debugfs `trap`.
///
/// # Safety
///
/// Called with `rcu_read_lock()` held, by `debugfs.c` only.
#[no_mangle]
unsafe extern "C" fn batchpoke_int3_table_len() -> usize {
    let table = TABLE.load(Ordering::Acquire);
    // SAFETY: an installed table is freed only after a grace period, and
    // the caller is in an RCU read-side critical section.
    unsafe { ref_from_ptr(table.cast_const()) }.map_or(0, |table| table.len)
}

/// How many times the table was replaced since load, for debugfs `trap`.
#[no_mangle]
extern "C" fn batchpoke_int3_table_replacements() -> usize {
    TABLE_REPLACEMENTS.load(Ordering::Relaxed)
}
