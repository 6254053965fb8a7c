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

use crate::entry::die_notifier::Int3Handler;
use crate::machine::module::ModuleRef;
use crate::machine::perf;
use crate::machine::static_key::{Claimed, StaticChange};
use crate::machine::text::{TextAlias, TextGuard, TextLocks, TextPokes};
use crate::machine::time::now_ns;
use crate::machine::warn_bad_site;
use crate::pure::plan::{self, Ending, PlanError};
use crate::stats::STATS;

/// How a transaction's pokes are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Strategy {
    /// All sites in one batch: one sync round per transaction of
    /// batchpoke keys (their sites change their first byte only), three
    /// when it changes an ordinary static key ([`Ending`]).
    Batch = 0,
    /// One batch per site, as before batching, each ended with the
    /// kernel's final sync: two rounds per site of a batchpoke key, three
    /// per site of an ordinary static key.
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
    /// Finds the text locks, registers the int3 handler and connects
    /// `this` (batchpoke) to the kernel's `PERF_RECORD_TEXT_POKE`.
    pub(crate) fn new(this: ModuleRef<'_>) -> Result<Self> {
        let locks = TextLocks::find()?;
        let int3 = Int3Handler::register()?;
        let engine = Engine {
            locks,
            strategy: AtomicU8::new(Strategy::Batch as u8),
            _int3: int3,
        };
        engine.connect_perf(this)?;
        Ok(engine)
    }

    /// Aims batchpoke's stub at `perf_event_text_poke()` (see
    /// [`perf`]): one poke on its own text, by the protocol every site
    /// takes, before any transaction can announce a change through it.
    /// Not a transaction: the counters do not see it.
    fn connect_perf(&self, this: ModuleRef<'_>) -> Result {
        let (addr, len) = perf::stub_site();
        let current = this.read_core_text(addr, len).ok_or(EINVAL)?;
        let Some(poke) = perf::stub_poke(current) else {
            return Ok(());
        };
        let mut pokes = TextPokes::new();
        pokes.push(this, poke)?;
        self.patch(&mut pokes, &[], Strategy::Batch, Ending::Unsynced)
            .map(|_| ())
    }

    /// Changes the form of sites only batchpoke writes (see
    /// [`crate::pure::insn::Form`]): `pokes` as one batch, ended as
    /// `ending` says. Not a transaction: the counters see its sync rounds
    /// only.
    pub(crate) fn convert(&self, pokes: &mut TextPokes<'_>, ending: Ending) -> Result<Applied> {
        self.patch(pokes, &[], Strategy::Batch, ending)
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

    /// Takes the text locks, as a transaction does.
    pub(crate) fn lock_text(&self) -> TextGuard<'_> {
        self.locks.lock()
    }

    /// Applies `pokes` as one transaction, with the count of every ordinary
    /// static key in `statics` changed as the kernel changes it: all of it
    /// or, on any error, nothing. `pokes` is sorted and de-duplicated in
    /// place.
    pub(crate) fn apply(
        &self,
        pokes: &mut TextPokes<'_>,
        statics: &[StaticChange<'_>],
        strategy: Strategy,
    ) -> Result<Applied> {
        // The kernel's jump-label code writes an ordinary static key's
        // sites too, as soon as the locks drop: no trap on this batch's
        // int3s may still be in a handler then.
        let ending = if statics.is_empty() {
            Ending::Unsynced
        } else {
            Ending::Synced
        };
        let start = now_ns();
        let applied = self.patch(pokes, statics, strategy, ending)?;
        STATS.transaction(applied.sites, now_ns().saturating_sub(start));
        Ok(applied)
    }

    fn patch(
        &self,
        pokes: &mut TextPokes<'_>,
        statics: &[StaticChange<'_>],
        strategy: Strategy,
        ending: Ending,
    ) -> Result<Applied> {
        pokes.prepare().map_err(plan_error)?;
        if pokes.len() == 0 {
            if !statics.is_empty() {
                // Keys without sites to change still change state.
                let locked = self.locks.lock();
                Claimed::claim(&locked, statics)?.commit();
            }
            return Ok(Applied::default());
        }
        // Mapping allocates, so it comes before the locks; nothing is
        // written until the keys are claimed and the sites verified under
        // them.
        let alias = TextAlias::map(pokes)?;
        let locked = self.locks.lock();
        let claimed = Claimed::claim(&locked, statics)?;
        let mut text = locked.text(&alias, pokes).map_err(plan_error)?;
        match strategy {
            Strategy::Batch => plan::run_batch(pokes.as_slice(), &mut text, ending),
            Strategy::Serial => plan::run_serial(pokes.as_slice(), &mut text),
        };
        let rounds = text.rounds();
        drop(text);
        claimed.commit();
        // Every CPU now runs the new bytes; check they are what was meant.
        for (poke, now) in pokes.current() {
            if now != poke.new {
                pr_err!(
                    "site {:#x} holds {:02x?} after patching, expected {:02x?}\n",
                    poke.addr,
                    now.as_bytes(),
                    poke.new.as_bytes()
                );
                warn_bad_site(poke.addr);
            }
        }
        Ok(Applied {
            sites: pokes.len(),
            rounds,
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
