// SPDX-License-Identifier: GPL-2.0

//! The thin layer between batchpoke and the kernel's C interfaces.
//!
//! Every `unsafe` of the module lives under this directory.

// The FFI layer: rust/Kbuild denies unsafe code everywhere else.
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
    include!("bindings_generated.rs");
}

mod abi;
pub(crate) mod debugfs;
pub(crate) mod exports;
pub(crate) mod global;
pub(crate) mod int3;
pub(crate) mod module;
pub(crate) mod module_notifier;
pub(crate) mod published;
pub(crate) mod static_key;
pub(crate) mod sysfs;
mod sysfs_callbacks;
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
