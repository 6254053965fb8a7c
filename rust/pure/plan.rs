// SPDX-License-Identifier: GPL-2.0

//! From key changes to the exact byte writes of the int3 protocol.
//!
//! A transaction becomes a vector of [`Poke`]s sorted by address, with
//! duplicates merged and overlaps refused ([`prepare`]). [`run_batch`] then
//! applies the protocol to the whole vector at once:
//!
//! 1. [`Phase::Int3`]: an int3 on the first byte of every site, sync;
//! 2. [`Phase::Tail`]: the new tail bytes of every site whose tail changes,
//!    sync (skipped when no tail changes: always, for sites in the
//!    tail-constant form, [`super::insn::Form`], so a batch of batchpoke
//!    keys takes one round);
//! 3. [`Phase::Head`]: the new first byte of every site; no sync.
//!
//! While the batch is published, a CPU that traps on one of the int3s is
//! sent to where the *new* instruction would take it ([`Poke::resume`]), so
//! every CPU runs either the old or the new instruction, never a mix.
//!
//! The kernel syncs once more after the first bytes, so that no CPU can
//! still run an int3 once its vector is gone. Where nothing but batchpoke
//! ever writes a site (batchpoke's own keys: [`Ending::Unsynced`]) that
//! third round can be left out: after the tail sync every CPU sees the new
//! tails, so the only stale fetch left is an int3 at a first byte, and the
//! int3 handler resolves that at any time from its table of every
//! registered site and the bytes the site holds ([`super::trap`]). An
//! ordinary static key's sites are also written by the kernel's own
//! jump-label code, which may put *its* int3 on a site as soon as the
//! locks drop; a CPU still inside batchpoke's handler for the old int3
//! would then meet an int3 no batch accounts for. A batch that touches such
//! a site ends with the third round ([`Ending::Synced`]): it cannot
//! complete while any CPU is in an int3 handler (interrupts are off
//! there), so no trap of this batch outlives it. A sync round is also spent
//! when sites leave the handler's table, which is rare. [`run_serial`], the
//! one-site-at-a-time baseline, keeps the kernel's three rounds.

use super::insn::{self, Form, Insn, INT3};
use super::search::AtAddress;
use super::site::Site;

/// One site's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poke {
    /// Address of the site.
    pub addr: usize,
    /// The bytes the site must hold before the change.
    pub old: Insn,
    /// The bytes it holds after.
    pub new: Insn,
    /// Where a CPU trapping on the site continues: after the new instruction.
    pub resume: usize,
}

/// Why a transaction cannot be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The site's jump target is out of `jmp rel32` range.
    Unencodable {
        /// The site.
        addr: usize,
    },
    /// Two changes want different bytes at the same site.
    Conflict {
        /// The site.
        addr: usize,
    },
    /// Two sites overlap.
    Overlap {
        /// The later of the two sites.
        addr: usize,
    },
    /// A site does not hold the bytes the change expects.
    Unexpected {
        /// The site.
        addr: usize,
    },
}

impl AtAddress for Poke {
    #[inline(always)]
    fn addr(&self) -> usize {
        self.addr
    }
}

impl Poke {
    /// The change of `site` from key state `from` to `to`; `Ok(None)` when
    /// the site's bytes stay the same.
    pub fn for_site(site: &Site, from: bool, to: bool) -> Result<Option<Poke>, PlanError> {
        Poke::between(site.addr, site.insn(from), site.insn(to))
    }

    /// The change that puts `site`, its key `enabled`, in `form`;
    /// `Ok(None)` when its bytes are the same in both forms (it jumps, or
    /// is in `form` already).
    pub fn converting(site: &Site, enabled: bool, form: Form) -> Result<Option<Poke>, PlanError> {
        Poke::between(
            site.addr,
            site.insn(enabled),
            site.in_form(form).insn(enabled),
        )
    }

    fn between(
        addr: usize,
        old: Option<Insn>,
        new: Option<Insn>,
    ) -> Result<Option<Poke>, PlanError> {
        let err = PlanError::Unencodable { addr };
        let (old, new) = (old.ok_or(err)?, new.ok_or(err)?);
        if old.len() != new.len() {
            return Err(err);
        }
        if old == new {
            return Ok(None);
        }
        let resume = insn::resume_address(addr, &new).ok_or(err)?;
        Ok(Some(Poke {
            addr,
            old,
            new,
            resume,
        }))
    }

    /// Whether any byte after the first changes.
    pub fn tail_changes(&self) -> bool {
        self.old.as_bytes().get(1..) != self.new.as_bytes().get(1..)
    }

    /// The site's length: its instructions' (both have the site's width).
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)] // A site is never zero bytes.
    pub fn len(&self) -> usize {
        self.new.len()
    }

    /// The address past the site's last byte.
    pub fn end(&self) -> usize {
        self.addr.saturating_add(self.len())
    }
}

/// Sorts `pokes` by address, merges identical duplicates and refuses
/// conflicting or overlapping ones. Returns how many leading entries of
/// `pokes` make up the prepared vector.
pub fn prepare(pokes: &mut [Poke]) -> Result<usize, PlanError> {
    super::sort::sort_by_key(pokes, |p| p.addr);
    let mut len = 0;
    for i in 0..pokes.len() {
        let poke = pokes[i];
        if len > 0 {
            let last = pokes[len - 1];
            if last.addr == poke.addr {
                if last != poke {
                    return Err(PlanError::Conflict { addr: poke.addr });
                }
                continue;
            }
            if last.end() > poke.addr {
                return Err(PlanError::Overlap { addr: poke.addr });
            }
        }
        pokes[len] = poke;
        len += 1;
    }
    Ok(len)
}

/// Checks that every site holds the bytes its change expects, reading each
/// site with `read(addr, len)`. Nothing may be written unless this passes.
pub fn verify(pokes: &[Poke], mut read: impl FnMut(usize, usize) -> Insn) -> Result<(), PlanError> {
    match pokes.iter().find(|p| read(p.addr, p.len()) != p.old) {
        Some(p) => Err(PlanError::Unexpected { addr: p.addr }),
        None => Ok(()),
    }
}

/// The three phases of the int3 protocol, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Guard every site with an int3.
    Int3,
    /// Write the new tail bytes.
    Tail,
    /// Replace the int3 with the new first byte.
    Head,
}

/// The phases in the order they run.
pub const PHASES: [Phase; 3] = [Phase::Int3, Phase::Tail, Phase::Head];

const INT3_BYTE: [u8; 1] = [INT3];

impl Phase {
    /// What this phase writes to `poke`'s site: the offset into the site
    /// and the bytes, or `None`.
    pub fn write(self, poke: &Poke) -> Option<(usize, &[u8])> {
        let new = poke.new.as_bytes();
        match self {
            Phase::Int3 => Some((0, &INT3_BYTE)),
            Phase::Tail if poke.tail_changes() => Some((1, new.get(1..)?)),
            Phase::Tail => None,
            Phase::Head => Some((0, new.get(..1)?)),
        }
    }
}

/// What the protocol needs from the machine.
pub trait Text {
    /// Makes `pokes` visible to the int3 handler.
    fn publish(&mut self, pokes: &[Poke]);
    /// Writes `bytes` at `addr`.
    fn write(&mut self, addr: usize, bytes: &[u8]);
    /// Makes every CPU serialize, so that all writes so far are what every
    /// CPU executes from now on.
    fn sync(&mut self);
    /// Tells tracers that `pokes` change now, while every site holds an
    /// int3 and its new tail and before any new first byte is written: the
    /// point the kernel's own batch emits `PERF_RECORD_TEXT_POKE` at, so a
    /// decoder sees the old flow or the int3 before it, the new flow or
    /// the int3 after it.
    fn announce(&mut self, pokes: &[Poke]);
    /// Withdraws the published vector once no handler can still use it.
    fn retire(&mut self);
}

/// How a batch ends once the new first bytes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// No third round: nothing but batchpoke writes these sites, and its
    /// int3 handler resolves a late trap at any of them from its table.
    Unsynced,
    /// The kernel's third round before the vector is retired and the locks
    /// drop: another patcher (the kernel's jump-label code, for ordinary
    /// static keys) may put its own int3 on these sites afterwards.
    Synced,
}

/// Applies the prepared vector `pokes` as one batch. Returns the number of
/// sync rounds used: 2 (3 when `ending` is [`Ending::Synced`]), one fewer
/// when no tail changes (1 for sites in the tail-constant form), or 0 for
/// no pokes.
pub fn run_batch<T: Text>(pokes: &[Poke], text: &mut T, ending: Ending) -> usize {
    run(pokes, text, ending)
}

/// Applies the prepared vector one site at a time, the way patching worked
/// before batching, with the kernel's final sync: every site is a batch of
/// one taking three rounds (two when its tail stays, as in the
/// tail-constant form).
pub fn run_serial<T: Text>(pokes: &[Poke], text: &mut T) -> usize {
    pokes
        .iter()
        .map(|poke| run(core::slice::from_ref(poke), text, Ending::Synced))
        .sum()
}

/// The protocol on one vector, ended as `ending` says.
fn run<T: Text>(pokes: &[Poke], text: &mut T, ending: Ending) -> usize {
    if pokes.is_empty() {
        return 0;
    }
    text.publish(pokes);
    let mut rounds = 0;
    for phase in PHASES {
        if phase == Phase::Head {
            text.announce(pokes);
        }
        let mut wrote = false;
        for poke in pokes {
            if let Some((offset, bytes)) = phase.write(poke) {
                text.write(poke.addr.wrapping_add(offset), bytes);
                wrote = true;
            }
        }
        if wrote && (phase != Phase::Head || ending == Ending::Synced) {
            text.sync();
            rounds += 1;
        }
    }
    text.retire();
    rounds
}
