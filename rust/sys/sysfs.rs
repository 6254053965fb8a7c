// SPDX-License-Identifier: GPL-2.0

//! sysfs directories and the raw show/store entry points of
//! `/sys/kernel/batchpoke`. The attribute tables are in `sysfs_attrs.c`;
//! what each file does is in `crate::knob`.

use core::ffi::CStr;
use core::ptr::NonNull;

use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

use super::bindings;
use crate::knob;
use crate::pure::writer::SliceWriter;

/// Which attribute table a directory gets.
pub(crate) enum Group {
    /// `stats`, `strategy`, `transaction`.
    Root,
    /// `enabled`, `sites`, `owner`.
    Key,
    /// No files.
    None,
}

/// A sysfs directory (a bare kobject) with its files.
///
/// # Invariants
///
/// `0` is a kobject from `kobject_create_and_add()` this value holds the
/// only reference to.
pub(crate) struct Dir(NonNull<bindings::kobject>);

// SAFETY: kobjects may be released from any thread.
unsafe impl Send for Dir {}
// SAFETY: `Dir` exposes nothing but the pointer for use as a parent.
unsafe impl Sync for Dir {}

/// A counted reference to a directory, to create subdirectories in
/// without holding the lock that guards the [`Dir`] itself.
///
/// # Invariants
///
/// `0` is a kobject this value holds a reference to.
pub(crate) struct DirRef(NonNull<bindings::kobject>);

impl Drop for DirRef {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant).
        unsafe { bindings::kobject_put(self.0.as_ptr()) };
    }
}

impl Dir {
    /// A counted reference to this directory.
    pub(crate) fn get(&self) -> DirRef {
        // SAFETY: the kobject is live (type invariant); the reference is
        // dropped by `DirRef`.
        unsafe { bindings::kobject_get(self.0.as_ptr()) };
        // INVARIANT: the reference was just taken.
        DirRef(self.0)
    }

    /// Creates `name` under `parent` (or `/sys/kernel`) with `group`'s files.
    /// If `parent` was removed meanwhile, creation fails.
    pub(crate) fn create(name: &CStr, parent: Option<&DirRef>, group: Group) -> Result<Self> {
        let parent = match parent {
            Some(dir) => dir.0.as_ptr(),
            // SAFETY: `kernel_kobj` is set up at boot and never changes.
            None => unsafe { bindings::kernel_kobj },
        };
        // SAFETY: `name` is NUL-terminated, `parent` a kobject we hold a
        // reference to (or the kernel's).
        let kobj = unsafe { bindings::kobject_create_and_add(super::cstr_ptr(name), parent) };
        let kobj = NonNull::new(kobj).ok_or(ENOMEM)?;
        // INVARIANT: created just above; the reference is ours.
        let dir = Dir(kobj);
        let group = match group {
            // SAFETY: the groups are immutable statics of sysfs_attrs.c.
            Group::Root => unsafe { &bindings::batchpoke_root_group },
            // SAFETY: as above.
            Group::Key => unsafe { &bindings::batchpoke_key_group },
            Group::None => return Ok(dir),
        };
        // SAFETY: `kobj` is live; the group outlives the directory. On
        // failure `dir` is dropped, which removes the directory; the caller
        // holds no lock a callback of its files could wait for.
        let ret = unsafe { bindings::sysfs_create_group(kobj.as_ptr(), group) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant). `kobject_del()` removes
        // the directory and its files at once and waits for running
        // callbacks; the release that `kobject_put()` may defer
        // (CONFIG_DEBUG_KOBJECT_RELEASE) then touches no file.
        unsafe {
            bindings::kobject_del(self.0.as_ptr());
            bindings::kobject_put(self.0.as_ptr());
        }
    }
}

/// A `PAGE_SIZE` sysfs output buffer.
pub(crate) type ShowBuf<'a> = SliceWriter<'a>;

/// Runs a show callback on the sysfs page `buf`.
///
/// # Safety
///
/// `buf` is the `PAGE_SIZE` buffer sysfs passes to `show`.
unsafe fn show(buf: *mut u8, f: impl FnOnce(&mut ShowBuf<'_>) -> Result) -> isize {
    // SAFETY: sysfs hands `show` a writable page (caller's contract).
    let page = unsafe { core::slice::from_raw_parts_mut(buf, PAGE_SIZE) };
    let mut out = SliceWriter::new(page);
    match f(&mut out) {
        Ok(()) => out.len() as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// Runs a store callback on the `count` bytes sysfs passes.
///
/// sysfs hands `store` at most a page and silently truncates longer
/// writes, so a request that fills the page may have been cut: requests
/// must be shorter than a page, and longer ones fail with `E2BIG`.
///
/// # Safety
///
/// `buf` points to `count` readable bytes, as sysfs passes to `store`.
unsafe fn store(buf: *const u8, count: usize, f: impl FnOnce(&[u8]) -> Result) -> isize {
    if count >= PAGE_SIZE {
        crate::stats::STATS.refusal();
        return E2BIG.to_errno() as isize;
    }
    // SAFETY: caller's contract.
    let input = unsafe { core::slice::from_raw_parts(buf, count) };
    match f(input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// The name of a key directory: the key's name.
///
/// # Safety
///
/// `kobj` is a live kobject.
unsafe fn dir_name<'a>(kobj: *mut bindings::kobject) -> &'a [u8] {
    // SAFETY: a live kobject's name is a NUL-terminated string it owns.
    unsafe { super::cstr((*kobj).name) }.to_bytes()
}

// The callbacks below are called by C through `struct kobj_attribute`'s
// pointers, and on kCFI kernels the call checks a hash of the callee's
// exact parameter types, which rustc derives from the Rust signature: the
// attribute is `*mut kobj_attribute` (not `c_void`), and `char *` is
// `*mut u8`, because the kernel is built with -funsigned-char while
// `core::ffi::c_char` is `i8` on x86_64.

macro_rules! show_fn {
    ($name:ident, |$kobj:ident, $out:ident| $body:expr) => {
        /// sysfs `show` callback.
        ///
        /// # Safety
        ///
        /// Called by sysfs only, with its arguments for `show`.
        #[no_mangle]
        unsafe extern "C" fn $name(
            $kobj: *mut bindings::kobject,
            _attr: *mut bindings::kobj_attribute,
            buf: *mut u8,
        ) -> isize {
            // SAFETY: sysfs passes its page buffer.
            unsafe { show(buf, |$out| $body) }
        }
    };
}

macro_rules! store_fn {
    ($name:ident, |$kobj:ident, $input:ident| $body:expr) => {
        /// sysfs `store` callback.
        ///
        /// # Safety
        ///
        /// Called by sysfs only, with its arguments for `store`.
        #[no_mangle]
        unsafe extern "C" fn $name(
            $kobj: *mut bindings::kobject,
            _attr: *mut bindings::kobj_attribute,
            buf: *const u8,
            count: usize,
        ) -> isize {
            // SAFETY: sysfs passes `count` bytes at `buf`.
            unsafe { store(buf, count, |$input| $body) }
        }
    };
}

macro_rules! key_show_fn {
    ($name:ident, $f:path) => {
        /// sysfs `show` callback of a key directory file.
        ///
        /// # Safety
        ///
        /// Called by sysfs only, with its arguments for `show`.
        #[no_mangle]
        unsafe extern "C" fn $name(
            kobj: *mut bindings::kobject,
            _attr: *mut bindings::kobj_attribute,
            buf: *mut u8,
        ) -> isize {
            // SAFETY: sysfs passes the live kobject of the key's directory.
            let key = unsafe { dir_name(kobj) };
            // SAFETY: sysfs passes its page buffer.
            unsafe { show(buf, |out| $f(key, out)) }
        }
    };
}

show_fn!(batchpoke_stats_show, |_kobj, out| knob::show_stats(out));
show_fn!(batchpoke_strategy_show, |_kobj, out| knob::show_strategy(
    out
));
store_fn!(batchpoke_strategy_store, |_kobj, input| {
    knob::store_strategy(input)
});
store_fn!(batchpoke_transaction_store, |_kobj, input| {
    knob::store_transaction(input)
});
key_show_fn!(batchpoke_enabled_show, knob::show_enabled);
key_show_fn!(batchpoke_sites_show, knob::show_sites);
key_show_fn!(batchpoke_owner_show, knob::show_owner);

/// sysfs `store` callback of a key's `enabled` file.
///
/// # Safety
///
/// Called by sysfs only, with its arguments for `store`.
#[no_mangle]
unsafe extern "C" fn batchpoke_enabled_store(
    kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *const u8,
    count: usize,
) -> isize {
    // SAFETY: sysfs passes the live kobject of the key's directory.
    let key = unsafe { dir_name(kobj) };
    // SAFETY: sysfs passes `count` bytes at `buf`.
    unsafe { store(buf, count, |input| knob::store_enabled(key, input)) }
}
