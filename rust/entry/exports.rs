// SPDX-License-Identifier: GPL-2.0

//! The functions batchpoke exports to client modules (GPL); `exports.c`
//! holds the `EXPORT_SYMBOL_GPL()` lines. Clients call them through the
//! safe wrapper in `batchpoke_api/client.rs`.

use core::ffi::c_int;

use kernel::alloc::KVVec;
use kernel::error::from_result;
use kernel::prelude::*;

use super::global::with_state;
use crate::batchpoke_api::{Change, Key, Report, Stats, APPLY_SERIAL};
use crate::engine::{Applied, Strategy};
use crate::machine::bindings;
use crate::machine::module::{bounded_cstr, ModuleRef};
use crate::machine::static_key::StaticKey;
use crate::registry::{caller_sized, yield_every, KeyId, NewKey, MAX_KEYS_PER_CALL, NAME_MAX};
use crate::state::{counted, State};
use crate::stats::STATS;

/// The `count` elements at `ptr`: `E2BIG` for a count above
/// [`MAX_KEYS_PER_CALL`] (which no call may have, so nothing is read or
/// allocated for it), then `EINVAL` for a null `ptr` with a non-zero
/// count. A null or dangling `ptr` with a zero count is fine, as C callers
/// expect.
///
/// # Safety
///
/// Unless `count` is zero or above [`MAX_KEYS_PER_CALL`], `ptr` is null or
/// points to `count` elements valid and unchanged for `'a`.
unsafe fn slice_from<'a, T>(ptr: *const T, count: usize) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if count > MAX_KEYS_PER_CALL {
        pr_err!(
            "a call may pass at most {} keys or changes, not {}\n",
            MAX_KEYS_PER_CALL,
            count
        );
        return Err(E2BIG);
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
        let mut new_keys = KVVec::with_capacity(keys.len(), caller_sized())?;
        for &key in keys {
            // Read only once the registry knows the key is in `owner`'s data.
            new_keys.push(NewKey::Batchpoke(key), caller_sized())?;
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
        let mut new_keys = KVVec::with_capacity(keys.len(), caller_sized())?;
        for (step, key) in keys.iter().enumerate() {
            yield_every(step);
            // SAFETY: a non-null name is a C string valid for the call
            // (caller's contract), read to its NUL or `NAME_MAX` bytes;
            // the registry copies it.
            let Some(name) = (unsafe { bounded_cstr(key.name, NAME_MAX) }) else {
                pr_err!(
                    "static key at {:#x} has no name (NULL) or one longer than {} bytes\n",
                    key.key as usize,
                    NAME_MAX
                );
                return Err(EINVAL);
            };
            let key = key.key.cast_const().cast::<StaticKey>();
            new_keys.push(NewKey::Static { key, name }, caller_sized())?;
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
/// each a key of the kind `id` says; the pointers are only compared. A
/// count above [`MAX_KEYS_PER_CALL`] (or a null `keys` with a non-zero
/// count) unregisters nothing.
///
/// # Safety
///
/// `keys` points to `count` pointers (or is null, or `count` is zero or
/// above [`MAX_KEYS_PER_CALL`]).
unsafe fn unregister<T>(
    owner: *const bindings::module,
    keys: *const *const T,
    count: usize,
    id: fn(usize) -> KeyId,
) {
    // SAFETY: caller's contract.
    let Ok(keys) = (unsafe { slice_from(keys, count) }) else {
        return;
    };
    // The listed keys sorted, for one binary search per registered key;
    // if that cannot be allocated, one scan of the list per key instead
    // (unregistering cannot fail).
    let mut sorted = KVVec::new();
    let sorted = match sorted.reserve(keys.len(), caller_sized()) {
        Ok(()) => {
            for &key in keys {
                // Within the capacity just reserved: cannot fail.
                let _ = sorted.push(id(key as usize), caller_sized());
            }
            crate::pure::sort::sort(&mut sorted);
            Some(sorted)
        }
        Err(_) => None,
    };
    let listed = |listed_id: KeyId| match &sorted {
        Some(sorted) => sorted.binary_search(&listed_id).is_ok(),
        None => keys.iter().any(|&key| listed_id == id(key as usize)),
    };
    let _ = with_state(|state| Ok(state.unregister_keys(owner, listed)));
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
    // SAFETY: caller's contract.
    unsafe {
        apply_from(changes, count, flags, report, |state, changes, strategy| {
            state.apply_static_changes(changes, strategy)
        })
    }
}

/// Applies the `count` changes at `changes` with `apply`, as `flags` say,
/// writing what it did to `report` (may be null). Checked first, in this
/// order: `flags` (`EINVAL`), `count` (`E2BIG`), a null `changes`
/// (`EINVAL`). A refusal, here or in the registry, is counted.
///
/// # Safety
///
/// `changes` points to `count` changes (see [`slice_from`]); `report` is
/// null or writable.
unsafe fn apply_from<T>(
    changes: *const T,
    count: usize,
    flags: u32,
    report: *mut Report,
    apply: impl FnOnce(&State, &[T], Strategy) -> Result<Applied>,
) -> c_int {
    let checked = strategy_of(flags).and_then(|strategy| {
        // SAFETY: caller's contract.
        let changes = unsafe { slice_from(changes, count) }?;
        Ok((changes, strategy))
    });
    let applied = counted(
        checked.and_then(|(changes, strategy)| with_state(|state| apply(state, changes, strategy))),
    );
    match applied {
        Ok(applied) => {
            // SAFETY: null or writable (caller's contract).
            unsafe { write_report(report, &applied) };
            0
        }
        Err(e) => e.to_errno(),
    }
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
    // SAFETY: caller's contract.
    unsafe {
        apply_from(changes, count, flags, report, |state, changes, strategy| {
            state.apply_changes(changes, strategy)
        })
    }
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
