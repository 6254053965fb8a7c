// SPDX-License-Identifier: GPL-2.0

//! The machine `kernel_writer`'s traces replay on: the text, what each CPU
//! may fetch, both writers' published vectors, and the CPUs still inside
//! `exc_int3`.

use std::collections::HashMap;

use batchpoke_pure::insn::Insn;
use batchpoke_pure::plan::Poke;
use batchpoke_pure::search::find;
use batchpoke_pure::trap::{self, TrapSite};

use super::sim::{decode, INT3};
use super::*;

/// What the runs reached, so that passing is not vacuous.
#[derive(Clone, Debug, Default)]
pub struct Reached {
    pub scenarios: usize,
    pub kernel_batches: usize,
    /// Batchpoke batches with a static key's site, ended with the sync.
    pub synced_batches: usize,
    /// The same, ended without it.
    pub unsynced_static_batches: usize,
    /// Batchpoke batches of batchpoke's own keys only.
    pub own_batches: usize,
    /// Kernel batches right after a batchpoke batch on the same sites.
    pub handovers: usize,
    /// Of those, after an unsynced batchpoke batch.
    pub unsynced_handovers: usize,
    /// Traps the kernel's handler resolved.
    pub kernel_resolved: usize,
    /// Traps batchpoke's handler resolved later than the trap, a stall.
    pub stalled: usize,
    /// Traps on an int3 that only an emulator fetches.
    pub stale: usize,
    /// Traps batchpoke's handler resolved under an int3 no batchpoke batch
    /// accounts for: the kernel's, by the tail rule.
    pub tail_rule: usize,
    /// Traps at batchpoke's own sites resolved by the table and the bytes,
    /// with no vector holding the site.
    pub own_late: usize,
    /// Traps at batchpoke's own sites resolved after a stall.
    pub own_stalled: usize,
}

impl Reached {
    pub fn add(&mut self, o: &Reached) {
        let Reached {
            scenarios,
            kernel_batches,
            synced_batches,
            unsynced_static_batches,
            own_batches,
            handovers,
            unsynced_handovers,
            kernel_resolved,
            stalled,
            stale,
            tail_rule,
            own_late,
            own_stalled,
        } = o;
        self.scenarios += scenarios;
        self.kernel_batches += kernel_batches;
        self.synced_batches += synced_batches;
        self.unsynced_static_batches += unsynced_static_batches;
        self.own_batches += own_batches;
        self.handovers += handovers;
        self.unsynced_handovers += unsynced_handovers;
        self.kernel_resolved += kernel_resolved;
        self.stalled += stalled;
        self.stale += stale;
        self.tail_rule += tail_rule;
        self.own_late += own_late;
        self.own_stalled += own_stalled;
    }
}

pub struct Machine<'a> {
    sc: &'a Scenario,
    cfg: Config,
    /// The bytes a CPU that serialized just now would fetch.
    text: Vec<u8>,
    /// By text index, for each location written since the last sync: every
    /// value it held since then, any of which a CPU may still fetch.
    pending: HashMap<usize, Vec<u8>>,
    /// batchpoke's handler's table of every site.
    table: Vec<TrapSite>,
    batchpoke: Option<Vec<Poke>>,
    kernel: Option<Vec<Poke>>,
    /// Per site: the key state of its latest change (or its initial one).
    state: Vec<bool>,
    /// Per site: the key states whose instruction a CPU may run it as.
    legal: Vec<[bool; 2]>,
    /// Per site: whether its latest change wrote the first byte; the next
    /// sync then ends the change.
    head_written: Vec<bool>,
    /// Per site: whether an int3 ever stood on its first byte.
    ever_int3: Vec<bool>,
    /// Per site: the event since which a CPU that trapped there may still be
    /// inside `exc_int3` (only until the next sync).
    in_flight: Vec<Option<usize>>,
    /// Per site: whether the kernel's handler has declined such a CPU, which
    /// then only waits for batchpoke's.
    declined: Vec<bool>,
    /// The event being replayed.
    now: usize,
    pub reached: Reached,
}

impl<'a> Machine<'a> {
    /// The text of `sc` with every key in its initial state, and
    /// batchpoke's table as `cfg` builds it.
    pub fn new(sc: &'a Scenario, cfg: Config, reached: Reached) -> Machine<'a> {
        let mut text: Vec<u8> = (0..sc.len)
            .map(|i| (i as u8).wrapping_mul(7) ^ 0x5a)
            .collect();
        let state: Vec<bool> = sc.key_of.iter().map(|&k| sc.initial[k]).collect();
        let mut table = Vec::new();
        for (s, site) in sc.sites.iter().enumerate() {
            let i = site.addr - sc.base;
            let b = sc.bytes(s, state[s]);
            text[i..i + b.len()].copy_from_slice(&b);
            let writers = if sc.shared_site(s) {
                cfg.writers
            } else {
                Writers::Batchpoke
            };
            table.push(TrapSite::written_by(site, writers).expect("encodable"));
        }
        trap::sort(&mut table);
        let n = sc.sites.len();
        Machine {
            sc,
            cfg,
            text,
            pending: HashMap::new(),
            table,
            batchpoke: None,
            kernel: None,
            legal: state.iter().map(|&e| [!e, e]).collect(),
            state,
            head_written: vec![false; n],
            ever_int3: vec![false; n],
            in_flight: vec![None; n],
            declined: vec![false; n],
            now: 0,
            reached,
        }
    }

    fn index(&self, addr: usize) -> usize {
        let i = addr.checked_sub(self.sc.base).expect("site in the text");
        assert!(i < self.text.len(), "site in the text");
        i
    }

    /// The values a CPU may fetch at text index `i` now.
    fn cands(&self, i: usize) -> &[u8] {
        self.pending
            .get(&i)
            .map_or(std::slice::from_ref(&self.text[i]), Vec::as_slice)
    }

    /// Whether running site `s` to `dest` is running an instruction it may
    /// run now.
    fn legal_dest(&self, s: usize, dest: usize) -> bool {
        [false, true]
            .into_iter()
            .any(|e| self.legal[s][usize::from(e)] && self.sc.dest(s, e) == dest)
    }

    fn legal_dests(&self, s: usize) -> Vec<usize> {
        [false, true]
            .into_iter()
            .filter(|&e| self.legal[s][usize::from(e)])
            .map(|e| self.sc.dest(s, e))
            .collect()
    }

    fn sites_at(&self, addr: usize) -> impl Iterator<Item = usize> + '_ {
        self.sc
            .sites
            .iter()
            .enumerate()
            .filter(move |(_, site)| (site.addr..site.addr + width_len(site.width)).contains(&addr))
            .map(|(s, _)| s)
    }

    /// Replays `evs`, checking every fetch and every trap at every instant.
    pub fn replay(&mut self, evs: &[Ev]) -> Result<(), String> {
        let all: Vec<usize> = (0..self.sc.sites.len()).collect();
        self.visit(&all, &|| "before the first batch".into())?;
        for (i, ev) in evs.iter().enumerate() {
            self.now = i;
            let when = || format!("at event {i} ({ev})");
            match ev {
                Ev::Begin(_, changes) => {
                    for &(s, from, to) in changes {
                        // Both writers check the old bytes first (the
                        // kernel's jump-label code BUGs otherwise).
                        let a = self.index(self.sc.sites[s].addr);
                        let want = self.sc.bytes(s, from);
                        if self.text[a..a + want.len()] != want[..] {
                            return Err(format!("{} finds site {s} not in state {from}", when()));
                        }
                        self.state[s] = to;
                        self.legal[s][usize::from(from)] = true;
                        self.legal[s][usize::from(to)] = true;
                        self.head_written[s] = false;
                    }
                }
                Ev::Step(who, Step::Publish(v)) => {
                    *self.slot(*who) = Some(v.clone());
                    self.visit(&all, &when)?;
                }
                Ev::Step(_, Step::Write(addr, bytes)) => {
                    for (k, &b) in bytes.iter().enumerate() {
                        self.write_byte(addr + k, b);
                        let s: Vec<usize> = self.sites_at(addr + k).collect();
                        self.visit(&s, &|| format!("{}, byte {k}", when()))?;
                    }
                }
                Ev::Step(_, Step::Sync) => {
                    // Every CPU has left exc_int3 and serialized.
                    self.pending.clear();
                    self.in_flight.fill(None);
                    self.declined.fill(false);
                    for s in 0..all.len() {
                        if self.head_written[s] {
                            self.head_written[s] = false;
                            let e = self.state[s];
                            self.legal[s] = [!e, e];
                        }
                    }
                    self.visit(&all, &when)?;
                }
                Ev::Step(who, Step::Retire) => {
                    *self.slot(*who) = None;
                    self.visit(&all, &when)?;
                }
            }
        }
        // Nothing changes after the last event: every fetch and every
        // handler run from now on sees what the last visit saw.
        if self.batchpoke.is_some() || self.kernel.is_some() {
            return Err("a vector is still published after the last batch".into());
        }
        for s in all {
            let a = self.index(self.sc.sites[s].addr);
            let want = self.sc.bytes(s, self.state[s]);
            if self.text[a..a + want.len()] != want[..] {
                return Err(format!("site {s} is not in its key's final state"));
            }
        }
        Ok(())
    }

    fn slot(&mut self, who: Who) -> &mut Option<Vec<Poke>> {
        match who {
            Who::Batchpoke => &mut self.batchpoke,
            Who::Kernel => &mut self.kernel,
        }
    }

    fn write_byte(&mut self, addr: usize, byte: u8) {
        let i = self.index(addr);
        let seen = self.text[i];
        let values = self.pending.entry(i).or_insert_with(|| vec![seen]);
        if !values.contains(&byte) {
            values.push(byte);
        }
        self.text[i] = byte;
        for s in 0..self.sc.sites.len() {
            if self.sc.sites[s].addr == addr {
                if byte == INT3 {
                    self.ever_int3[s] = true;
                } else {
                    self.head_written[s] = true;
                }
            }
        }
    }

    /// Checks what CPUs can do at the sites `sites` at this instant: fetch
    /// and run them, trap, or go on in `exc_int3` after an earlier trap.
    fn visit(&mut self, sites: &[usize], when: &dyn Fn() -> String) -> Result<(), String> {
        for &s in sites {
            let site = self.sc.sites[s];
            let (addr, len) = (site.addr, width_len(site.width));
            let i = self.index(addr);
            let fresh = self.cands(i).contains(&INT3);
            let stale = !fresh && self.cfg.fetch == Fetch::Emulator && self.ever_int3[s];
            if fresh || stale {
                self.reached.stale += usize::from(stale);
                self.in_flight[s].get_or_insert(self.now);
            }
            if let Some(since) = self.in_flight[s] {
                self.handlers(s, since, when)?;
            }
            if !self.cfg.stall {
                // Both handlers ran at the trap.
                self.in_flight[s] = None;
                self.declined[s] = false;
            }
            if let Some(b) = self.torn(s, i, len) {
                return Err(format!(
                    "site {addr:#x} {}: a CPU fetches {b:02x?}, which goes to none of {:#x?}",
                    when(),
                    self.legal_dests(s)
                ));
            }
        }
        Ok(())
    }

    /// A fetch of site `s` (at text index `i`, `len` bytes) that does not
    /// trap and does not run an instruction the site may run now.
    fn torn(&self, s: usize, i: usize, len: usize) -> Option<Vec<u8>> {
        let c: Vec<&[u8]> = (0..len).map(|k| self.cands(i + k)).collect();
        let addr = self.sc.sites[s].addr;
        let total: usize = c.iter().map(|v| v.len()).product();
        let mut b = [0u8; 5];
        for mut n in 0..total {
            for (slot, v) in b.iter_mut().zip(&c) {
                *slot = v[n % v.len()];
                n /= v.len();
            }
            if b[0] == INT3 {
                continue;
            }
            match decode(addr, &b[..len]) {
                Some(d) if self.legal_dest(s, d) => {}
                _ => return Some(b[..len].to_vec()),
            }
        }
        None
    }

    /// A CPU that trapped at site `s` at event `since` runs the handlers it
    /// has not run yet now: the kernel's first, then batchpoke's.
    fn handlers(
        &mut self,
        s: usize,
        since: usize,
        when: &dyn Fn() -> String,
    ) -> Result<(), String> {
        let addr = self.sc.sites[s].addr;
        if !self.declined[s] {
            if let Some(p) = self.kernel.as_deref().and_then(|v| find(v, addr)) {
                // It emulates the kernel's new instruction, whatever the
                // bytes; the trap is over.
                if !self.legal_dest(s, p.resume) {
                    return Err(format!(
                        "int3 at {addr:#x} {}: the kernel's handler resumes at {:#x}, not one of {:#x?}",
                        when(),
                        p.resume,
                        self.legal_dests(s)
                    ));
                }
                self.reached.kernel_resolved += 1;
                return Ok(());
            }
            self.declined[s] = true;
        }
        self.batchpoke_handler(s, since, when)
    }

    /// batchpoke's handler on a trap at site `s` now, the real resolution.
    fn batchpoke_handler(
        &mut self,
        s: usize,
        since: usize,
        when: &dyn Fn() -> String,
    ) -> Result<(), String> {
        let site = self.sc.sites[s];
        let (addr, len) = (site.addr, width_len(site.width));
        let i = self.index(addr);
        let now = self.text[i..i + len].to_vec();
        let insn = Insn::from_slice(&now).expect("a site is 1 to 5 bytes");
        let active = self.batchpoke.as_deref().and_then(|v| find(v, addr));
        let stalled = since < self.now;
        // The real handler reads the site again when it finds an int3 it
        // cannot account for, but a CPU stalled here may make every read
        // at this same instant: one read is all the model gives it.
        let Some(resume) = trap::resolve(find(&self.table, addr), &insn, active) else {
            let why = match (&self.batchpoke, active) {
                (None, _) => "no vector is published",
                (Some(_), None) => "it is not in the published vector",
                (Some(_), Some(_)) => "the vector does not resolve it",
            };
            let how = if stalled {
                format!("trapped on at event {since} by a CPU that stalled in exc_int3, handled")
            } else {
                "handled".into()
            };
            return Err(format!(
                "Oops: int3 at {addr:#x} {how} {}: the kernel's handler declined it, batchpoke's \
                 finds {why}, and the site holds {now:02x?}",
                when()
            ));
        };
        let right = if now[0] == INT3 {
            match active {
                Some(_) => resume == self.sc.dest(s, self.state[s]),
                // Nothing but the kernel leaves an int3 outside a batchpoke
                // batch.
                None => {
                    self.reached.tail_rule += 1;
                    self.legal_dest(s, resume)
                }
            }
        } else {
            decode(addr, &now) == Some(resume) && self.legal_dest(s, resume)
        };
        if !right {
            return Err(format!(
                "int3 at {addr:#x} {}: batchpoke's handler resumes at {resume:#x}, the site holds \
                 {now:02x?}, and it may run as {:#x?} (batchpoke's new one: {:#x})",
                when(),
                self.legal_dests(s),
                self.sc.dest(s, self.state[s])
            ));
        }
        self.reached.stalled += usize::from(stalled);
        if !self.sc.shared_site(s) {
            self.reached.own_late += usize::from(active.is_none());
            self.reached.own_stalled += usize::from(stalled);
        }
        Ok(())
    }
}
