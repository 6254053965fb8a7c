// SPDX-License-Identifier: GPL-2.0

//! Simulation of the int3 protocol against CPUs that fetch a site byte by
//! byte while the batch runs.
//!
//! The model: between two sync rounds a CPU may fetch a site at any time, and
//! each of the five bytes it reads may come from before or after any write of
//! that interval, independently (the most adversarial order). A fetch cannot
//! span a sync round: a sync completes only after every CPU serialized. Every
//! fetch must decode to the site's old or new instruction, or start with an
//! int3 that the published vector resolves to the new instruction.

use std::collections::HashMap;

use batchpoke_pure::insn::{Insn, INSN_SIZE, INT3};
use batchpoke_pure::plan::*;
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;

#[derive(Clone, Debug)]
enum Step {
    Publish(Vec<Poke>),
    Write(usize, Vec<u8>),
    Sync,
    Retire,
}

#[derive(Default)]
struct Recorder {
    steps: Vec<Step>,
}

impl Text for Recorder {
    fn publish(&mut self, pokes: &[Poke]) {
        self.steps.push(Step::Publish(pokes.to_vec()));
    }
    fn write(&mut self, addr: usize, bytes: &[u8]) {
        self.steps.push(Step::Write(addr, bytes.to_vec()));
    }
    fn sync(&mut self) {
        self.steps.push(Step::Sync);
    }
    fn retire(&mut self) {
        self.steps.push(Step::Retire);
    }
}

/// What a simulated CPU saw when it ran a site.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Executed the site's instruction for this key state.
    Ran(bool),
    /// Trapped, and the handler sent it on as the new instruction would.
    Trapped,
}

struct Machine {
    mem: HashMap<usize, u8>,
    sites: Vec<Site>,
}

impl Machine {
    fn new(sites: &[Site], state: bool) -> Machine {
        let mut mem = HashMap::new();
        for s in sites {
            for (i, b) in s.insn(state).unwrap().iter().enumerate() {
                mem.insert(s.addr + i, *b);
            }
        }
        Machine {
            mem,
            sites: sites.to_vec(),
        }
    }

    fn read(&self, addr: usize) -> Insn {
        core::array::from_fn(|i| self.mem[&(addr + i)])
    }

    /// Replays `steps`, checking every possible fetch of every site in every
    /// interval between sync rounds. Returns the distinct outcomes seen per
    /// site, or a description of the first torn or unresolved fetch.
    fn replay(
        &mut self,
        steps: &[Step],
        from: bool,
        to: bool,
    ) -> Result<Vec<Vec<Outcome>>, String> {
        let mut outcomes: Vec<Vec<Outcome>> = self.sites.iter().map(|_| Vec::new()).collect();
        let mut published: Option<Vec<Poke>> = None;
        let mut interval: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut check_interval = |m: &Machine,
                                  writes: &[(usize, Vec<u8>)],
                                  published: &Option<Vec<Poke>>| {
            for (si, s) in m.sites.iter().enumerate() {
                // For each byte of the site: its value after 0..=k of the
                // interval's writes.
                let mut choices: Vec<Vec<u8>> = Vec::new();
                for i in 0..INSN_SIZE {
                    let a = s.addr + i;
                    let mut v = vec![m.mem[&a]];
                    for (wa, bytes) in writes {
                        if a >= *wa && a < wa + bytes.len() {
                            v.push(bytes[a - wa]);
                        }
                    }
                    choices.push(v);
                }
                let total: usize = choices.iter().map(Vec::len).product();
                for mut n in 0..total {
                    let mut seen = [0u8; INSN_SIZE];
                    for i in 0..INSN_SIZE {
                        seen[i] = choices[i][n % choices[i].len()];
                        n /= choices[i].len();
                    }
                    let outcome = if seen[0] == INT3 {
                        let poke = published
                            .as_ref()
                            .and_then(|v| find(v, s.addr))
                            .ok_or(format!("site {:#x}: int3 with no published poke", s.addr))?;
                        let new_resume =
                            batchpoke_pure::insn::resume_address(s.addr, &s.insn(to).unwrap());
                        if Some(poke.resume) != new_resume {
                            return Err(format!(
                                "site {:#x}: handler does not emulate the new instruction",
                                s.addr
                            ));
                        }
                        Outcome::Trapped
                    } else {
                        match s.observed_state(&seen) {
                            Some(st) if st == from || st == to => Outcome::Ran(st),
                            _ => {
                                return Err(format!(
                                    "site {:#x}: torn instruction {:02x?}",
                                    s.addr, seen
                                ))
                            }
                        }
                    };
                    if !outcomes[si].contains(&outcome) {
                        outcomes[si].push(outcome);
                    }
                }
            }
            Ok::<(), String>(())
        };
        for step in steps {
            match step {
                Step::Publish(v) => published = Some(v.clone()),
                Step::Write(a, b) => {
                    interval.push((*a, b.clone()));
                }
                Step::Sync => {
                    check_interval(self, &interval, &published)?;
                    for (a, b) in interval.drain(..) {
                        for (i, x) in b.iter().enumerate() {
                            self.mem.insert(a + i, *x);
                        }
                    }
                }
                Step::Retire => published = None,
            }
        }
        // After the batch: no pending writes, sites hold the new bytes.
        check_interval(self, &interval, &published)?;
        if !interval.is_empty() {
            return Err("writes after the last sync round".into());
        }
        for s in &self.sites {
            if self.read(s.addr) != s.insn(to).unwrap() {
                return Err(format!(
                    "site {:#x} does not hold the new instruction",
                    s.addr
                ));
            }
        }
        Ok(outcomes)
    }
}

fn sites(n: usize) -> Vec<Site> {
    // Mixed forms, adjacent sites, a site across a page boundary, backward jumps.
    let mut v = Vec::new();
    let mut addr = 0xffff_ffff_c000_0ff0usize;
    for i in 0..n {
        let target = if i % 3 == 0 {
            addr - 0x80
        } else {
            addr + 0x200 + i
        };
        v.push(Site {
            addr,
            target,
            likely: i % 2 == 1,
        });
        addr += if i % 4 == 0 { INSN_SIZE } else { 13 };
    }
    v
}

fn plan(sites: &[Site], from: bool, to: bool) -> Vec<Poke> {
    let mut v: Vec<Poke> = sites
        .iter()
        .filter_map(|s| Poke::for_site(s, from, to).unwrap())
        .collect();
    let n = prepare(&mut v).unwrap();
    v.truncate(n);
    v
}

#[test]
fn every_fetch_sees_old_new_or_a_resolved_int3() {
    for n in [1, 2, 3, 8, 33] {
        for (from, to) in [(false, true), (true, false)] {
            let s = sites(n);
            let pokes = plan(&s, from, to);
            for serial in [false, true] {
                let mut m = Machine::new(&s, from);
                let mut r = Recorder::default();
                if serial {
                    run_serial(&pokes, &mut r);
                } else {
                    run_batch(&pokes, &mut r);
                }
                let outcomes = m
                    .replay(&r.steps, from, to)
                    .unwrap_or_else(|e| panic!("n={n} serial={serial}: {e}"));
                // The simulation really reaches every case: old, new and trapped.
                for o in outcomes {
                    assert!(
                        o.contains(&Outcome::Ran(from))
                            && o.contains(&Outcome::Ran(to))
                            && o.contains(&Outcome::Trapped)
                    );
                }
            }
        }
    }
}

/// The checker itself: protocols with a known flaw must be caught.
fn replay_broken(edit: impl Fn(&mut Vec<Step>)) -> Result<Vec<Vec<Outcome>>, String> {
    let s = sites(4);
    let pokes = plan(&s, false, true);
    let mut r = Recorder::default();
    run_batch(&pokes, &mut r);
    edit(&mut r.steps);
    Machine::new(&s, false).replay(&r.steps, false, true)
}

fn nth_sync(steps: &[Step], n: usize) -> usize {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Sync))
        .nth(n)
        .unwrap()
        .0
}

#[test]
fn skipping_the_int3_sync_round_tears_instructions() {
    let e = replay_broken(|st| {
        let i = nth_sync(st, 0);
        st.remove(i);
    })
    .unwrap_err();
    assert!(e.contains("torn"), "{e}");
}

#[test]
fn skipping_the_tail_sync_round_tears_instructions() {
    let e = replay_broken(|st| {
        let i = nth_sync(st, 1);
        st.remove(i);
    })
    .unwrap_err();
    assert!(e.contains("torn"), "{e}");
}

#[test]
fn writing_without_an_int3_tears_instructions() {
    let e = replay_broken(|st| st.retain(|s| !matches!(s, Step::Write(_, b) if b == &[INT3])))
        .unwrap_err();
    assert!(e.contains("torn"), "{e}");
}

#[test]
fn a_handler_that_emulates_the_old_instruction_is_caught() {
    let e = replay_broken(|st| {
        for s in st.iter_mut() {
            if let Step::Publish(v) = s {
                for p in v.iter_mut() {
                    p.resume = batchpoke_pure::insn::resume_address(p.addr, &p.old).unwrap();
                }
            }
        }
    })
    .unwrap_err();
    assert!(e.contains("old") || e.contains("new instruction"), "{e}");
}

#[test]
fn retiring_the_vector_before_the_last_sync_is_caught() {
    let e = replay_broken(|st| {
        let r = st.iter().position(|s| matches!(s, Step::Retire)).unwrap();
        let step = st.remove(r);
        let i = nth_sync(st, 2);
        st.insert(i, step);
    })
    .unwrap_err();
    assert!(e.contains("no published poke"), "{e}");
}
