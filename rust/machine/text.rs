// SPDX-License-Identifier: GPL-2.0

//! Everything that touches kernel text: the locks that exclude every other
//! text patcher, the writable alias through which sites are written, and
//! the sync round that makes every CPU execute what was written.

use core::ffi::{c_void, CStr};
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::alloc::flags::__GFP_NOWARN;
use kernel::alloc::{KVVec, KVec};
use kernel::prelude::*;

use super::bindings;
use super::int3::ACTIVE;
use super::kallsyms::{lookup_data_symbol, reads_back_as};
use super::module::{read_text, ModuleRef};
use crate::pure::insn::Insn;
use crate::pure::pages::{alias_offset, pages_touched};
use crate::pure::plan::{self, PlanError, Poke, Text};

/// A kernel mutex that is not exported, found through kallsyms.
///
/// # Invariants
///
/// `ptr` points to a kernel mutex, which lives as long as the kernel.
struct KernelMutex {
    ptr: NonNull<kernel::bindings::mutex>,
}

// SAFETY: the pointer designates a kernel-global mutex usable from any
// thread; locking goes through the mutex API.
unsafe impl Send for KernelMutex {}
// SAFETY: as above.
unsafe impl Sync for KernelMutex {}

impl KernelMutex {
    /// Finds the data symbol `name` and checks that it reads back as itself.
    ///
    /// No unexported code is called (which IBT and kCFI would make fragile):
    /// `register_kprobe()` resolves the name through kallsyms and stores
    /// the address in the probe *before* refusing a probe outside text with
    /// `EINVAL`. The exported reverse lookup `sprint_symbol()` then
    /// confirms it.
    fn find(name: &'static CStr) -> Result<Self> {
        let addr = lookup_data_symbol(name)?;
        reads_back_as(addr.as_ptr() as usize, name, &[b"+0x0/"])?;
        // INVARIANT: kallsyms names this address `name`, a kernel mutex.
        Ok(KernelMutex { ptr: addr.cast() })
    }

    fn lock(&self) {
        // SAFETY: by the type invariant `ptr` is a live kernel mutex.
        unsafe { kernel::bindings::mutex_lock(self.ptr.as_ptr()) };
    }

    /// # Safety
    ///
    /// The calling task holds the mutex.
    unsafe fn unlock(&self) {
        // SAFETY: held by this task (caller's contract).
        unsafe { kernel::bindings::mutex_unlock(self.ptr.as_ptr()) };
    }
}

/// The locks every patcher of kernel text takes, in the kernel's order
/// (`static_key_enable()`, `try_to_optimize_kprobe()`): the CPU hotplug
/// lock, `jump_label_mutex`, `text_mutex`.
///
/// - `cpus_read_lock()`: no CPU comes or goes, so a sync round reaches
///   every CPU that could run a site.
/// - `jump_label_mutex`: the kernel decodes jump-label sites under it
///   alone (`jump_label_text_reserved()` from kprobe registration BUG()s
///   on a site that holds an int3); batchpoke's sites are real
///   `__jump_table` entries.
/// - `text_mutex`: every other text patcher (kprobes, optprobes, static
///   calls, alternatives, ftrace, BPF) holds it while it writes.
pub(crate) struct TextLocks {
    jump_label_mutex: KernelMutex,
    text_mutex: KernelMutex,
}

impl TextLocks {
    /// Finds the two mutexes, which are not exported. Fails with `ENOENT`
    /// (and says why) when kallsyms cannot name them.
    pub(crate) fn find() -> Result<Self> {
        Ok(TextLocks {
            jump_label_mutex: KernelMutex::find(c"jump_label_mutex")?,
            text_mutex: KernelMutex::find(c"text_mutex")?,
        })
    }

    /// Takes all three locks in order. May sleep. Nothing batchpoke does
    /// while they are held takes any of them again: it never calls
    /// `static_key_*()`, `register_kprobe()` or `text_poke*()`.
    pub(crate) fn lock(&self) -> TextGuard<'_> {
        // SAFETY: plain call; released in `TextGuard::drop`.
        unsafe { bindings::cpus_read_lock() };
        self.jump_label_mutex.lock();
        self.text_mutex.lock();
        TextGuard {
            locks: self,
            _not_send: PhantomData,
        }
    }
}

/// Proof that this task holds the text locks; releases them on drop.
///
/// Not `Send`: a mutex is released by the task that took it.
///
/// # Invariants
///
/// The task that created this holds `cpus_read_lock`, `jump_label_mutex`
/// and `text_mutex` of `locks` until it is dropped.
#[must_use = "the text locks are released when the guard is dropped"]
pub(crate) struct TextGuard<'a> {
    locks: &'a TextLocks,
    _not_send: PhantomData<*mut ()>,
}

impl Drop for TextGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: held by this task (type invariant); released in reverse order.
        unsafe {
            self.locks.text_mutex.unlock();
            self.locks.jump_label_mutex.unlock();
            bindings::cpus_read_unlock();
        }
    }
}

/// The pokes of one transaction, each proven at [`TextPokes::push`] to lie
/// in the core text of a module that stays loaded for `'a`.
///
/// # Invariants
///
/// Every poke's bytes lie in the core text of a module that stays
/// loaded for `'a`; after [`TextPokes::prepare`] the pokes are sorted by
/// address and do not overlap.
pub(crate) struct TextPokes<'a> {
    pokes: KVVec<Poke>,
    /// How many leading `pokes` count (`prepare` moves the dropped ones
    /// past it; 6.12's vectors have no `truncate()`).
    len: usize,
    _modules: PhantomData<ModuleRef<'a>>,
}

impl<'a> TextPokes<'a> {
    /// No pokes.
    pub(crate) fn new() -> Self {
        TextPokes {
            pokes: KVVec::new(),
            len: 0,
            _modules: PhantomData,
        }
    }

    /// How many pokes there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `poke`, whose site must lie in `module`'s core text (`EINVAL`).
    pub(crate) fn push(&mut self, module: ModuleRef<'a>, poke: Poke) -> Result {
        if !module.core_text_holds(poke.addr, poke.len()) {
            return Err(EINVAL);
        }
        // A large transaction's vector falls back to vmalloc, whose failure
        // would print a stack dump: the caller gets ENOMEM instead, with
        // nothing changed.
        // INVARIANT: the site is in `module`'s core text, live for `'a`.
        self.pokes.push(poke, GFP_KERNEL | __GFP_NOWARN)?;
        self.len = self.pokes.len();
        Ok(())
    }

    /// Sorts the pokes, merges identical ones and refuses conflicting or
    /// overlapping ones ([`plan::prepare`]).
    pub(crate) fn prepare(&mut self) -> core::result::Result<(), PlanError> {
        if let Some(pokes) = self.pokes.get_mut(..self.len) {
            self.len = plan::prepare(pokes)?;
        }
        Ok(())
    }

    /// The pokes.
    pub(crate) fn as_slice(&self) -> &[Poke] {
        self.pokes.get(..self.len).unwrap_or(&[])
    }

    /// Each poke with the bytes its site holds now.
    pub(crate) fn current(&self) -> impl Iterator<Item = (&Poke, Insn)> {
        self.as_slice().iter().map(|poke| {
            // SAFETY: in the text of a module live for `'a` (type invariant).
            (poke, unsafe { read_text(poke.addr, poke.len()) })
        })
    }
}

/// A private writable mapping of the text pages a transaction writes to.
///
/// The alias is a `vmap()` of exactly the pages the transaction's sites
/// touch, RW and NX. Its page-table entries exist from [`TextAlias::map`]
/// to drop, and no CPU ever keeps a TLB entry for it outside a write
/// phase: [`KernelText`] writes with preemption disabled and invalidates
/// the alias on that CPU before it enables preemption again, so after the
/// transaction nothing can write module text through it (`vunmap()` only
/// flushes TLBs lazily, long after).
///
/// # Invariants
///
/// `base` is a `vmap()` of the pages holding the virtual pages `pages`
/// (sorted, distinct, page-aligned), in that order, one page each.
pub(crate) struct TextAlias<'a> {
    base: NonNull<u8>,
    pages: KVec<usize>,
    _pokes: PhantomData<&'a TextPokes<'a>>,
}

impl<'a> TextAlias<'a> {
    /// Maps every page touched by the sites of `pokes` (prepared).
    ///
    /// The pages stay allocated while the alias exists: it borrows `pokes`,
    /// whose modules stay loaded as long.
    pub(crate) fn map(pokes: &'a TextPokes<'a>) -> Result<Self> {
        let mut pages = KVec::new();
        for page in pages_touched(pokes.as_slice()) {
            pages.push(page, GFP_KERNEL)?;
        }
        let mut structs: KVec<*mut bindings::page> = KVec::with_capacity(pages.len(), GFP_KERNEL)?;
        for &page in pages.iter() {
            // SAFETY: `page` holds a site of `pokes`, in module text
            // (vmalloc space) of a live module (`TextPokes` invariant).
            let p = unsafe { bindings::vmalloc_to_page(page as *const c_void) };
            if p.is_null() {
                return Err(EFAULT);
            }
            structs.push(p, GFP_KERNEL)?;
        }
        let count = u32::try_from(structs.len()).map_err(|_| E2BIG)?;
        // SAFETY: `structs` holds `count` valid page pointers.
        let base = unsafe { bindings::batchpoke_helper_vmap_writable(structs.as_mut_ptr(), count) };
        let base = NonNull::new(base.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: `base` maps `structs`, built from `pages` in order.
        Ok(TextAlias {
            base,
            pages,
            _pokes: PhantomData,
        })
    }

    /// The alias of the text byte at `addr`, if its page is mapped.
    fn alias_of(&self, addr: usize) -> Option<*mut u8> {
        let offset = alias_offset(&self.pages, addr)?;
        // SAFETY: `alias_offset` only returns offsets within the
        // `pages.len()` pages mapped at `base` (type invariant).
        Some(unsafe { self.base.as_ptr().add(offset) })
    }

    /// Drops this CPU's TLB entries for the alias.
    fn flush_local(&self) {
        // SAFETY: `base` maps `pages.len()` pages (type invariant); the
        // helper only executes `invlpg` on addresses in that range.
        unsafe {
            bindings::batchpoke_helper_flush_local(
                self.base.as_ptr().cast::<c_void>(),
                self.pages.len(),
            )
        };
    }
}

impl Drop for TextAlias<'_> {
    fn drop(&mut self) {
        // SAFETY: `base` came from vmap() (type invariant) and is unmapped once.
        unsafe { bindings::vunmap(self.base.as_ptr().cast::<c_void>()) };
    }
}

/// The machine, for [`plan::run_batch`]: writes go through the alias, a
/// sync is one IPI round, and the vector is published to the int3 handler.
///
/// Whatever drives it, it publishes only parts of its own verified vector,
/// which outlives it, writes only bytes of the sites published, and
/// retires a vector still published when it is dropped.
///
/// # Invariants
///
/// `pokes` are prepared (checked), every site held its poke's old bytes
/// when checked under `_locked`, and `alias` maps their pages. While `pinned`,
/// preemption is disabled on this CPU, which is the only one that may
/// hold TLB entries for `alias`. `active` is empty or a part of `pokes`
/// that `ACTIVE` holds.
pub(crate) struct KernelText<'a> {
    alias: &'a TextAlias<'a>,
    pokes: &'a [Poke],
    rounds: usize,
    pinned: bool,
    active: &'a [Poke],
    _locked: &'a TextGuard<'a>,
}

impl TextGuard<'_> {
    /// Checks that `pokes` are prepared and every site holds its poke's old
    /// bytes and, if so, returns the text through which they may be
    /// patched.
    pub(crate) fn text<'a>(
        &'a self,
        alias: &'a TextAlias<'a>,
        pokes: &'a TextPokes<'a>,
    ) -> core::result::Result<KernelText<'a>, PlanError> {
        // The handler's search and the alias's page lookup both need the
        // vector prepared: sorted, without overlaps.
        let unprepared = pokes.as_slice().windows(2).find(|w| w[0].end() > w[1].addr);
        if let Some(w) = unprepared {
            return Err(PlanError::Overlap { addr: w[1].addr });
        }
        // SAFETY: every site is in the text of a live module (`TextPokes`
        // invariant).
        plan::verify(pokes.as_slice(), |addr, len| unsafe {
            read_text(addr, len)
        })?;
        // INVARIANT: verified just above, with the text locks held.
        Ok(KernelText {
            alias,
            pokes: pokes.as_slice(),
            rounds: 0,
            pinned: false,
            active: &[],
            _locked: self,
        })
    }
}

impl<'a> KernelText<'a> {
    /// The sync rounds run so far.
    pub(crate) fn rounds(&self) -> usize {
        self.rounds
    }

    /// Whether the `len` bytes at `addr` lie within one published site.
    fn in_site(&self, addr: usize, len: usize) -> bool {
        let after = self.active.partition_point(|p| p.addr <= addr);
        after > 0
            && self
                .active
                .get(after - 1)
                .is_some_and(|p| addr.checked_add(len).is_some_and(|end| end <= p.end()))
    }

    /// `pokes` as the part of `self.pokes` it is, with `self.pokes`'s lifetime.
    fn part_of_own(&self, pokes: &[Poke]) -> Option<&'a [Poke]> {
        let offset = (pokes.as_ptr() as usize).checked_sub(self.pokes.as_ptr() as usize)?
            / core::mem::size_of::<Poke>();
        self.pokes
            .get(offset..offset.checked_add(pokes.len())?)
            .filter(|part| part.as_ptr() == pokes.as_ptr())
    }

    /// Ends a write phase: no TLB entry for the alias survives it.
    fn unpin(&mut self) {
        if self.pinned {
            self.alias.flush_local();
            // INVARIANT: the alias's TLB entries on this CPU are gone.
            self.pinned = false;
            // SAFETY: paired with the disable in `write`.
            unsafe { bindings::batchpoke_helper_preempt_enable() };
        }
    }
}

impl Drop for KernelText<'_> {
    fn drop(&mut self) {
        self.retire();
    }
}

impl Text for KernelText<'_> {
    fn publish(&mut self, pokes: &[Poke]) {
        let Some(part) = self.part_of_own(pokes) else {
            return;
        };
        if !self.active.is_empty() || part.is_empty() {
            return;
        }
        // SAFETY: `part` is a part of `self.pokes`, sorted (prepared), its
        // sites in module text live for the pokes' lifetime (`TextPokes`),
        // and borrowed for longer than `self`, which retires it at the
        // latest when dropped; the text locks are held (`_locked`), so no
        // other batch is published.
        unsafe { ACTIVE.publish(part) };
        // INVARIANT: `ACTIVE` holds `part`.
        self.active = part;
        // smp_wmb() in the kernel's batch: the vector must be visible
        // before any int3 is. x86 keeps stores in order (TSO), so what is
        // needed is that the compiler does not move the int3 writes
        // (volatile, not atomic) above the publishing stores.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }

    fn write(&mut self, addr: usize, bytes: &[u8]) {
        if !self.pinned {
            // SAFETY: plain call; paired with the enable in `unpin`.
            unsafe { bindings::batchpoke_helper_preempt_disable() };
            // INVARIANT: preemption is off until `unpin`.
            self.pinned = true;
        }
        if !self.in_site(addr, bytes.len()) {
            return;
        }
        for (i, &byte) in bytes.iter().enumerate() {
            if let Some(alias) = self.alias.alias_of(addr + i) {
                // SAFETY: `alias` is a writable mapping of the text byte at
                // `addr + i`, a site byte of a verified poke (`in_site`).
                unsafe { core::ptr::write_volatile(alias, byte) };
            }
        }
    }

    fn sync(&mut self) {
        self.unpin();
        // SAFETY: plain call; cpus_read_lock is held (`_locked`).
        unsafe { bindings::batchpoke_helper_sync_each_cpu() };
        self.rounds += 1;
        crate::stats::STATS.sync_round();
    }

    fn announce(&mut self, pokes: &[Poke]) {
        // Only pokes this text verified and published are true records.
        if let Some(part) = self.part_of_own(pokes) {
            part.iter().for_each(super::perf::record);
        }
    }

    fn retire(&mut self) {
        self.unpin();
        if !self.active.is_empty() {
            ACTIVE.retire();
            self.active = &[];
        }
    }
}
