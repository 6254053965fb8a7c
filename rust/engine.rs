// SPDX-License-Identifier: GPL-2.0

//! The batched patching engine: applies a vector of pokes with the int3
//! protocol while excluding every other text patcher.
//!
//! Lock order: the registry mutex, then the kernel's own order for text
//! patching: `cpus_read_lock()`, `jump_label_mutex`, `text_mutex` (see
//! [`TextLocks`]). Nothing here calls `static_key_*()`,
//! `register_kprobe()` or `text_poke*()`, which take those locks
//! themselves.

use core::sync::atomic::{AtomicU8, Ordering};

use kernel::prelude::*;

use crate::sys::int3::Int3Handler;
use crate::sys::text::{read_site, KernelText, TextAlias, TextLocks};
use crate::sys::time::now_ns;
use crate::pure::plan::{self, PlanError, Poke};
use crate::stats::STATS;

/// How a transaction's pokes are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Strategy {
    /// All sites in one batch: three sync rounds per transaction.
    Batch = 0,
    /// One batch per site, as before batching: three rounds per site.
    Serial = 1,
}

impl Strategy {
    /// The name `strategy` shows and accepts.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::Batch => "batch",
            Strategy::Serial => "serial",
        }
    }

    /// The strategy called `name`.
    pub(crate) fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"batch" => Some(Strategy::Batch),
            b"serial" => Some(Strategy::Serial),
            _ => None,
        }
    }
}

/// What applying one transaction did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Applied {
    /// Sites whose bytes changed.
    pub(crate) sites: usize,
    /// Sync rounds (IPI rounds to every online CPU).
    pub(crate) rounds: usize,
}

/// The engine: the int3 handler's registration and the text locks.
pub(crate) struct Engine {
    locks: TextLocks,
    strategy: AtomicU8,
    _int3: Int3Handler,
}

impl Engine {
    /// Finds the text locks and registers the int3 handler.
    pub(crate) fn new() -> Result<Self> {
        let locks = TextLocks::find()?;
        let int3 = Int3Handler::register()?;
        Ok(Engine {
            locks,
            strategy: AtomicU8::new(Strategy::Batch as u8),
            _int3: int3,
        })
    }

    /// The strategy transactions use.
    pub(crate) fn strategy(&self) -> Strategy {
        match self.strategy.load(Ordering::Relaxed) {
            1 => Strategy::Serial,
            _ => Strategy::Batch,
        }
    }

    /// Selects the strategy for later transactions.
    pub(crate) fn set_strategy(&self, strategy: Strategy) {
        self.strategy.store(strategy as u8, Ordering::Relaxed);
    }

    /// Applies `pokes` as one transaction: all of them or, on any error,
    /// none. `pokes` is sorted and de-duplicated in place.
    ///
    /// # Safety
    ///
    /// Every poke's site must lie in the text of a module that stays loaded
    /// during the call, and only batchpoke may patch those sites.
    pub(crate) unsafe fn apply(&self, pokes: &mut [Poke], strategy: Strategy) -> Result<Applied> {
        let start = now_ns();
        let applied = self.patch(pokes, strategy)?;
        STATS.transaction(applied.sites, now_ns().saturating_sub(start));
        Ok(applied)
    }

    fn patch(&self, pokes: &mut [Poke], strategy: Strategy) -> Result<Applied> {
        let len = plan::prepare(pokes).map_err(plan_error)?;
        let pokes = &pokes[..len];
        if pokes.is_empty() {
            return Ok(Applied::default());
        }
        // SAFETY: every site is in module text that stays loaded during the
        // call (the caller's contract). Mapping (which allocates) comes
        // before the locks; nothing is written until verified under them.
        let alias = unsafe { TextAlias::map(pokes)? };
        let locked = self.locks.lock();
        // SAFETY: every site is mapped module text (the caller's contract).
        plan::verify(pokes, |addr| unsafe { read_site(addr) }).map_err(plan_error)?;
        // SAFETY: the sites were verified just above under `locked`, and
        // `text` is only driven by run_batch/run_serial on `pokes`.
        let mut text = unsafe { KernelText::new(&alias, &locked) };
        match strategy {
            Strategy::Batch => plan::run_batch(pokes, &mut text),
            Strategy::Serial => plan::run_serial(pokes, &mut text),
        };
        // Every CPU now runs the new bytes; check they are what was meant.
        for poke in pokes {
            // SAFETY: as for `verify` above.
            let now = unsafe { read_site(poke.addr) };
            if now != poke.new {
                pr_err!(
                    "site {:#x} holds {:02x?} after patching, expected {:02x?}\n",
                    poke.addr,
                    now,
                    poke.new
                );
                // SAFETY: plain call.
                unsafe {
                    crate::sys::bindings::batchpoke_helper_warn_bad_site(
                        poke.addr as core::ffi::c_ulong,
                    )
                };
            }
        }
        Ok(Applied {
            sites: pokes.len(),
            rounds: text.rounds(),
        })
    }
}

/// The error code for a plan that cannot be applied.
fn plan_error(e: PlanError) -> Error {
    match e {
        PlanError::Unencodable { addr } => {
            pr_err!("site {:#x}: jump target out of rel32 range\n", addr);
            ERANGE
        }
        PlanError::Conflict { addr } | PlanError::Overlap { addr } => {
            pr_err!("site {:#x}: conflicting or overlapping changes\n", addr);
            EINVAL
        }
        PlanError::Unexpected { addr } => {
            pr_err!(
                "site {:#x} does not hold the bytes batchpoke left there: someone else patched it; transaction refused, nothing changed\n",
                addr
            );
            EIO
        }
    }
}
