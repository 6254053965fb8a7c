// SPDX-License-Identifier: GPL-2.0

//! The test module's keys and, for each, a function that runs every one of
//! its sites and returns `(sites that said true, sites run)`.

use crate::batchpoke_api::Key;
use crate::{define_key, static_branch_likely, static_branch_unlikely};

macro_rules! x1 { ($($b:tt)*) => { $($b)* }; }
macro_rules! x2 { ($($b:tt)*) => { x1!{$($b)*} x1!{$($b)*} }; }
macro_rules! x4 { ($($b:tt)*) => { x2!{$($b)*} x2!{$($b)*} }; }
macro_rules! x8 { ($($b:tt)*) => { x4!{$($b)*} x4!{$($b)*} }; }
macro_rules! x16 { ($($b:tt)*) => { x8!{$($b)*} x8!{$($b)*} }; }
macro_rules! x32 { ($($b:tt)*) => { x16!{$($b)*} x16!{$($b)*} }; }
macro_rules! x64 { ($($b:tt)*) => { x32!{$($b)*} x32!{$($b)*} }; }
macro_rules! x128 { ($($b:tt)*) => { x64!{$($b)*} x64!{$($b)*} }; }
macro_rules! x256 { ($($b:tt)*) => { x128!{$($b)*} x128!{$($b)*} }; }
macro_rules! x512 { ($($b:tt)*) => { x256!{$($b)*} x256!{$($b)*} }; }

/// One unlikely-form site of `$k`, counted into `$y`/`$r`.
macro_rules! u {
    ($k:ident, $y:ident, $r:ident) => {
        $y += u32::from(static_branch_unlikely!($k));
        $r += 1;
    };
}

/// One likely-form site of `$k`.
macro_rules! l {
    ($k:ident, $y:ident, $r:ident) => {
        $y += u32::from(static_branch_likely!($k));
        $r += 1;
    };
}

/// A function running the sites written in its body.
///
/// The empty assembly block naming the function keeps LLVM from merging
/// runners whose bodies are otherwise identical (which would drop the
/// merged copy's sites).
macro_rules! runner {
    ($fn:ident, |$y:ident, $r:ident| $($body:tt)*) => {
        #[inline(never)]
        pub(crate) fn $fn() -> (u32, u32) {
            // SAFETY: an assembler comment: no instruction at all.
            unsafe { core::arch::asm!(concat!("/* ", stringify!($fn), " */"), options(nomem, nostack, preserves_flags)) };
            let (mut $y, mut $r) = (0u32, 0u32);
            $($body)*
            ($y, $r)
        }
    };
}

// The four combinations of branch form and initial state.
define_key!(pub(crate) UL_OFF: c"ul_off" = false);
define_key!(pub(crate) UL_ON: c"ul_on" = true);
define_key!(pub(crate) LK_OFF: c"lk_off" = false);
define_key!(pub(crate) LK_ON: c"lk_on" = true);
runner!(run_ul_off, |y, r| x4! { u!(UL_OFF, y, r); });
runner!(run_ul_on, |y, r| x4! { u!(UL_ON, y, r); });
runner!(run_lk_off, |y, r| x4! { l!(LK_OFF, y, r); });
runner!(run_lk_on, |y, r| x4! { l!(LK_ON, y, r); });

// Batch sizes.
define_key!(pub(crate) S1: c"s1" = false);
define_key!(pub(crate) S2: c"s2" = false);
define_key!(pub(crate) S64: c"s64" = false);
define_key!(pub(crate) S255: c"s255" = false);
define_key!(pub(crate) S256: c"s256" = false);
define_key!(pub(crate) S257: c"s257" = true);
define_key!(pub(crate) S1024: c"s1024" = false);
define_key!(pub(crate) S4096: c"s4096" = false);
runner!(run_s1, |y, r| u!(S1, y, r););
runner!(run_s2, |y, r| u!(S2, y, r); l!(S2, y, r););
runner!(run_s64, |y, r| x32! { u!(S64, y, r); } x32! { l!(S64, y, r); });
runner!(run_s255, |y, r| x128! { u!(S255, y, r); } x64! { u!(S255, y, r); } x32! { u!(S255, y, r); }
    x16! { u!(S255, y, r); } x8! { u!(S255, y, r); } x4! { u!(S255, y, r); } x2! { u!(S255, y, r); }
    x1! { u!(S255, y, r); });
runner!(run_s256, |y, r| x128! { u!(S256, y, r); } x128! { l!(S256, y, r); });
runner!(run_s257, |y, r| x256! { l!(S257, y, r); } u!(S257, y, r););
runner!(run_s1024_a, |y, r| x512! { u!(S1024, y, r); });
runner!(run_s1024_b, |y, r| x512! { u!(S1024, y, r); });
runner!(run_s4096_a, |y, r| x512! { u!(S4096, y, r); });
runner!(run_s4096_b, |y, r| x512! { u!(S4096, y, r); });
runner!(run_s4096_c, |y, r| x512! { u!(S4096, y, r); });
runner!(run_s4096_d, |y, r| x512! { u!(S4096, y, r); });
runner!(run_s4096_e, |y, r| x512! { l!(S4096, y, r); });
runner!(run_s4096_f, |y, r| x512! { l!(S4096, y, r); });
runner!(run_s4096_g, |y, r| x512! { l!(S4096, y, r); });
runner!(run_s4096_h, |y, r| x512! { l!(S4096, y, r); });

fn sum(parts: &[fn() -> (u32, u32)]) -> (u32, u32) {
    parts.iter().fold((0, 0), |(y, r), f| {
        let (a, b) = f();
        (y + a, r + b)
    })
}

pub(crate) fn run_s1024() -> (u32, u32) {
    sum(&[run_s1024_a, run_s1024_b])
}

pub(crate) fn run_s4096() -> (u32, u32) {
    sum(&[
        run_s4096_a,
        run_s4096_b,
        run_s4096_c,
        run_s4096_d,
        run_s4096_e,
        run_s4096_f,
        run_s4096_g,
        run_s4096_h,
    ])
}

// Sixteen keys for transactions over many keys.
define_key!(pub(crate) M0: c"m0" = false);
define_key!(pub(crate) M1: c"m1" = true);
define_key!(pub(crate) M2: c"m2" = false);
define_key!(pub(crate) M3: c"m3" = true);
define_key!(pub(crate) M4: c"m4" = false);
define_key!(pub(crate) M5: c"m5" = true);
define_key!(pub(crate) M6: c"m6" = false);
define_key!(pub(crate) M7: c"m7" = true);
define_key!(pub(crate) M8: c"m8" = false);
define_key!(pub(crate) M9: c"m9" = true);
define_key!(pub(crate) M10: c"m10" = false);
define_key!(pub(crate) M11: c"m11" = true);
define_key!(pub(crate) M12: c"m12" = false);
define_key!(pub(crate) M13: c"m13" = true);
define_key!(pub(crate) M14: c"m14" = false);
define_key!(pub(crate) M15: c"m15" = true);
macro_rules! multi_runner {
    ($($fn:ident $k:ident),*) => {
        $(runner!($fn, |y, r| x2! { u!($k, y, r); } x2! { l!($k, y, r); });)*
    };
}
multi_runner!(run_m0 M0, run_m1 M1, run_m2 M2, run_m3 M3, run_m4 M4, run_m5 M5, run_m6 M6,
    run_m7 M7, run_m8 M8, run_m9 M9, run_m10 M10, run_m11 M11, run_m12 M12, run_m13 M13,
    run_m14 M14, run_m15 M15);

// A site whose jump only changes the first byte (see `run_no_tail`).
define_key!(pub(crate) NO_TAIL: c"no_tail" = false);

/// The return of the hand-written functions below: through the return
/// thunk where the kernel has one (objtool refuses a bare `ret` in a
/// `MITIGATION_RETHUNK` build, such as Debian's).
#[cfg(CONFIG_MITIGATION_RETHUNK)]
macro_rules! asm_ret {
    () => {
        "jmp __x86_return_thunk"
    };
}
#[cfg(not(CONFIG_MITIGATION_RETHUNK))]
macro_rules! asm_ret {
    () => {
        "ret"
    };
}

// A key whose site the tamper test changes behind batchpoke's back.
define_key!(pub(crate) TAMPER: c"tamper" = false);
runner!(run_tamper, |y, r| x4! { u!(TAMPER, y, r); });

// A key that is never registered.
define_key!(pub(crate) UNREGISTERED: c"unregistered" = false);
runner!(run_unregistered, |y, r| u!(UNREGISTERED, y, r););

// `jmp rel32` with rel32 = 0x441f encodes as e9 1f 44 00 00: only the
// first byte differs from NOP5's 0f 1f 44 00 00, so even in the kernel's
// form flipping this site writes no tail bytes (registered, it falls
// through with a9 1f 44 00 00, like every site of a batchpoke key). The
// padding puts the jump target exactly 0x441f bytes past the site.
core::arch::global_asm!(
    ".pushsection .text.batchpoke_test_no_tail, \"ax\"",
    ".globl batchpoke_test_no_tail",
    ".type batchpoke_test_no_tail, @function",
    "batchpoke_test_no_tail:",
    "endbr64",
    "6:",
    ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
    "8:",
    "xor %eax, %eax",
    asm_ret!(),
    // Whatever the return's length (a thunk jump with RETHUNK).
    ".fill 0x441f - (. - 8b), 1, 0xcc",
    "7:",
    "mov $1, %eax",
    asm_ret!(),
    ".size batchpoke_test_no_tail, . - batchpoke_test_no_tail",
    ".popsection",
    ".pushsection __jump_table, \"aw\"",
    ".balign 8",
    ".long 6b - .",
    ".long 7b - .",
    ".quad {key} - .",
    ".popsection",
    key = sym NO_TAIL,
    options(att_syntax),
);

extern "C" {
    fn batchpoke_test_no_tail() -> u32;
}

#[inline(never)]
pub(crate) fn run_no_tail() -> (u32, u32) {
    // SAFETY: the assembly function above takes no arguments, clobbers only
    // `eax` (the return register) and returns 0 or 1.
    (unsafe { batchpoke_test_no_tail() }, 1)
}

// A site that crosses a page boundary: the function starts a page, jumps
// over padding, and its site starts 3 bytes before the next page, so the
// int3 protocol writes the site's bytes through two pages of the alias.
define_key!(pub(crate) PAGE_X: c"page_x" = false);
core::arch::global_asm!(
    ".pushsection .text.batchpoke_test_page_x, \"ax\"",
    ".balign 4096",
    ".globl batchpoke_test_page_x",
    ".type batchpoke_test_page_x, @function",
    "batchpoke_test_page_x:",
    "endbr64",
    // jmp rel32, spelled out so its size is fixed before the padding.
    ".byte 0xe9",
    ".long 6f - . - 4",
    ".fill 4096 - 3 - 9, 1, 0xcc",
    "6:",
    ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
    "xor %eax, %eax",
    asm_ret!(),
    "7:",
    "mov $1, %eax",
    asm_ret!(),
    ".size batchpoke_test_page_x, . - batchpoke_test_page_x",
    ".popsection",
    ".pushsection __jump_table, \"aw\"",
    ".balign 8",
    ".long 6b - .",
    ".long 7b - .",
    ".quad {key} - .",
    ".popsection",
    key = sym PAGE_X,
    options(att_syntax),
);

extern "C" {
    fn batchpoke_test_page_x() -> u32;
}

#[inline(never)]
pub(crate) fn run_page_x() -> (u32, u32) {
    // SAFETY: the assembly function above takes no arguments, clobbers only
    // `eax` (the return register) and returns 0 or 1.
    (unsafe { batchpoke_test_page_x() }, 1)
}

/// Runs every site of one key: `(sites that said true, sites run)`.
pub(crate) type Runner = fn() -> (u32, u32);

/// Every key the test module registers, with its runner.
pub(crate) static REGISTERED: &[(&Key, Runner)] = &[
    (&UL_OFF, run_ul_off),
    (&UL_ON, run_ul_on),
    (&LK_OFF, run_lk_off),
    (&LK_ON, run_lk_on),
    (&S1, run_s1),
    (&S2, run_s2),
    (&S64, run_s64),
    (&S255, run_s255),
    (&S256, run_s256),
    (&S257, run_s257),
    (&S1024, run_s1024),
    (&S4096, run_s4096),
    (&M0, run_m0),
    (&M1, run_m1),
    (&M2, run_m2),
    (&M3, run_m3),
    (&M4, run_m4),
    (&M5, run_m5),
    (&M6, run_m6),
    (&M7, run_m7),
    (&M8, run_m8),
    (&M9, run_m9),
    (&M10, run_m10),
    (&M11, run_m11),
    (&M12, run_m12),
    (&M13, run_m13),
    (&M14, run_m14),
    (&M15, run_m15),
    (&NO_TAIL, run_no_tail),
    (&TAMPER, run_tamper),
    (&PAGE_X, run_page_x),
];

/// The sixteen keys of the many-key transactions.
pub(crate) static MULTI: [&Key; 16] = [
    &M0, &M1, &M2, &M3, &M4, &M5, &M6, &M7, &M8, &M9, &M10, &M11, &M12, &M13, &M14, &M15,
];
