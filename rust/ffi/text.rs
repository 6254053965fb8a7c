// SPDX-License-Identifier: GPL-2.0

//! Everything that touches kernel text: the locks that exclude other text
//! patchers, the writable alias through which sites are written, and the
//! sync round that makes every CPU execute what was written.

use core::ffi::{c_char, c_void, CStr};
use core::ptr::NonNull;

use kernel::alloc::KVec;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

use super::bindings;
use super::int3::ACTIVE;
use crate::pure::insn::{Insn, INSN_SIZE};
use crate::pure::plan::{Poke, Text};

const PAGE_MASK: usize = !(PAGE_SIZE - 1);

/// The kernel's `text_mutex`, which every text patcher holds (jump labels,
/// kprobes, static calls, alternatives).
///
/// # Invariants
///
/// `0` points to the kernel's `text_mutex`, which lives as long as the kernel.
pub(crate) struct TextMutex(NonNull<kernel::bindings::mutex>);

// SAFETY: the pointer designates a kernel-global mutex usable from any thread.
unsafe impl Send for TextMutex {}
// SAFETY: as above; locking goes through the mutex API.
unsafe impl Sync for TextMutex {}

impl TextMutex {
    /// Finds `text_mutex`, which is not exported.
    ///
    /// No unexported code is called: `register_kprobe()` resolves a symbol
    /// name through kallsyms and stores the address in the probe *before*
    /// refusing a probe outside text with `EINVAL`. The address is then
    /// confirmed by the exported reverse lookup `sprint_symbol()`.
    pub(crate) fn find() -> Result<Self> {
        let name = c"text_mutex";
        let addr = lookup_data_symbol(name)?;
        // SAFETY: plain call.
        let len = unsafe { bindings::batchpoke_helper_ksym_symbol_len() };
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        // SAFETY: `buf` has the KSYM_SYMBOL_LEN bytes `sprint_symbol` may write.
        unsafe {
            bindings::sprint_symbol(
                buf.as_mut_ptr().cast::<c_char>(),
                addr.as_ptr() as usize as core::ffi::c_ulong,
            )
        };
        let printed = CStr::from_bytes_until_nul(&buf).map_err(|_| EINVAL)?;
        if !printed.to_bytes().starts_with(b"text_mutex+0x0/") {
            pr_err!(
                "text_mutex: kallsyms resolved {:p} but it reads back as {:?}\n",
                addr.as_ptr(),
                printed
            );
            return Err(ENOENT);
        }
        // INVARIANT: kallsyms names this address `text_mutex`.
        Ok(TextMutex(addr.cast()))
    }

    /// Takes `text_mutex`. May sleep.
    pub(crate) fn lock(&self) -> TextMutexGuard<'_> {
        // SAFETY: by the type invariant `self.0` is the kernel's text_mutex.
        unsafe { kernel::bindings::mutex_lock(self.0.as_ptr()) };
        TextMutexGuard(self)
    }
}

/// `text_mutex` held; released on drop.
pub(crate) struct TextMutexGuard<'a>(&'a TextMutex);

impl Drop for TextMutexGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard's existence means this task locked the mutex.
        unsafe { kernel::bindings::mutex_unlock(self.0 .0.as_ptr()) };
    }
}

/// The address kallsyms gives the data symbol `name`.
fn lookup_data_symbol(name: &CStr) -> Result<NonNull<c_void>> {
    let mut probe = bindings::kprobe {
        symbol_name: super::cstr_ptr(name),
        ..Default::default()
    };
    // SAFETY: `probe` is a zeroed kprobe with only a symbol name, as
    // register_kprobe() expects; it is unregistered below if it was accepted.
    let ret = unsafe { bindings::register_kprobe(&mut probe) };
    if ret == 0 {
        // The name designates text: not the data symbol looked for.
        // SAFETY: `probe` was registered just above.
        unsafe { bindings::unregister_kprobe(&mut probe) };
        return Err(EINVAL);
    }
    match NonNull::new(probe.addr.cast::<c_void>()) {
        Some(addr) if ret == EINVAL.to_errno() => Ok(addr),
        _ => {
            pr_err!(
                "cannot locate {:?} through kallsyms (error {}); batchpoke needs CONFIG_KALLSYMS_ALL=y and CONFIG_KPROBES=y\n",
                name,
                ret
            );
            Err(ENOENT)
        }
    }
}

/// `cpus_read_lock()` held: no CPU comes or goes, so a sync round reaches
/// every CPU that could run a site.
pub(crate) struct CpusReadGuard(());

impl CpusReadGuard {
    /// Takes the CPU hotplug lock for reading. May sleep.
    pub(crate) fn lock() -> Self {
        // SAFETY: plain call; the lock is released in `drop`.
        unsafe { bindings::cpus_read_lock() };
        CpusReadGuard(())
    }
}

impl Drop for CpusReadGuard {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { bindings::cpus_read_unlock() };
    }
}

/// Reads the five bytes of the site at `addr`.
///
/// # Safety
///
/// `addr..addr + 5` must be mapped kernel text that stays mapped for the call.
pub(crate) unsafe fn read_site(addr: usize) -> Insn {
    let mut insn = [0u8; INSN_SIZE];
    for (i, byte) in insn.iter_mut().enumerate() {
        // SAFETY: within the mapped range the caller guarantees.
        *byte = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
    }
    insn
}

/// A private writable mapping of the text pages a batch writes to.
///
/// # Invariants
///
/// `base` is a `vmap()` of the pages holding the virtual pages `pages`
/// (sorted, distinct, page-aligned), in that order, `PAGE_SIZE` each.
pub(crate) struct TextAlias {
    base: NonNull<u8>,
    pages: KVec<usize>,
}

impl TextAlias {
    /// Maps every page touched by the sites of `pokes` (sorted by address).
    ///
    /// # Safety
    ///
    /// Every site of `pokes` must lie in module text (vmalloc space) that
    /// stays allocated while the alias exists.
    pub(crate) unsafe fn map(pokes: &[Poke]) -> Result<Self> {
        let mut pages = KVec::new();
        for poke in pokes {
            for page in [
                poke.addr & PAGE_MASK,
                (poke.addr + INSN_SIZE - 1) & PAGE_MASK,
            ] {
                if pages.last() != Some(&page) {
                    pages.push(page, GFP_KERNEL)?;
                }
            }
        }
        let mut structs: KVec<*mut bindings::page> = KVec::with_capacity(pages.len(), GFP_KERNEL)?;
        for &page in pages.iter() {
            // SAFETY: `page` is in module text (caller's contract).
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
        Ok(TextAlias { base, pages })
    }

    /// The alias of the text byte at `addr`, which must be on a mapped page.
    fn alias_of(&self, addr: usize) -> Option<*mut u8> {
        let index = self.pages.binary_search(&(addr & PAGE_MASK)).ok()?;
        let offset = index * PAGE_SIZE + (addr & !PAGE_MASK);
        // SAFETY: `offset` is within the `pages.len()` mapped pages.
        Some(unsafe { self.base.as_ptr().add(offset) })
    }
}

impl Drop for TextAlias {
    fn drop(&mut self) {
        // SAFETY: `base` came from vmap() (type invariant) and is unmapped once.
        unsafe { bindings::vunmap(self.base.as_ptr().cast::<c_void>()) };
    }
}

/// The machine, for [`crate::pure::plan::run_batch`]: writes go through the
/// alias, a sync is one IPI round, and the vector is published to the int3
/// handler.
pub(crate) struct KernelText<'a> {
    alias: &'a TextAlias,
    rounds: usize,
}

impl<'a> KernelText<'a> {
    /// # Safety
    ///
    /// The caller holds `cpus_read_lock` and `text_mutex`, has checked that
    /// every site holds its poke's old bytes, and drives this only through
    /// `run_batch`/`run_serial`, which retire every vector they publish
    /// before returning, on the pokes `alias` was mapped for.
    pub(crate) unsafe fn new(alias: &'a TextAlias) -> Self {
        KernelText { alias, rounds: 0 }
    }

    /// The sync rounds run so far.
    pub(crate) fn rounds(&self) -> usize {
        self.rounds
    }
}

impl Text for KernelText<'_> {
    fn publish(&mut self, pokes: &[Poke]) {
        // SAFETY: `run_batch` retires before returning and holds `pokes`
        // borrowed until then; the vector is sorted (prepared) and
        // text_mutex is held (constructor's contract).
        unsafe { ACTIVE.publish(pokes) };
    }

    fn write(&mut self, addr: usize, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            if let Some(alias) = self.alias.alias_of(addr + i) {
                // SAFETY: `alias` is a writable mapping of the text byte at
                // `addr + i`, a site byte of a verified poke.
                unsafe { core::ptr::write_volatile(alias, byte) };
            }
        }
    }

    fn sync(&mut self) {
        // SAFETY: plain call; cpus_read_lock is held (constructor's contract).
        unsafe { bindings::batchpoke_helper_sync_each_cpu() };
        self.rounds += 1;
        crate::stats::STATS.sync_round();
    }

    fn retire(&mut self) {
        ACTIVE.retire();
    }
}
