// SPDX-License-Identifier: GPL-2.0

//! The raw show/store entry points of the files of `/sys/kernel/batchpoke`
//! (the attribute tables in `sysfs_attrs.c` point at them); what each file
//! does is in `crate::knob`.

use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

use crate::knob;
use crate::machine::bindings;
use crate::pure::writer::SliceWriter;

/// Runs a show callback on the sysfs page `buf`.
///
/// # Safety
///
/// `buf` is the `PAGE_SIZE` buffer sysfs passes to `show`.
unsafe fn show(buf: *mut u8, f: impl FnOnce(&mut SliceWriter<'_>) -> Result) -> isize {
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
    unsafe { crate::machine::cstr((*kobj).name) }.to_bytes()
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
