// SPDX-License-Identifier: GPL-2.0

//! The functions batchpoke exports to client modules (GPL); `exports.c`
//! holds the `EXPORT_SYMBOL_GPL()` lines. Clients call them through the
//! safe wrapper in `batchpoke_api/client.rs`.

use core::ffi::c_int;

use kernel::alloc::KVec;
use kernel::error::from_result;
use kernel::prelude::*;

use super::bindings;
use super::global::with_state;
use super::module::ModuleRef;
use super::static_key::StaticKey;
use crate::batchpoke_api::{Change, Key, Report, Stats, APPLY_SERIAL};
use crate::engine::{Applied, Strategy};
use crate::registry::{KeyId, NewKey};
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
        let mut new_keys = KVec::with_capacity(keys.len(), GFP_KERNEL)?;
        for &key in keys {
            new_keys.push(NewKey::Batchpoke(key), GFP_KERNEL)?;
        }
        with_state(|state| state.register(owner, &new_keys))?;
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
    unsafe { unregister(owner, keys, count, KeyId::Batchpoke) }
}

/// Registers the `count` ordinary static keys described at `keys`, owned
/// by `owner`.
///
/// # Safety
///
/// `owner` is the calling module; `keys` points to `count` descriptions,
/// each of a key that is a static of `owner` (`struct static_key`) and a
/// NUL-terminated name valid for the call. The module unregisters them (or
/// batchpoke's module notifier does) before it goes away.
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_register_static_keys(
    owner: *mut bindings::module,
    keys: *const bindings::batchpoke_static_key,
    count: usize,
) -> c_int {
    from_result(|| {
        // SAFETY: caller's contract.
        let keys = unsafe { slice_from(keys, count)? };
        // SAFETY: as in `batchpoke_register_keys`.
        let owner = unsafe { ModuleRef::from_raw(owner) }?;
        let mut new_keys = KVec::with_capacity(keys.len(), GFP_KERNEL)?;
        for key in keys {
            if key.name.is_null() {
                return Err(EINVAL);
            }
            // SAFETY: a non-null name is a C string valid for the call
            // (caller's contract); the registry copies it.
            let name = unsafe { super::cstr(key.name) };
            let key = key.key.cast_const().cast::<StaticKey>();
            new_keys.push(NewKey::Static { key, name }, GFP_KERNEL)?;
        }
        with_state(|state| state.register(owner, &new_keys))?;
        Ok(0)
    })
}

/// Unregisters the `count` ordinary static keys at `keys` of `owner`;
/// keys that are not registered are ignored.
///
/// # Safety
///
/// `owner` is the calling module; `keys` points to `count` pointers (only
/// compared, never read through).
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_unregister_static_keys(
    owner: *mut bindings::module,
    keys: *const *mut bindings::static_key,
    count: usize,
) {
    // SAFETY: caller's contract; `*mut` and `*const` pointers have the
    // same layout.
    unsafe {
        unregister(
            owner,
            keys.cast::<*const bindings::static_key>(),
            count,
            KeyId::Static,
        )
    }
}

/// Unregisters the keys of `owner` among the `count` pointers at `keys`,
/// each a key of the kind `id` says; the pointers are only compared.
///
/// # Safety
///
/// `keys` points to `count` pointers (or is null, or `count` is zero).
unsafe fn unregister<T>(
    owner: *const bindings::module,
    keys: *const *const T,
    count: usize,
    id: fn(usize) -> KeyId,
) {
    // SAFETY: caller's contract.
    if let Ok(keys) = unsafe { slice_from(keys, count) } {
        let listed = |listed_id| keys.iter().any(|&key| listed_id == id(key as usize));
        let _ = with_state(|state| Ok(state.unregister_keys(owner, listed)));
    }
}

/// Applies `count` changes of ordinary static keys at `changes` as one
/// transaction, writing what it did to `report` (may be null).
///
/// # Safety
///
/// `changes` points to `count` changes; `report` is null or writable.
#[no_mangle]
pub(super) unsafe extern "C" fn batchpoke_apply_static(
    changes: *const bindings::batchpoke_static_change,
    count: usize,
    flags: u32,
    report: *mut Report,
) -> c_int {
    from_result(|| {
        let strategy = strategy_of(flags)?;
        // SAFETY: caller's contract.
        let changes = unsafe { slice_from(changes, count)? };
        let applied = with_state(|state| state.apply_static_changes(changes, strategy))?;
        // SAFETY: null or writable (caller's contract).
        unsafe { write_report(report, &applied) };
        Ok(0)
    })
}

/// The strategy `flags` of an apply call ask for; `EINVAL` for unknown
/// flags.
fn strategy_of(flags: u32) -> Result<Strategy> {
    if flags & !APPLY_SERIAL != 0 {
        return Err(EINVAL);
    }
    Ok(if flags & APPLY_SERIAL != 0 {
        Strategy::Serial
    } else {
        Strategy::Batch
    })
}

/// Writes `applied` to `report`, unless it is null.
///
/// # Safety
///
/// `report` is null or writable.
unsafe fn write_report(report: *mut Report, applied: &Applied) {
    // SAFETY: null or writable (caller's contract).
    if let Some(report) = unsafe { report.as_mut() } {
        *report = Report {
            sites: applied.sites as u64,
            rounds: applied.rounds as u64,
        };
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
        let strategy = strategy_of(flags)?;
        // SAFETY: caller's contract.
        let changes = unsafe { slice_from(changes, count)? };
        let applied = with_state(|state| state.apply_changes(changes, strategy))?;
        // SAFETY: null or writable (caller's contract).
        unsafe { write_report(report, &applied) };
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
