// SPDX-License-Identifier: GPL-2.0

//! Simulation of batchpoke's batches alternating with the kernel's own
//! jump-label batches on the sites of ordinary static keys, with CPUs that
//! stall inside `exc_int3`.
//!
//! A scenario is a stretch of text with the sites of a few keys, each
//! batchpoke's own (only batchpoke writes its sites: `Writers::Batchpoke`)
//! or an ordinary static key (the kernel writes its sites too), and a
//! sequence of batches. Both writers hold `text_mutex`, so their batches
//! never overlap; they alternate in any order. A batchpoke batch is a
//! transaction over some keys, recorded from the real `run_batch`; a kernel
//! batch flips one ordinary static key the way `text_poke_bp_batch` does:
//! it publishes its own vector, writes every int3, syncs, writes every tail,
//! syncs, writes every first byte, syncs and drops its vector.
//!
//! The trace is replayed event by event, every byte written one at a time,
//! with the fetch rules of `protocol.rs`: a CPU fetches any value a byte
//! held since the last sync. Under [`Fetch::Emulator`] a CPU may moreover
//! trap on an int3 that once stood on a site's first byte at any time later,
//! across syncs; other stale bytes are not modelled there, as no protocol
//! (the kernel's included) would survive them.
//!
//! A trap runs `exc_int3` as the kernel does: its own handler first, which
//! sends the CPU where the kernel's new instruction goes if its published
//! vector holds the site and declines otherwise, then batchpoke's, the real
//! `trap::resolve` on the table, batchpoke's published vector and the
//! bytes at that instant. With stalls ([`Config::stall`]) a CPU that has
//! trapped may be delayed before either handler (a preempted vCPU, an
//! NMI), across any writes, but interrupts stay off until the handlers
//! return, so no sync round completes meanwhile: each handler may run at
//! any instant from the trap to the next sync, batchpoke's no earlier than
//! the kernel's declining one. An unresolved trap is an "Oops: int3".
//!
//! While a change of a site is in progress (from its batch's start to the
//! first sync after its first byte is written) a CPU may run the site's old
//! or new instruction; otherwise only the one the site holds. Every fetch,
//! and every resolved trap, must go where one of those goes; a trap on
//! batchpoke's int3 while its batch is published, where its new one goes.
//!
//! The bug (an unsynced batch on a static key's site, whose table entry
//! has no tail rule) must be found, and only with stalls; the fix must
//! pass. Either half of the fix passes alone on real hardware; under an
//! emulator only the tail rule does, since a stale int3 trapped on after
//! the final sync can still meet the kernel's.
//!
//! Bytes are written straight into the text: the writable alias, and sites
//! across a page boundary, are `protocol.rs`'s business. A failure names
//! its seed, and `KERNEL_WRITER_SEED=<seed> cargo test --test kernel_writer`
//! replays just that scenario.

mod sim;

use std::sync::OnceLock;

use batchpoke_pure::insn::{Form, Width};
use batchpoke_pure::plan::Ending;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::Writers;

use sim::{encode, width_len, Rng, Step, NO_TAIL_REL, NO_TAIL_REL8};

/// How CPUs may fetch stale bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    /// Any value since the last sync: a sync serializes every CPU.
    Hardware,
    /// That, and an int3 that once stood on a site, at any time after.
    Emulator,
}

/// The protocol and machine a run checks.
#[derive(Clone, Copy, Debug)]
struct Config {
    /// How a batchpoke batch that touches an ordinary static key ends.
    ending: Ending,
    /// The table entries of ordinary static keys' sites.
    writers: Writers,
    fetch: Fetch,
    /// Whether a trapped CPU can stall inside `exc_int3`.
    stall: bool,
}

/// What batchpoke did before the fix.
const UNFIXED: Config = Config {
    ending: Ending::Unsynced,
    writers: Writers::Batchpoke,
    fetch: Fetch::Hardware,
    stall: true,
};

/// The fix, both halves, on the emulator's fetch rules: they include the
/// hardware's, so nothing that fails on hardware passes here.
const FIXED: Config = Config {
    ending: Ending::Synced,
    writers: Writers::BatchpokeAndKernel,
    fetch: Fetch::Emulator,
    stall: true,
};

/// Half (a) of the fix: the final sync.
const SYNC_ONLY: Config = Config {
    ending: Ending::Synced,
    ..UNFIXED
};

/// Half (b) of the fix: the tail rule.
const TAIL_ONLY: Config = Config {
    writers: Writers::BatchpokeAndKernel,
    ..UNFIXED
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Batchpoke,
    Kernel,
}

/// A batch of a scenario.
#[derive(Clone, Debug)]
enum Batch {
    /// A batchpoke transaction: keys and the states they are set to.
    Batchpoke(Vec<(usize, bool)>),
    /// The kernel flipping one ordinary static key, as
    /// `static_key_enable`/`disable` do.
    Kernel(usize),
}

#[derive(Clone, Debug)]
struct Scenario {
    base: usize,
    len: usize,
    /// Sorted by address.
    sites: Vec<Site>,
    key_of: Vec<usize>,
    /// Per key: an ordinary static key, which the kernel writes too.
    shared: Vec<bool>,
    initial: Vec<bool>,
    batches: Vec<Batch>,
}

impl Scenario {
    fn shared_site(&self, s: usize) -> bool {
        self.shared[self.key_of[s]]
    }

    /// Where site `s` sends a CPU while its key is `enabled`; the likely
    /// form jumps while disabled, as this test knows the forms.
    fn dest(&self, s: usize, enabled: bool) -> usize {
        let site = &self.sites[s];
        if enabled != site.likely {
            site.target
        } else {
            site.addr + width_len(site.width)
        }
    }

    fn bytes(&self, s: usize, enabled: bool) -> Vec<u8> {
        let site = &self.sites[s];
        encode(site, enabled != site.likely)
    }
}

/// The scenario of `seed`: one to four keys, the first an ordinary static
/// key, of one to three sites each, near or short, adjacent or not; two to
/// eight batches. A batchpoke batch over a static key is often followed
/// straight by the kernel flipping that key: the handover the bug needs.
fn scenario_of(seed: u64) -> Scenario {
    let mut r = Rng(seed);
    let base = 0xffff_ffff_c000_0000 + r.below(0x100) * 0x1000;
    let keys = 1 + r.below(4);
    let shared: Vec<bool> = (0..keys).map(|k| k == 0 || r.chance(2)).collect();
    let initial: Vec<bool> = (0..keys).map(|_| r.chance(2)).collect();
    let mut key_of: Vec<usize> = (0..keys).collect();
    key_of.extend((0..r.below(2 * keys + 1)).map(|_| r.below(keys)));
    for i in (1..key_of.len()).rev() {
        key_of.swap(i, r.below(i + 1));
    }
    let mut sites = Vec::new();
    let mut addr = base + r.below(64);
    for _ in &key_of {
        let width = if r.chance(2) {
            Width::Short
        } else {
            Width::Near
        };
        let next = addr + width_len(width);
        let target = match width {
            Width::Near if r.chance(4) => next + NO_TAIL_REL,
            Width::Near if r.chance(2) => next + 1 + r.below(0x1000),
            Width::Near => addr - 1 - r.below(0x1000),
            Width::Short if r.chance(4) => next.wrapping_add_signed(NO_TAIL_REL8),
            Width::Short => (next - 128) + r.below(256),
        };
        sites.push(Site {
            addr,
            target,
            likely: r.chance(2),
            width,
            form: Form::Kernel,
        });
        addr = if r.chance(2) {
            next
        } else {
            next + r.below(16)
        };
    }
    let mut batches = Vec::new();
    let statics: Vec<usize> = (0..keys).filter(|&k| shared[k]).collect();
    let mut state = initial.clone();
    let mut handover: Option<usize> = None;
    for _ in 0..2 + r.below(7) {
        let kernel = match handover {
            Some(k) if r.chance(2) => Some(k),
            _ if r.chance(3) => Some(statics[r.below(statics.len())]),
            _ => None,
        };
        handover = None;
        if let Some(k) = kernel {
            state[k] = !state[k];
            batches.push(Batch::Kernel(k));
            continue;
        }
        // Some transactions are of batchpoke's own keys only: they keep
        // ending unsynced.
        let own: Vec<usize> = (0..keys).filter(|&k| !shared[k]).collect();
        let pool = if !own.is_empty() && r.chance(3) {
            own
        } else {
            (0..keys).collect()
        };
        let mut set: Vec<(usize, bool)> = Vec::new();
        for (j, &k) in pool.iter().enumerate() {
            if set.is_empty() && j + 1 == pool.len() || r.chance(2) {
                // Mostly a flip, sometimes the state the key has already.
                if !r.chance(6) {
                    state[k] = !state[k];
                }
                set.push((k, state[k]));
            }
        }
        handover = set.iter().map(|&(k, _)| k).find(|&k| shared[k]);
        batches.push(Batch::Batchpoke(set));
    }
    Scenario {
        base,
        len: addr + 16 - base,
        sites,
        key_of,
        shared,
        initial,
        batches,
    }
}

#[path = "kernel_writer/trace.rs"]
mod trace;
use trace::{trace, Ev};

#[path = "kernel_writer/machine.rs"]
mod machine;
use machine::{Machine, Reached};

/// Runs `sc` under `cfg`.
fn run_one(sc: &Scenario, cfg: Config) -> Result<Reached, String> {
    run_edited(sc, cfg, |_| {})
}

/// Runs `sc` under `cfg`, its trace broken by `edit` (for tests of the
/// checker itself).
fn run_edited(
    sc: &Scenario,
    cfg: Config,
    edit: impl FnOnce(&mut Vec<Ev>),
) -> Result<Reached, String> {
    let mut n = Reached {
        scenarios: 1,
        ..Reached::default()
    };
    let mut evs = trace(sc, cfg, &mut n);
    edit(&mut evs);
    let mut m = Machine::new(sc, cfg, n);
    m.replay(&evs)?;
    Ok(m.reached)
}

/// The seed `KERNEL_WRITER_SEED` names, if any.
fn only_seed() -> Option<u64> {
    std::env::var("KERNEL_WRITER_SEED").ok().map(|s| {
        s.parse::<u64>()
            .unwrap_or_else(|_| panic!("KERNEL_WRITER_SEED={s} is not a number"))
    })
}

/// Prints the seed of a failing scenario, whatever panics.
struct SeedOnPanic(u64, Config);

impl Drop for SeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "failing seed {0} ({1:?}): rerun with KERNEL_WRITER_SEED={0}",
                self.0, self.1
            );
        }
    }
}

/// Runs the seeds `0..seeds` (or the one `KERNEL_WRITER_SEED` names) under
/// `cfg`, panicking at the first failure.
fn must_pass(cfg: Config, seeds: u64) -> Reached {
    let mut n = Reached::default();
    for seed in only_seed().map_or(0..seeds, |s| s..s + 1) {
        let _guard = SeedOnPanic(seed, cfg);
        let r = run_one(&scenario_of(seed), cfg).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        n.add(&r);
    }
    eprintln!("{cfg:?}: {n:?}");
    n
}

/// The seeds of `0..seeds` that fail under `cfg`, and how; with
/// `KERNEL_WRITER_SEED`, that seed's outcome is printed and `None` returned.
fn failures(cfg: Config, seeds: u64) -> Option<Vec<(u64, String)>> {
    if let Some(seed) = only_seed() {
        let r = run_one(&scenario_of(seed), cfg).map(|_| ());
        eprintln!("seed {seed}, {cfg:?}: {r:?}");
        return None;
    }
    let found: Vec<(u64, String)> = (0..seeds)
        .filter_map(|seed| Some((seed, run_one(&scenario_of(seed), cfg).err()?)))
        .collect();
    match found.first() {
        Some((seed, e)) => eprintln!(
            "{cfg:?}: {} of {seeds} seeds fail, the first {seed} (KERNEL_WRITER_SEED={seed}): {e}",
            found.len()
        ),
        None => panic!("no seed of 0..{seeds} fails under {cfg:?}"),
    }
    Some(found)
}

/// Whether `e` is the issue's oops: batchpoke's handler, run after the
/// kernel's declined and a stall, meets the kernel's int3 on a site no
/// batchpoke batch holds.
fn is_the_issues_oops(e: &str) -> bool {
    e.contains("Oops: int3")
        && e.contains("stalled")
        && e.contains("(Kernel write of [cc]")
        && e.contains("no vector is published")
}

/// The fixed protocol's runs, shared by the tests that look at them.
fn fixed() -> &'static Reached {
    static RUNS: OnceLock<Reached> = OnceLock::new();
    RUNS.get_or_init(|| must_pass(FIXED, 4000))
}

#[test]
fn without_the_fix_a_stalled_cpu_meets_the_kernels_int3_and_oopses() {
    let Some(found) = failures(UNFIXED, 400) else {
        return;
    };
    // Only ever that oops: the checker raises nothing else against the
    // unfixed protocol.
    for (seed, e) in &found {
        assert!(is_the_issues_oops(e), "seed {seed}: {e}");
        // And only ever at a static key's site: batchpoke's own are fine.
        let sc = scenario_of(*seed);
        let at = |s: &Site| e.starts_with(&format!("Oops: int3 at {:#x} ", s.addr));
        let s = sc.sites.iter().position(at).expect("a site's address");
        assert!(sc.shared_site(s), "seed {seed}: {e}");
    }
    assert!(found.len() >= 100, "{} seeds fail", found.len());
}

#[test]
fn without_stalls_the_unfixed_protocol_passes() {
    // What finds the bug is the stall, not a checker that fails anything.
    let n = must_pass(
        Config {
            stall: false,
            ..UNFIXED
        },
        400,
    );
    if only_seed().is_none() {
        assert!(n.unsynced_handovers >= 200, "{n:?}");
        assert_eq!(n.tail_rule, 0, "{n:?}");
    }
}

#[test]
fn the_final_sync_alone_is_enough_on_hardware() {
    let n = must_pass(SYNC_ONLY, 600);
    if only_seed().is_none() {
        assert!(n.handovers >= 300 && n.stalled >= 1000, "{n:?}");
        // Every trap on a static key's site is resolved before its batch
        // ends, so none can meet the kernel's int3.
        assert_eq!((n.unsynced_handovers, n.tail_rule), (0, 0), "{n:?}");
    }
}

#[test]
fn the_final_sync_alone_is_not_enough_under_an_emulator() {
    // A stale int3, trapped on after the final sync, meets the kernel's.
    let cfg = Config {
        fetch: Fetch::Emulator,
        ..SYNC_ONLY
    };
    let Some(found) = failures(cfg, 400) else {
        return;
    };
    for (seed, e) in &found {
        assert!(is_the_issues_oops(e), "seed {seed}: {e}");
    }
}

#[test]
fn the_tail_rule_alone_is_enough() {
    for fetch in [Fetch::Hardware, Fetch::Emulator] {
        let n = must_pass(Config { fetch, ..TAIL_ONLY }, 400);
        if only_seed().is_none() {
            assert!(n.unsynced_handovers >= 200, "{n:?}");
            // The rule is what resolves the traps the unfixed code oopses on.
            assert!(n.tail_rule >= 100, "{n:?}");
        }
    }
}

#[test]
fn with_the_fix_every_fetch_runs_old_new_or_a_resolved_int3() {
    let n = fixed();
    if only_seed().is_some() {
        return;
    }
    assert!(
        n.kernel_batches >= 3000 && n.synced_batches >= 3000,
        "{n:?}"
    );
    assert!(n.handovers >= 1000, "{n:?}");
    assert_eq!(n.unsynced_static_batches, 0, "{n:?}");
    assert!(n.kernel_resolved >= 10_000, "{n:?}");
    assert!(n.stalled >= 10_000 && n.stale >= 10_000, "{n:?}");
    assert!(n.tail_rule >= 100, "{n:?}");
}

#[test]
fn with_the_fix_batchpokes_own_sites_keep_their_guarantees() {
    // Batches of batchpoke's own keys only still end unsynced (two rounds,
    // or one) and their sites keep table entries without the tail rule,
    // and every late, stale or stalled trap on them is still resolved from
    // the table, with the kernel's batches running on the other sites.
    let n = fixed();
    if only_seed().is_some() {
        return;
    }
    assert!(n.own_batches >= 1000, "{n:?}");
    assert!(n.own_late >= 1000 && n.own_stalled >= 1000, "{n:?}");
}

/// The issue's scenario: one site of one static key; batchpoke flips the
/// key, then the kernel flips it back.
fn issue() -> Scenario {
    let base = 0xffff_ffff_c000_0000usize;
    let site = Site {
        addr: base + 0x10,
        target: base + 0x80,
        likely: false,
        width: Width::Near,
        form: Form::Kernel,
    };
    Scenario {
        base,
        len: 0x40,
        sites: vec![site],
        key_of: vec![0],
        shared: vec![true],
        initial: vec![false],
        batches: vec![Batch::Batchpoke(vec![(0, true)]), Batch::Kernel(0)],
    }
}

#[test]
fn the_issues_interleaving_is_an_oops_before_the_fix_only() {
    let sc = issue();
    let e = run_one(&sc, UNFIXED).unwrap_err();
    assert!(
        e.contains("Oops: int3") && e.contains("Kernel write of [cc]"),
        "{e}"
    );
    run_one(
        &sc,
        Config {
            stall: false,
            ..UNFIXED
        },
    )
    .unwrap();
    for cfg in [FIXED, SYNC_ONLY, TAIL_ONLY] {
        run_one(&sc, cfg).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    }
    let n = run_one(&sc, TAIL_ONLY).unwrap();
    assert!(n.tail_rule > 0, "{n:?}");
}

// The checker itself: a broken kernel batch or handler must be caught, or
// passing would mean nothing.

fn kernel_steps(evs: &[Ev], what: impl Fn(&Step) -> bool) -> Vec<usize> {
    (0..evs.len())
        .filter(|&i| matches!(&evs[i], Ev::Step(Who::Kernel, s) if what(s)))
        .collect()
}

#[test]
fn a_kernel_batch_without_its_first_sync_tears_instructions() {
    // Without stalls: with them, a CPU still in exc_int3 from batchpoke's
    // batch meets a half-written tail first, an oops.
    let cfg = Config {
        stall: false,
        ..FIXED
    };
    let e = run_edited(&issue(), cfg, |evs| {
        let i = kernel_steps(evs, |s| matches!(s, Step::Sync))[0];
        evs.remove(i);
    })
    .unwrap_err();
    assert!(e.contains("goes to none of"), "{e}");
}

/// `sc`'s trace with each of `who`'s vectors sending a trap where the old
/// instruction goes. A vector and its batch's changes are both in address
/// order.
fn emulating_the_old(sc: &Scenario, who: Who, evs: &mut [Ev]) {
    let mut old = Vec::new();
    for ev in evs.iter_mut() {
        match ev {
            Ev::Begin(w, changes) if *w == who => {
                old = changes
                    .iter()
                    .map(|&(s, from, _)| sc.dest(s, from))
                    .collect();
            }
            Ev::Step(w, Step::Publish(v)) if *w == who => {
                for (p, &d) in v.iter_mut().zip(&old) {
                    p.resume = d;
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_batchpoke_handler_that_emulates_the_old_instruction_is_caught() {
    let sc = issue();
    let e = run_edited(&sc, FIXED, |evs| {
        emulating_the_old(&sc, Who::Batchpoke, evs)
    })
    .unwrap_err();
    assert!(e.contains("batchpoke's handler resumes"), "{e}");
}

#[test]
fn once_a_change_is_over_only_the_new_instruction_runs() {
    // The kernel's handler may send a trap to the old instruction while its
    // change is in progress, but not to a stale int3 after its last sync.
    let sc = issue();
    let edit = |evs: &mut Vec<Ev>| emulating_the_old(&sc, Who::Kernel, evs);
    run_edited(&sc, SYNC_ONLY, edit).unwrap();
    let e = run_edited(&sc, FIXED, edit).unwrap_err();
    assert!(
        e.contains("kernel's handler resumes") && e.contains("(Kernel sync)"),
        "{e}"
    );
}
