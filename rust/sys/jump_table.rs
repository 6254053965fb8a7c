// SPDX-License-Identifier: GPL-2.0

//! Reading a module's `__jump_table`: where batchpoke finds every site of a
//! key.

use core::ffi::c_long;

use kernel::prelude::*;

use super::bindings;
use super::text::read_site;
use crate::pure::insn::{Insn, INSN_SIZE};
use crate::pure::site::Site;

/// A loaded module whose jump table and text batchpoke may read.
///
/// # Invariants
///
/// `0` points to a live module that stays loaded for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct ModuleRef<'a>(&'a bindings::module);

impl<'a> ModuleRef<'a> {
    /// Wraps a module pointer.
    ///
    /// # Safety
    ///
    /// `module` must point to a module that stays loaded for `'a`.
    pub(crate) unsafe fn new(module: *const bindings::module) -> Self {
        // SAFETY: valid for `'a` by the caller's contract.
        ModuleRef(unsafe { &*module })
    }

    /// The module's text: `[start, end)`.
    pub(crate) fn text(&self) -> (usize, usize) {
        let text = &self.0.mem[bindings::mod_mem_type_MOD_TEXT as usize];
        let start = text.base as usize;
        (start, start + text.size as usize)
    }

    /// Whether the `size` bytes at `addr` lie in one of the module's
    /// memory regions.
    pub(crate) fn owns(&self, addr: usize, size: usize) -> bool {
        self.0.mem.iter().any(|m| {
            let start = m.base as usize;
            let end = start.wrapping_add(m.size as usize);
            start != 0 && addr >= start && addr.checked_add(size).is_some_and(|e| e <= end)
        })
    }

    /// The module itself.
    pub(crate) fn raw(&self) -> &'a bindings::module {
        self.0
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

    /// Whether the module is coming up or live: not going away.
    pub(crate) fn is_live(&self) -> bool {
        let state = self.0.state;
        state == bindings::module_state_MODULE_STATE_LIVE
            || state == bindings::module_state_MODULE_STATE_COMING
    }

    /// Whether `site` lies in the module's core text (not init text, which
    /// is freed after init), its jump target included.
    pub(crate) fn text_holds(&self, site: &Site) -> bool {
        let (start, end) = self.text();
        site.addr >= start
            && site.addr.checked_add(INSN_SIZE).is_some_and(|e| e <= end)
            && site.target >= start
            && site.target <= end
    }

    /// The five bytes at `addr`, if they lie in the module's core text.
    pub(crate) fn read_site(&self, addr: usize) -> Option<Insn> {
        let (start, end) = self.text();
        if addr < start || addr.checked_add(INSN_SIZE)? > end {
            return None;
        }
        // SAFETY: the five bytes are in the text of a module that stays
        // loaded for `'a` (type invariant).
        Some(unsafe { read_site(addr) })
    }

    /// Calls `f(key, site)` for every jump-table entry of the module, where
    /// `key` is the address of the entry's `static_key` (flag bits cleared)
    /// and `site` says where the entry points, unchecked: entries of other
    /// keys, init-text sites among them, are none of batchpoke's business.
    pub(crate) fn for_each_site(&self, mut f: impl FnMut(usize, Site) -> Result) -> Result {
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
            let addr = rel(base, c_long::from(entry.code));
            let target = rel(base + 4, c_long::from(entry.target));
            let key = rel(base + 8, entry.key);
            let site = Site {
                addr,
                target,
                likely: key & 1 != 0,
            };
            f(key & !3, site)?;
        }
        Ok(())
    }
}

fn rel(field: usize, offset: c_long) -> usize {
    field.wrapping_add(offset as usize)
}
