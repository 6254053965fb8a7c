// SPDX-License-Identifier: GPL-2.0

//! A branch site: two or five bytes of text that either fall through or
//! jump.

use super::insn::{self, Form, Insn, Width};

/// One branch site of a key, as its jump-table entry records it.
///
/// A site in the *unlikely* form falls through while its key is disabled;
/// one in the *likely* form falls through while its key is enabled. Either
/// way the site's branch result is the key's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// Address of the site's first byte.
    pub addr: usize,
    /// Where the site jumps to when it holds a jump.
    pub target: usize,
    /// `true` for the likely form (jump-table key bit 0).
    pub likely: bool,
    /// The width it was assembled with; it keeps it.
    pub width: Width,
    /// How it falls through: as compiled ([`Form::Kernel`]), or, while a
    /// batchpoke key of it is registered, [`Form::TailConstant`].
    pub form: Form,
}

impl Site {
    /// Whether the site must hold a jump while its key is `enabled`.
    pub fn jumps(&self, enabled: bool) -> bool {
        enabled != self.likely
    }

    /// The instruction the site holds while its key is `enabled`; `None`
    /// when the target is out of the jump's range.
    pub fn insn(&self, enabled: bool) -> Option<Insn> {
        insn::for_jump(
            self.addr,
            self.target,
            self.width,
            self.jumps(enabled),
            self.form,
        )
    }

    /// Whether the site's jump reaches its target: within rel8 for a
    /// short site, rel32 for a near one. Every instruction of the site
    /// but the NOP encodes that displacement (the tail-constant form
    /// too), so a site that does not reach can never be flipped. objtool
    /// only shortens a jump that reaches; a hand-written `__jump_table`
    /// record may not.
    pub fn reaches_target(&self) -> bool {
        insn::encode_jmp(self.addr, self.target, self.width).is_some()
    }

    /// The same site, falling through in `form`.
    pub fn in_form(&self, form: Form) -> Site {
        Site { form, ..*self }
    }

    /// The bytes past the site's last one.
    pub fn end(&self) -> usize {
        self.addr.saturating_add(self.width.len())
    }

    /// The key state a CPU observes when it runs this site holding `insn`,
    /// or `None` when `insn` is neither of the site's two instructions.
    pub fn observed_state(&self, insn: &Insn) -> Option<bool> {
        [false, true]
            .into_iter()
            .find(|&enabled| self.insn(enabled).as_ref() == Some(insn))
    }
}
