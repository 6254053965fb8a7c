// SPDX-License-Identifier: GPL-2.0

//! Registration edge cases (issue 10): several registrations in one module,
//! keys that are not the registering module's, init-text sites, and the C
//! entry points given NULL.
//!
//! The keys here are not in `REGISTERED`: each case registers what it needs
//! and leaves every key of this file unregistered and in its initial state.

use core::ffi::c_int;
use core::ptr;

use kernel::prelude::*;

use super::{flip, CaseResult, Ctx, BATCH_ROUNDS};
use crate::batchpoke_api::raw::{
    batchpoke_apply, batchpoke_register_keys, batchpoke_unregister_keys,
};
use crate::batchpoke_api::{self, Change, Key, Registration, Report};
use crate::keys::S1;
use crate::{define_key, static_branch_likely, static_branch_unlikely};

define_key!(pub(crate) LC_A: c"lc_a" = false);
define_key!(pub(crate) LC_B: c"lc_b" = true);
// Its only site is in init text (`batchpoke_test_lc_init_site` below).
define_key!(pub(crate) LC_INIT: c"lc_init" = false);

/// A function running the sites given, returning `(said true, ran)`; the
/// assembler comment naming it keeps LLVM from merging it with a twin
/// (which would drop its sites).
macro_rules! runner {
    ($fn:ident, $($site:tt)*) => {
        #[inline(never)]
        fn $fn() -> (u32, u32) {
            // SAFETY: an assembler comment: no instruction at all.
            unsafe {
                core::arch::asm!(
                    concat!("/* ", stringify!($fn), " */"),
                    options(nomem, nostack, preserves_flags)
                )
            };
            let (mut yes, mut ran) = (0u32, 0u32);
            for said in [$($site)*] {
                yes += u32::from(said);
                ran += 1;
            }
            (yes, ran)
        }
    };
}

runner!(
    run_lc_a,
    static_branch_unlikely!(LC_A),
    static_branch_unlikely!(LC_A),
    static_branch_likely!(LC_A),
    static_branch_likely!(LC_A),
);
runner!(
    run_lc_b,
    static_branch_unlikely!(LC_B),
    static_branch_likely!(LC_B),
    static_branch_likely!(LC_B),
);

/// `LC_INIT`'s site, in init text: freed once init is over, so batchpoke
/// must refuse the key. Nothing calls it (a call from core text would be a
/// section mismatch); `no_mangle` keeps it and its jump-table entry.
#[no_mangle]
#[link_section = ".init.text"]
extern "C" fn batchpoke_test_lc_init_site() -> bool {
    static_branch_unlikely!(LC_INIT)
}

/// Registers `keys` through the C entry point; a registration that should
/// have been refused but was not is undone at once, so that no key outside
/// this module's memory (or with a site in init text) stays registered.
fn raw_register(ctx: &Ctx, keys: &[*const Key]) -> c_int {
    let module = ctx.module.as_ptr();
    // SAFETY: `keys` holds `keys.len()` pointers; this module is live.
    let ret = unsafe { batchpoke_register_keys(module, keys.as_ptr(), keys.len()) };
    if ret == 0 {
        // SAFETY: as above; the pointers are only compared.
        unsafe { batchpoke_unregister_keys(module, keys.as_ptr(), keys.len()) };
    }
    ret
}

/// Registers `keys` with the safe API.
fn register(ctx: &Ctx, keys: &[&'static Key]) -> core::result::Result<Registration, ()> {
    Registration::new(ctx.module, keys).map_err(|e| {
        pr_info!("# registering {} keys failed: {:?}\n", keys.len(), e);
    })
}

/// Sets `key` to `state` in one transaction and checks its sites.
fn set(ctx: &Ctx, key: &'static Key, run: fn() -> (u32, u32), state: bool) -> CaseResult {
    let report = batchpoke_api::apply(&[Change::new(key, state)]);
    check!(
        report.is_ok(),
        "{:?} -> {}: {:?}",
        key.name(),
        state,
        report.err()
    );
    let rounds = report.map(|r| r.rounds).unwrap_or_default();
    check!(
        rounds == BATCH_ROUNDS,
        "{:?} -> {}: {} rounds",
        key.name(),
        state,
        rounds
    );
    ctx.expect(key, run, state)
}

/// Checks that `key` is not registered (a transaction naming it fails with
/// `ENOENT`) and its sites hold its initial state.
fn unregistered(ctx: &Ctx, key: &'static Key, run: fn() -> (u32, u32)) -> CaseResult {
    let r = batchpoke_api::apply(&[Change::new(key, !key.initially())]);
    check!(
        r.err() == Some(ENOENT),
        "{:?} should not be registered: {:?}",
        key.name(),
        r
    );
    ctx.expect_unregistered(key, run, key.initially())
}

/// Two registrations of one module: dropping one unregisters its own keys
/// only; the other registration's keys (and the module's first one, made
/// in `init`) stay registered and flippable.
pub(crate) fn two_registrations(ctx: &Ctx) -> CaseResult {
    let first = register(ctx, &[&LC_A])?;
    let second = register(ctx, &[&LC_B])?;
    set(ctx, &LC_A, run_lc_a, true)?;
    set(ctx, &LC_A, run_lc_a, false)?;
    drop(first);
    unregistered(ctx, &LC_A, run_lc_a)?;
    set(ctx, &LC_B, run_lc_b, false)?;
    set(ctx, &LC_B, run_lc_b, true)?;
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)?;
    drop(second);
    unregistered(ctx, &LC_B, run_lc_b)?;
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)
}

/// A key that is not in the registering module's memory is refused with
/// `EINVAL` before anything is read through its pointer, alone or beside a
/// good key (which is then not registered either).
pub(crate) fn foreign_keys_refused(ctx: &Ctx) -> CaseResult {
    let local = Key::new(c"lc_stack", false);
    let boxed = KBox::new(Key::new(c"lc_heap", false), GFP_KERNEL).map_err(|_| ())?;
    // Inside this module but not a key's start; reading it as a key would
    // follow garbage as the name pointer.
    let misaligned = (ptr::from_ref(&LC_A) as usize + 1) as *const Key;
    // Non-canonical: any read through it faults.
    let wild = 0xdead_0000_0000_0000_usize as *const Key;
    let foreign = [
        ("a key on the stack", ptr::from_ref(&local)),
        ("a key in a KBox", ptr::from_ref(&*boxed)),
        ("a misaligned pointer into the module", misaligned),
        ("a non-canonical pointer", wild),
    ];
    for (what, key) in foreign {
        let ret = raw_register(ctx, &[key]);
        check!(
            ret == EINVAL.to_errno(),
            "registering {}: {}, expected {}",
            what,
            ret,
            EINVAL.to_errno()
        );
        let ret = raw_register(ctx, &[ptr::from_ref(&LC_A), key]);
        check!(
            ret == EINVAL.to_errno(),
            "registering lc_a with {}: {}",
            what,
            ret
        );
        unregistered(ctx, &LC_A, run_lc_a)?;
    }
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)
}

/// The start and end of this module's init text.
fn init_text(ctx: &Ctx) -> (usize, usize) {
    // SAFETY: this module is loaded and in its init while cases run.
    let mem = unsafe { &(*ctx.module.as_ptr()).mem };
    let text = &mem[kernel::bindings::mod_mem_type_MOD_INIT_TEXT as usize];
    let start = text.base as usize;
    (start, start + text.size as usize)
}

/// How many of this module's jump-table entries have their site in init
/// text.
fn init_text_entries(ctx: &Ctx) -> usize {
    let (start, end) = init_text(ctx);
    ctx.jump_entries()
        .iter()
        .filter(|(_, site)| site.addr >= start && site.addr < end)
        .count()
}

/// A key whose site is in init text is refused with `EINVAL`; the module's
/// other keys register fine although some keys of the module (`LC_INIT`,
/// and a kernel static key in lifecycle_fixtures.c) have init-text sites.
pub(crate) fn init_text_site_refused(ctx: &Ctx) -> CaseResult {
    let (start, end) = init_text(ctx);
    let sites = ctx.sites(&LC_INIT);
    check!(
        sites.len() == 1 && sites[0].addr >= start && sites[0].addr < end,
        "lc_init should have one site in init text [{:#x}, {:#x}): {} sites",
        start,
        end,
        sites.len()
    );
    let in_init = init_text_entries(ctx);
    check!(
        in_init >= 2,
        "{} jump entries in init text, expected lc_init's and the C key's",
        in_init
    );
    let ret = raw_register(ctx, &[ptr::from_ref(&LC_INIT)]);
    check!(
        ret == EINVAL.to_errno(),
        "registering a key with an init-text site: {}, expected {}",
        ret,
        EINVAL.to_errno()
    );
    let ret = raw_register(ctx, &[ptr::from_ref(&LC_A), ptr::from_ref(&LC_INIT)]);
    check!(
        ret == EINVAL.to_errno(),
        "registering lc_a with lc_init: {}",
        ret
    );
    unregistered(ctx, &LC_A, run_lc_a)?;
    let registration = register(ctx, &[&LC_A])?;
    set(ctx, &LC_A, run_lc_a, true)?;
    set(ctx, &LC_A, run_lc_a, false)?;
    drop(registration);
    unregistered(ctx, &LC_A, run_lc_a)
}

/// The C entry points with NULL arrays: a count of 0 is an empty request,
/// a non-zero count `EINVAL`, and neither disturbs registered keys.
pub(crate) fn c_entry_points_null(ctx: &Ctx) -> CaseResult {
    let module = ctx.module.as_ptr();
    let einval = EINVAL.to_errno();
    // SAFETY: a NULL array with count 0 is allowed by the C API.
    let ret = unsafe { batchpoke_register_keys(module, ptr::null(), 0) };
    check!(
        ret == 0 || ret == einval,
        "register_keys(module, NULL, 0) = {}",
        ret
    );
    if ret == 0 {
        // SAFETY: as above.
        unsafe { batchpoke_unregister_keys(module, ptr::null(), 0) };
    }
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)?;
    // SAFETY: a NULL module is refused before anything else.
    let ret = unsafe { batchpoke_register_keys(ptr::null_mut(), ptr::null(), 0) };
    check!(ret == einval, "register_keys(NULL, NULL, 0) = {}", ret);
    // SAFETY: a NULL array with a non-zero count must be refused unread.
    let ret = unsafe { batchpoke_register_keys(module, ptr::null(), 3) };
    check!(ret == einval, "register_keys(module, NULL, 3) = {}", ret);
    // Ignored: the module's keys stay registered.
    // SAFETY: as above.
    unsafe { batchpoke_unregister_keys(module, ptr::null(), 3) };
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)?;
    // SAFETY: an empty transaction; no report.
    let ret = unsafe { batchpoke_apply(ptr::null(), 0, 0, ptr::null_mut()) };
    check!(ret == 0, "apply(NULL, 0, 0, NULL) = {}", ret);
    let mut report = Report {
        sites: 7,
        rounds: 7,
    };
    // SAFETY: an empty transaction; `report` is writable.
    let ret = unsafe { batchpoke_apply(ptr::null(), 0, 0, &mut report) };
    check!(
        ret == 0 && report == Report::default(),
        "apply(NULL, 0, 0, &report) = {}, {:?}",
        ret,
        report
    );
    // SAFETY: a NULL array with a non-zero count must be refused unread.
    let ret = unsafe { batchpoke_apply(ptr::null(), 1, 0, ptr::null_mut()) };
    check!(ret == einval, "apply(NULL, 1, 0, NULL) = {}", ret);
    // SAFETY: an unknown flag is refused before the array is looked at.
    let ret = unsafe { batchpoke_apply(ptr::null(), 0, 1 << 7, ptr::null_mut()) };
    check!(ret == einval, "apply(NULL, 0, 1 << 7, NULL) = {}", ret);
    super::all_unchanged(ctx)
}
