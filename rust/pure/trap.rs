// SPDX-License-Identifier: GPL-2.0

//! Where a CPU goes when it traps on the int3 at a registered site, at any
//! time: during a batch or after it.
//!
//! A batch publishes its vector of pokes for the duration of the protocol.
//! A CPU that fetched the int3 late, after the vector was retired (a stale
//! fetch; a real machine's serialization rules exclude it after a sync,
//! an emulator's may not), still finds its site in the table of every
//! registered site, and continues as the bytes the site holds now say:
//! they are one of the site's instructions, the one the batch left (a
//! site only batchpoke writes has three: its jump and its fall-through in
//! either form, since registration converts sites already in the table).
//!
//! An int3 that no batchpoke batch accounts for can also sit on a site
//! that is not batchpoke's alone ([`Writers::BatchpokeAndKernel`]): an
//! ordinary static key's sites are patched by the kernel's own jump-label
//! code too, and a CPU can trap (on batchpoke's int3, or on a stale fetch)
//! just before that code writes its int3, then reach batchpoke's handler
//! after the kernel's own handler has declined the trap. That writer is
//! then in the middle of changing the site from one of its two
//! instructions to the other, and cannot pass its first sync round while
//! this CPU is in the handler (interrupts are off there): the tail is still
//! the one of the instruction it is replacing, and running either
//! instruction is running the old or the new one of a change in progress.
//! The tail picks the instruction; where both have the same tail either is
//! right, and the site's disabled-state instruction is taken. Bytes that
//! are neither instruction are someone else's and are left to the kernel.

use super::insn::{self, Form, Insn, INT3};
use super::plan::Poke;
use super::search::AtAddress;
use super::site::Site;

/// A registered site as the int3 handler keeps it: its instructions and
/// where each one continues.
///
/// # Invariants
///
/// `resumes[i]` is where `insns[i]`, placed at `addr`, continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapSite {
    addr: usize,
    /// Index 0: the instruction for the key disabled; 1: enabled, in the
    /// site's form; 2: its fall-through in the other form, which a site
    /// only batchpoke writes holds before or after its conversion (for a
    /// site the kernel writes too, the kernel's fall-through again).
    insns: [Insn; 3],
    resumes: [usize; 3],
    writers: Writers,
}

/// Who writes a site's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writers {
    /// batchpoke alone: its own keys, which the kernel never patches.
    Batchpoke,
    /// batchpoke and the kernel's jump-label code: an ordinary static key.
    BatchpokeAndKernel,
}

impl AtAddress for TrapSite {
    #[inline(always)]
    fn addr(&self) -> usize {
        self.addr
    }
}

impl TrapSite {
    /// The site's length in bytes.
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)] // A site is never zero bytes.
    pub fn len(&self) -> usize {
        self.insns[0].len()
    }

    /// The entry of `site`, which only batchpoke writes; `None` if one of
    /// its instructions cannot be encoded (such a site is never
    /// registered).
    pub fn new(site: &Site) -> Option<TrapSite> {
        TrapSite::written_by(site, Writers::Batchpoke)
    }

    /// The entry of `site`, whose bytes `writers` write; `None` as for
    /// [`TrapSite::new`].
    pub fn written_by(site: &Site, writers: Writers) -> Option<TrapSite> {
        let other_fall_through = match (writers, site.form) {
            (Writers::BatchpokeAndKernel, _) => site.in_form(Form::Kernel),
            (Writers::Batchpoke, Form::Kernel) => site.in_form(Form::TailConstant),
            (Writers::Batchpoke, Form::TailConstant) => site.in_form(Form::Kernel),
        };
        let insns = [
            site.insn(false)?,
            site.insn(true)?,
            other_fall_through.insn(site.likely)?,
        ];
        let resumes = [
            insn::resume_address(site.addr, &insns[0])?,
            insn::resume_address(site.addr, &insns[1])?,
            insn::resume_address(site.addr, &insns[2])?,
        ];
        // INVARIANT: each resume address is computed from its instruction.
        Some(TrapSite {
            addr: site.addr,
            insns,
            resumes,
            writers,
        })
    }

    /// Where a CPU continues that trapped on the int3 `now` holds at this
    /// site while no batchpoke batch accounts for it: as the instruction
    /// whose tail `now` has (the one the kernel is replacing), the
    /// disabled-state one where both share the tail. `None` when the tail
    /// is neither's, or when only batchpoke writes the site: its own int3s
    /// are always accounted for by its batch, so such a trap is not one it
    /// can explain. Without a call or a panic path.
    #[inline(always)]
    pub fn resume_under_int3(&self, now: &Insn) -> Option<usize> {
        let [disabled, enabled, _] = &self.insns;
        if self.writers == Writers::Batchpoke {
            None
        } else if now.same_tail(disabled) {
            Some(self.resumes[0])
        } else if now.same_tail(enabled) {
            Some(self.resumes[1])
        } else {
            None
        }
    }
}

/// Where a CPU that trapped on the first byte of a site continues, given
/// the site's entry in the table (`listed`), the bytes it holds now (`now`)
/// and the active batch's change of it (`active`, if the site is in the
/// published vector).
///
/// With an int3 in place, the active batch says which instruction is being
/// put there: the new one, as while the batch runs. An int3 the active
/// batch does not account for, at a site the kernel writes too, is the
/// kernel's, mid-change: the tail says which of the site's two
/// instructions it is replacing ([`TrapSite::resume_under_int3`]). Without an int3, the trap was a stale
/// fetch of an int3 already replaced, and the site's current instruction,
/// one of its two, is what the CPU would have run. `None`: not a trap at a
/// site batchpoke knows, or bytes that are neither of its instructions.
#[inline(always)]
pub fn resolve(listed: Option<&TrapSite>, now: &Insn, active: Option<&Poke>) -> Option<usize> {
    if now.first() == INT3 {
        return match active {
            Some(poke) => Some(poke.resume),
            None => listed?.resume_under_int3(now),
        };
    }
    if let Some(poke) = active.filter(|poke| *now == poke.new) {
        return Some(poke.resume);
    }
    let site = listed?;
    if *now == site.insns[0] {
        Some(site.resumes[0])
    } else if *now == site.insns[1] {
        Some(site.resumes[1])
    } else if *now == site.insns[2] {
        Some(site.resumes[2])
    } else {
        None
    }
}

/// Sorts a table of sites by address, for [`super::search::find`].
pub fn sort(table: &mut [TrapSite]) {
    super::sort::sort_by_key(table, |site| site.addr);
}

/// Whether every site of the sorted table `old` is also in the sorted
/// table `new`: if not, sites leave the handler's table, and a CPU could
/// still run a stale int3 at one of them unless every CPU serializes first.
pub fn keeps_every_site(old: &[TrapSite], new: &[TrapSite]) -> bool {
    let mut new = new.iter().map(|site| site.addr).peekable();
    old.iter().all(|site| {
        while new.next_if(|&addr| addr < site.addr).is_some() {}
        new.next_if_eq(&site.addr).is_some()
    })
}
