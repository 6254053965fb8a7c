// SPDX-License-Identifier: GPL-2.0

//! The instructions a branch site can hold.
//!
//! A site keeps the width it was assembled with: five bytes (`NOP5`
//! `0f 1f 44 00 00`, or `e9 rel32`) or, where objtool shortened it, two
//! (`NOP2` `66 90`, or `eb rel8`). Both of a site's instructions have its
//! width, so a site never changes size and the int3 protocol only has to
//! replace bytes. These are the encodings the kernel's own jump-label code
//! writes and expects (`arch/x86/kernel/jump_label.c`), so a site
//! batchpoke patched is one the kernel can patch next.
//!
//! A site only batchpoke writes (a batchpoke key's) falls through in a
//! second form while registered ([`Form::TailConstant`]): `test eax,
//! imm32` (`a9`) or `test al, imm8` (`a8`) whose immediate is the jump's
//! displacement. Its tail is the jump's, so a flip writes the first byte
//! only, the one change the int3 protocol makes in one sync round. `test`
//! writes the flags, which a site may therefore not keep live across it
//! (the site macros do not declare `preserves_flags`).

/// Length of the longest site instruction.
pub const MAX_INSN_SIZE: usize = 5;

/// The breakpoint opcode that guards a site while its tail bytes change.
pub const INT3: u8 = 0xcc;

/// Opcode of `jmp rel32`.
pub const JMP32_OPCODE: u8 = 0xe9;

/// Opcode of `jmp rel8`.
pub const JMP8_OPCODE: u8 = 0xeb;

/// Opcode of `test eax, imm32`: falls through, five bytes like `jmp rel32`.
pub const TEST32_OPCODE: u8 = 0xa9;

/// Opcode of `test al, imm8`: falls through, two bytes like `jmp rel8`.
pub const TEST8_OPCODE: u8 = 0xa8;

/// How a site falls through; it jumps with `jmp` in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The kernel's NOP: what the compiler emits, and what the kernel's
    /// jump-label code and objtool expect at a `__jump_table` site.
    Kernel,
    /// `test` with the jump's displacement as its immediate: the same
    /// tail as the jump, so a flip changes the first byte only.
    TailConstant,
}

impl Form {
    /// The form of a site whose first byte is `first`: only the
    /// tail-constant fall-through starts with a `test` opcode.
    pub fn holding(first: u8) -> Form {
        match first {
            TEST32_OPCODE | TEST8_OPCODE => Form::TailConstant,
            _ => Form::Kernel,
        }
    }
}

/// How wide a site is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Two bytes: `NOP2` or `jmp rel8`.
    Short,
    /// Five bytes: `NOP5` or `jmp rel32`.
    Near,
}

impl Width {
    /// The width's length in bytes.
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)] // A width is never zero bytes.
    pub const fn len(self) -> usize {
        match self {
            Width::Short => 2,
            Width::Near => 5,
        }
    }

    /// The width of a site whose instruction starts with `first`, `second`:
    /// `None` for anything that is not a site instruction.
    pub fn of(first: u8, second: u8) -> Option<Width> {
        match (first, second) {
            (JMP8_OPCODE | TEST8_OPCODE, _) | (0x66, 0x90) => Some(Width::Short),
            (JMP32_OPCODE | TEST32_OPCODE, _) | (0x0f, 0x1f) => Some(Width::Near),
            _ => None,
        }
    }
}

/// The bytes of one site instruction.
///
/// # Invariants
///
/// `len` is 1 to [`MAX_INSN_SIZE`] and the bytes past it are zero, so
/// two `Insn`s are equal exactly when their bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    bytes: [u8; MAX_INSN_SIZE],
    len: u8,
}

impl Insn {
    /// The first `len` bytes of `bytes` (at least 1, at most
    /// [`MAX_INSN_SIZE`]), without a call or a panic path: the int3
    /// handler builds its reads with this.
    #[inline(always)]
    pub const fn from_prefix(bytes: [u8; MAX_INSN_SIZE], len: usize) -> Insn {
        let len = if len == 0 {
            1
        } else if len > MAX_INSN_SIZE {
            MAX_INSN_SIZE
        } else {
            len
        };
        // Spelled out: a loop from `len` becomes a call to `memset`.
        let keep = [true, len > 1, len > 2, len > 3, len > 4];
        // INVARIANT: `len` clamped to 1..=MAX_INSN_SIZE, the rest zeroed.
        Insn {
            bytes: [
                bytes[0],
                if keep[1] { bytes[1] } else { 0 },
                if keep[2] { bytes[2] } else { 0 },
                if keep[3] { bytes[3] } else { 0 },
                if keep[4] { bytes[4] } else { 0 },
            ],
            len: len as u8,
        }
    }

    /// `bytes` as an instruction: `None` if empty or too long.
    pub fn from_slice(bytes: &[u8]) -> Option<Insn> {
        if bytes.is_empty() || bytes.len() > MAX_INSN_SIZE {
            return None;
        }
        let mut all = [0; MAX_INSN_SIZE];
        for (to, from) in all.iter_mut().zip(bytes) {
            *to = *from;
        }
        Some(Insn::from_prefix(all, bytes.len()))
    }

    /// The instruction's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // By the type invariant `len` is in bounds.
        self.bytes.get(..self.len as usize).unwrap_or(&self.bytes)
    }

    /// The first byte.
    #[inline(always)]
    pub const fn first(&self) -> u8 {
        self.bytes[0]
    }

    /// The length in bytes.
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)] // Never empty (type invariant).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether `other` has this instruction's length and the same bytes
    /// after the first. Without a call or a panic path (the int3 handler
    /// uses it): the bytes past `len` are zero in both (type invariant).
    #[inline(always)]
    pub const fn same_tail(&self, other: &Insn) -> bool {
        self.len == other.len
            && self.bytes[1] == other.bytes[1]
            && self.bytes[2] == other.bytes[2]
            && self.bytes[3] == other.bytes[3]
            && self.bytes[4] == other.bytes[4]
    }

    /// The width this instruction's length is, if it is a site's.
    pub fn width(&self) -> Option<Width> {
        match self.len() {
            2 => Some(Width::Short),
            5 => Some(Width::Near),
            _ => None,
        }
    }
}

/// The 5-byte NOP the kernel uses for jump-label sites (`nopl 0x0(%rax,%rax,1)`).
pub const NOP5: Insn = Insn::from_prefix([0x0f, 0x1f, 0x44, 0x00, 0x00], 5);

/// The 2-byte NOP the kernel uses for short jump-label sites (`xchg %ax,%ax`).
pub const NOP2: Insn = Insn::from_prefix([0x66, 0x90, 0, 0, 0], 2);

/// The NOP of `width`.
pub const fn nop(width: Width) -> Insn {
    match width {
        Width::Short => NOP2,
        Width::Near => NOP5,
    }
}

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

/// Encodes `jmp target` of `width` placed at `site`, or `None` when the
/// displacement does not fit the width's field.
pub fn encode_jmp(site: usize, target: usize, width: Width) -> Option<Insn> {
    let next = site.checked_add(width.len())?;
    let rel = target.wrapping_sub(next) as isize;
    match width {
        Width::Short => {
            let rel = i8::try_from(rel).ok()?;
            Insn::from_slice(&[JMP8_OPCODE, rel as u8])
        }
        Width::Near => {
            let r = i32::try_from(rel).ok()?.to_le_bytes();
            Insn::from_slice(&[JMP32_OPCODE, r[0], r[1], r[2], r[3]])
        }
    }
}

/// Encodes the tail-constant fall-through of a site of `width` at `site`
/// whose jump goes to `target`: the jump with `test` for its opcode, or
/// `None` when the displacement does not fit.
pub fn encode_test(site: usize, target: usize, width: Width) -> Option<Insn> {
    let jmp = encode_jmp(site, target, width)?;
    let mut bytes = [0; MAX_INSN_SIZE];
    for (to, from) in bytes.iter_mut().zip(jmp.as_bytes()) {
        *to = *from;
    }
    bytes[0] = match width {
        Width::Short => TEST8_OPCODE,
        Width::Near => TEST32_OPCODE,
    };
    Some(Insn::from_prefix(bytes, jmp.len()))
}

/// Decodes the instruction `insn` found at `site`; `None` for anything that
/// is not one of the six site instructions.
pub fn decode(site: usize, insn: &Insn) -> Option<Decoded> {
    if *insn == NOP5 || *insn == NOP2 {
        return Some(Decoded::Nop);
    }
    if matches!(
        insn.as_bytes(),
        [TEST32_OPCODE, _, _, _, _] | [TEST8_OPCODE, _]
    ) {
        return Some(Decoded::Nop);
    }
    let rel = match insn.as_bytes() {
        [JMP32_OPCODE, a, b, c, d] => i32::from_le_bytes([*a, *b, *c, *d]) as isize,
        [JMP8_OPCODE, a] => *a as i8 as isize,
        _ => return None,
    };
    let next = site.checked_add(insn.len())?;
    Some(Decoded::Jmp {
        target: next.wrapping_add(rel as usize),
    })
}

/// The instruction of `width` a site at `site`, whose jump goes to
/// `target`, must hold to jump (`true`) or fall through (`false`) in
/// `form`.
pub fn for_jump(site: usize, target: usize, width: Width, jump: bool, form: Form) -> Option<Insn> {
    match (jump, form) {
        (true, _) => encode_jmp(site, target, width),
        (false, Form::Kernel) => Some(nop(width)),
        (false, Form::TailConstant) => encode_test(site, target, width),
    }
}

/// Where execution continues after the instruction `insn` at `site`.
pub fn resume_address(site: usize, insn: &Insn) -> Option<usize> {
    match decode(site, insn)? {
        Decoded::Nop => site.checked_add(insn.len()),
        Decoded::Jmp { target } => Some(target),
    }
}
