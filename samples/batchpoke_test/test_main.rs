// SPDX-License-Identifier: GPL-2.0

//! batchpoke's in-kernel selftest, in the manner of `lib/test_static_keys.c`
//! and `kselftest_module.h`: `init` runs every case, prints KTAP, and fails
//! with `EINVAL` if any case failed.
//!
//! Branch results are checked by executing the sites; site bytes are
//! checked by reading this module's own `__jump_table`, independently of
//! what batchpoke believes.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/batchpoke_api/mod.rs"]
mod batchpoke_api;
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/pure/mod.rs"]
mod pure;

mod keys;

use batchpoke_api::{Change, Key, Registration, Report};
use keys::*;
use pure::site::Site;

crate::batchpoke_module! {
    type: BatchpokeTest,
    name: "batchpoke_test",
    author: "batchpoke developers",
    description: "batchpoke selftest (KTAP)",
    license: "GPL",
}

/// `test=Y`, as `MODULE_INFO(test, "Y")` marks kselftest modules.
#[used(compiler)]
#[link_section = ".modinfo"]
static MODINFO_TEST: [u8; 7] = *b"test=Y\0";

// Only pointers to `task_struct` cross; see fixtures.h.
#[allow(improper_ctypes)]
extern "C" {
    fn batchpoke_test_start_threads(
        f: unsafe extern "C" fn(*mut c_void) -> c_int,
        data: *mut c_void,
        tasks: *mut *mut kernel::bindings::task_struct,
        max: c_int,
    ) -> c_int;
    fn batchpoke_test_hrtimer_start(
        f: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
        period_ns: u64,
    );
    fn batchpoke_test_hrtimer_stop();
    fn batchpoke_test_write_text(addr: usize, byte: u8) -> c_int;
    fn batchpoke_test_try_kprobe(sym: *const c_char, addr: usize) -> c_int;
    fn batchpoke_test_nap();
}

type CaseResult = core::result::Result<(), ()>;

/// Fails the case with a KTAP diagnostic line unless `$cond` holds.
macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            pr_info!("# {}\n", format_args!($($fmt)*));
            return Err(());
        }
    };
}

/// What every case needs.
struct Ctx {
    module: &'static ThisModule,
}

impl Ctx {
    /// The sites of `key` in this module's jump table.
    fn sites(&self, key: &Key) -> KVec<Site> {
        let mut sites = KVec::new();
        // SAFETY: this module is loaded while its init runs; the loader set
        // `jump_entries`/`num_jump_entries` to its `__jump_table`.
        let entries = unsafe {
            let m = &*self.module.as_ptr();
            core::slice::from_raw_parts(m.jump_entries, m.num_jump_entries as usize)
        };
        for e in entries {
            let base = core::ptr::from_ref(e) as usize;
            let addr = base.wrapping_add(e.code as isize as usize);
            let target = (base + 4).wrapping_add(e.target as isize as usize);
            let k = (base + 8).wrapping_add(e.key as usize);
            if k & !3 == key.raw_address() {
                let _ = sites.push(
                    Site {
                        addr,
                        target,
                        likely: k & 1 != 0,
                    },
                    GFP_KERNEL,
                );
            }
        }
        sites
    }

    /// Checks that every site of `key` holds exactly the instruction for
    /// `state` and, run, says `state`.
    fn expect(&self, key: &Key, run: fn() -> (u32, u32), state: bool) -> CaseResult {
        let (yes, ran) = run();
        let want = if state { ran } else { 0 };
        check!(
            yes == want,
            "{:?}: {} of {} sites say true, expected {}",
            key.name(),
            yes,
            ran,
            want
        );
        check!(
            key.is_enabled() == state,
            "{:?}: is_enabled() is {}",
            key.name(),
            key.is_enabled()
        );
        let sites = self.sites(key);
        check!(
            sites.len() == ran as usize,
            "{:?}: {} jump entries, {} sites run",
            key.name(),
            sites.len(),
            ran
        );
        for site in sites.iter() {
            // SAFETY: the site is in this module's text.
            let bytes: [u8; 5] = core::array::from_fn(|i| unsafe {
                core::ptr::read_volatile((site.addr + i) as *const u8)
            });
            check!(
                site.insn(state) == Some(bytes),
                "{:?}: site {:#x} holds {:02x?}, expected {:02x?}",
                key.name(),
                site.addr,
                bytes,
                site.insn(state)
            );
        }
        Ok(())
    }
}

fn runner(key: &Key) -> fn() -> (u32, u32) {
    REGISTERED
        .iter()
        .find(|(k, _)| core::ptr::eq(*k, key))
        .map(|(_, r)| *r)
        .unwrap_or(run_unregistered)
}

fn apply(changes: &[Change]) -> core::result::Result<Report, Error> {
    batchpoke_api::apply(changes)
}

/// Flips `key` to `state`, checking the report's rounds and the result.
fn flip(ctx: &Ctx, key: &'static Key, state: bool, rounds: u64) -> CaseResult {
    let report = apply(&[Change::new(key, state)]);
    check!(
        report.is_ok(),
        "{:?}: apply failed: {:?}",
        key.name(),
        report.err()
    );
    let report = report.unwrap_or_default();
    check!(
        report.rounds == rounds,
        "{:?}: {} sync rounds, expected {}",
        key.name(),
        report.rounds,
        rounds
    );
    ctx.expect(key, runner(key), state)
}

/// Puts every registered key back to its initial state, so each case
/// starts from the same text whatever the previous one left.
fn reset() -> CaseResult {
    let mut changes = KVec::new();
    for (key, _) in REGISTERED.iter() {
        changes
            .push(Change::new(key, key.initially()), GFP_KERNEL)
            .map_err(|_| ())?;
    }
    let r = apply(&changes);
    check!(r.is_ok(), "resetting the keys failed: {:?}", r.err());
    Ok(())
}

// ----------------------------------------------------------------------------
// Cases

fn initial_states(ctx: &Ctx) -> CaseResult {
    for (key, run) in REGISTERED.iter() {
        ctx.expect(key, *run, key.initially())?;
    }
    ctx.expect(&UNREGISTERED, run_unregistered, false)
}

fn registration_counts_sites(_ctx: &Ctx) -> CaseResult {
    // Every site of every registered key is known to batchpoke: flipping
    // all of them reports exactly the sites this module's table holds.
    let mut total = 0u64;
    let mut changes = KVec::new();
    for (key, run) in REGISTERED.iter() {
        total += u64::from(run().1);
        let _ = changes.push(Change::new(key, !key.is_enabled()), GFP_KERNEL);
    }
    let report = apply(&changes).map_err(|_| ())?;
    check!(
        report.sites == total,
        "flipped {} sites, expected {}",
        report.sites,
        total
    );
    check!(
        report.rounds == 3,
        "{} rounds for one transaction",
        report.rounds
    );
    for change in changes.iter_mut() {
        change.enable = !change.enable;
    }
    let back = apply(&changes).map_err(|_| ())?;
    check!(back.sites == total, "flipped back {} sites", back.sites);
    Ok(())
}

fn combo(ctx: &Ctx, key: &'static Key) -> CaseResult {
    let initial = key.initially();
    flip(ctx, key, !initial, 3)?;
    flip(ctx, key, initial, 3)
}

fn combo_unlikely_off(ctx: &Ctx) -> CaseResult {
    combo(ctx, &UL_OFF)
}
fn combo_unlikely_on(ctx: &Ctx) -> CaseResult {
    combo(ctx, &UL_ON)
}
fn combo_likely_off(ctx: &Ctx) -> CaseResult {
    combo(ctx, &LK_OFF)
}
fn combo_likely_on(ctx: &Ctx) -> CaseResult {
    combo(ctx, &LK_ON)
}

fn batch_size(ctx: &Ctx, key: &'static Key) -> CaseResult {
    combo(ctx, key)
}

fn batch_1(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S1)
}
fn batch_2(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S2)
}
fn batch_64(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S64)
}
fn batch_255(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S255)
}
fn batch_256(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S256)
}
fn batch_257(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S257)
}
fn batch_1024(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S1024)
}
fn batch_4096(ctx: &Ctx) -> CaseResult {
    batch_size(ctx, &S4096)
}

fn serial(ctx: &Ctx, key: &'static Key, sites: u64) -> CaseResult {
    let initial = key.initially();
    for state in [!initial, initial] {
        let report = batchpoke_api::apply_serial(&[Change::new(key, state)]).map_err(|_| ())?;
        check!(
            report.rounds == 3 * sites,
            "serial: {} rounds for {} sites",
            report.rounds,
            sites
        );
        ctx.expect(key, runner(key), state)?;
    }
    Ok(())
}

fn serial_1_site(ctx: &Ctx) -> CaseResult {
    serial(ctx, &S1, 1)
}
fn serial_64_sites(ctx: &Ctx) -> CaseResult {
    serial(ctx, &S64, 64)
}

fn no_tail_change_two_rounds(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&NO_TAIL);
    check!(sites.len() == 1, "{} no_tail sites", sites.len());
    let insn = sites[0].insn(true);
    check!(
        insn == Some([0xe9, 0x1f, 0x44, 0, 0]),
        "no_tail jump encodes as {:02x?}",
        insn
    );
    flip(ctx, &NO_TAIL, true, 2)?;
    flip(ctx, &NO_TAIL, false, 2)
}

fn many_keys(ctx: &Ctx, count: usize) -> CaseResult {
    let mut changes = KVec::new();
    for key in MULTI.iter().take(count) {
        let _ = changes.push(Change::new(key, !key.initially()), GFP_KERNEL);
    }
    for pass in 0..2 {
        let report = apply(&changes).map_err(|_| ())?;
        check!(
            report.rounds == 3,
            "{} keys: {} rounds",
            count,
            report.rounds
        );
        check!(
            report.sites == 4 * count as u64,
            "{} keys: {} sites",
            count,
            report.sites
        );
        for (i, key) in MULTI.iter().enumerate() {
            let want = if i < count && pass == 0 {
                !key.initially()
            } else {
                key.initially()
            };
            ctx.expect(key, runner(key), want)?;
        }
        for change in changes.iter_mut() {
            change.enable = !change.enable;
        }
    }
    Ok(())
}

fn many_keys_1(ctx: &Ctx) -> CaseResult {
    many_keys(ctx, 1)
}
fn many_keys_2(ctx: &Ctx) -> CaseResult {
    many_keys(ctx, 2)
}
fn many_keys_8(ctx: &Ctx) -> CaseResult {
    many_keys(ctx, 8)
}
fn many_keys_16(ctx: &Ctx) -> CaseResult {
    many_keys(ctx, 16)
}

fn sizes_and_keys_in_one_transaction(ctx: &Ctx) -> CaseResult {
    let keys: [&'static Key; 4] = [&S255, &S257, &M3, &UL_ON];
    let mut changes = KVec::new();
    for key in keys {
        let _ = changes.push(Change::new(key, !key.initially()), GFP_KERNEL);
    }
    let report = apply(&changes).map_err(|_| ())?;
    check!(
        report.rounds == 3 && report.sites == 255 + 257 + 4 + 4,
        "report {:?}",
        report
    );
    for key in keys {
        ctx.expect(key, runner(key), !key.initially())?;
    }
    for change in changes.iter_mut() {
        change.enable = !change.enable;
    }
    apply(&changes).map_err(|_| ())?;
    Ok(())
}

fn unchanged_key_costs_nothing(ctx: &Ctx) -> CaseResult {
    let report = apply(&[Change::new(&S64, S64.is_enabled())]).map_err(|_| ())?;
    check!(
        report == Report::default(),
        "setting a key to its state: {:?}",
        report
    );
    ctx.expect(&S64, run_s64, S64.initially())
}

fn all_unchanged(ctx: &Ctx) -> CaseResult {
    for (key, run) in REGISTERED.iter() {
        ctx.expect(key, *run, key.initially())?;
    }
    Ok(())
}

fn duplicate_key_refused(ctx: &Ctx) -> CaseResult {
    let r = apply(&[
        Change::new(&S2, true),
        Change::new(&S64, true),
        Change::new(&S2, false),
    ]);
    check!(r.err() == Some(EINVAL), "duplicate key: {:?}", r);
    all_unchanged(ctx)
}

fn unregistered_key_refused(ctx: &Ctx) -> CaseResult {
    let r = apply(&[Change::new(&S2, true), Change::new(&UNREGISTERED, true)]);
    check!(r.err() == Some(ENOENT), "unregistered key: {:?}", r);
    ctx.expect(&UNREGISTERED, run_unregistered, false)?;
    all_unchanged(ctx)
}

fn double_registration_refused(ctx: &Ctx) -> CaseResult {
    let r = Registration::new(ctx.module, &[&S1]);
    check!(
        r.as_ref().err() == Some(&EEXIST),
        "second registration of s1: {:?}",
        r.as_ref().err()
    );
    // The failed attempt must not have disturbed the first registration.
    flip(ctx, &S1, true, 3)?;
    flip(ctx, &S1, false, 3)
}

fn tampered_site_refused(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&TAMPER);
    check!(sites.len() == 4, "{} tamper sites", sites.len());
    let victim = sites[2].addr + 4;
    // NOP5's last byte 00 -> 01 is still a harmless NOP (a displacement of 1).
    // SAFETY: a byte of this module's text, in a site no CPU runs now.
    let written = unsafe { batchpoke_test_write_text(victim, 0x01) } == 0;
    check!(written, "cannot write the site");
    let before = batchpoke_api::stats();
    let r = apply(&[Change::new(&S64, true), Change::new(&TAMPER, true)]);
    let after = batchpoke_api::stats();
    // SAFETY: as above; the transaction was refused, so no CPU runs it.
    let restored = unsafe { batchpoke_test_write_text(victim, 0x00) } == 0;
    check!(restored, "cannot restore the site");
    check!(r.err() == Some(EIO), "tampered transaction: {:?}", r);
    check!(
        after.sync_rounds == before.sync_rounds,
        "a refused transaction ran sync rounds"
    );
    check!(after.refused == before.refused + 1, "refusal not counted");
    all_unchanged(ctx)?;
    ctx.expect(&TAMPER, run_tamper, false)?;
    flip(ctx, &TAMPER, true, 3)?;
    flip(ctx, &TAMPER, false, 3)
}

fn kprobe_on_handler_refused(_ctx: &Ctx) -> CaseResult {
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

fn kprobe_on_site_refused(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&S2);
    for site in sites.iter() {
        // SAFETY: a site address of this module's text.
        let ret = unsafe { batchpoke_test_try_kprobe(core::ptr::null(), site.addr) };
        check!(
            ret != 0,
            "register_kprobe on site {:#x} succeeded",
            site.addr
        );
    }
    Ok(())
}

fn stats_account_transactions(_ctx: &Ctx) -> CaseResult {
    let before = batchpoke_api::stats();
    let r1 = apply(&[Change::new(&S255, true)]).map_err(|_| ())?;
    let r2 = apply(&[Change::new(&S255, false)]).map_err(|_| ())?;
    let after = batchpoke_api::stats();
    check!(
        after.transactions == before.transactions + 2,
        "transactions {} -> {}",
        before.transactions,
        after.transactions
    );
    check!(
        after.sites_patched == before.sites_patched + r1.sites + r2.sites,
        "sites_patched"
    );
    check!(
        after.sync_rounds == before.sync_rounds + 6,
        "sync_rounds {} -> {}",
        before.sync_rounds,
        after.sync_rounds
    );
    check!(
        after.last_ns > 0 && after.max_ns >= after.last_ns,
        "times {} {}",
        after.last_ns,
        after.max_ns
    );
    Ok(())
}

// ----------------------------------------------------------------------------
// Concurrency: readers run sites while transactions flip them.

/// Shared by the readers and the flipping thread.
///
/// `generation` is odd while a transaction is in flight; `committed` is the
/// state of the flipped keys at the last even generation. A reader whose
/// run started and ended in the same even generation must see exactly
/// `committed` at every site; any other run may see either state.
struct Shared {
    generation: AtomicU64,
    committed: AtomicBool,
    /// batchpoke's sync-round count when the transaction in flight started.
    base_rounds: AtomicU64,
    /// Runs that started after the transaction's first sync round (its
    /// int3s are in place: only the new state may be seen).
    guarded_runs: AtomicU64,
    guarded_old: AtomicU64,
    stable_runs: AtomicU64,
    bad_runs: AtomicU64,
    irq_stable_runs: AtomicU64,
    irq_bad_runs: AtomicU64,
    /// IRQ-context runs that overlapped a transaction.
    irq_patching_runs: AtomicU64,
}

static SHARED: Shared = Shared {
    generation: AtomicU64::new(0),
    committed: AtomicBool::new(false),
    base_rounds: AtomicU64::new(0),
    guarded_runs: AtomicU64::new(0),
    guarded_old: AtomicU64::new(0),
    stable_runs: AtomicU64::new(0),
    bad_runs: AtomicU64::new(0),
    irq_stable_runs: AtomicU64::new(0),
    irq_bad_runs: AtomicU64::new(0),
    irq_patching_runs: AtomicU64::new(0),
};

/// Runs `sites` once and classifies the run; returns whether it overlapped
/// a transaction.
fn observe(sites: &[fn() -> (u32, u32)], stable: &AtomicU64, bad: &AtomicU64) -> bool {
    let before = SHARED.generation.load(Ordering::Acquire);
    let committed = SHARED.committed.load(Ordering::Acquire);
    // Once the first sync round of a transaction is complete, every site it
    // changes traps or holds its new bytes, and a trap must behave as the
    // new instruction: from then on no run may see the old state.
    let base = SHARED.base_rounds.load(Ordering::Acquire);
    let guarded = before % 2 == 1 && batchpoke_api::stats().sync_rounds > base;
    let mut wrong = false;
    // Whether any site said anything but the new state.
    let mut saw_old = false;
    for run in sites {
        let (yes, ran) = run();
        let (old, new) = if committed { (ran, 0) } else { (0, ran) };
        wrong |= yes != old;
        saw_old |= yes != new;
    }
    let after = SHARED.generation.load(Ordering::Acquire);
    if guarded && before == after {
        SHARED.guarded_runs.fetch_add(1, Ordering::Relaxed);
        if saw_old {
            SHARED.guarded_old.fetch_add(1, Ordering::Relaxed);
        }
    }
    if before == after && before % 2 == 0 {
        stable.fetch_add(1, Ordering::Relaxed);
        if wrong {
            bad.fetch_add(1, Ordering::Relaxed);
        }
        false
    } else {
        true
    }
}

const READER_SITES: [fn() -> (u32, u32); 3] = [run_s256, run_lk_off, run_s64];

/// A reader kthread: runs the flipped keys' sites until stopped.
///
/// # Safety
///
/// Started as a kthread by `batchpoke_test_start_threads`.
unsafe extern "C" fn reader(_data: *mut c_void) -> c_int {
    // SAFETY: plain call from a kthread.
    while !unsafe { kernel::bindings::kthread_should_stop() } {
        let _ = observe(&READER_SITES, &SHARED.stable_runs, &SHARED.bad_runs);
        // Idle a little: under TCG every vCPU shares one host thread, and
        // readers that never idle would starve the sync rounds.
        // SAFETY: plain call from a kthread.
        unsafe { batchpoke_test_nap() };
    }
    0
}

/// The hrtimer's reader: runs one key's sites in hard-IRQ context.
///
/// # Safety
///
/// Called by the test hrtimer only.
unsafe extern "C" fn irq_reader(_data: *mut c_void) {
    if observe(&[run_s64], &SHARED.irq_stable_runs, &SHARED.irq_bad_runs) {
        SHARED.irq_patching_runs.fetch_add(1, Ordering::Relaxed);
    }
}

const FLIPS: u32 = 1000;

fn concurrent_transactions(ctx: &Ctx) -> CaseResult {
    let mut tasks = [core::ptr::null_mut(); 8];
    let hits_before = batchpoke_api::stats().int3_hits;
    // SAFETY: `reader` is a kthread function; `tasks` has room for 8.
    let n = unsafe {
        batchpoke_test_start_threads(reader, core::ptr::null_mut(), tasks.as_mut_ptr(), 8)
    };
    check!(n >= 2, "started {} reader threads", n);
    // SAFETY: `irq_reader` only reads atomics and runs sites.
    unsafe { batchpoke_test_hrtimer_start(irq_reader, core::ptr::null_mut(), 100_000) };
    let mut failure = None;
    for i in 0..FLIPS {
        let state = i % 2 == 0;
        SHARED
            .base_rounds
            .store(batchpoke_api::stats().sync_rounds, Ordering::Release);
        SHARED.generation.fetch_add(1, Ordering::AcqRel);
        let r = apply(&[
            Change::new(&S256, state),
            Change::new(&LK_OFF, state),
            Change::new(&S64, state),
        ]);
        if let Ok(report) = r {
            if report.rounds != 3 && failure.is_none() {
                failure = Some(("rounds", i));
            }
            SHARED.committed.store(state, Ordering::Release);
        } else if failure.is_none() {
            failure = Some(("apply failed", i));
        }
        SHARED.generation.fetch_add(1, Ordering::AcqRel);
        // Leave readers stable windows to check.
        // SAFETY: plain call.
        unsafe { batchpoke_test_nap() };
    }
    // SAFETY: started above.
    unsafe { batchpoke_test_hrtimer_stop() };
    for task in tasks.iter().take(n as usize) {
        // SAFETY: a kthread started above and not stopped yet.
        unsafe { kernel::bindings::kthread_stop(*task) };
    }
    let hits = batchpoke_api::stats().int3_hits - hits_before;
    let stable = SHARED.stable_runs.load(Ordering::Relaxed);
    let bad = SHARED.bad_runs.load(Ordering::Relaxed);
    let irq_stable = SHARED.irq_stable_runs.load(Ordering::Relaxed);
    let irq_bad = SHARED.irq_bad_runs.load(Ordering::Relaxed);
    let irq_patching = SHARED.irq_patching_runs.load(Ordering::Relaxed);
    let guarded = SHARED.guarded_runs.load(Ordering::Relaxed);
    let guarded_old = SHARED.guarded_old.load(Ordering::Relaxed);
    pr_info!(
        "# {} runs after a first sync round, {} of them saw the old state\n",
        guarded,
        guarded_old
    );
    pr_info!(
        "# {} flips, {} readers: {} stable runs ({} wrong); IRQ: {} stable runs ({} wrong), {} during patching; {} int3 hits\n",
        FLIPS, n, stable, bad, irq_stable, irq_bad, irq_patching, hits
    );
    check!(failure.is_none(), "transaction {:?}", failure);
    check!(
        bad == 0 && irq_bad == 0,
        "readers saw a state their key did not have"
    );
    check!(stable > 0, "no reader completed a run between transactions");
    check!(guarded > 0, "no reader ran while int3s guarded the sites");
    check!(
        guarded_old == 0,
        "{} runs saw the old state after the first sync round",
        guarded_old
    );
    check!(
        irq_patching > 0,
        "no IRQ-context run overlapped a transaction"
    );
    HITS.store(hits, Ordering::Relaxed);
    for (key, run) in [
        (&S256, run_s256 as fn() -> (u32, u32)),
        (&LK_OFF, run_lk_off),
        (&S64, run_s64),
    ] {
        ctx.expect(key, run, false)?;
    }
    Ok(())
}

static HITS: AtomicU64 = AtomicU64::new(0);

fn int3_handler_was_hit(_ctx: &Ctx) -> CaseResult {
    let hits = HITS.load(Ordering::Relaxed);
    check!(
        hits > 0,
        "no trap on a site during {} transactions with readers",
        FLIPS
    );
    Ok(())
}

// ----------------------------------------------------------------------------

mod lifecycle_cases;

type Case = (&'static str, fn(&Ctx) -> CaseResult);

const CASES: [Case; 38] = [
    ("initial_states_match_compiled_sites", initial_states),
    ("registration_finds_every_site", registration_counts_sites),
    ("unlikely_site_key_off_flip_and_back", combo_unlikely_off),
    ("unlikely_site_key_on_flip_and_back", combo_unlikely_on),
    ("likely_site_key_off_flip_and_back", combo_likely_off),
    ("likely_site_key_on_flip_and_back", combo_likely_on),
    ("batch_1_site_3_rounds", batch_1),
    ("batch_2_sites_3_rounds", batch_2),
    ("batch_64_sites_3_rounds", batch_64),
    ("batch_255_sites_3_rounds", batch_255),
    ("batch_256_sites_3_rounds", batch_256),
    ("batch_257_sites_3_rounds", batch_257),
    ("batch_1024_sites_3_rounds", batch_1024),
    ("batch_4096_sites_3_rounds", batch_4096),
    ("serial_1_site_3_rounds", serial_1_site),
    ("serial_64_sites_192_rounds", serial_64_sites),
    ("no_tail_change_2_rounds", no_tail_change_two_rounds),
    ("transaction_1_key_3_rounds", many_keys_1),
    ("transaction_2_keys_3_rounds", many_keys_2),
    ("transaction_8_keys_3_rounds", many_keys_8),
    ("transaction_16_keys_3_rounds", many_keys_16),
    (
        "transaction_mixed_sizes_3_rounds",
        sizes_and_keys_in_one_transaction,
    ),
    ("unchanged_key_costs_no_round", unchanged_key_costs_nothing),
    (
        "duplicate_key_refused_nothing_changed",
        duplicate_key_refused,
    ),
    (
        "unregistered_key_refused_nothing_changed",
        unregistered_key_refused,
    ),
    ("double_registration_refused", double_registration_refused),
    (
        "tampered_site_refused_nothing_changed",
        tampered_site_refused,
    ),
    ("kprobe_on_int3_handler_refused", kprobe_on_handler_refused),
    ("kprobe_on_site_refused", kprobe_on_site_refused),
    ("stats_account_transactions", stats_account_transactions),
    (
        "concurrent_readers_and_irq_see_real_states",
        concurrent_transactions,
    ),
    ("int3_handler_hit_during_concurrency", int3_handler_was_hit),
    // Registration edge cases (lifecycle_cases.rs).
    (
        "two_registrations_drop_one_keeps_other",
        lifecycle_cases::two_registrations,
    ),
    (
        "key_outside_module_refused_einval",
        lifecycle_cases::foreign_keys_refused,
    ),
    (
        "init_text_site_refused_einval_other_keys_fine",
        lifecycle_cases::init_text_site_refused,
    ),
    (
        "c_entry_points_null_arrays",
        lifecycle_cases::c_entry_points_null,
    ),
    ("keys_back_to_initial_states", all_unchanged),
    ("unregistered_key_untouched", |ctx| {
        ctx.expect(&UNREGISTERED, run_unregistered, false)
    }),
];

/// The module keeps no registration: see the end of `init`.
struct BatchpokeTest;

impl kernel::Module for BatchpokeTest {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let keys: KVec<&'static Key> = {
            let mut v = KVec::with_capacity(REGISTERED.len(), GFP_KERNEL)?;
            for (key, _) in REGISTERED.iter() {
                v.push(*key, GFP_KERNEL)?;
            }
            v
        };
        let registration = Registration::new(module, &keys)?;
        let ctx = Ctx { module };
        pr_info!("KTAP version 1\n");
        pr_info!("1..{}\n", CASES.len());
        let mut failed = 0;
        for (i, (name, case)) in CASES.iter().enumerate() {
            if reset().and_then(|()| case(&ctx)).is_ok() {
                pr_info!("ok {} {}\n", i + 1, name);
            } else {
                failed += 1;
                pr_info!("not ok {} {}\n", i + 1, name);
            }
        }
        pr_info!(
            "# batchpoke_test: {} passed, {} failed\n",
            CASES.len() - failed,
            failed
        );
        if failed != 0 {
            return Err(EINVAL);
        }
        // Deliberately never unregistered: when this module unloads,
        // batchpoke's module notifier must drop its keys (and their sysfs
        // directories) while the module's memory still exists. The
        // selftest script checks that it did. Well-behaved clients keep
        // their `Registration` (see samples/batchpoke_demo).
        core::mem::forget(registration);
        Ok(BatchpokeTest)
    }
}
