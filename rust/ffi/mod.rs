// SPDX-License-Identifier: GPL-2.0

//! The thin layer between batchpoke and the kernel's C interfaces.
//!
//! Every `unsafe` of the module lives under this directory.

#[allow(
    dead_code,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn,
    improper_ctypes
)]
pub(crate) mod bindings {
    include!("bindings_generated.rs");
}

pub(crate) mod exports;
pub(crate) mod int3;
pub(crate) mod jump_table;
pub(crate) mod module_notifier;
pub(crate) mod sysfs;
pub(crate) mod text;
pub(crate) mod time;

use core::ffi::CStr;

/// The release string of the running kernel, as `uname -r` prints it.
pub(crate) fn kernel_release() -> &'static str {
    // SAFETY: The helper returns the release field of the caller's UTS
    // namespace: a NUL-terminated array that outlives any module.
    let release = unsafe { CStr::from_ptr(bindings::batchpoke_helper_uts_release()) };
    release.to_str().unwrap_or("(non-UTF-8 release)")
}
