// SPDX-License-Identifier: GPL-2.0

//! Refusals: transactions and registrations batchpoke must refuse, and
//! kprobes it must keep off its handler and its sites; each refused
//! request changes nothing.

use kernel::prelude::*;

use super::{
    all_unchanged, apply, batchpoke_test_try_kprobe, batchpoke_test_write_text, flip, run_tamper,
    run_unregistered, CaseResult, Ctx, BATCH_ROUNDS,
};
use crate::batchpoke_api::{self, Change, Registration};
use crate::keys::{S1, S2, S64, TAMPER, UNREGISTERED};

pub(crate) fn duplicate_key_refused(ctx: &Ctx) -> CaseResult {
    let r = apply(&[
        Change::new(&S2, true),
        Change::new(&S64, true),
        Change::new(&S2, false),
    ]);
    check!(r.err() == Some(EINVAL), "duplicate key: {:?}", r);
    all_unchanged(ctx)
}

pub(crate) fn unregistered_key_refused(ctx: &Ctx) -> CaseResult {
    let r = apply(&[Change::new(&S2, true), Change::new(&UNREGISTERED, true)]);
    check!(r.err() == Some(ENOENT), "unregistered key: {:?}", r);
    ctx.expect(&UNREGISTERED, run_unregistered, false)?;
    all_unchanged(ctx)
}

pub(crate) fn double_registration_refused(ctx: &Ctx) -> CaseResult {
    let r = Registration::new(ctx.module, &[&S1]);
    check!(
        r.as_ref().err() == Some(&EEXIST),
        "second registration of s1: {:?}",
        r.as_ref().err()
    );
    // The failed attempt must not have disturbed the first registration.
    flip(ctx, &S1, true, BATCH_ROUNDS)?;
    flip(ctx, &S1, false, BATCH_ROUNDS)
}

pub(crate) fn tampered_site_refused(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&TAMPER);
    check!(sites.len() == 4, "{} tamper sites", sites.len());
    let victim = sites[2].addr + 4;
    // SAFETY: a byte of this module's text, mapped while the module is.
    let original = unsafe { core::ptr::read_volatile(victim as *const u8) };
    // The site falls through with `test eax, imm32`: another last byte of
    // the immediate is still a harmless `test`.
    // SAFETY: a byte of this module's text, in a site no CPU runs now.
    let written = unsafe { batchpoke_test_write_text(victim, original ^ 0x01) } == 0;
    check!(written, "cannot write the site");
    let before = batchpoke_api::stats();
    let r = apply(&[Change::new(&S64, true), Change::new(&TAMPER, true)]);
    let after = batchpoke_api::stats();
    // SAFETY: as above; the transaction was refused, so no CPU runs it.
    let restored = unsafe { batchpoke_test_write_text(victim, original) } == 0;
    check!(restored, "cannot restore the site");
    check!(r.err() == Some(EIO), "tampered transaction: {:?}", r);
    check!(
        after.sync_rounds == before.sync_rounds,
        "a refused transaction ran sync rounds"
    );
    check!(after.refused == before.refused + 1, "refusal not counted");
    all_unchanged(ctx)?;
    ctx.expect(&TAMPER, run_tamper, false)?;
    flip(ctx, &TAMPER, true, BATCH_ROUNDS)?;
    flip(ctx, &TAMPER, false, BATCH_ROUNDS)
}

pub(crate) fn kprobe_on_handler_refused(_ctx: &Ctx) -> CaseResult {
    #[allow(clippy::disallowed_methods)]
    let names = [
        c"batchpoke_int3_notify".as_ptr(),
        c"batchpoke_int3_resolve".as_ptr(),
    ];
    for name in names {
        // SAFETY: a NUL-terminated symbol name.
        let ret = unsafe { batchpoke_test_try_kprobe(name, 0) };
        check!(
            ret == EINVAL.to_errno(),
            "register_kprobe on the int3 path = {}",
            ret
        );
    }
    Ok(())
}

pub(crate) fn kprobe_on_site_refused(ctx: &Ctx) -> CaseResult {
    // batchpoke's sites are real __jump_table entries, which is what makes
    // the kernel refuse a kprobe on any of their bytes (a probe there would
    // be overwritten by the next flip): exactly EINVAL, from
    // jump_label_text_reserved().
    let sites = ctx.sites(&S2);
    check!(sites.len() == 2, "{} sites of s2", sites.len());
    for site in sites.iter() {
        for byte in 0..5 {
            // SAFETY: an address of this module's text.
            let ret = unsafe { batchpoke_test_try_kprobe(core::ptr::null(), site.addr + byte) };
            check!(
                ret == EINVAL.to_errno(),
                "register_kprobe on site {:#x}+{} = {}",
                site.addr,
                byte,
                ret
            );
        }
    }
    Ok(())
}
