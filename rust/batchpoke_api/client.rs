// SPDX-License-Identifier: GPL-2.0

//! The calls a client module makes, as safe Rust over batchpoke's exported
//! functions (`rust/ffi/exports.rs`).
//!
//! ```ignore
//! define_key!(TRACE_IO: c"trace_io" = false);
//!
//! let registration = batchpoke_api::Registration::new(module, &[&TRACE_IO])?;
//! batchpoke_api::apply(&[Change::new(&TRACE_IO, true)])?;
//! ```

use core::ffi::c_int;

use kernel::prelude::*;

use super::{Change, Key, Report, Stats, APPLY_SERIAL};

// `struct module` contains arrays bindgen renders as empty structs, which
// the lint flags; only pointers to it cross the boundary.
#[allow(improper_ctypes)]
extern "C" {
    fn batchpoke_register_keys(
        owner: *mut kernel::bindings::module,
        keys: *const *const Key,
        count: usize,
    ) -> c_int;
    fn batchpoke_unregister_keys(owner: *mut kernel::bindings::module);
    fn batchpoke_apply(
        changes: *const Change,
        count: usize,
        flags: u32,
        report: *mut Report,
    ) -> c_int;
    fn batchpoke_read_stats(stats: *mut Stats);
}

/// A module's keys, registered with batchpoke until this is dropped.
///
/// # Invariants
///
/// `module`'s keys are registered while this exists.
pub struct Registration {
    module: &'static ThisModule,
}

impl Registration {
    /// Registers `keys`, which must be statics of `module` (the caller's
    /// `THIS_MODULE`), with every site batchpoke finds for them in the
    /// module's jump table. Their directories appear under
    /// `/sys/kernel/batchpoke/keys/<module>.<key>/`.
    pub fn new(module: &'static ThisModule, keys: &[&'static Key]) -> Result<Self> {
        // SAFETY: `keys` is a slice of references, which have the layout of
        // `*const Key`; `module` is the live calling module.
        let ret =
            unsafe { batchpoke_register_keys(module.as_ptr(), keys.as_ptr().cast(), keys.len()) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: registered just above.
        Ok(Registration { module })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the module is live (it is dropping its registration).
        unsafe { batchpoke_unregister_keys(self.module.as_ptr()) };
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
/// batch, three sync rounds whatever their number. All or nothing: an
/// unregistered key (`ENOENT`), a key named twice (`EINVAL`) or a site
/// changed behind batchpoke's back (`EIO`) changes nothing.
pub fn apply(changes: &[Change]) -> Result<Report> {
    apply_flags(changes, 0)
}

/// Like [`apply`], one site at a time (three rounds per site).
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
