// SPDX-License-Identifier: GPL-2.0

//! Ordinary static keys (`struct static_key`) of client modules: their
//! count, which the kernel's static-key API reads and writes, kept true
//! while batchpoke patches their sites.
//!
//! The kernel changes a key's count in two ways. Under `jump_label_mutex`
//! (`static_key_enable()`, `static_key_disable()`, and any change from or
//! to 0), and without it from one positive count to another
//! (`static_key_slow_inc()`/`_dec()` fast paths). batchpoke changes it
//! under the same mutex: a disable takes the count from 1 to 0 with one
//! compare-and-exchange before the sites change; an enable leaves it at 0
//! (which nothing changes without the mutex) while the sites change and
//! sets 1 after. The kernel marks a key it is enabling with -1 instead,
//! but `static_key_disable()` reads the count without the mutex and WARNs
//! on -1 (seen under true parallelism on 6.12); on 0 it returns, as if it
//! had run just before the enable. A key whose count is above 1 belongs to
//! its `static_key_slow_inc()` users and is refused, and so is a key other
//! modules use (the kernel links it to their sites, which batchpoke does
//! not patch).

use core::cell::UnsafeCell;
use core::ffi::CStr;

use kernel::prelude::*;

use super::bindings;
use super::module::InModule;
use super::text::TextGuard;
use crate::batchpoke_api::Key;

/// A `struct static_key` in a client module's memory.
#[repr(transparent)]
pub(crate) struct StaticKey(UnsafeCell<bindings::static_key>);

// SAFETY: batchpoke changes the key only through the atomic operations on
// its count, and reads its type with `jump_label_mutex` held, like the
// kernel.
unsafe impl Sync for StaticKey {}
impl InModule for StaticKey {}

impl StaticKey {
    fn as_raw(&self) -> *mut bindings::static_key {
        self.0.get()
    }

    /// The address jump-table entries record for this key.
    pub(crate) fn raw_address(&self) -> usize {
        self.as_raw() as usize
    }

    /// The key's count, as `static_key_count()` reads it.
    pub(crate) fn count(&self) -> i32 {
        // SAFETY: `self` is a live key; the helper is an `atomic_read()`.
        unsafe { bindings::batchpoke_helper_static_key_count(self.as_raw()) }
    }

    /// Whether the key is enabled, as `static_key_enabled()` says.
    pub(crate) fn is_enabled(&self) -> bool {
        self.count() > 0
    }

    /// Whether batchpoke may change this key (called `name`) now: `EXDEV`
    /// when other modules use it, `EBUSY` when its count is above 1, each
    /// said in the log.
    pub(crate) fn check(&self, name: &CStr, _locked: &TextGuard<'_>) -> Result {
        // SAFETY: `self` is a live key; its type changes only under
        // `jump_label_mutex`, held (`_locked`).
        if unsafe { bindings::batchpoke_helper_static_key_linked(self.as_raw()) } {
            pr_err!(
                "static key {:?} is used by other modules too: batchpoke cannot patch their sites, so it refuses the key\n",
                name
            );
            return Err(EXDEV);
        }
        let count = self.count();
        if count > 1 {
            pr_err!(
                "static key {:?} has count {} (static_key_slow_inc() users): batchpoke refuses it\n",
                name,
                count
            );
            return Err(EBUSY);
        }
        Ok(())
    }

    fn cmpxchg(&self, old: i32, new: i32) -> bool {
        // SAFETY: `self` is a live key; an `atomic_cmpxchg()` of its count.
        unsafe { bindings::batchpoke_helper_static_key_cmpxchg(self.as_raw(), old, new) }
    }

    fn set(&self, count: i32) {
        // SAFETY: `self` is a live key; an `atomic_set_release()` of its count.
        unsafe { bindings::batchpoke_helper_static_key_set(self.as_raw(), count) }
    }
}

/// The `struct static_key` at the head of a batchpoke key, through which
/// the kernel's jump-label code could patch the key's sites: the module
/// loader links it to them (`jump_label_add_module()`), and a client may
/// hand it to `static_key_enable()` or `static_key_slow_inc()`.
///
/// batchpoke resolves a late int3 at such a site without a final sync
/// round only because nothing else ever writes the site, so registration
/// takes that link away: with no entries, `jump_label_update()` patches
/// nothing, and the kernel's API only moves a count batchpoke never reads.
pub(crate) struct BatchpokeKeyLink<'a>(&'a Key);

impl<'a> BatchpokeKeyLink<'a> {
    /// The link of `key`.
    pub(crate) fn of(key: &'a Key) -> Self {
        BatchpokeKeyLink(key)
    }

    fn as_raw(&self) -> *mut bindings::static_key {
        self.0.raw_address() as *mut bindings::static_key
    }

    /// `EXDEV` (said in the log) when other modules branch on the key: the
    /// kernel links it to their sites, which batchpoke does not patch.
    pub(crate) fn check(&self, name: &CStr, _locked: &TextGuard<'_>) -> Result {
        // SAFETY: `key` is a live key in its owner's memory; its type
        // changes only under `jump_label_mutex`, held (`_locked`).
        if unsafe { bindings::batchpoke_helper_static_key_linked(self.as_raw()) } {
            pr_err!(
                "key {:?} is used by other modules too: batchpoke cannot patch their sites, so it refuses the key\n",
                name
            );
            return Err(EXDEV);
        }
        Ok(())
    }

    /// Unlinks the key from its sites, for good (see the type).
    pub(crate) fn detach(&self, _locked: &TextGuard<'_>) {
        // SAFETY: as in `check`: the kernel reads and writes the entries
        // pointer under `jump_label_mutex`, held (`_locked`).
        unsafe { bindings::batchpoke_helper_static_key_detach(self.as_raw()) };
    }
}

/// One static key's part of a transaction: its state when the pokes were
/// planned (`from`) and the state asked for (`to`).
pub(crate) struct StaticChange<'a> {
    pub(crate) key: &'a StaticKey,
    pub(crate) name: &'a CStr,
    pub(crate) from: bool,
    pub(crate) to: bool,
}

/// The static keys of a transaction, claimed under `jump_label_mutex`:
/// each checked, and each that is disabled counted down to 0 already.
/// Dropped without [`Claimed::commit`] (the sites did not change), every
/// claimed key gets its count back.
///
/// # Invariants
///
/// The first `claimed` of `changes` passed the checks and, if they change
/// state, hold count 0 (set by this claim for a disable, found for an
/// enable); the text locks are held (`_locked`), so no one else changes
/// those counts.
pub(crate) struct Claimed<'a> {
    changes: &'a [StaticChange<'a>],
    claimed: usize,
    _locked: &'a TextGuard<'a>,
}

impl<'a> Claimed<'a> {
    /// Claims every key of `changes`: `EXDEV`/`EBUSY` as
    /// [`StaticKey::check`] says, `EAGAIN` if a key's state is no longer
    /// the one its pokes were planned from. Nothing stays claimed on error.
    pub(crate) fn claim(
        locked: &'a TextGuard<'a>,
        changes: &'a [StaticChange<'a>],
    ) -> Result<Self> {
        let mut claimed = Claimed {
            changes,
            claimed: 0,
            _locked: locked,
        };
        for change in changes {
            change.key.check(change.name, locked)?;
            if change.key.is_enabled() != change.from {
                pr_err!(
                    "static key {:?} changed state while the transaction was planned: try again\n",
                    change.name
                );
                return Err(EAGAIN);
            }
            if change.from && !change.to {
                if !change.key.cmpxchg(1, 0) {
                    pr_err!(
                        "static key {:?} was counted up (static_key_slow_inc()) during the transaction: batchpoke refuses it\n",
                        change.name
                    );
                    return Err(EBUSY);
                }
            }
            // INVARIANT: checked and, if it changes, marked just above.
            claimed.claimed += 1;
        }
        Ok(claimed)
    }

    /// The sites hold the new states: enabled keys' counts become 1.
    pub(crate) fn commit(mut self) {
        for change in self.claimed_changes() {
            if change.to && !change.from {
                change.key.set(1);
            }
        }
        // INVARIANT: nothing left to give back.
        self.claimed = 0;
    }

    fn claimed_changes(&self) -> &'a [StaticChange<'a>] {
        self.changes.get(..self.claimed).unwrap_or(&[])
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        for change in self.claimed_changes() {
            if change.from && !change.to {
                change.key.set(1);
            }
        }
    }
}
