// SPDX-License-Identifier: GPL-2.0

//! `PERF_RECORD_TEXT_POKE` for batchpoke's sites, so that tracers decoding
//! kernel code (`perf` with Intel PT) see the new bytes after a flip.
//!
//! The kernel emits the record with `perf_event_text_poke()`, which is not
//! exported. Its address is found through kallsyms, but calling it through
//! a pointer is not possible everywhere: on IBT kernels a function whose
//! address is never taken has its `ENDBR64` sealed, and an indirect call to
//! it faults. So the call is direct: [`batchpoke_perf_text_poke`] is a stub
//! in batchpoke's own text holding one `jmp rel32`, aimed at a function that
//! does nothing until [`stub_poke`]'s poke, applied once at load through the
//! usual protocol, aims it at `perf_event_text_poke()`. A direct jump needs
//! no `ENDBR64` and carries no kCFI check.

use core::ffi::{c_void, CStr};

use kernel::prelude::*;

use super::kallsyms::lookup_text_symbol;
use crate::pure::insn::{encode_jmp, Insn, Width};
use crate::pure::plan::Poke;

// The stub: `endbr64` (its address is taken, to find the jump, and objtool
// holds every address-taken function to IBT's rule), then `jmp rel32`
// (0xe9, written as bytes so the assembler keeps the 5-byte form), then
// int3 against straight-line speculation.
core::arch::global_asm!(
    ".pushsection .text, \"ax\"",
    ".balign 16",
    ".globl batchpoke_perf_text_poke",
    ".type batchpoke_perf_text_poke, @function",
    "batchpoke_perf_text_poke:",
    ".byte 0xf3, 0x0f, 0x1e, 0xfa",
    ".byte 0xe9",
    ".long batchpoke_perf_text_poke_absent - . - 4",
    "int3",
    ".size batchpoke_perf_text_poke, . - batchpoke_perf_text_poke",
    ".popsection",
);

/// Where the stub's jump is: past its `endbr64`.
const JUMP_OFFSET: usize = 4;

extern "C" {
    /// `perf_event_text_poke()` once [`stub_poke`]'s poke is applied,
    /// [`batchpoke_perf_text_poke_absent`] before.
    fn batchpoke_perf_text_poke(
        addr: *const c_void,
        old_bytes: *const c_void,
        old_len: usize,
        new_bytes: *const c_void,
        new_len: usize,
    );
}

/// Where the stub jumps while `perf_event_text_poke()` is not known.
#[no_mangle]
extern "C" fn batchpoke_perf_text_poke_absent(
    _addr: *const c_void,
    _old_bytes: *const c_void,
    _old_len: usize,
    _new_bytes: *const c_void,
    _new_len: usize,
) {
}

const TEXT_POKE: &CStr = c"perf_event_text_poke";

/// The address of the stub's jump.
fn stub() -> usize {
    // Through black_box, so the compiler does not fold the offset into the
    // relocation: objtool wants address references to the function's start.
    // `as usize`, not `.addr()`: 6.12's MSRV (1.78) predates it.
    core::hint::black_box(batchpoke_perf_text_poke as *const ()) as usize + JUMP_OFFSET
}

/// The poke that aims the stub at `perf_event_text_poke()`, given the
/// stub's current bytes; `None` if the function is not in this kernel
/// (`CONFIG_PERF_EVENTS` off) or the stub is aimed already. Says once in
/// the log when the records cannot be emitted.
pub(crate) fn stub_poke(current: Insn) -> Option<Poke> {
    let Ok(target) = lookup_text_symbol(TEXT_POKE) else {
        pr_info!(
            "perf_event_text_poke() not found: no PERF_RECORD_TEXT_POKE for batchpoke's sites\n"
        );
        return None;
    };
    let new = encode_jmp(stub(), target, Width::Near)?;
    (new != current).then_some(Poke {
        addr: stub(),
        old: current,
        new,
        resume: target,
    })
}

/// The address and length of the stub's jump, to read its current bytes.
pub(crate) fn stub_site() -> (usize, usize) {
    (stub(), Width::Near.len())
}

/// Emits `PERF_RECORD_TEXT_POKE` for `poke`: its site changes from `old`
/// to `new` now. Costs an atomic read when no event asks for the records.
pub(crate) fn record(poke: &Poke) {
    let (old, new) = (poke.old.as_bytes(), poke.new.as_bytes());
    // SAFETY: the stub jumps to `perf_event_text_poke()` or to a function
    // that does nothing, both with this prototype; the buffers are valid
    // for the lengths given and only read during the call.
    unsafe {
        batchpoke_perf_text_poke(
            poke.addr as *const c_void,
            old.as_ptr().cast(),
            old.len(),
            new.as_ptr().cast(),
            new.len(),
        )
    };
}
