// SPDX-License-Identifier: GPL-2.0

//! The calls a client module makes, as safe Rust over batchpoke's exported
//! functions (`rust/entry/exports.rs`).
//!
//! ```ignore
//! define_key!(TRACE_IO: c"trace_io" = false);
//!
//! let registration = batchpoke_api::Registration::new(module, &[&TRACE_IO])?;
//! batchpoke_api::apply(&[Change::new(&TRACE_IO, true)])?;
//! ```

// FFI (see rust/entry/mod.rs); client modules compile this file too.
#![allow(unsafe_code)]

use kernel::alloc::flags::__GFP_NOWARN;
use kernel::prelude::*;

use super::{Change, Key, Report, Stats, APPLY_SERIAL};

/// batchpoke's exported C entry points, which the safe API below wraps.
/// Only tests call them directly (with what the wrappers never pass).
#[doc(hidden)]
pub mod raw {
    use core::ffi::c_int;

    use super::{Change, Key, Report, Stats};

    /// Most keys one call registers or unregisters, and most changes one
    /// transaction holds (`BATCHPOKE_MAX_KEYS`): larger counts get `E2BIG`.
    pub const MAX_KEYS: usize = 1 << 16;

    /// Most sites one transaction changes (`BATCHPOKE_MAX_SITES`).
    pub const MAX_SITES: usize = 1 << 16;

    // `struct module` contains arrays bindgen renders as empty structs,
    // which the lint flags; only pointers to it cross the boundary.
    #[allow(improper_ctypes)]
    extern "C" {
        pub fn batchpoke_register_keys(
            owner: *mut kernel::bindings::module,
            keys: *const *const Key,
            count: usize,
        ) -> c_int;
        pub fn batchpoke_unregister_keys(
            owner: *mut kernel::bindings::module,
            keys: *const *const Key,
            count: usize,
        );
        pub fn batchpoke_apply(
            changes: *const Change,
            count: usize,
            flags: u32,
            report: *mut Report,
        ) -> c_int;
        pub fn batchpoke_read_stats(stats: *mut Stats);
    }
}

use raw::{
    batchpoke_apply, batchpoke_read_stats, batchpoke_register_keys, batchpoke_unregister_keys,
};

/// A module's keys, registered with batchpoke until this is dropped.
///
/// A module may hold several registrations; dropping one unregisters its
/// own keys only.
///
/// # Invariants
///
/// `keys` of `module` are registered while this exists.
pub struct Registration {
    module: &'static ThisModule,
    keys: KVec<*const Key>,
}

// SAFETY: the pointers designate `Sync` statics and are only passed back to
// batchpoke, from any thread.
unsafe impl Send for Registration {}
// SAFETY: as above; `&Registration` allows nothing.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `keys`, which must be statics of `module` (the caller's
    /// `THIS_MODULE`), with every site batchpoke finds for them in the
    /// module's jump table. Their directories appear under
    /// `/sys/kernel/batchpoke/keys/<module>.<key>/`.
    ///
    /// `E2BIG` for more than [`raw::MAX_KEYS`] keys, `EEXIST` for a key
    /// registered already or listed twice, `EFAULT` for a key that is not
    /// a writable static of `module`; the other errors are
    /// `batchpoke_register_keys()`'s (`batchpoke.h`).
    pub fn new(module: &'static ThisModule, keys: &[&'static Key]) -> Result<Self> {
        if keys.len() > raw::MAX_KEYS {
            return Err(E2BIG);
        }
        let mut raw = KVec::with_capacity(keys.len(), GFP_KERNEL | __GFP_NOWARN)?;
        for &key in keys {
            raw.push(core::ptr::from_ref(key), GFP_KERNEL | __GFP_NOWARN)?;
        }
        // SAFETY: `raw` holds `raw.len()` key pointers; `module` is the live
        // calling module, whose statics the keys are.
        let ret = unsafe { batchpoke_register_keys(module.as_ptr(), raw.as_ptr(), raw.len()) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: registered just above.
        Ok(Registration { module, keys: raw })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the module is live (it is dropping its registration);
        // `keys` holds `keys.len()` pointers.
        unsafe {
            batchpoke_unregister_keys(self.module.as_ptr(), self.keys.as_ptr(), self.keys.len())
        };
    }
}

fn apply_flags(changes: &[Change], flags: u32) -> Result<Report> {
    let mut report = Report::default();
    // SAFETY: `changes` and `report` are valid for the call; batchpoke
    // checks that every key is registered.
    let ret = unsafe { batchpoke_apply(changes.as_ptr(), changes.len(), flags, &mut report) };
    if ret != 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(report)
}

/// Applies `changes` as one transaction: every site of every key in one
/// batch, one sync round whatever their number. All or nothing: an
/// unregistered key (`ENOENT`), a key named twice (`EINVAL`), more than
/// [`raw::MAX_KEYS`] changes or [`raw::MAX_SITES`] sites (`E2BIG`) or a
/// site changed behind batchpoke's back (`EIO`) changes nothing.
pub fn apply(changes: &[Change]) -> Result<Report> {
    apply_flags(changes, 0)
}

/// Like [`apply`], one site at a time (two rounds per site).
pub fn apply_serial(changes: &[Change]) -> Result<Report> {
    apply_flags(changes, APPLY_SERIAL)
}

/// Sets one key.
pub fn set(key: &'static Key, enable: bool) -> Result<Report> {
    apply(&[Change::new(key, enable)])
}

/// batchpoke's counters.
pub fn stats() -> Stats {
    let mut stats = Stats::default();
    // SAFETY: `stats` is valid for writes.
    unsafe { batchpoke_read_stats(&mut stats) };
    stats
}
