// SPDX-License-Identifier: GPL-2.0

//! The machine edge: what batchpoke does to the machine.
//!
//! The text locks, the writable alias and the writes, sync rounds
//! (`text`), the int3 handler and its table of sites (`int3`), module
//! memory and `__jump_table` reading (`module`), ordinary static keys'
//! counts and entries (`static_key`), the clock (`time`), and the kernel's
//! C declarations (`bindings`, `helpers.c`) both edges use. Nothing here
//! calls into the middle (state, registry, engine) or the entry edge, but
//! the lock-free counters of sync rounds and int3 hits (`crate::stats`).

// An edge: rust/Kbuild denies unsafe code everywhere but here and in
// `crate::entry`.
#![allow(unsafe_code)]

#[allow(
    dead_code,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::restriction,
    clippy::nursery,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn,
    improper_ctypes,
    // The client ABI's functions, declared again (with Rust types) by
    // `batchpoke_api::raw` and defined by `exports`: `abi` checks they agree.
    clashing_extern_declarations
)]
pub(crate) mod bindings {
    // The kernel's own bindings blocklist these and use Rust's types
    // (`rust/bindings/lib.rs`); so does `scripts/gen-bindings.sh`. A config
    // that reaches a struct with such a field (Debian's: `kvec`) needs
    // them here too.
    #[allow(non_camel_case_types, dead_code)]
    type __kernel_size_t = usize;
    #[allow(non_camel_case_types, dead_code)]
    type __kernel_ssize_t = isize;
    #[allow(non_camel_case_types, dead_code)]
    type __kernel_ptrdiff_t = isize;

    include!("bindings_generated.rs");
}

pub(crate) mod int3;
mod kallsyms;
pub(crate) mod module;
pub(crate) mod perf;
pub(crate) mod static_key;
pub(crate) mod text;
pub(crate) mod time;

use core::ffi::{c_char, CStr};

// The generated bindings use `core::ffi` C types (the same on every kernel
// batchpoke supports), so strings cross with core's `CStr` methods, which
// the kernel's clippy configuration steers towards its own `c_char`.

/// The C string at `ptr`.
///
/// # Safety
///
/// `ptr` points to a NUL-terminated string valid and unchanged for `'a`.
#[allow(clippy::disallowed_methods)]
pub(crate) unsafe fn cstr<'a>(ptr: *const c_char) -> &'a CStr {
    // SAFETY: caller's contract.
    unsafe { CStr::from_ptr(ptr) }
}

/// `s` as a C string pointer.
#[allow(clippy::disallowed_methods)]
pub(crate) fn cstr_ptr(s: &CStr) -> *const c_char {
    s.as_ptr()
}

/// The release string of the running kernel, as `uname -r` prints it.
pub(crate) fn kernel_release() -> &'static str {
    // SAFETY: The helper returns the release field of the caller's UTS
    // namespace: a NUL-terminated array that outlives any module.
    let release = unsafe { cstr(bindings::batchpoke_helper_uts_release()) };
    release.to_str().unwrap_or("(non-UTF-8 release)")
}

/// Reports a site that does not hold what batchpoke wrote (or, for 0, a
/// key whose sites disagree with it) with a WARN, for the test harness and
/// for anyone reading the log.
pub(crate) fn warn_bad_site(addr: usize) {
    // SAFETY: plain call; the helper only prints `addr`.
    unsafe { bindings::batchpoke_helper_warn_bad_site(addr as core::ffi::c_ulong) };
}

/// `ptr` as a reference, without a dereference: under
/// `CONFIG_RUST_DEBUG_ASSERTIONS` a raw-pointer dereference gains checks
/// that call out to panic, which the int3 path must not contain.
///
/// # Safety
///
/// `ptr` is null or valid for reads of a `T` for `'a`.
#[inline(always)]
#[allow(clippy::transmute_ptr_to_ref, clippy::useless_transmute)]
pub(crate) unsafe fn ref_from_ptr<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: `Option<&T>` has the layout of `*const T`, null being `None`;
    // valid by the caller's contract.
    unsafe { core::mem::transmute::<*const T, Option<&'a T>>(ptr) }
}

/// `ptr` as a mutable reference, without a dereference (see
/// [`ref_from_ptr`]).
///
/// # Safety
///
/// `ptr` is null or valid for reads and writes of a `T`, used by no one
/// else, for `'a`.
#[inline(always)]
#[allow(clippy::transmute_ptr_to_ref, clippy::useless_transmute)]
pub(crate) unsafe fn mut_from_ptr<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: as for `ref_from_ptr`, exclusive by the caller's contract.
    unsafe { core::mem::transmute::<*mut T, Option<&'a mut T>>(ptr) }
}

/// One `_kprobe_blacklist` entry: the address of a function kprobes must
/// not probe, as `NOKPROBE_SYMBOL()` records it.
#[repr(transparent)]
pub(crate) struct NokprobeEntry(pub(crate) *const ());

// SAFETY: the entry is an immutable function address, read by the module
// loader only.
unsafe impl Sync for NokprobeEntry {}
