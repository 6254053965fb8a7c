// SPDX-License-Identifier: GPL-2.0

//! Loaded modules: references proven live, what batchpoke keeps of a
//! registered module, and the module's `__jump_table`, where batchpoke
//! finds every site of a key.

use core::ffi::{c_char, c_long, CStr};
use core::ptr::NonNull;

use kernel::prelude::*;

use super::bindings;
use crate::batchpoke_api::Key;
use crate::pure::insn::{Form, Insn, Width, MAX_INSN_SIZE};
use crate::pure::site::Site;

/// A loaded module whose jump table and text batchpoke may read.
///
/// # Invariants
///
/// `0` points to a live module that stays loaded for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct ModuleRef<'a>(&'a bindings::module);

impl ModuleRef<'static> {
    /// The calling module itself: its code, and so this reference, cannot
    /// outlive it. `EINVAL` for code built into the kernel, which has no
    /// `struct module`.
    pub(crate) fn this(module: &'static kernel::ThisModule) -> Result<Self> {
        let ptr = module.as_ptr().cast::<bindings::module>().cast_const();
        // SAFETY: `ThisModule` of a loadable module points to the module
        // running this code, loaded as long as its code can run.
        unsafe { Self::from_raw(ptr) }
    }
}

impl<'a> ModuleRef<'a> {
    /// Wraps a module pointer from C: `EINVAL` for null.
    ///
    /// # Safety
    ///
    /// A non-null `module` must point to a module that stays loaded for
    /// `'a`. Only the C entry points and the module notifier call this,
    /// with the pointer C gave them.
    pub(crate) unsafe fn from_raw(module: *const bindings::module) -> Result<Self> {
        // SAFETY: a non-null `module` is valid for `'a` (caller's contract).
        match unsafe { module.as_ref() } {
            Some(module) => Ok(ModuleRef(module)),
            None => Err(EINVAL),
        }
    }

    /// What the registry keeps of this module: see [`Registered`].
    pub(crate) fn registered(&self) -> Registered<bindings::module> {
        // INVARIANT: the registry holds this only while the module is
        // registered (the module notifier's contract, see `Registered`).
        Registered {
            ptr: NonNull::from(self.0),
        }
    }

    /// Where the `T` at `raw` lies in the module's memory. Nothing is read
    /// through `raw`.
    ///
    /// Only [`Placement::Data`] yields the object: the module's core
    /// writable data (`MOD_DATA`: `.data`, `.bss`) is the one region that
    /// is both writable after init and kept until the module is freed.
    /// That the object there *is* a `T` is the registering module's word
    /// (the client API's contract).
    pub(crate) fn place<T: InModule>(&self, raw: *const T) -> Placement<T> {
        let addr = raw as usize;
        if addr % core::mem::align_of::<T>() != 0 {
            return Placement::Outside;
        }
        let Some(region) = self.region_holding(addr, core::mem::size_of::<T>()) else {
            return Placement::Outside;
        };
        if region != bindings::mod_mem_type_MOD_DATA as usize {
            return Placement::Elsewhere(region_name(region));
        }
        // INVARIANT: in the module's core data, kept while it is
        // registered and until the module is freed.
        match NonNull::new(raw.cast_mut()) {
            Some(ptr) => Placement::Data(Registered { ptr }),
            None => Placement::Outside,
        }
    }

    /// The module's text: `[start, end)`.
    pub(crate) fn text(&self) -> (usize, usize) {
        let text = &self.0.mem[bindings::mod_mem_type_MOD_TEXT as usize];
        let start = text.base as usize;
        (start, start + text.size as usize)
    }

    /// The index of the module's memory region (`enum mod_mem_type`) in
    /// which all `size` bytes at `addr` lie.
    fn region_holding(&self, addr: usize, size: usize) -> Option<usize> {
        self.0.mem.iter().position(|m| {
            let start = m.base as usize;
            let end = start.wrapping_add(m.size as usize);
            start != 0 && addr >= start && addr.checked_add(size).is_some_and(|e| e <= end)
        })
    }

    /// The module's name.
    pub(crate) fn name(&self) -> &'a [u8] {
        let name = &self.0.name;
        // SAFETY: `c_char` and `u8` have the same layout; `name` is an
        // array of the module that lives for `'a`.
        let bytes = unsafe { core::slice::from_raw_parts(name.as_ptr().cast::<u8>(), name.len()) };
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        &bytes[..len]
    }

    /// Whether the module is coming up or live: not going away. The
    /// loader sets `MODULE_STATE_GOING` before the module's exit function
    /// runs (and the `GOING` notifiers, batchpoke's among them, after it).
    pub(crate) fn is_live(&self) -> bool {
        // SAFETY: a field of a module that lives for `'a`; the loader
        // writes it without any lock batchpoke could take, so it is read
        // once, as `READ_ONCE()` would.
        let state = unsafe { core::ptr::read_volatile(&self.0.state) };
        state == bindings::module_state_MODULE_STATE_LIVE
            || state == bindings::module_state_MODULE_STATE_COMING
    }

    /// Whether `site` lies in the module's core text (not init text, which
    /// is freed after init), its jump target included.
    pub(crate) fn text_holds(&self, site: &Site) -> bool {
        let (start, end) = self.text();
        self.core_text_holds(site.addr, site.width.len())
            && site.target >= start
            && site.target <= end
    }

    /// Whether the `len` bytes at `addr` lie in the module's core text.
    pub(crate) fn core_text_holds(&self, addr: usize, len: usize) -> bool {
        let (start, end) = self.text();
        addr >= start && addr.checked_add(len).is_some_and(|e| e <= end)
    }

    /// The bytes `site` holds now, if it lies in the module's core text.
    pub(crate) fn read_site(&self, site: &Site) -> Option<Insn> {
        self.read_core_text(site.addr, site.width.len())
    }

    /// The `len` (at most [`MAX_INSN_SIZE`]) bytes at `addr`, if they lie
    /// in the module's core text.
    pub(crate) fn read_core_text(&self, addr: usize, len: usize) -> Option<Insn> {
        if len > MAX_INSN_SIZE || !self.core_text_holds(addr, len) {
            return None;
        }
        // SAFETY: the bytes are in the text of a module that stays loaded
        // for `'a` (type invariant).
        Some(unsafe { read_text(addr, len) })
    }

    /// The site `entry` points to, with the width of the instruction it
    /// holds now (objtool shortens sites to two bytes where it can) and the
    /// form its first byte says, if it is one of the six site instructions
    /// in the module's core text.
    pub(crate) fn site(&self, entry: &JumpEntry) -> Option<Site> {
        if !self.core_text_holds(entry.addr, 2) {
            return None;
        }
        // SAFETY: the two bytes are in the text of a module that stays
        // loaded for `'a` (type invariant).
        let head = unsafe { read_text(entry.addr, 2) };
        let head = head.as_bytes();
        let (first, second) = (*head.first()?, *head.get(1)?);
        let width = Width::of(first, second)?;
        let site = Site {
            addr: entry.addr,
            target: entry.target,
            likely: entry.likely,
            width,
            form: Form::holding(first),
        };
        self.text_holds(&site).then_some(site)
    }

    /// Calls `f(entry)` for every jump-table entry of the module, unchecked:
    /// entries of other keys, init-text sites among them, are none of
    /// batchpoke's business.
    pub(crate) fn for_each_entry(&self, mut f: impl FnMut(&JumpEntry) -> Result) -> Result {
        let entries = self.0.jump_entries;
        let count = self.0.num_jump_entries as usize;
        if entries.is_null() || count == 0 {
            return Ok(());
        }
        // SAFETY: the module loader set `jump_entries`/`num_jump_entries`
        // to the module's `__jump_table`, alive while the module is.
        let entries = unsafe { core::slice::from_raw_parts(entries, count) };
        for entry in entries {
            let base = core::ptr::from_ref(entry) as usize;
            // Every field is relative to its own address (jump_entry_code() etc.).
            let key = rel(base + 8, entry.key);
            f(&JumpEntry {
                key: key & !3,
                addr: rel(base, c_long::from(entry.code)),
                target: rel(base + 4, c_long::from(entry.target)),
                likely: key & 1 != 0,
            })?;
        }
        Ok(())
    }
}

/// Where an object a module registers lies in its memory
/// ([`ModuleRef::place`]).
pub(crate) enum Placement<T> {
    /// In the module's core writable data (`MOD_DATA`), aligned and whole.
    Data(Registered<T>),
    /// Aligned and whole in another region of the module's memory, named:
    /// read-only data, `__ro_after_init` data, init memory or text.
    Elsewhere(&'static str),
    /// Not aligned, or not wholly inside any one region of the module.
    Outside,
}

/// What a module memory region holds, for messages.
fn region_name(region: usize) -> &'static str {
    const NAMES: [(bindings::mod_mem_type, &str); 7] = [
        (bindings::mod_mem_type_MOD_TEXT, "text"),
        (bindings::mod_mem_type_MOD_DATA, "data"),
        (bindings::mod_mem_type_MOD_RODATA, "read-only data (const)"),
        (
            bindings::mod_mem_type_MOD_RO_AFTER_INIT,
            "__ro_after_init data (read-only after init)",
        ),
        (
            bindings::mod_mem_type_MOD_INIT_TEXT,
            "init text (freed after init)",
        ),
        (
            bindings::mod_mem_type_MOD_INIT_DATA,
            "init data (__initdata, freed after init)",
        ),
        (
            bindings::mod_mem_type_MOD_INIT_RODATA,
            "init read-only data (freed after init)",
        ),
    ];
    NAMES
        .iter()
        .find(|(index, _)| *index as usize == region)
        .map_or("memory", |(_, name)| name)
}

/// The NUL-terminated string at `ptr`, read up to its NUL and never past
/// `max` bytes before it: `None` for a null `ptr` or a string longer than
/// `max`. Nothing is read through a null `ptr`.
///
/// # Safety
///
/// A non-null `ptr` points to a NUL-terminated string, or to at least
/// `max + 1` readable bytes, valid and unchanged for `'a`.
pub(crate) unsafe fn bounded_cstr<'a>(ptr: *const c_char, max: usize) -> Option<&'a CStr> {
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr.cast::<u8>();
    for len in 0..=max {
        // SAFETY: bytes before the first NUL, or the NUL itself, of a
        // string at a non-null `ptr`, or within its first `max + 1`
        // bytes (caller's contract).
        if unsafe { ptr.add(len).read() } == 0 {
            // SAFETY: the `len + 1` bytes just read, valid for `'a`.
            let bytes = unsafe { core::slice::from_raw_parts(ptr, len + 1) };
            return CStr::from_bytes_with_nul(bytes).ok();
        }
    }
    None
}

impl Registered<Key> {
    /// The key's name (`name` of `struct batchpoke_key`), read only if the
    /// pointer is not null and the string ends within `max` bytes.
    pub(crate) fn checked_name(&self, max: usize) -> Option<&CStr> {
        // SAFETY: the key lies in its owner's data (type invariant); a
        // non-null `name` of a key is a static NUL-terminated string
        // (`batchpoke.h`'s contract for `struct batchpoke_key`, and
        // `Key::new`'s for Rust keys).
        unsafe { bounded_cstr(self.get().name_ptr(), max) }
    }
}

/// Lets other tasks run: long loops over keys or jump entries call this
/// every so often (`cond_resched()`). May sleep.
pub(crate) fn cond_resched() {
    // SAFETY: plain call; the caller may sleep (process context, no
    // spinlock held: only mutexes and `cpus_read_lock()`).
    unsafe { bindings::batchpoke_helper_cond_resched() };
}

/// One entry of a module's `__jump_table`, decoded.
pub(crate) struct JumpEntry {
    /// The address of the entry's `static_key` (flag bits cleared).
    pub(crate) key: usize,
    /// The site.
    pub(crate) addr: usize,
    /// Where the site jumps.
    pub(crate) target: usize,
    /// The likely form (key bit 0, the kernel's "branch" bit).
    pub(crate) likely: bool,
}

/// Reads the `len` bytes (at most [`MAX_INSN_SIZE`]) of kernel text at
/// `addr`.
///
/// # Safety
///
/// `addr..addr + len` must be mapped kernel text that stays mapped for the
/// call.
pub(super) unsafe fn read_text(addr: usize, len: usize) -> Insn {
    let mut bytes = [0u8; MAX_INSN_SIZE];
    for (i, byte) in bytes.iter_mut().take(len).enumerate() {
        // SAFETY: within the mapped range the caller guarantees.
        *byte = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
    }
    Insn::from_prefix(bytes, len)
}

fn rel(field: usize, offset: c_long) -> usize {
    field.wrapping_add(offset as usize)
}

/// Something in the memory of a module registered with batchpoke: the
/// module itself, or one of its keys.
///
/// # Invariants
///
/// `ptr` points into a module that stays loaded while this exists: for a
/// key, into its core writable data ([`ModuleRef::place`]), which is
/// freed only with the module itself (init memory is freed after init,
/// with no notification). The registry keeps a `Registered` only in a
/// key's entry, and every entry of a module is removed before its memory
/// is freed: by the module's own unregistration, or by batchpoke's module
/// notifier at `MODULE_STATE_GOING`, which waits for the registry lock.
pub(crate) struct Registered<T> {
    ptr: NonNull<T>,
}

/// What a client module registers with batchpoke: a key, in its memory.
pub(crate) trait InModule: Sync {}
impl InModule for Key {}

// SAFETY: `T` is `Sync`, and the pointee outlives this (type invariant).
unsafe impl<T: InModule> Send for Registered<T> {}
// SAFETY: batchpoke only reads a module's fixed fields (name, memory
// layout, jump table), which any thread may read while it is loaded, and
// the module outlives this (type invariant).
unsafe impl Send for Registered<bindings::module> {}

impl<T> Registered<T> {
    /// The address, for comparing identities.
    pub(crate) fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr().cast_const()
    }
}

impl<T: InModule> Registered<T> {
    /// The key.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: live while this exists (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl Registered<bindings::module> {
    /// The module.
    pub(crate) fn get(&self) -> ModuleRef<'_> {
        // SAFETY: live while this exists (type invariant).
        ModuleRef(unsafe { self.ptr.as_ref() })
    }
}
