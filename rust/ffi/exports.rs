// SPDX-License-Identifier: GPL-2.0

//! The functions batchpoke exports to client modules (GPL); `exports.c`
//! holds the `EXPORT_SYMBOL_GPL()` lines. Clients call them through the
//! safe wrapper in `batchpoke_api/client.rs`.

use core::ffi::c_int;

use kernel::prelude::*;

use super::bindings;
use crate::batchpoke_api::{Change, Key, Report, Stats, APPLY_SERIAL};
use crate::engine::Strategy;
use crate::state::with_state;
use crate::stats::STATS;

fn errno(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Registers `count` keys at `keys`, owned by `owner`.
///
/// # Safety
///
/// `owner` is the calling module; `keys` points to `count` pointers to keys
/// that are statics of `owner`. The module unregisters them (or batchpoke's
/// module notifier does) before it goes away.
#[no_mangle]
unsafe extern "C" fn batchpoke_register_keys(
    owner: *mut bindings::module,
    keys: *const *const Key,
    count: usize,
) -> c_int {
    if owner.is_null() || (keys.is_null() && count != 0) {
        return EINVAL.to_errno();
    }
    // SAFETY: `count` valid pointers (caller's contract); a reference to a
    // pointer-sized, non-null `*const Key` has the layout of `&Key`.
    let keys: &[&Key] = unsafe { core::slice::from_raw_parts(keys.cast(), count) };
    // SAFETY: the caller is `owner`, live and unregistering before it goes
    // (caller's contract, backed by the module notifier).
    errno(with_state(|state| unsafe { state.register(owner, keys) }))
}

/// Unregisters every key of `owner`.
///
/// # Safety
///
/// `owner` is the calling module.
#[no_mangle]
unsafe extern "C" fn batchpoke_unregister_keys(owner: *mut bindings::module) {
    let _ = with_state(|state| {
        state.unregister_module(owner);
        Ok(())
    });
}

/// Applies `count` changes at `changes` as one transaction, writing what it
/// did to `report` (may be null).
///
/// # Safety
///
/// `changes` points to `count` changes; `report` is null or writable.
#[no_mangle]
unsafe extern "C" fn batchpoke_apply(
    changes: *const Change,
    count: usize,
    flags: u32,
    report: *mut Report,
) -> c_int {
    if (changes.is_null() && count != 0) || flags & !APPLY_SERIAL != 0 {
        return EINVAL.to_errno();
    }
    let strategy = if flags & APPLY_SERIAL != 0 {
        Strategy::Serial
    } else {
        Strategy::Batch
    };
    // SAFETY: caller's contract.
    let changes = unsafe { core::slice::from_raw_parts(changes, count) };
    errno(with_state(|state| {
        let applied = state.apply_changes(changes, strategy)?;
        // SAFETY: null or writable (caller's contract).
        if let Some(report) = unsafe { report.as_mut() } {
            *report = Report {
                sites: applied.sites as u64,
                rounds: applied.rounds as u64,
            };
        }
        Ok(())
    }))
}

/// Copies batchpoke's counters to `stats`.
///
/// # Safety
///
/// `stats` is writable.
#[no_mangle]
unsafe extern "C" fn batchpoke_read_stats(stats: *mut Stats) {
    // SAFETY: caller's contract.
    if let Some(stats) = unsafe { stats.as_mut() } {
        *stats = STATS.snapshot();
    }
}
