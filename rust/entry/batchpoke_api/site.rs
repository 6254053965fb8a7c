// SPDX-License-Identifier: GPL-2.0

//! Branch sites on batchpoke keys.
//!
//! A site is one 5-byte instruction recorded in `__jump_table`: the NOP5
//! `0f 1f 44 00 00` (written as bytes so the assembler cannot pick a
//! 2-byte form) or `jmp rel32`, chosen at compile time from the key's
//! initial state so a freshly loaded module needs no patching. The entry's
//! key field carries bit 0 for the likely form and never bit 1, so objtool's
//! jump-label rewriting leaves the site alone.

// FFI (see rust/entry/mod.rs); client modules compile this file too.
#![allow(unsafe_code)]

/// `true` when the key is enabled; the enabled path is the out-of-line one.
///
/// ```ignore
/// if static_branch_unlikely!(TRACE_IO) { trace(); }
/// ```
#[macro_export]
macro_rules! static_branch_unlikely {
    ($($key:ident)::+) => {
        $crate::__batchpoke_site!($($key)::+, false)
    };
}

/// `true` when the key is enabled; the enabled path is the fall-through one.
#[macro_export]
macro_rules! static_branch_likely {
    ($($key:ident)::+) => {
        $crate::__batchpoke_site!($($key)::+, true)
    };
}

/// The one place that emits a site and its `__jump_table` record (the C
/// header's `__batchpoke_branch()` emits the same bytes).
///
/// `@record` arm: a site of the key at `sym $key + $offset` (the bench's
/// keys are array elements), compiled for state `$initially`.
#[doc(hidden)]
#[macro_export]
macro_rules! __batchpoke_site {
    ($($key:ident)::+, $likely:literal) => {
        $crate::__batchpoke_site!(@record $($key)::+, 0, $($key)::+::INITIALLY, $likely)
    };
    (@record $key:path, $offset:expr, $initially:expr, $likely:literal) => {'site: {
        // SAFETY: the assembly is one 5-byte instruction that either falls
        // through or jumps to `l_yes`, plus a `__jump_table` record in the
        // kernel's format pointing at the key's `static_key`; it touches no
        // register or memory but the flags: while the key is registered,
        // batchpoke falls through with `test` (see `pure::insn::Form`), so
        // the options do not say `preserves_flags`. It is written here, in
        // the FFI layer: a caller of the site macros writes no `unsafe` and
        // may deny it.
        #[allow(unsafe_code)]
        unsafe {
            ::core::arch::asm!(
                "6:",
                ".if {jump}",
                ".byte 0xe9",
                ".long {l_yes} - 6b - 5",
                ".else",
                ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
                ".endif",
                ".pushsection __jump_table, \"aw\"",
                ".balign 8",
                ".long 6b - .",
                ".long {l_yes} - .",
                ".quad {key} + {offset} + {likely} - .",
                ".popsection",
                jump = const ($initially != $likely) as i32,
                likely = const $likely as i32,
                key = sym $key,
                offset = const $offset,
                l_yes = label {
                    break 'site !$likely;
                },
                options(att_syntax, nostack),
            );
        }
        break 'site $likely;
    }};
}
