// SPDX-License-Identifier: GPL-2.0

//! Concurrency: readers on every CPU, in hard IRQ and in NMI run sites while
//! transactions flip them, and every run must see a real state.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

use super::{
    apply, batchpoke_test_hrtimer_start, batchpoke_test_hrtimer_stop, batchpoke_test_nap,
    batchpoke_test_nmi_raise, batchpoke_test_nmi_start, batchpoke_test_nmi_stop,
    batchpoke_test_start_away, batchpoke_test_start_threads, batchpoke_test_stop_away,
    parallel_flips, run_lk_off, run_s256, run_s64, CaseResult, Ctx, BATCH_ROUNDS,
};
use crate::batchpoke_api::{self, Change, Key};
use crate::keys::{LK_OFF, S256, S64};

/// Shared by the readers and the flipping thread.
///
/// `phase` is one word, so that a reader sees its parts together: bit 0 is
/// set while a transaction is in flight, bit 1 is the state of the flipped
/// keys when the last transaction ended (`committed`), the rest counts
/// transactions. A reader whose run started and ended in the same phase
/// without a transaction in flight must see exactly `committed` at every
/// site; one in flight must see `committed` or its opposite. (With the
/// state in a word of its own, a reader could read a transaction as in
/// flight and its new state as committed, and then take the new state for
/// the old one: true parallelism showed it.)
struct Shared {
    phase: AtomicU64,
    /// batchpoke's sync-round count when the transaction in flight started.
    base_rounds: AtomicU64,
}

/// Bits of [`Shared::phase`].
const IN_FLIGHT: u64 = 1;
const COMMITTED: u64 = 2;
const ONE_TRANSACTION: u64 = 4;

static SHARED: Shared = Shared {
    phase: AtomicU64::new(0),
    base_rounds: AtomicU64::new(0),
};

/// What the readers of one context (kthreads, hard IRQ, NMI) saw.
struct Seen {
    /// Runs within one stable window, and those that saw a wrong state.
    stable: AtomicU64,
    bad: AtomicU64,
    /// Runs that started after the transaction's first sync round (its
    /// int3s are in place: only the new state may be seen), and those
    /// that saw the old state.
    guarded: AtomicU64,
    guarded_old: AtomicU64,
    /// Runs that overlapped a transaction.
    overlapping: AtomicU64,
}

impl Seen {
    const fn new() -> Self {
        Seen {
            stable: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            guarded: AtomicU64::new(0),
            guarded_old: AtomicU64::new(0),
            overlapping: AtomicU64::new(0),
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn reset(&self) {
        for c in [
            &self.stable,
            &self.bad,
            &self.guarded,
            &self.guarded_old,
            &self.overlapping,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Checks what a reader context must have seen.
    fn check(&self, what: &str) -> CaseResult {
        pr_info!(
            "# {}: {} stable runs ({} wrong), {} overlapping a transaction, {} after a first sync round ({} saw the old state)\n",
            what,
            Self::get(&self.stable),
            Self::get(&self.bad),
            Self::get(&self.overlapping),
            Self::get(&self.guarded),
            Self::get(&self.guarded_old)
        );
        check!(
            Self::get(&self.bad) == 0,
            "{}: readers saw a state their key did not have",
            what
        );
        // Under multi-threaded TCG (parallel_flips=N, parallel.sh) a few
        // runs in ten thousand see the old state after the first sync
        // round, with the kernel's three-round protocol too: QEMU does not
        // give the guarantee this relies on (a serialized CPU fetches what
        // memory holds), so there the count is reported, not asserted.
        check!(
            Self::get(&self.guarded_old) == 0 || parallel_flips().is_some(),
            "{}: runs saw the old state after the first sync round",
            what
        );
        check!(
            Self::get(&self.stable) > 0,
            "{}: no run completed between transactions",
            what
        );
        check!(
            Self::get(&self.overlapping) > 0,
            "{}: no run overlapped a transaction",
            what
        );
        Ok(())
    }
}

static THREADS: Seen = Seen::new();
static IRQ: Seen = Seen::new();
static NMI: Seen = Seen::new();

/// Runs `sites` once and classifies the run into `seen`.
fn observe(sites: &[fn() -> (u32, u32)], seen: &Seen) {
    let before = SHARED.phase.load(Ordering::Acquire);
    let committed = before & COMMITTED != 0;
    // Once the first sync round of a transaction is complete, every site it
    // changes traps or holds its new bytes, and a trap must behave as the
    // new instruction: from then on no run may see the old state.
    let base = SHARED.base_rounds.load(Ordering::Acquire);
    let guarded = before & IN_FLIGHT != 0 && batchpoke_api::stats().sync_rounds > base;
    let mut wrong = false;
    // Whether any site said anything but the new state.
    let mut saw_old = false;
    for run in sites {
        let (yes, ran) = run();
        let (old, new) = if committed { (ran, 0) } else { (0, ran) };
        wrong |= yes != old;
        saw_old |= yes != new;
    }
    let after = SHARED.phase.load(Ordering::Acquire);
    if guarded && before == after {
        seen.guarded.fetch_add(1, Ordering::Relaxed);
        if saw_old {
            seen.guarded_old.fetch_add(1, Ordering::Relaxed);
        }
    }
    if before == after && before & IN_FLIGHT == 0 {
        seen.stable.fetch_add(1, Ordering::Relaxed);
        if wrong {
            seen.bad.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        seen.overlapping.fetch_add(1, Ordering::Relaxed);
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
        observe(&READER_SITES, &THREADS);
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
    observe(&[run_s64], &IRQ);
}

/// The NMI handler's reader: runs one key's sites in NMI context.
///
/// # Safety
///
/// Called by the test's NMI handler only.
unsafe extern "C" fn nmi_reader(_data: *mut c_void) {
    observe(&[run_s64], &NMI);
}

/// A kthread that sends NMIs to every CPU until stopped.
///
/// # Safety
///
/// Started as a kthread by `batchpoke_test_start_threads`.
unsafe extern "C" fn nmi_sender(_data: *mut c_void) -> c_int {
    // SAFETY: plain calls from a kthread.
    while !unsafe { kernel::bindings::kthread_should_stop() } {
        // SAFETY: plain call; the NMI handler is registered.
        unsafe { batchpoke_test_nmi_raise() };
        // SAFETY: plain call from a kthread.
        unsafe { batchpoke_test_nap() };
    }
    0
}

/// Flips `keys` together `flips` times, leaving stable windows between
/// transactions; every transaction must take [`BATCH_ROUNDS`].
fn flip_loop(keys: &[&'static Key], flips: u32) -> CaseResult {
    let mut failure = None;
    let mut changes = KVec::new();
    for key in keys {
        changes
            .push(Change::new(key, false), GFP_KERNEL)
            .map_err(|_| ())?;
    }
    for i in 0..flips {
        let state = i % 2 == 0;
        for change in changes.iter_mut() {
            change.enable = state;
        }
        SHARED
            .base_rounds
            .store(batchpoke_api::stats().sync_rounds, Ordering::Release);
        let started = SHARED.phase.fetch_or(IN_FLIGHT, Ordering::AcqRel);
        let mut committed = started & COMMITTED != 0;
        match apply(&changes) {
            Ok(report) => {
                if report.rounds != BATCH_ROUNDS && failure.is_none() {
                    failure = Some(("rounds", i));
                }
                committed = state;
            }
            Err(_) => {
                if failure.is_none() {
                    failure = Some(("apply failed", i));
                }
            }
        }
        // The end of the transaction and its state, in one store.
        let count = (started & !(IN_FLIGHT | COMMITTED)).wrapping_add(ONE_TRANSACTION);
        let state_bit = if committed { COMMITTED } else { 0 };
        SHARED.phase.store(count | state_bit, Ordering::Release);
        // Leave readers stable windows to check.
        // SAFETY: plain call.
        unsafe { batchpoke_test_nap() };
    }
    check!(failure.is_none(), "transaction {:?}", failure);
    Ok(())
}

/// Transactions per concurrency case.
fn flips() -> u32 {
    parallel_flips().unwrap_or(1000)
}

pub(crate) fn concurrent_transactions(ctx: &Ctx) -> CaseResult {
    let mut tasks = [core::ptr::null_mut(); 8];
    THREADS.reset();
    IRQ.reset();
    let hits_before = batchpoke_api::stats().int3_hits;
    // SAFETY: `reader` is a kthread function; `tasks` has room for 8.
    let n = unsafe {
        batchpoke_test_start_threads(reader, core::ptr::null_mut(), tasks.as_mut_ptr(), 8)
    };
    check!(n >= 2, "started {} reader threads", n);
    // SAFETY: `irq_reader` only reads atomics and runs sites.
    unsafe { batchpoke_test_hrtimer_start(irq_reader, core::ptr::null_mut(), 100_000) };
    let flipped = flip_loop(&[&S256, &LK_OFF, &S64], flips());
    // SAFETY: started above.
    unsafe { batchpoke_test_hrtimer_stop() };
    for task in tasks.iter().take(n as usize) {
        // SAFETY: a kthread started above and not stopped yet.
        unsafe { kernel::bindings::kthread_stop(*task) };
    }
    let hits = batchpoke_api::stats().int3_hits - hits_before;
    pr_info!("# {} flips, {} readers, {} int3 hits\n", flips(), n, hits);
    flipped?;
    THREADS.check("kthreads")?;
    IRQ.check("hard IRQ")?;
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

pub(crate) fn int3_handler_was_hit(_ctx: &Ctx) -> CaseResult {
    let hits = HITS.load(Ordering::Relaxed);
    check!(
        hits > 0,
        "no trap on a site during {} transactions with readers",
        flips()
    );
    Ok(())
}

pub(crate) fn nmi_readers(ctx: &Ctx) -> CaseResult {
    NMI.reset();
    // SAFETY: `nmi_reader` only reads atomics and runs sites.
    let ret = unsafe { batchpoke_test_nmi_start(nmi_reader, core::ptr::null_mut()) };
    check!(ret == 0, "register_nmi_handler: {}", ret);
    // Only the NMI handlers run sites from here on, so every int3 hit
    // counted meanwhile was resolved in NMI context.
    let hits_before = batchpoke_api::stats().int3_hits;
    let mut task = core::ptr::null_mut();
    // The sender runs on another CPU than the flips: on the same one it
    // would only run between transactions, and no NMI would land on a
    // transaction (seen under multi-threaded TCG).
    // SAFETY: `nmi_sender` is a kthread function; `task` is writable.
    let ret = unsafe { batchpoke_test_start_away(nmi_sender, core::ptr::null_mut(), &mut task) };
    let flipped = if ret == 0 {
        flip_loop(&[&S64], flips())
    } else {
        Err(())
    };
    if ret == 0 {
        // SAFETY: the kthread started above; unpins this task.
        unsafe { batchpoke_test_stop_away(task) };
    }
    // SAFETY: started above.
    unsafe { batchpoke_test_nmi_stop() };
    let hits = batchpoke_api::stats().int3_hits - hits_before;
    pr_info!(
        "# {} flips with NMI readers: {} int3 hits in NMI context\n",
        flips(),
        hits
    );
    check!(ret == 0, "starting the NMI sender: {}", ret);
    flipped?;
    NMI.check("NMI")?;
    check!(hits > 0, "no int3 hit resolved in NMI context");
    ctx.expect(&S64, run_s64, false)
}
