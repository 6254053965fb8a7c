// SPDX-License-Identifier: GPL-2.0

//! Finding what the kernel does not export, by name, without calling
//! unexported code (which IBT and kCFI would make fragile):
//! `register_kprobe()` resolves a name through kallsyms and stores the
//! address in the probe, and the exported reverse lookup `sprint_symbol()`
//! confirms it.

use core::ffi::{c_char, c_void, CStr};
use core::ptr::NonNull;

use kernel::alloc::KVec;
use kernel::prelude::*;

use super::bindings;

/// The address kallsyms gives the data symbol `name`.
pub(super) fn lookup_data_symbol(name: &CStr) -> Result<NonNull<c_void>> {
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

/// Checks that kallsyms names `addr` as `name` plus one of `offsets`
/// (`+0x0/` and so on, as `sprint_symbol()` prints them); `ENOENT`, and
/// says why, if not.
pub(super) fn reads_back_as(addr: usize, name: &CStr, offsets: &[&[u8]]) -> Result {
    // SAFETY: plain call.
    let len = unsafe { bindings::batchpoke_helper_ksym_symbol_len() };
    let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    // SAFETY: `buf` has the KSYM_SYMBOL_LEN bytes `sprint_symbol` may write.
    unsafe {
        bindings::sprint_symbol(
            buf.as_mut_ptr().cast::<c_char>(),
            addr as core::ffi::c_ulong,
        )
    };
    let printed = CStr::from_bytes_until_nul(&buf).map_err(|_| EINVAL)?;
    let exact = printed
        .to_bytes()
        .strip_prefix(name.to_bytes())
        .is_some_and(|rest| offsets.iter().any(|offset| rest.starts_with(offset)));
    if addr == 0 || !exact {
        pr_err!(
            "{:?}: kallsyms resolved {:#x} but it reads back as {:?}\n",
            name,
            addr,
            printed
        );
        return Err(ENOENT);
    }
    Ok(())
}

/// The address kallsyms gives the function `name`, past its `ENDBR64` on
/// IBT kernels, where kprobes would probe it: a place a direct jump may
/// enter. Read back through `sprint_symbol()` as `name` itself.
pub(super) fn lookup_text_symbol(name: &CStr) -> Result<usize> {
    let mut probe = bindings::kprobe {
        symbol_name: super::cstr_ptr(name),
        ..Default::default()
    };
    // SAFETY: `probe` is a zeroed kprobe with only a symbol name, as
    // register_kprobe() expects; it is unregistered below if it was accepted.
    let ret = unsafe { bindings::register_kprobe(&mut probe) };
    if ret != 0 {
        return Err(ENOENT);
    }
    // SAFETY: `probe` was registered just above.
    unsafe { bindings::unregister_kprobe(&mut probe) };
    let addr = probe.addr as usize;
    reads_back_as(addr, name, &[b"+0x0/", b"+0x4/"])?;
    Ok(addr)
}
