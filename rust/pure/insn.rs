// SPDX-License-Identifier: GPL-2.0

//! The two instructions a batchpoke branch site can hold.
//!
//! A site is always exactly five bytes: the NOP5 `0f 1f 44 00 00` (fall
//! through) or `e9 rel32` (jump). Keeping both the same length means a site
//! never changes size and the int3 protocol only has to replace bytes.

/// Length of every branch-site instruction.
pub const INSN_SIZE: usize = 5;

/// The bytes of one branch-site instruction.
pub type Insn = [u8; INSN_SIZE];

/// The 5-byte NOP the kernel uses for jump-label sites (`nopl 0x0(%rax,%rax,1)`).
pub const NOP5: Insn = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// Opcode of `jmp rel32`.
pub const JMP32_OPCODE: u8 = 0xe9;

/// The breakpoint opcode that guards a site while its tail bytes change.
pub const INT3: u8 = 0xcc;

/// What a site's bytes mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Falls through to the next instruction.
    Nop,
    /// Jumps to the absolute address `target`.
    Jmp {
        /// Where execution continues.
        target: usize,
    },
}

/// Encodes `jmp target` placed at `site`, or `None` when the displacement
/// does not fit in a signed 32-bit field.
pub fn encode_jmp(site: usize, target: usize) -> Option<Insn> {
    let next = site.checked_add(INSN_SIZE)?;
    let rel = target.wrapping_sub(next) as isize;
    let rel = i32::try_from(rel).ok()?;
    let r = rel.to_le_bytes();
    Some([JMP32_OPCODE, r[0], r[1], r[2], r[3]])
}

/// Decodes the instruction `insn` found at `site`; `None` for anything that
/// is not one of the two site instructions.
pub fn decode(site: usize, insn: &Insn) -> Option<Decoded> {
    if *insn == NOP5 {
        return Some(Decoded::Nop);
    }
    if insn[0] != JMP32_OPCODE {
        return None;
    }
    let rel = i32::from_le_bytes([insn[1], insn[2], insn[3], insn[4]]);
    let next = site.checked_add(INSN_SIZE)?;
    Some(Decoded::Jmp {
        target: next.wrapping_add(rel as isize as usize),
    })
}

/// The instruction a site at `site`, whose jump goes to `target`, must hold
/// to jump (`true`) or fall through (`false`).
pub fn for_jump(site: usize, target: usize, jump: bool) -> Option<Insn> {
    if jump {
        encode_jmp(site, target)
    } else {
        Some(NOP5)
    }
}

/// Where execution continues after the instruction `insn` at `site`.
pub fn resume_address(site: usize, insn: &Insn) -> Option<usize> {
    match decode(site, insn)? {
        Decoded::Nop => site.checked_add(INSN_SIZE),
        Decoded::Jmp { target } => Some(target),
    }
}
