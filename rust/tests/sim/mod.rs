// SPDX-License-Identifier: GPL-2.0

//! What the simulations of the int3 protocol share: the instruction set as
//! the tests know it, the machine `run_batch` drives to record its trace,
//! and the generators' random numbers.
//!
//! The instructions are decoded and encoded here on purpose independently
//! of `pure::insn`: the simulations check the code under test against this
//! oracle, so it must not be that code. NOP5 falls through to the site + 5,
//! `e9 rel32` jumps to the site + 5 + rel32; NOP2 (`66 90`) falls through to
//! the site + 2, `eb rel8` jumps to the site + 2 + rel8. `test eax, imm32`
//! (`a9`) and `test al, imm8` (`a8`), a batchpoke key's fall-through while
//! it is registered, fall through whatever their immediate.

// Every test crate that declares `mod sim;` compiles its own copy of this
// module and uses only part of it.
#![allow(dead_code)]

use std::fmt;

use batchpoke_pure::insn::{Form, Width};
use batchpoke_pure::plan::{Poke, Text};
use batchpoke_pure::site::Site;

/// The length of a near site.
pub const LEN: usize = 5;
/// The length of a short site.
pub const SHORT_LEN: usize = 2;
pub const INT3: u8 = 0xcc;
pub const NOP5: [u8; LEN] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
pub const NOP2: [u8; SHORT_LEN] = [0x66, 0x90];
pub const JMP: u8 = 0xe9;
pub const JMP8: u8 = 0xeb;
pub const TEST32: u8 = 0xa9;
pub const TEST8: u8 = 0xa8;
/// A jump whose rel32 is NOP5's tail differs from NOP5 in its first byte only.
pub const NO_TAIL_REL: usize = 0x441f;
/// A short jump whose rel8 is NOP2's tail (0x90) differs from NOP2 in its
/// first byte only.
pub const NO_TAIL_REL8: isize = 0x90u8 as i8 as isize;

/// The bytes of one site, of its length.
pub type Bytes = Vec<u8>;

/// Where control goes after the instruction `b` at `addr`; `None` for
/// anything but NOP5, `jmp rel32`, `test eax, imm32`, NOP2, `jmp rel8` and
/// `test al, imm8`.
pub fn decode(addr: usize, b: &[u8]) -> Option<usize> {
    match *b {
        [0x0f, 0x1f, 0x44, 0x00, 0x00] => Some(addr + LEN),
        [JMP, r0, r1, r2, r3] => {
            let rel = i32::from_le_bytes([r0, r1, r2, r3]);
            Some((addr + LEN).wrapping_add_signed(rel as isize))
        }
        [TEST32, _, _, _, _] => Some(addr + LEN),
        [0x66, 0x90] | [TEST8, _] => Some(addr + SHORT_LEN),
        [JMP8, rel] => Some((addr + SHORT_LEN).wrapping_add_signed(rel as i8 as isize)),
        _ => None,
    }
}

/// The length of a site of `width`, as this oracle knows the widths.
pub fn width_len(width: Width) -> usize {
    match width {
        Width::Near => LEN,
        Width::Short => SHORT_LEN,
    }
}

/// The bytes of `site` when it jumps (`jump`) or falls through.
/// In the tail-constant form a site falls through with `test` and the
/// jump's displacement.
pub fn encode(site: &Site, jump: bool) -> Bytes {
    let short = site.width == Width::Short;
    let test = site.form == Form::TailConstant;
    if !jump && !test {
        return if short { NOP2.to_vec() } else { NOP5.to_vec() };
    }
    let end = site.addr + width_len(site.width);
    let rel = site.target.wrapping_sub(end) as isize;
    if short {
        let r = i8::try_from(rel).expect("generated short targets are in range");
        return vec![if jump { JMP8 } else { TEST8 }, r as u8];
    }
    let r = i32::try_from(rel)
        .expect("generated targets are in range")
        .to_le_bytes();
    vec![if jump { JMP } else { TEST32 }, r[0], r[1], r[2], r[3]]
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// One thing a batch does to the machine.
#[derive(Clone, Debug)]
pub enum Step {
    Publish(Vec<Poke>),
    Write(usize, Vec<u8>),
    Sync,
    Retire,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Publish(v) => write!(f, "publish of {} pokes", v.len()),
            Step::Write(a, b) => write!(f, "write of {b:02x?} at {a:#x}"),
            Step::Sync => write!(f, "sync"),
            Step::Retire => write!(f, "retire"),
        }
    }
}

/// A [`Text`] that only records what the protocol does, for a replay.
#[derive(Default)]
pub struct Recorder {
    pub steps: Vec<Step>,
}

impl Text for Recorder {
    fn publish(&mut self, pokes: &[Poke]) {
        self.steps.push(Step::Publish(pokes.to_vec()));
    }
    fn write(&mut self, addr: usize, bytes: &[u8]) {
        self.steps.push(Step::Write(addr, bytes.to_vec()));
    }
    fn sync(&mut self) {
        self.steps.push(Step::Sync);
    }
    // Tracers' records change nothing a CPU executes.
    fn announce(&mut self, _: &[Poke]) {}
    fn retire(&mut self) {
        self.steps.push(Step::Retire);
    }
}
