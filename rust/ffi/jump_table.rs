// SPDX-License-Identifier: GPL-2.0

//! Reading a module's `__jump_table`: where batchpoke finds every site of a
//! key.

use core::ffi::c_long;

use kernel::prelude::*;

use super::bindings;
use crate::pure::insn::INSN_SIZE;
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

    /// Whether `addr` lies in any of the module's memory regions.
    pub(crate) fn owns(&self, addr: usize) -> bool {
        self.0.mem.iter().any(|m| {
            let start = m.base as usize;
            start != 0 && addr >= start && addr < start + m.size as usize
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

    /// Calls `f(key, site)` for every jump-table entry of the module, where
    /// `key` is the address of the entry's `static_key` (flag bits cleared).
    ///
    /// Fails with `EINVAL` if an entry's site or target lies outside the
    /// module's text, without calling `f` for later entries.
    pub(crate) fn for_each_site(&self, mut f: impl FnMut(usize, Site) -> Result) -> Result {
        let entries = self.0.jump_entries;
        let count = self.0.num_jump_entries as usize;
        if entries.is_null() || count == 0 {
            return Ok(());
        }
        // SAFETY: the module loader set `jump_entries`/`num_jump_entries`
        // to the module's `__jump_table`, alive while the module is.
        let entries = unsafe { core::slice::from_raw_parts(entries, count) };
        let (start, end) = self.text();
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
            if addr < start || addr + INSN_SIZE > end || target < start || target > end {
                pr_err!(
                    "jump entry {:#x} of {:?}: site outside the module's text\n",
                    base,
                    core::str::from_utf8(self.name()).unwrap_or("?")
                );
                return Err(EINVAL);
            }
            f(key & !3, site)?;
        }
        Ok(())
    }
}

fn rel(field: usize, offset: c_long) -> usize {
    field.wrapping_add(offset as usize)
}
