// SPDX-License-Identifier: GPL-2.0

//! The protocol simulation's model: generated scenarios, the simulated
//! machine whose CPUs fetch sites while a recorded trace replays, and the
//! checks of a run (see `protocol.rs` for what is simulated and why).

use std::collections::HashMap;

use batchpoke_pure::insn::{Form, Insn, Width};
use batchpoke_pure::pages::{alias_offset, pages_touched, PAGE_SIZE};
use batchpoke_pure::plan::{prepare, run_batch, run_serial, verify, Ending, Poke};
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::{self, TrapSite};

use crate::sim::{
    decode, encode, width_len, Bytes, Recorder, Rng, Step, INT3, LEN, NO_TAIL_REL, NO_TAIL_REL8,
    SHORT_LEN,
};

/// One site of a scenario and the change its key makes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    /// The site, in the form it starts in.
    pub(crate) site: Site,
    pub(crate) from: bool,
    pub(crate) to: bool,
    /// The form it ends in: another than `site.form` for a conversion
    /// (which keeps the key's state).
    pub(crate) to_form: Form,
}

impl Spec {
    pub(crate) fn addr(&self) -> usize {
        self.site.addr
    }

    /// The site's length, as this test knows the widths.
    pub(crate) fn len(&self) -> usize {
        width_len(self.site.width)
    }

    /// The address past the site's last byte.
    pub(crate) fn end(&self) -> usize {
        self.addr() + self.len()
    }

    /// Whether the site jumps while its key is `enabled`: the unlikely form
    /// jumps when the key is enabled, the likely form when it is disabled.
    pub(crate) fn jumps(&self, enabled: bool) -> bool {
        if self.site.likely {
            !enabled
        } else {
            enabled
        }
    }

    /// Where the site sends a CPU while its key is `enabled`.
    pub(crate) fn dest(&self, enabled: bool) -> usize {
        if self.jumps(enabled) {
            self.site.target
        } else {
            self.end()
        }
    }

    /// The bytes of the site in its starting form while its key is
    /// `enabled`.
    pub(crate) fn bytes(&self, enabled: bool) -> Bytes {
        encode(&self.site, self.jumps(enabled))
    }

    /// The bytes the text starts with.
    pub(crate) fn old_bytes(&self) -> Bytes {
        self.bytes(self.from)
    }

    /// The bytes the site must hold after the batch.
    pub(crate) fn new_bytes(&self) -> Bytes {
        encode(&self.site.in_form(self.to_form), self.jumps(self.to))
    }

    /// Whether its form changes (its key's state does not).
    pub(crate) fn converts(&self) -> bool {
        self.site.form != self.to_form
    }

    pub(crate) fn changes(&self) -> bool {
        self.old_bytes() != self.new_bytes()
    }

    pub(crate) fn tail_changes(&self) -> bool {
        self.old_bytes()[1..] != self.new_bytes()[1..]
    }

    pub(crate) fn crosses_a_page(&self) -> bool {
        self.addr() / PAGE_SIZE != (self.end() - 1) / PAGE_SIZE
    }
}

/// A stretch of text and the sites in it, sorted by address.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) base: usize,
    pub(crate) pages: usize,
    pub(crate) specs: Vec<Spec>,
    /// Shuffles and duplicates the pokes before `prepare`.
    pub(crate) shuffle: u64,
}

/// The scenario of `seed`: all sites near, or (`mix`) each short or near.
/// All-near scenarios draw no widths, so a seed's all-near scenario is the
/// same whether or not short sites exist.
pub(crate) fn scenario_of(seed: u64, mix: bool) -> Scenario {
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
            to_form: Form::Kernel,
            site: Site {
                addr,
                target,
                likely: r.chance(2),
                width,
                form: Form::Kernel,
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
    // The forms from a stream of their own, so that the rest of a seed's
    // scenario is the same as before forms existed.
    let mut f = Rng(seed ^ 0x5eed_f0f0_f0f0_f0f0);
    let (from_form, to_form, flip) = match f.below(8) {
        // Flips of batchpoke keys, whose sites fall through with `test`.
        0..=2 => (Form::TailConstant, Form::TailConstant, true),
        // Their conversion at registration and back, state kept.
        3 => (Form::Kernel, Form::TailConstant, false),
        4 => (Form::TailConstant, Form::Kernel, false),
        _ => (Form::Kernel, Form::Kernel, true),
    };
    for spec in &mut specs {
        spec.site.form = from_form;
        spec.to_form = to_form;
        if !flip {
            spec.to = spec.from;
        }
    }
    Scenario {
        base,
        pages,
        specs,
        shuffle: r.next(),
    }
}

/// The prepared vector for `sc`, from its pokes shuffled and partly doubled.
pub(crate) fn plan(sc: &Scenario) -> Vec<Poke> {
    let mut r = Rng(sc.shuffle);
    let mut v: Vec<Poke> = Vec::new();
    for s in &sc.specs {
        let poke = if s.converts() {
            Poke::converting(&s.site, s.from, s.to_form)
        } else {
            Poke::for_site(&s.site, s.from, s.to)
        };
        if let Some(p) = poke.expect("encodable") {
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
pub(crate) enum Outcome {
    /// Ran an instruction that sent it here.
    Ran(usize),
    /// Trapped on the int3, and the handler sent it where the new
    /// instruction goes.
    Trapped,
}

pub(crate) struct Machine {
    pub(crate) base: usize,
    /// The bytes a CPU that serialized just now would fetch.
    pub(crate) text: Vec<u8>,
    pub(crate) initial: Vec<u8>,
    /// For each location written since the last sync: every value it held
    /// since then, any of which a CPU may still fetch.
    pub(crate) pending: HashMap<usize, Vec<u8>>,
    /// The pages the writable alias maps, back to back.
    pub(crate) alias: Vec<usize>,
    pub(crate) published: Option<Vec<Poke>>,
    /// The int3 handler's table of every site.
    pub(crate) table: Vec<TrapSite>,
    pub(crate) specs: Vec<Spec>,
    pub(crate) outcomes: Vec<Vec<Outcome>>,
    /// The sites a CPU trapped on with no vector to resolve the trap: the
    /// table and the bytes did.
    pub(crate) trapped_late: Vec<usize>,
}

impl Machine {
    /// The text of `sc` with every site in its `from` state, and an alias of
    /// the pages `pokes` touch.
    pub(crate) fn new(sc: &Scenario, pokes: &[Poke]) -> Machine {
        let mut text: Vec<u8> = (0..sc.pages * PAGE_SIZE)
            .map(|i| (i as u8).wrapping_mul(7) ^ 0x5a)
            .collect();
        for s in &sc.specs {
            let i = s.addr() - sc.base;
            text[i..i + s.len()].copy_from_slice(&s.old_bytes());
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

    pub(crate) fn index(&self, addr: usize) -> Option<usize> {
        addr.checked_sub(self.base).filter(|&i| i < self.text.len())
    }

    /// The `len` bytes at `addr`.
    pub(crate) fn read(&self, addr: usize, len: usize) -> Bytes {
        let i = self.index(addr).expect("site in the text");
        self.text[i..i + len].to_vec()
    }

    /// The values a CPU may fetch from `addr` now.
    pub(crate) fn candidates(&self, addr: usize) -> Vec<u8> {
        match self.pending.get(&addr) {
            Some(v) => v.clone(),
            None => vec![self.text[self.index(addr).expect("site in the text")]],
        }
    }

    /// Writes `byte` for the text at `addr` through the alias, as the
    /// kernel does; returns the text address it lands on.
    pub(crate) fn write_byte(&mut self, addr: usize, byte: u8) -> Result<usize, String> {
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

    pub(crate) fn sites_at(&self, addr: usize) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|&i| (self.specs[i].addr()..self.specs[i].end()).contains(&addr))
            .collect()
    }

    /// The sites a CPU may find an int3 on now.
    pub(crate) fn guarded_sites(&self) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|&i| self.candidates(self.specs[i].addr()).contains(&INT3))
            .collect()
    }

    /// Checks every fetch a CPU can make now of the sites `sites`.
    pub(crate) fn fetch(
        &mut self,
        sites: &[usize],
        when: &dyn Fn() -> String,
    ) -> Result<(), String> {
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
                    // Exactly the old or the new bytes: a `test` decodes
                    // whatever its immediate, so a mix could decode.
                    let whole = b == spec.old_bytes() || b == spec.new_bytes();
                    match decode(addr, &b) {
                        Some(d)
                            if whole && (d == spec.dest(spec.from) || d == spec.dest(spec.to)) =>
                        {
                            self.note(si, Outcome::Ran(d))
                        }
                        _ => {
                            return Err(format!(
                                "site {addr:#x} {}: a CPU fetches {b:02x?}, neither the old \
                                 {:02x?} nor the new instruction {:02x?}",
                                when(),
                                spec.old_bytes(),
                                spec.new_bytes()
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
    pub(crate) fn trap(&mut self, si: usize, when: &dyn Fn() -> String) -> Result<(), String> {
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

    pub(crate) fn note(&mut self, si: usize, o: Outcome) {
        if !self.outcomes[si].contains(&o) {
            self.outcomes[si].push(o);
        }
    }

    /// Replays `steps`, checking every fetch between every two events, then
    /// the state the batch leaves. Returns what CPUs did at each site.
    pub(crate) fn replay(&mut self, steps: &[Step]) -> Result<Vec<Vec<Outcome>>, String> {
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
            if now != s.new_bytes() || decode(s.addr(), &now) != Some(s.dest(s.to)) {
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
pub(crate) struct Run {
    pub(crate) pokes: Vec<Poke>,
    pub(crate) rounds: usize,
    pub(crate) steps: Vec<Step>,
    pub(crate) outcomes: Vec<Vec<Outcome>>,
    /// Sites trapped on with no vector published for them.
    pub(crate) trapped_late: usize,
}

/// Runs `sc` with the real protocol code, lets `edit` break the trace (for
/// tests of the checker itself), and replays it.
pub(crate) fn simulate(
    sc: &Scenario,
    serial: bool,
    edit: impl FnOnce(&mut Vec<Step>),
) -> Result<Run, String> {
    simulate_on(sc, serial, edit, |_| {})
}

/// [`simulate`], on a machine `change` alters first.
pub(crate) fn simulate_on(
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
pub(crate) fn batches(steps: &[Step]) -> Vec<(Vec<Poke>, usize)> {
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
pub(crate) fn check_run(sc: &Scenario, serial: bool, run: &Run) -> Result<(), String> {
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
            let mut want = vec![Outcome::Ran(s.dest(s.from)), Outcome::Trapped];
            if s.dest(s.to) != s.dest(s.from) {
                want.push(Outcome::Ran(s.dest(s.to)));
            }
            want
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
pub(crate) struct SeedOnPanic(u64, bool);

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

pub(crate) const SEEDS: u64 = 1000;

/// What the seeded scenarios reached.
#[derive(Debug, Default)]
pub(crate) struct Reached {
    /// Changed sites across a page boundary.
    pub(crate) crossing: usize,
    /// Of those, short ones.
    pub(crate) short_crossing: usize,
    /// Batches (not serial) of one sync round.
    pub(crate) one_round_batches: usize,
    /// Of those, ones with a short site.
    pub(crate) short_one_round_batches: usize,
    /// Serial batches of two sync rounds.
    pub(crate) two_round_serial: usize,
    /// Batches with sites whose tail changes and sites whose tail does not.
    pub(crate) mixed_batches: usize,
    /// Batches with both short and near sites.
    pub(crate) mixed_width_batches: usize,
    /// Changed short sites whose tail does not change.
    pub(crate) short_no_tail: usize,
    /// Sites right after the one before.
    pub(crate) adjacent: usize,
    /// Of those, pairs with a short site.
    pub(crate) adjacent_short: usize,
    /// Batches (not serial) flipping sites in the tail-constant form:
    /// batchpoke keys' transactions, one round each.
    pub(crate) test_form_flips: usize,
    /// Batches (not serial) converting sites between the forms.
    pub(crate) conversions: usize,
}

/// Runs the seeded scenarios (`mix`: of short and near sites), or only the
/// one `PROTOCOL_SEED` names; `None` in that case.
pub(crate) fn run_seeds(mix: bool) -> Option<Reached> {
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
                let test_form = pokes.iter().all(|p| {
                    let s = spec_at(p.addr);
                    s.site.form == Form::TailConstant && !s.converts()
                });
                if !serial && test_form {
                    assert_eq!(rounds, 1, "seed {seed}: a flip in the tail-constant form");
                    n.test_form_flips += 1;
                }
                if !serial && pokes.iter().all(|p| spec_at(p.addr).converts()) {
                    n.conversions += 1;
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
