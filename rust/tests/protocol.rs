// SPDX-License-Identifier: GPL-2.0

//! Simulation of the int3 protocol against CPUs that fetch branch sites
//! while a batch runs, and arbitrarily late after it.
//!
//! The real `run_batch`/`run_serial` drive a recording [`Text`]; the trace is
//! then replayed on a simulated machine one event at a time: the publish,
//! every single byte written, every sync, the retire. Between any two events
//! a CPU may fetch any site, and each byte it fetches may be any value that
//! location held since the last sync, stale or fresh: a sync is the only
//! point where every CPU is known to serialize. After the last event CPUs
//! may still fetch any of those values (a stale fetch can come arbitrarily
//! late), with no vector published. A fetch whose first byte is an int3
//! traps at that instant, and the real resolution (`trap::resolve`) runs on
//! the table of every site, the vector published at that instant and the
//! bytes the site holds then. Every fetch must run the site's old or new
//! instruction, or trap and be sent where the new one goes (or, with no
//! int3 left in the text, where the bytes there go); a trap the handler
//! cannot resolve is an "Oops: int3".
//!
//! The bytes are written the way the kernel writes them: through an alias
//! that maps the pages `pages_touched` names back to back, at the offsets
//! `alias_offset` gives; the generated sites include ones that cross a page
//! boundary. Sites are near (five bytes) or short (two), and the generated
//! scenarios run all-near ones and a mix of both. What an instruction does
//! is decoded by the oracle in `sim`, independently of `pure::insn`.
//!
//! Scenarios come from a seeded generator; a failure names its seed, and
//! `PROTOCOL_SEED=<seed> cargo test --test protocol` replays just that one.

mod sim;

use std::collections::HashMap;

use batchpoke_pure::insn::{Insn, Width};
use batchpoke_pure::pages::{alias_offset, pages_touched, PAGE_SIZE};
use batchpoke_pure::plan::{prepare, run_batch, run_serial, verify, Ending, Poke};
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::{self, TrapSite};

use sim::{
    decode, encode, width_len, Bytes, Recorder, Rng, Step, INT3, LEN, NO_TAIL_REL, NO_TAIL_REL8,
    SHORT_LEN,
};

#[test]
fn the_oracle_decodes_literal_bytes() {
    let a = 0xffff_ffff_c000_1000usize;
    assert_eq!(decode(a, &[0x0f, 0x1f, 0x44, 0x00, 0x00]), Some(a + 5));
    assert_eq!(
        decode(a, &[0xe9, 0x1f, 0x44, 0x00, 0x00]),
        Some(a + 5 + 0x441f)
    );
    assert_eq!(decode(a, &[0xe9, 0xfb, 0xff, 0xff, 0xff]), Some(a));
    assert_eq!(decode(a, &[0xe9, 0, 0, 0, 0x80]), Some(a + 5 - (1 << 31)));
    assert_eq!(decode(a, &[0x0f, 0x1f, 0x44, 0x00, 0x01]), None);
    assert_eq!(decode(a, &[0xcc, 0x1f, 0x44, 0x00, 0x00]), None);
}

#[test]
fn the_oracle_decodes_short_literal_bytes() {
    let a = 0xffff_ffff_c000_1000usize;
    assert_eq!(decode(a, &[0x66, 0x90]), Some(a + 2));
    assert_eq!(decode(a, &[0xeb, 0x00]), Some(a + 2));
    assert_eq!(decode(a, &[0xeb, 0x7f]), Some(a + 2 + 127));
    assert_eq!(decode(a, &[0xeb, 0x80]), Some(a + 2 - 128));
    assert_eq!(decode(a, &[0xeb, 0xfe]), Some(a));
    assert_eq!(decode(a, &[0xeb, 0x90]), Some(a + 2 - 0x70));
    for b in [
        &[0x66, 0x91][..],
        &[0xcc, 0x90][..],
        &[0x66][..],
        &[0xeb][..],
        &[0xe9, 0x00][..],
        &[0x66, 0x90, 0x00, 0x00, 0x00][..],
        &[0xeb, 0x00, 0x00, 0x00, 0x00][..],
        &[0x0f, 0x1f][..],
    ] {
        assert_eq!(decode(a, b), None, "{b:02x?}");
    }
}

/// One site of a scenario and the change its key makes.
#[derive(Clone, Copy, Debug)]
struct Spec {
    site: Site,
    from: bool,
    to: bool,
}

impl Spec {
    fn addr(&self) -> usize {
        self.site.addr
    }

    /// The site's length, as this test knows the widths.
    fn len(&self) -> usize {
        width_len(self.site.width)
    }

    /// The address past the site's last byte.
    fn end(&self) -> usize {
        self.addr() + self.len()
    }

    /// Whether the site jumps while its key is `enabled`: the unlikely form
    /// jumps when the key is enabled, the likely form when it is disabled.
    fn jumps(&self, enabled: bool) -> bool {
        if self.site.likely {
            !enabled
        } else {
            enabled
        }
    }

    /// Where the site sends a CPU while its key is `enabled`.
    fn dest(&self, enabled: bool) -> usize {
        if self.jumps(enabled) {
            self.site.target
        } else {
            self.end()
        }
    }

    /// The bytes the text starts with, and the ones error messages show.
    fn bytes(&self, enabled: bool) -> Bytes {
        encode(&self.site, self.jumps(enabled))
    }

    fn changes(&self) -> bool {
        self.dest(self.from) != self.dest(self.to)
    }

    fn tail_changes(&self) -> bool {
        self.bytes(self.from)[1..] != self.bytes(self.to)[1..]
    }

    fn crosses_a_page(&self) -> bool {
        self.addr() / PAGE_SIZE != (self.end() - 1) / PAGE_SIZE
    }
}

/// A stretch of text and the sites in it, sorted by address.
#[derive(Clone, Debug)]
struct Scenario {
    base: usize,
    pages: usize,
    specs: Vec<Spec>,
    /// Shuffles and duplicates the pokes before `prepare`.
    shuffle: u64,
}

/// The scenario of `seed`: all sites near, or (`mix`) each short or near.
/// All-near scenarios draw no widths, so a seed's all-near scenario is the
/// same whether or not short sites exist.
fn scenario_of(seed: u64, mix: bool) -> Scenario {
    let mut r = Rng(seed);
    let pick = |r: &mut Rng| {
        if mix && r.chance(2) {
            Width::Short
        } else {
            Width::Near
        }
    };
    let len = |w: Width| match w {
        Width::Near => LEN,
        Width::Short => SHORT_LEN,
    };
    let pages = 1 + r.below(4);
    let base = 0xffff_ffff_c000_0000 + r.below(0x100) * PAGE_SIZE;
    let end = base + pages * PAGE_SIZE;
    // Some batches change no tail at all (two rounds), others mix.
    let all_no_tail = r.chance(4);
    let max_sites = 1 + r.below(40);
    let mut specs = Vec::new();
    let mut addr = base + r.below(64);
    let mut width = pick(&mut r);
    while specs.len() < max_sites && addr + len(width) <= end {
        let next = addr + len(width);
        let target = match width {
            Width::Near if all_no_tail || r.chance(5) => next + NO_TAIL_REL,
            Width::Near => match r.below(4) {
                0 => addr - 1 - r.below(0x1000),
                1 => next + 1 + r.below(0x1000),
                // The ends of the rel32 range; past the top of the address
                // space the target wraps, as the CPU's arithmetic does.
                2 => next.wrapping_add(i32::MAX as usize - r.below(16)),
                _ => next - (1 << 31) + r.below(16),
            },
            Width::Short if all_no_tail || r.chance(5) => next.wrapping_add_signed(NO_TAIL_REL8),
            Width::Short => match r.below(4) {
                // Back to the site itself or before it, within rel8 range.
                0 => addr - r.below(127),
                1 => next + 1 + r.below(127),
                // The ends of the rel8 range.
                2 => next + 127 - r.below(16),
                _ => next - 128 + r.below(16),
            },
        };
        let from = r.chance(2);
        let to = if r.chance(8) { from } else { !from };
        specs.push(Spec {
            site: Site {
                addr,
                target,
                likely: r.chance(2),
                width,
            },
            from,
            to,
        });
        // The next site's width decides how close to a page boundary it
        // must start to cross it.
        width = pick(&mut r);
        addr = match r.below(8) {
            0 | 1 => next,
            2..=4 => next + r.below(32),
            // Across the next page boundary, 1 to len - 1 bytes before it.
            5 | 6 => ((next | (PAGE_SIZE - 1)) + 1 - 1 - r.below(len(width) - 1)).max(next),
            _ => next + r.below(2 * PAGE_SIZE),
        };
    }
    Scenario {
        base,
        pages,
        specs,
        shuffle: r.next(),
    }
}

/// The prepared vector for `sc`, from its pokes shuffled and partly doubled.
fn plan(sc: &Scenario) -> Vec<Poke> {
    let mut r = Rng(sc.shuffle);
    let mut v: Vec<Poke> = Vec::new();
    for s in &sc.specs {
        if let Some(p) = Poke::for_site(&s.site, s.from, s.to).expect("encodable") {
            v.push(p);
            if r.chance(4) {
                v.push(p);
            }
        }
    }
    for i in (1..v.len()).rev() {
        v.swap(i, r.below(i + 1));
    }
    let n = prepare(&mut v).expect("no conflicts");
    v.truncate(n);
    v
}

/// What a simulated CPU did at a site.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Ran an instruction that sent it here.
    Ran(usize),
    /// Trapped on the int3, and the handler sent it where the new
    /// instruction goes.
    Trapped,
}

struct Machine {
    base: usize,
    /// The bytes a CPU that serialized just now would fetch.
    text: Vec<u8>,
    initial: Vec<u8>,
    /// For each location written since the last sync: every value it held
    /// since then, any of which a CPU may still fetch.
    pending: HashMap<usize, Vec<u8>>,
    /// The pages the writable alias maps, back to back.
    alias: Vec<usize>,
    published: Option<Vec<Poke>>,
    /// The int3 handler's table of every site.
    table: Vec<TrapSite>,
    specs: Vec<Spec>,
    outcomes: Vec<Vec<Outcome>>,
    /// The sites a CPU trapped on with no vector to resolve the trap: the
    /// table and the bytes did.
    trapped_late: Vec<usize>,
}

impl Machine {
    /// The text of `sc` with every site in its `from` state, and an alias of
    /// the pages `pokes` touch.
    fn new(sc: &Scenario, pokes: &[Poke]) -> Machine {
        let mut text: Vec<u8> = (0..sc.pages * PAGE_SIZE)
            .map(|i| (i as u8).wrapping_mul(7) ^ 0x5a)
            .collect();
        for s in &sc.specs {
            let i = s.addr() - sc.base;
            text[i..i + s.len()].copy_from_slice(&s.bytes(s.from));
        }
        let mut table: Vec<TrapSite> = sc
            .specs
            .iter()
            .map(|s| TrapSite::new(&s.site).expect("encodable"))
            .collect();
        trap::sort(&mut table);
        Machine {
            base: sc.base,
            initial: text.clone(),
            text,
            pending: HashMap::new(),
            alias: pages_touched(pokes).collect(),
            published: None,
            table,
            specs: sc.specs.clone(),
            outcomes: vec![Vec::new(); sc.specs.len()],
            trapped_late: Vec::new(),
        }
    }

    fn index(&self, addr: usize) -> Option<usize> {
        addr.checked_sub(self.base).filter(|&i| i < self.text.len())
    }

    /// The `len` bytes at `addr`.
    fn read(&self, addr: usize, len: usize) -> Bytes {
        let i = self.index(addr).expect("site in the text");
        self.text[i..i + len].to_vec()
    }

    /// The values a CPU may fetch from `addr` now.
    fn candidates(&self, addr: usize) -> Vec<u8> {
        match self.pending.get(&addr) {
            Some(v) => v.clone(),
            None => vec![self.text[self.index(addr).expect("site in the text")]],
        }
    }

    /// Writes `byte` for the text at `addr` through the alias, as the
    /// kernel does; returns the text address it lands on.
    fn write_byte(&mut self, addr: usize, byte: u8) -> Result<usize, String> {
        let off = alias_offset(&self.alias, addr)
            .ok_or_else(|| format!("{addr:#x} is on no page of the alias {:#x?}", self.alias))?;
        let page = self
            .alias
            .get(off / PAGE_SIZE)
            .ok_or_else(|| format!("alias offset {off:#x} of {addr:#x} is past the alias"))?;
        let landed = page + off % PAGE_SIZE;
        let i = self
            .index(landed)
            .ok_or_else(|| format!("{addr:#x} lands outside the text at {landed:#x}"))?;
        let seen = self.text[i];
        let values = self.pending.entry(landed).or_insert_with(|| vec![seen]);
        if !values.contains(&byte) {
            values.push(byte);
        }
        self.text[i] = byte;
        Ok(landed)
    }

    fn sites_at(&self, addr: usize) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|&i| (self.specs[i].addr()..self.specs[i].end()).contains(&addr))
            .collect()
    }

    /// The sites a CPU may find an int3 on now.
    fn guarded_sites(&self) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|&i| self.candidates(self.specs[i].addr()).contains(&INT3))
            .collect()
    }

    /// Checks every fetch a CPU can make now of the sites `sites`.
    fn fetch(&mut self, sites: &[usize], when: &dyn Fn() -> String) -> Result<(), String> {
        for &si in sites {
            let spec = self.specs[si];
            let addr = spec.addr();
            let cands: Vec<Vec<u8>> = (0..spec.len()).map(|k| self.candidates(addr + k)).collect();
            for &first in &cands[0] {
                if first == INT3 {
                    self.trap(si, when)?;
                    self.note(si, Outcome::Trapped);
                    continue;
                }
                let total: usize = cands[1..].iter().map(Vec::len).product();
                for mut n in 0..total {
                    let mut b = vec![first; spec.len()];
                    for (slot, c) in b[1..].iter_mut().zip(&cands[1..]) {
                        *slot = c[n % c.len()];
                        n /= c.len();
                    }
                    match decode(addr, &b) {
                        Some(d) if d == spec.dest(spec.from) || d == spec.dest(spec.to) => {
                            self.note(si, Outcome::Ran(d))
                        }
                        _ => {
                            return Err(format!(
                                "site {addr:#x} {}: a CPU fetches {b:02x?}, neither the old \
                                 {:02x?} nor the new instruction {:02x?}",
                                when(),
                                spec.bytes(spec.from),
                                spec.bytes(spec.to)
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A CPU traps on the int3 at site `si` now: the handler resolves it
    /// with the real code from the table, the published vector and the
    /// bytes the site holds now, and must send the CPU where the new
    /// instruction goes or, when the site holds no int3 any more, where its
    /// bytes go (the old or the new instruction), as decoded here.
    fn trap(&mut self, si: usize, when: &dyn Fn() -> String) -> Result<(), String> {
        let spec = self.specs[si];
        let addr = spec.addr();
        // The handler reads the site's length (the vector's or the
        // table's: both are the site's width).
        let now = self.read(addr, spec.len());
        let insn = Insn::from_slice(&now).expect("a site is 1 to 5 bytes");
        let active = self.published.as_deref().and_then(|v| find(v, addr));
        let Some(resume) = trap::resolve(find(&self.table, addr), &insn, active) else {
            let why = match (&self.published, active) {
                (None, _) => "no vector is published",
                (Some(_), None) => "not in the published vector",
                (Some(_), Some(_)) => "the vector does not resolve it",
            };
            return Err(format!(
                "Oops: int3 at {addr:#x} {}: {why}, and the site holds {now:02x?}",
                when()
            ));
        };
        let want = if now[0] == INT3 {
            Some(spec.dest(spec.to))
        } else {
            decode(addr, &now).filter(|&d| d == spec.dest(spec.from) || d == spec.dest(spec.to))
        };
        if Some(resume) != want {
            return Err(format!(
                "int3 at {addr:#x} {}: the handler resumes at {resume:#x}, the site holds \
                 {now:02x?} and the new instruction goes to {:#x}",
                when(),
                spec.dest(spec.to)
            ));
        }
        if active.is_none() && !self.trapped_late.contains(&si) {
            self.trapped_late.push(si);
        }
        Ok(())
    }

    fn note(&mut self, si: usize, o: Outcome) {
        if !self.outcomes[si].contains(&o) {
            self.outcomes[si].push(o);
        }
    }

    /// Replays `steps`, checking every fetch between every two events, then
    /// the state the batch leaves. Returns what CPUs did at each site.
    fn replay(&mut self, steps: &[Step]) -> Result<Vec<Vec<Outcome>>, String> {
        let all: Vec<usize> = (0..self.specs.len()).collect();
        self.fetch(&all, &|| "before the batch".into())?;
        for (i, step) in steps.iter().enumerate() {
            let when = || format!("after step {i} ({step})");
            match step {
                Step::Publish(v) => {
                    self.published = Some(v.clone());
                    let s = self.guarded_sites();
                    self.fetch(&s, &when)?;
                }
                Step::Write(addr, bytes) => {
                    for (k, &b) in bytes.iter().enumerate() {
                        let landed = self.write_byte(addr + k, b)?;
                        let s = self.sites_at(landed);
                        self.fetch(&s, &|| format!("{}, byte {k}", when()))?;
                    }
                }
                Step::Sync => {
                    let mut s: Vec<usize> = Vec::new();
                    for &a in self.pending.keys() {
                        s.extend(self.sites_at(a));
                    }
                    s.sort_unstable();
                    s.dedup();
                    self.pending.clear();
                    self.fetch(&s, &when)?;
                }
                Step::Retire => {
                    self.published = None;
                    let s = self.guarded_sites();
                    self.fetch(&s, &when)?;
                }
            }
        }
        if self.published.is_some() {
            return Err("the vector is still published after the batch".into());
        }
        // What was written since the last sync a CPU may still fetch, at
        // any time from now on.
        let mut late: Vec<usize> = Vec::new();
        for &a in self.pending.keys() {
            late.extend(self.sites_at(a));
        }
        late.sort_unstable();
        late.dedup();
        self.fetch(&late, &|| "after the batch (a late fetch)".into())?;
        for s in &self.specs {
            let now = self.read(s.addr(), s.len());
            if decode(s.addr(), &now) != Some(s.dest(s.to)) {
                return Err(format!(
                    "site {:#x} holds {now:02x?} after the batch, which does not go to {:#x}",
                    s.addr(),
                    s.dest(s.to)
                ));
            }
        }
        for (i, (now, was)) in self.text.iter().zip(&self.initial).enumerate() {
            let addr = self.base + i;
            if now != was && self.sites_at(addr).is_empty() {
                return Err(format!("stray write at {addr:#x}, outside every site"));
            }
        }
        Ok(std::mem::take(&mut self.outcomes))
    }
}

/// One run of a scenario: what the code under test did and what the
/// simulated CPUs saw.
struct Run {
    pokes: Vec<Poke>,
    rounds: usize,
    steps: Vec<Step>,
    outcomes: Vec<Vec<Outcome>>,
    /// Sites trapped on with no vector published for them.
    trapped_late: usize,
}

/// Runs `sc` with the real protocol code, lets `edit` break the trace (for
/// tests of the checker itself), and replays it.
fn simulate(sc: &Scenario, serial: bool, edit: impl FnOnce(&mut Vec<Step>)) -> Result<Run, String> {
    simulate_on(sc, serial, edit, |_| {})
}

/// [`simulate`], on a machine `change` alters first.
fn simulate_on(
    sc: &Scenario,
    serial: bool,
    edit: impl FnOnce(&mut Vec<Step>),
    change: impl FnOnce(&mut Machine),
) -> Result<Run, String> {
    let pokes = plan(sc);
    let mut m = Machine::new(sc, &pokes);
    change(&mut m);
    verify(&pokes, |a, len| {
        Insn::from_slice(&m.read(a, len)).expect("1 to 5 bytes")
    })
    .map_err(|e| format!("{e:?}"))?;
    let mut r = Recorder::default();
    let rounds = if serial {
        run_serial(&pokes, &mut r)
    } else {
        run_batch(&pokes, &mut r, Ending::Unsynced)
    };
    edit(&mut r.steps);
    let outcomes = m.replay(&r.steps)?;
    Ok(Run {
        pokes,
        rounds,
        steps: r.steps,
        outcomes,
        trapped_late: m.trapped_late.len(),
    })
}

/// The sync rounds of each published batch of `steps`, with its pokes.
fn batches(steps: &[Step]) -> Vec<(Vec<Poke>, usize)> {
    let mut v: Vec<(Vec<Poke>, usize)> = Vec::new();
    for s in steps {
        match s {
            Step::Publish(p) => v.push((p.clone(), 0)),
            Step::Sync => v.last_mut().expect("sync inside a batch").1 += 1,
            _ => {}
        }
    }
    v
}

/// Checks what `simulate` returned against the scenario: the right sites
/// changed, in the right number of rounds, and every changed site was seen
/// old, new and trapped (so the checks above were not vacuous).
fn check_run(sc: &Scenario, serial: bool, run: &Run) -> Result<(), String> {
    let changed: Vec<&Spec> = sc.specs.iter().filter(|s| s.changes()).collect();
    let addrs: Vec<usize> = run.pokes.iter().map(|p| p.addr).collect();
    let want: Vec<usize> = changed.iter().map(|s| s.addr()).collect();
    if addrs != want {
        return Err(format!("pokes at {addrs:#x?}, changed sites at {want:#x?}"));
    }
    let spec_at = |a: usize| sc.specs.iter().find(|s| s.addr() == a).unwrap();
    let batches = batches(&run.steps);
    let expect_batches = match (serial, changed.len()) {
        (_, 0) => 0,
        (true, n) => n,
        (false, _) => 1,
    };
    if batches.len() != expect_batches {
        return Err(format!(
            "{} batches, expected {expect_batches}",
            batches.len()
        ));
    }
    let mut total = 0;
    for (pokes, rounds) in &batches {
        // Two rounds, or one when no site of the batch changes its tail;
        // one more for the serial baseline's final sync.
        let tail = pokes.iter().any(|p| spec_at(p.addr).tail_changes());
        let want = usize::from(tail) + 1 + usize::from(serial);
        if *rounds != want {
            return Err(format!(
                "a batch of {} pokes took {rounds} sync rounds, expected {want}",
                pokes.len()
            ));
        }
        total += rounds;
    }
    if run.rounds != total {
        return Err(format!("{} rounds reported, {total} run", run.rounds));
    }
    // Without the final sync, every changed site can be fetched with its
    // int3 after the batch; with it, none.
    let late_want = if serial { 0 } else { changed.len() };
    if run.trapped_late != late_want {
        return Err(format!(
            "{} sites trapped on after their batch, expected {late_want}",
            run.trapped_late
        ));
    }
    for (s, o) in sc.specs.iter().zip(&run.outcomes) {
        let want = if s.changes() {
            vec![
                Outcome::Ran(s.dest(s.from)),
                Outcome::Ran(s.dest(s.to)),
                Outcome::Trapped,
            ]
        } else {
            vec![Outcome::Ran(s.dest(s.to))]
        };
        if o.len() != want.len() || !want.iter().all(|w| o.contains(w)) {
            return Err(format!(
                "site {:#x}: CPUs saw {o:x?}, expected each of {want:x?}",
                s.addr()
            ));
        }
    }
    Ok(())
}

/// Prints the seed of a failing scenario, whatever panics.
struct SeedOnPanic(u64, bool);

impl Drop for SeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let test = if self.1 {
                "every_fetch_with_short_and_near_sites_runs_old_new_or_a_resolved_int3"
            } else {
                "every_fetch_runs_old_new_or_a_resolved_int3"
            };
            eprintln!(
                "failing seed {0} ({test}): rerun with PROTOCOL_SEED={0}",
                self.0
            );
        }
    }
}

const SEEDS: u64 = 1000;

/// What the seeded scenarios reached.
#[derive(Debug, Default)]
struct Reached {
    /// Changed sites across a page boundary.
    crossing: usize,
    /// Of those, short ones.
    short_crossing: usize,
    /// Batches (not serial) of one sync round.
    one_round_batches: usize,
    /// Of those, ones with a short site.
    short_one_round_batches: usize,
    /// Serial batches of two sync rounds.
    two_round_serial: usize,
    /// Batches with sites whose tail changes and sites whose tail does not.
    mixed_batches: usize,
    /// Batches with both short and near sites.
    mixed_width_batches: usize,
    /// Changed short sites whose tail does not change.
    short_no_tail: usize,
    /// Sites right after the one before.
    adjacent: usize,
    /// Of those, pairs with a short site.
    adjacent_short: usize,
}

/// Runs the seeded scenarios (`mix`: of short and near sites), or only the
/// one `PROTOCOL_SEED` names; `None` in that case.
fn run_seeds(mix: bool) -> Option<Reached> {
    let only = std::env::var("PROTOCOL_SEED").ok().map(|s| {
        s.parse::<u64>()
            .unwrap_or_else(|_| panic!("PROTOCOL_SEED={s} is not a number"))
    });
    let short = |s: &Spec| s.site.width == Width::Short;
    let mut n = Reached::default();
    for seed in only.map_or(0..SEEDS, |s| s..s + 1) {
        let _guard = SeedOnPanic(seed, mix);
        let sc = scenario_of(seed, mix);
        let spec_at = |a: usize| sc.specs.iter().find(|s| s.addr() == a).unwrap();
        for serial in [false, true] {
            let run = simulate(&sc, serial, |_| {})
                .and_then(|run| check_run(&sc, serial, &run).map(|()| run))
                .unwrap_or_else(|e| panic!("seed {seed}, mix={mix}, serial={serial}: {e}"));
            for (pokes, rounds) in batches(&run.steps) {
                let any_short = pokes.iter().any(|p| short(spec_at(p.addr)));
                match (serial, rounds) {
                    (false, 1) => {
                        n.one_round_batches += 1;
                        n.short_one_round_batches += usize::from(any_short);
                    }
                    (true, 2) => n.two_round_serial += 1,
                    _ => {}
                }
                let tail = |p: &Poke| spec_at(p.addr).tail_changes();
                if !serial && pokes.iter().any(tail) && !pokes.iter().all(tail) {
                    n.mixed_batches += 1;
                }
                if !serial && any_short && !pokes.iter().all(|p| short(spec_at(p.addr))) {
                    n.mixed_width_batches += 1;
                }
            }
        }
        let crossing = sc
            .specs
            .iter()
            .filter(|s| s.changes() && s.crosses_a_page());
        n.crossing += crossing.clone().count();
        n.short_crossing += crossing.filter(|s| short(s)).count();
        n.short_no_tail += sc
            .specs
            .iter()
            .filter(|s| short(s) && s.changes() && !s.tail_changes())
            .count();
        let adjacent = sc.specs.windows(2).filter(|w| w[0].end() == w[1].addr());
        n.adjacent += adjacent.clone().count();
        n.adjacent_short += adjacent.filter(|w| short(&w[0]) || short(&w[1])).count();
    }
    eprintln!("mix={mix}: {n:?}");
    only.is_none().then_some(n)
}

#[test]
fn every_fetch_runs_old_new_or_a_resolved_int3() {
    let Some(n) = run_seeds(false) else {
        return;
    };
    let Reached {
        crossing,
        one_round_batches,
        two_round_serial,
        mixed_batches,
        adjacent,
        ..
    } = n;
    // The generator really reaches the cases it is there for.
    assert!(crossing >= 400, "{crossing} changed page-crossing sites");
    assert!(
        one_round_batches >= 100,
        "{one_round_batches} 1-round batches"
    );
    assert!(
        two_round_serial >= 1000,
        "{two_round_serial} 2-round serial"
    );
    assert!(mixed_batches >= 200, "{mixed_batches} mixed batches");
    assert!(adjacent >= 800, "{adjacent} adjacent sites");
    assert_eq!((n.short_crossing, n.adjacent_short), (0, 0));
}

#[test]
fn every_fetch_with_short_and_near_sites_runs_old_new_or_a_resolved_int3() {
    let Some(n) = run_seeds(true) else {
        return;
    };
    // The same cases as all-near, and the short sites among them.
    assert!(n.crossing >= 400, "{n:?}");
    assert!(n.short_crossing >= 200, "{n:?}");
    assert!(n.one_round_batches >= 100, "{n:?}");
    assert!(n.short_one_round_batches >= 100, "{n:?}");
    assert!(n.two_round_serial >= 1000, "{n:?}");
    assert!(n.mixed_batches >= 200, "{n:?}");
    assert!(n.mixed_width_batches >= 350, "{n:?}");
    assert!(n.short_no_tail >= 500, "{n:?}");
    assert!(n.adjacent >= 800, "{n:?}");
    assert!(n.adjacent_short >= 600, "{n:?}");
}

/// A near jump whose rel32 is 0x441f at `addr`, in the unlikely or likely
/// form.
fn no_tail_site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: addr + LEN + NO_TAIL_REL,
        likely,
        width: Width::Near,
    }
}

/// A short jump whose rel8 is 0x90 at `addr`, in the unlikely or likely
/// form.
fn short_no_tail_site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: (addr + SHORT_LEN).wrapping_add_signed(NO_TAIL_REL8),
        likely,
        width: Width::Short,
    }
}

#[test]
fn a_batch_that_changes_no_tail_takes_one_round_serial_two_per_site() {
    let base = 0xffff_ffff_c000_0000usize;
    // Adjacent sites, one across the page boundary, both forms, both ways.
    let addrs = [
        base + 0xff0,
        base + 0xff5,
        base + 0xffa,
        base + 0xfff,
        base + 0x1004,
    ];
    let specs: Vec<Spec> = addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| Spec {
            site: no_tail_site(addr, i % 2 == 1),
            from: i % 3 == 0,
            to: i % 3 != 0,
        })
        .collect();
    let sc = Scenario {
        base,
        pages: 2,
        specs,
        shuffle: 1,
    };
    for s in &sc.specs {
        let jmp = if s.jumps(s.from) { s.from } else { s.to };
        assert_eq!(s.bytes(jmp), [0xe9, 0x1f, 0x44, 0x00, 0x00]);
        assert!(!s.tail_changes());
    }
    assert!(sc.specs.iter().any(Spec::crosses_a_page));
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
        let want = if serial { 2 * addrs.len() } else { 1 };
        assert_eq!(run.rounds, want, "serial={serial}");
    }
}

/// Sites of every kind: tail changes and none, page-crossing, adjacent,
/// one that stays as it is.
fn mixed() -> Scenario {
    let base = 0xffff_ffff_c000_0000usize;
    let mut specs = Vec::new();
    // Pages 1 and 3 hold only the ends of the page-crossing sites 2 and 4.
    for (i, addr) in [0xff0, 0xff5, 0xffd, 0x2100, 0x2ffe, 0x4003, 0x4100]
        .into_iter()
        .enumerate()
    {
        let addr = base + addr;
        let site = if i % 3 == 1 {
            no_tail_site(addr, i % 2 == 1)
        } else {
            Site {
                addr,
                target: addr - 0x40 + i,
                likely: i % 2 == 1,
                width: Width::Near,
            }
        };
        specs.push(Spec {
            site,
            from: i % 4 == 0,
            to: i % 4 != 0 && i != 6,
        });
    }
    Scenario {
        base,
        pages: 5,
        specs,
        shuffle: 2,
    }
}

#[test]
fn page_crossing_sites_are_written_through_both_pages_of_the_alias() {
    let sc = mixed();
    let crossing: Vec<&Spec> = sc.specs.iter().filter(|s| s.crosses_a_page()).collect();
    assert_eq!(crossing.len(), 2);
    assert!(crossing.iter().all(|s| s.changes()));
    assert!(crossing.iter().any(|s| s.tail_changes()));
    let pokes = plan(&sc);
    let pages: Vec<usize> = pages_touched(&pokes).collect();
    let want: Vec<usize> = (0..5).map(|i| sc.base + i * PAGE_SIZE).collect();
    assert_eq!(pages, want);
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
    }
}

#[test]
fn a_batch_of_short_and_near_sites_that_changes_no_tail_takes_one_round() {
    let base = 0xffff_ffff_c000_0000usize;
    let (s, n) = (Width::Short, Width::Near);
    // Adjacent short and near sites, a short one across the page boundary,
    // both forms, both ways.
    let sites = [
        (0xff0, s),
        (0xff2, n),
        (0xff7, s),
        (0xff9, s),
        (0xffb, s),
        (0xffd, s),
        (0x1000 - 1, s),
        (0x1001, n),
        (0x1006, s),
    ];
    let specs: Vec<Spec> = sites
        .iter()
        .enumerate()
        .map(|(i, &(addr, width))| {
            let (addr, likely) = (base + addr, i % 2 == 1);
            Spec {
                site: match width {
                    Width::Short => short_no_tail_site(addr, likely),
                    Width::Near => no_tail_site(addr, likely),
                },
                from: i % 3 == 0,
                to: i % 3 != 0,
            }
        })
        .collect();
    let sc = Scenario {
        base,
        pages: 2,
        specs,
        shuffle: 3,
    };
    for s in &sc.specs {
        let jmp = if s.jumps(s.from) { s.from } else { s.to };
        match s.site.width {
            Width::Short => assert_eq!(s.bytes(jmp), [0xeb, 0x90]),
            Width::Near => assert_eq!(s.bytes(jmp), [0xe9, 0x1f, 0x44, 0x00, 0x00]),
        }
        assert!(!s.tail_changes());
    }
    assert!(sc
        .specs
        .iter()
        .any(|s| s.crosses_a_page() && s.site.width == Width::Short));
    for serial in [false, true] {
        let run = simulate(&sc, serial, |_| {}).unwrap();
        check_run(&sc, serial, &run).unwrap();
        let want = if serial { 2 * sites.len() } else { 1 };
        assert_eq!(run.rounds, want, "serial={serial}");
    }
}

/// Short sites of every kind, with (unless `only_short`) near ones between
/// them: tail changes and none, page-crossing, adjacent, one that stays as
/// it is. Page 3 holds only the end of a short page-crossing site (and a
/// site that does not change).
fn with_short(only_short: bool) -> Scenario {
    let base = 0xffff_ffff_c000_0000usize;
    let (s, n) = (Width::Short, Width::Near);
    let short = |addr: usize, target: usize, likely: bool| Site {
        addr: base + addr,
        target: base + target,
        likely,
        width: Width::Short,
    };
    let near = |addr: usize, target: usize, likely: bool| Site {
        width: Width::Near,
        ..short(addr, target, likely)
    };
    let sites = [
        (s, short(0xff0, 0xfb0, false), false, true),
        (n, no_tail_site(base + 0xff2, true), true, false),
        (s, short_no_tail_site(base + 0xff7, false), false, true),
        (s, short(0xff9, 0x1070, true), false, true),
        (s, short(0xffb, 0xffb, false), true, false),
        // Ends on the last byte of page 0.
        (s, short(0xffd, 0x1000, true), true, false),
        // Across the boundary of pages 0 and 1, no tail change.
        (s, short_no_tail_site(base + 0xfff, false), false, true),
        (n, near(0x1001, 0x800, true), false, true),
        (s, short(0x1006, 0x1006 + 2 + 127, false), false, true),
        (s, short(0x1008, 0x100a - 128, true), true, false),
        // Across the boundary of pages 2 and 3, tail changing.
        (s, short(0x2fff, 0x3020, true), true, false),
        (s, short(0x3001, 0x3020, false), true, true),
    ];
    let specs = sites
        .into_iter()
        .filter(|&(w, ..)| !only_short || w == Width::Short)
        .map(|(_, site, from, to)| Spec { site, from, to })
        .collect();
    Scenario {
        base,
        pages: 4,
        specs,
        shuffle: 4,
    }
}

#[test]
fn short_sites_run_old_new_or_a_resolved_int3() {
    for only_short in [false, true] {
        let sc = with_short(only_short);
        let shorts = || sc.specs.iter().filter(|s| s.site.width == Width::Short);
        let crossing: Vec<&Spec> = shorts().filter(|s| s.crosses_a_page()).collect();
        assert_eq!(crossing.len(), 2);
        assert!(crossing.iter().all(|s| s.changes()));
        assert!(crossing.iter().any(|s| s.tail_changes()));
        assert!(crossing.iter().any(|s| !s.tail_changes()));
        assert!(shorts().any(|s| !s.changes()));
        let pokes = plan(&sc);
        assert!(pokes.iter().any(|p| p.len() == 2));
        let pages: Vec<usize> = pages_touched(&pokes).collect();
        let want: Vec<usize> = (0..4).map(|i| sc.base + i * PAGE_SIZE).collect();
        assert_eq!(pages, want, "only_short={only_short}");
        for serial in [false, true] {
            let run = simulate(&sc, serial, |_| {})
                .unwrap_or_else(|e| panic!("only_short={only_short}, serial={serial}: {e}"));
            check_run(&sc, serial, &run).unwrap();
        }
    }
}

#[test]
fn broken_traces_of_short_sites_are_caught() {
    // Only short sites: whatever the checker catches, it catches there.
    let sc = with_short(true);
    let e = broken_in(&sc, false, |st| {
        st.remove(nth_sync(st, 0));
    });
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| {
        st.remove(nth_sync(st, 1));
    });
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| st.retain(|s| !is_int3(s)));
    assert!(e.contains("neither the old"), "{e}");
    let e = broken_in(&sc, false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(position(st, is_int3) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    let e = broken_in(&sc, false, |st| {
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                for p in v.iter_mut() {
                    let spec = sc.specs.iter().find(|s| s.addr() == p.addr).unwrap();
                    p.resume = spec.dest(spec.from);
                }
            }
        }
    });
    assert!(e.contains("the handler resumes"), "{e}");
    // Without the table a late int3 at a short site is an oops.
    let e = match simulate_on(&sc, false, |_| {}, |m| m.table.clear()) {
        Ok(_) => panic!("a batch without the handler's table passed"),
        Err(e) => e,
    };
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    // A table of near sites at the short sites' addresses resolves none of
    // their bytes.
    let e = match simulate_on(
        &sc,
        false,
        |_| {},
        |m| {
            for t in m.table.iter_mut() {
                let s = m.specs.iter().find(|s| find(&[*t], s.addr()).is_some());
                let site = s.unwrap().site;
                *t = TrapSite::new(&Site {
                    width: Width::Near,
                    ..site
                })
                .unwrap();
            }
        },
    ) {
        Ok(_) => panic!("a table of the wrong width passed"),
        Err(e) => e,
    };
    assert!(e.contains("Oops: int3"), "{e}");
}

#[test]
fn an_alias_missing_the_page_of_a_short_sites_last_byte_is_caught() {
    let sc = with_short(true);
    let pokes = plan(&sc);
    let mut m = Machine::new(&sc, &pokes);
    // Page 3 holds only the last byte of the short site at 0x2fff.
    assert_eq!(m.alias.remove(3), sc.base + 3 * PAGE_SIZE);
    let mut r = Recorder::default();
    run_batch(&pokes, &mut r, Ending::Unsynced);
    let e = m.replay(&r.steps).unwrap_err();
    assert!(e.contains("on no page of the alias"), "{e}");
}

// The checker itself: traces with a known flaw must be caught.

fn broken(serial: bool, edit: impl FnOnce(&mut Vec<Step>)) -> String {
    broken_in(&mixed(), serial, edit)
}

fn broken_in(sc: &Scenario, serial: bool, edit: impl FnOnce(&mut Vec<Step>)) -> String {
    // The unbroken trace passes, so what fails below is the edit.
    check_run(sc, serial, &simulate(sc, serial, |_| {}).unwrap()).unwrap();
    match simulate(sc, serial, edit) {
        Ok(_) => panic!("a broken trace passed"),
        Err(e) => e,
    }
}

fn position(steps: &[Step], what: impl Fn(&Step) -> bool) -> usize {
    steps.iter().position(what).expect("step in the trace")
}

fn nth_sync(steps: &[Step], n: usize) -> usize {
    let (i, _) = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Sync))
        .nth(n)
        .expect("sync in the trace");
    i
}

fn is_publish(s: &Step) -> bool {
    matches!(s, Step::Publish(_))
}

fn is_int3(s: &Step) -> bool {
    matches!(s, Step::Write(_, b) if b == &[INT3])
}

#[test]
fn publishing_after_the_int3_writes_is_an_oops() {
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(nth_sync(st, 0), p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    // Even after a single int3 only.
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(position(st, is_int3) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
}

#[test]
fn publishing_after_the_first_sync_is_an_oops() {
    let e = broken(false, |st| {
        let p = st.remove(position(st, is_publish));
        st.insert(nth_sync(st, 0) + 1, p);
    });
    assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
}

#[test]
fn retiring_before_the_first_bytes_are_written_is_an_oops() {
    for serial in [false, true] {
        // The first batch retires right after its int3 sync, with int3s
        // still in the text.
        let e = broken(serial, |st| {
            let retire = st.remove(position(st, |s| matches!(s, Step::Retire)));
            st.insert(nth_sync(st, 0) + 1, retire);
        });
        assert!(e.contains("Oops: int3") && e.contains("no vector"), "{e}");
    }
}

#[test]
fn never_retiring_is_caught() {
    let e = broken(false, |st| st.retain(|s| !matches!(s, Step::Retire)));
    assert!(e.contains("still published"), "{e}");
}

#[test]
fn skipping_the_int3_sync_tears_instructions() {
    let e = broken(false, |st| {
        st.remove(nth_sync(st, 0));
    });
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn skipping_the_tail_sync_tears_instructions() {
    let e = broken(false, |st| {
        st.remove(nth_sync(st, 1));
    });
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn without_the_table_a_late_int3_is_an_oops() {
    // What the third round protects against, with two rounds and no table.
    let sc = mixed();
    let e = match simulate_on(&sc, false, |_| {}, |m| m.table.clear()) {
        Ok(_) => panic!("a batch without the handler's table passed"),
        Err(e) => e,
    };
    // Caught at the retire or later, when only the table could help.
    let late = e.contains("(retire)") || e.contains("late fetch");
    assert!(
        e.contains("Oops: int3") && e.contains("no vector") && late,
        "{e}"
    );
    // With the kernel's final sync, no table is needed.
    let run = simulate_on(&sc, true, |_| {}, |m| m.table.clear()).unwrap();
    check_run(&sc, true, &run).unwrap();
}

#[test]
fn a_table_built_for_other_targets_is_caught() {
    // The table's jumps are not the ones in the text: a late int3 at a
    // jump site is not resolved (the bytes are neither of the table's
    // instructions for the site).
    let sc = mixed();
    let e = match simulate_on(
        &sc,
        false,
        |_| {},
        |m| {
            m.table = m
                .specs
                .iter()
                .map(|s| {
                    let mut site = s.site;
                    site.target += 0x10;
                    TrapSite::new(&site).unwrap()
                })
                .collect();
            trap::sort(&mut m.table);
        },
    ) {
        Ok(_) => panic!("a wrong table passed"),
        Err(e) => e,
    };
    assert!(
        e.contains("Oops: int3") && e.contains("site holds [e9"),
        "{e}"
    );
}

#[test]
fn writing_without_an_int3_tears_instructions() {
    let e = broken(false, |st| st.retain(|s| !is_int3(s)));
    assert!(e.contains("neither the old"), "{e}");
}

#[test]
fn a_handler_that_emulates_the_old_instruction_is_caught() {
    let sc = mixed();
    let e = broken(false, |st| {
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                for p in v.iter_mut() {
                    let spec = sc.specs.iter().find(|s| s.addr() == p.addr).unwrap();
                    p.resume = spec.dest(spec.from);
                }
            }
        }
    });
    assert!(e.contains("the handler resumes"), "{e}");
}

#[test]
fn a_trap_on_a_site_of_another_batch_is_an_oops() {
    // Serial: each batch publishes the vector of the next site.
    let e = broken(true, |st| {
        let mut vectors: Vec<Vec<Poke>> = Vec::new();
        for s in st.iter() {
            if let Step::Publish(v) = s {
                vectors.push(v.clone());
            }
        }
        vectors.rotate_left(1);
        let mut next = vectors.into_iter();
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                *v = next.next().unwrap();
            }
        }
    });
    assert!(e.contains("not in the published vector"), "{e}");
}

#[test]
fn an_alias_missing_a_page_is_caught() {
    let sc = mixed();
    let pokes = plan(&sc);
    let mut m = Machine::new(&sc, &pokes);
    // The page only the end of the first page-crossing site is on.
    assert_eq!(m.alias.remove(1), sc.base + PAGE_SIZE);
    let mut r = Recorder::default();
    run_batch(&pokes, &mut r, Ending::Unsynced);
    let e = m.replay(&r.steps).unwrap_err();
    assert!(e.contains("on no page of the alias"), "{e}");
}

#[test]
fn a_stray_write_is_caught() {
    let e = broken(false, |st| {
        let i = nth_sync(st, 1);
        st.insert(i, Step::Write(0xffff_ffff_c000_0800, vec![0x90]));
    });
    assert!(e.contains("stray write"), "{e}");
}
