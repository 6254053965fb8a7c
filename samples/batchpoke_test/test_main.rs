// SPDX-License-Identifier: GPL-2.0

//! batchpoke's in-kernel selftest, in the manner of `lib/test_static_keys.c`
//! and `kselftest_module.h`: `init` runs every case, prints KTAP, and fails
//! with `EINVAL` if any case failed.
//!
//! Branch results are checked by executing the sites; site bytes are
//! checked by reading this module's own `__jump_table`, independently of
//! what batchpoke believes.

use core::ffi::{c_char, c_int, c_void};

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/entry/batchpoke_api/mod.rs"]
mod batchpoke_api;
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/pure/mod.rs"]
mod pure;

mod keys;

use batchpoke_api::{Change, Key, Registration, Report};
use keys::*;
use pure::insn::{Form, Insn, Width};
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
    fn batchpoke_test_start_away(
        f: unsafe extern "C" fn(*mut c_void) -> c_int,
        data: *mut c_void,
        task: *mut *mut kernel::bindings::task_struct,
    ) -> c_int;
    fn batchpoke_test_stop_away(task: *mut kernel::bindings::task_struct);
    fn batchpoke_test_decode(addr: usize, target: *mut usize) -> c_int;
    fn batchpoke_test_nmi_start(f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> c_int;
    fn batchpoke_test_nmi_raise();
    fn batchpoke_test_nmi_stop();
    static batchpoke_test_parallel_flips: core::ffi::c_uint;
}

/// `parallel_flips=N`: only the concurrency cases, N transactions each.
fn parallel_flips() -> Option<u32> {
    // SAFETY: a module parameter, written by the loader before init only.
    match unsafe { batchpoke_test_parallel_flips } {
        0 => None,
        n => Some(n),
    }
}

/// `batchpoke_test_decode()`'s verdicts (fixtures.h).
const DECODED_NOP5: c_int = 1;
const DECODED_JMP32: c_int = 2;
const DECODED_TEST32: c_int = 3;

/// A 5-byte site instruction, as the kernel's decoder sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoded {
    /// NOP5: what the compiler emitted, and a site of an unregistered key
    /// holds while it falls through.
    Nop5,
    /// `jmp rel32` to the address.
    Jmp(usize),
    /// `test eax, imm32` whose immediate, as a jump's rel32, goes to the
    /// address: a registered key's site falling through.
    Test(usize),
    /// Anything else.
    Other,
}

/// What the kernel's instruction decoder finds at `addr`.
fn decode(addr: usize) -> Decoded {
    let mut target = 0usize;
    // SAFETY: `addr` is a site in this module's text; the decoder reads at
    // most one instruction there.
    match unsafe { batchpoke_test_decode(addr, &mut target) } {
        DECODED_NOP5 => Decoded::Nop5,
        DECODED_JMP32 => Decoded::Jmp(target),
        DECODED_TEST32 => Decoded::Test(target),
        _ => Decoded::Other,
    }
}

type CaseResult = core::result::Result<(), ()>;

/// Sync rounds of a batch of batchpoke keys: one, after the int3s. Their
/// sites fall through with `test` while registered, so a flip changes first
/// bytes only: no tail round, and no final one (the handler resolves a late
/// int3 from its table).
const BATCH_ROUNDS: u64 = 1;
/// Sync rounds per site of the serial baseline: a batch of one with the
/// kernel's final sync, and no tail round.
const SERIAL_ROUNDS_PER_SITE: u64 = 2;

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
    /// Every entry of this module's jump table, decoded here rather than by
    /// batchpoke (an independent reading): `(key address with the flag
    /// bits cleared, site)`.
    fn jump_entries(&self) -> KVec<(usize, Site)> {
        let mut sites = KVec::new();
        // SAFETY: this module is loaded while its init runs; the loader set
        // `jump_entries`/`num_jump_entries` to its `__jump_table`.
        let entries = unsafe {
            let m = &*self.module.as_ptr();
            core::slice::from_raw_parts(m.jump_entries, m.num_jump_entries as usize)
        };
        for e in entries {
            // Every field is relative to its own address.
            let base = core::ptr::from_ref(e) as usize;
            let addr = base.wrapping_add(e.code as isize as usize);
            let target = (base + 4).wrapping_add(e.target as isize as usize);
            let k = (base + 8).wrapping_add(e.key as usize);
            let site = Site {
                addr,
                target,
                likely: k & 1 != 0,
                width: Width::Near,
                form: Form::Kernel,
            };
            let _ = sites.push((k & !3, site), GFP_KERNEL);
        }
        sites
    }

    /// The sites of `key` in this module's jump table.
    fn sites(&self, key: &Key) -> KVec<Site> {
        let mut sites = KVec::new();
        for (k, site) in self.jump_entries() {
            if k == key.raw_address() {
                let _ = sites.push(site, GFP_KERNEL);
            }
        }
        sites
    }

    /// Checks that every site of the registered `key` (or of
    /// `UNREGISTERED`) holds exactly the instruction for `state` and, run,
    /// says `state`.
    fn expect(&self, key: &Key, run: fn() -> (u32, u32), state: bool) -> CaseResult {
        let registered = !core::ptr::eq(key, &UNREGISTERED);
        self.expect_in(key, run, state, registered)
    }

    /// [`Self::expect`] for a key that is not registered (any more): its
    /// sites fall through with the compiler's NOP5 again.
    fn expect_unregistered(&self, key: &Key, run: fn() -> (u32, u32), state: bool) -> CaseResult {
        self.expect_in(key, run, state, false)
    }

    fn expect_in(
        &self,
        key: &Key,
        run: fn() -> (u32, u32),
        state: bool,
        registered: bool,
    ) -> CaseResult {
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
        // The bytes, judged by the kernel's own decoder against this
        // module's jump table, not by batchpoke's encoder: a site jumps to
        // its entry's target exactly when the key's state differs from its
        // form (likely sites fall through while enabled), and falls
        // through with a `test` of the same displacement while its key is
        // registered.
        for site in sites.iter() {
            let want = if state != site.likely {
                Decoded::Jmp(site.target)
            } else if registered {
                Decoded::Test(site.target)
            } else {
                Decoded::Nop5
            };
            let found = decode(site.addr);
            check!(
                found == want,
                "{:?}: site {:#x} decodes as {:x?}, expected {:x?}",
                key.name(),
                site.addr,
                found,
                want
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
/// starts from the same text whatever the previous one left, and checks
/// that every site says so.
fn reset(ctx: &Ctx) -> CaseResult {
    let mut changes = KVec::new();
    for (key, _) in REGISTERED.iter() {
        changes
            .push(Change::new(key, key.initially()), GFP_KERNEL)
            .map_err(|_| ())?;
    }
    let r = apply(&changes);
    check!(r.is_ok(), "resetting the keys failed: {:?}", r.err());
    all_unchanged(ctx)
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
        report.rounds == BATCH_ROUNDS,
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
    flip(ctx, key, !initial, BATCH_ROUNDS)?;
    flip(ctx, key, initial, BATCH_ROUNDS)
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
            report.rounds == SERIAL_ROUNDS_PER_SITE * sites,
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

fn no_tail_change_one_round(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&NO_TAIL);
    check!(sites.len() == 1, "{} no_tail sites", sites.len());
    let insn = sites[0].insn(true);
    check!(
        insn.as_ref().map(Insn::as_bytes) == Some(&[0xe9, 0x1f, 0x44, 0, 0][..]),
        "no_tail jump encodes as {:02x?}",
        insn
    );
    flip(ctx, &NO_TAIL, true, BATCH_ROUNDS)?;
    flip(ctx, &NO_TAIL, false, BATCH_ROUNDS)
}

fn many_keys(ctx: &Ctx, count: usize) -> CaseResult {
    let mut changes = KVec::new();
    for key in MULTI.iter().take(count) {
        let _ = changes.push(Change::new(key, !key.initially()), GFP_KERNEL);
    }
    for pass in 0..2 {
        let report = apply(&changes).map_err(|_| ())?;
        check!(
            report.rounds == BATCH_ROUNDS,
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
        report.rounds == BATCH_ROUNDS && report.sites == 255 + 257 + 4 + 4,
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

fn stats_account_transactions(ctx: &Ctx) -> CaseResult {
    // Oracles of the test's own: the sites come from this module's jump
    // table, the time from a clock read around the calls.
    let sites = ctx.sites(&S255).len() as u64;
    check!(sites == 255, "{} sites of s255", sites);
    let before = batchpoke_api::stats();
    // SAFETY: plain call.
    let start = unsafe { kernel::bindings::ktime_get() };
    apply(&[Change::new(&S255, true)]).map_err(|_| ())?;
    apply(&[Change::new(&S255, false)]).map_err(|_| ())?;
    // SAFETY: plain call.
    let elapsed = (unsafe { kernel::bindings::ktime_get() } - start) as u64;
    let after = batchpoke_api::stats();
    check!(
        after.transactions == before.transactions + 2,
        "transactions {} -> {}",
        before.transactions,
        after.transactions
    );
    check!(
        after.sites_patched == before.sites_patched + 2 * sites,
        "sites_patched {} -> {}, {} sites flipped twice",
        before.sites_patched,
        after.sites_patched,
        sites
    );
    check!(
        after.sync_rounds == before.sync_rounds + 2 * BATCH_ROUNDS,
        "sync_rounds {} -> {}",
        before.sync_rounds,
        after.sync_rounds
    );
    check!(
        after.refused == before.refused,
        "refused {} -> {}",
        before.refused,
        after.refused
    );
    check!(
        after.last_ns <= elapsed && after.max_ns >= after.last_ns,
        "last_ns {} max_ns {}, both transactions took {} ns",
        after.last_ns,
        after.max_ns,
        elapsed
    );
    Ok(())
}

fn page_crossing_site_flips(ctx: &Ctx) -> CaseResult {
    let sites = ctx.sites(&PAGE_X);
    check!(sites.len() == 1, "{} page_x sites", sites.len());
    let offset = sites[0].addr % 4096;
    check!(
        offset > 4096 - 5,
        "site {:#x} does not cross a page boundary",
        sites[0].addr
    );
    combo(ctx, &PAGE_X)
}

// ----------------------------------------------------------------------------

mod concurrency_cases;
mod lifecycle_cases;
mod refusal_cases;

type Case = (&'static str, fn(&Ctx) -> CaseResult);

const CASES: &[Case] = &[
    ("initial_states_match_compiled_sites", initial_states),
    ("registration_finds_every_site", registration_counts_sites),
    ("unlikely_site_key_off_flip_and_back", combo_unlikely_off),
    ("unlikely_site_key_on_flip_and_back", combo_unlikely_on),
    ("likely_site_key_off_flip_and_back", combo_likely_off),
    ("likely_site_key_on_flip_and_back", combo_likely_on),
    ("batch_1_site_1_round", batch_1),
    ("batch_2_sites_1_round", batch_2),
    ("batch_64_sites_1_round", batch_64),
    ("batch_255_sites_1_round", batch_255),
    ("batch_256_sites_1_round", batch_256),
    ("batch_257_sites_1_round", batch_257),
    ("batch_1024_sites_1_round", batch_1024),
    ("batch_4096_sites_1_round", batch_4096),
    ("page_crossing_site_flips", page_crossing_site_flips),
    ("serial_1_site_2_rounds", serial_1_site),
    ("serial_64_sites_128_rounds", serial_64_sites),
    ("no_tail_change_1_round", no_tail_change_one_round),
    ("transaction_1_key_1_round", many_keys_1),
    ("transaction_2_keys_1_round", many_keys_2),
    ("transaction_8_keys_1_round", many_keys_8),
    ("transaction_16_keys_1_round", many_keys_16),
    (
        "transaction_mixed_sizes_1_round",
        sizes_and_keys_in_one_transaction,
    ),
    ("unchanged_key_costs_no_round", unchanged_key_costs_nothing),
    (
        "duplicate_key_refused_nothing_changed",
        refusal_cases::duplicate_key_refused,
    ),
    (
        "unregistered_key_refused_nothing_changed",
        refusal_cases::unregistered_key_refused,
    ),
    (
        "double_registration_refused",
        refusal_cases::double_registration_refused,
    ),
    (
        "tampered_site_refused_nothing_changed",
        refusal_cases::tampered_site_refused,
    ),
    (
        "kprobe_on_int3_handler_refused",
        refusal_cases::kprobe_on_handler_refused,
    ),
    (
        "kprobe_on_any_site_byte_einval",
        refusal_cases::kprobe_on_site_refused,
    ),
    ("stats_account_transactions", stats_account_transactions),
    (
        "concurrent_readers_and_irq_see_real_states",
        concurrency_cases::concurrent_transactions,
    ),
    (
        "int3_handler_hit_during_concurrency",
        concurrency_cases::int3_handler_was_hit,
    ),
    (
        "nmi_readers_see_real_states_int3_in_nmi",
        concurrency_cases::nmi_readers,
    ),
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
    ("unregistered_key_untouched", |ctx| {
        ctx.expect(&UNREGISTERED, run_unregistered, false)
    }),
];

/// The cases `parallel_flips=N` runs.
const CONCURRENCY_CASES: [&str; 3] = [
    "concurrent_readers_and_irq_see_real_states",
    "int3_handler_hit_during_concurrency",
    "nmi_readers_see_real_states_int3_in_nmi",
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
        let selected =
            |(name, _): &&Case| parallel_flips().is_none() || CONCURRENCY_CASES.contains(name);
        let planned = CASES.iter().filter(selected).count();
        pr_info!("KTAP version 1\n");
        pr_info!("1..{}\n", planned);
        let mut failed = 0;
        for (i, (name, case)) in CASES.iter().filter(selected).enumerate() {
            if reset(&ctx).and_then(|()| case(&ctx)).is_ok() {
                pr_info!("ok {} {}\n", i + 1, name);
            } else {
                failed += 1;
                pr_info!("not ok {} {}\n", i + 1, name);
            }
        }
        pr_info!(
            "# batchpoke_test: {} passed, {} failed\n",
            planned - failed,
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
