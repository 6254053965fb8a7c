// SPDX-License-Identifier: GPL-2.0

//! The functions batchpoke exports to client modules (GPL); `exports.c`
//! holds the `EXPORT_SYMBOL_GPL()` lines. Clients call them through the
//! safe wrapper in `batchpoke_api/client.rs`.

use core::ffi::c_int;

use kernel::error::from_result;
use kernel::prelude::*;

use super::bindings;
use super::global::with_state;
use super::module::ModuleRef;
use crate::batchpoke_api::{Change, Key, Report, Stats, APPLY_SERIAL};
use crate::engine::Strategy;
use crate::stats::STATS;

/// The `count` elements at `ptr`; `EINVAL` for a null `ptr` with a
/// non-zero count. A null or dangling `ptr` with a zero count is fine, as
/// C callers expect.
///
/// # Safety
///
/// Unless `count` is zero, `ptr` is null or points to `count` elements
/// valid and unchanged for `'a`.
unsafe fn slice_from<'a, T>(ptr: *const T, count: usize) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: non-null and valid for `count` elements (caller's contract).
    Ok(unsafe { core::slice::from_raw_parts(ptr, count) })
}

/// Registers `count` keys at `keys`, owned by `owner`.
///
/// # Safety
///
/// `owner` is the calling module; `keys` points to `count` pointers, each
/// to a key that is a static of `owner`. The module unregisters them (or
/// batchpoke's module notifier does) before it goes away.
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_register_keys(
    owner: *mut bindings::module,
    keys: *const *const Key,
    count: usize,
) -> c_int {
    from_result(|| {
        // SAFETY: caller's contract.
        let keys = unsafe { slice_from(keys, count)? };
        // SAFETY: the caller is `owner`, live for the call (caller's
        // contract); the registry keeps it only until the module notifier
        // sees it go.
        let owner = unsafe { ModuleRef::from_raw(owner) }?;
        with_state(|state| state.register(owner, keys))?;
        Ok(0)
    })
}

/// Unregisters the `count` keys at `keys` of `owner`; keys that are not
/// registered are ignored.
///
/// # Safety
///
/// `owner` is the calling module; `keys` points to `count` pointers (only
/// compared, never read through).
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_unregister_keys(
    owner: *mut bindings::module,
    keys: *const *const Key,
    count: usize,
) {
    // SAFETY: caller's contract.
    if let Ok(keys) = unsafe { slice_from(keys, count) } {
        let _ = with_state(|state| Ok(state.unregister_keys(owner, keys)));
    }
}

/// Applies `count` changes at `changes` as one transaction, writing what it
/// did to `report` (may be null).
///
/// # Safety
///
/// `changes` points to `count` changes; `report` is null or writable.
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_apply(
    changes: *const Change,
    count: usize,
    flags: u32,
    report: *mut Report,
) -> c_int {
    from_result(|| {
        if flags & !APPLY_SERIAL != 0 {
            return Err(EINVAL);
        }
        let strategy = if flags & APPLY_SERIAL != 0 {
            Strategy::Serial
        } else {
            Strategy::Batch
        };
        // SAFETY: caller's contract.
        let changes = unsafe { slice_from(changes, count)? };
        let applied = with_state(|state| state.apply_changes(changes, strategy))?;
        // SAFETY: null or writable (caller's contract).
        if let Some(report) = unsafe { report.as_mut() } {
            *report = Report {
                sites: applied.sites as u64,
                rounds: applied.rounds as u64,
            };
        }
        Ok(0)
    })
}

/// Copies batchpoke's counters to `stats`.
///
/// # Safety
///
/// `stats` is null or writable.
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_read_stats(stats: *mut Stats) {
    // SAFETY: caller's contract.
    if let Some(stats) = unsafe { stats.as_mut() } {
        *stats = STATS.snapshot();
    }
}
