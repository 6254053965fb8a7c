// SPDX-License-Identifier: GPL-2.0

//! The trace `kernel_writer` replays: both writers' batches, one after the
//! other, as the steps each takes.

use std::fmt;

use batchpoke_pure::insn::Insn;
use batchpoke_pure::plan::{prepare, run_batch, Poke};

use super::sim::{decode, Recorder, INT3};
use super::*;

/// One event of the replay: the start of a batch's changes, as the model
/// knows them (site, from, to), or a step of one of the writers.
#[derive(Clone, Debug)]
pub enum Ev {
    Begin(Who, Vec<(usize, bool, bool)>),
    Step(Who, Step),
}

impl fmt::Display for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ev::Begin(who, c) => write!(f, "{who:?} batch of {} sites begins", c.len()),
            Ev::Step(who, step) => write!(f, "{who:?} {step}"),
        }
    }
}

/// The batches of `sc` as one trace: batchpoke's from the real `run_batch`,
/// ended as `cfg` says when they touch a static key's site.
pub fn trace(sc: &Scenario, cfg: Config, n: &mut Reached) -> Vec<Ev> {
    let mut state = sc.initial.clone();
    let mut evs = Vec::new();
    let mut last: Option<(Vec<usize>, Ending)> = None;
    for batch in &sc.batches {
        let keys: Vec<(usize, bool)> = match batch {
            Batch::Batchpoke(set) => set
                .iter()
                .filter(|&&(k, to)| state[k] != to)
                .copied()
                .collect(),
            Batch::Kernel(k) => vec![(*k, !state[*k])],
        };
        let changes: Vec<(usize, bool, bool)> = (0..sc.sites.len())
            .filter_map(|s| {
                let &(_, to) = keys.iter().find(|&&(k, _)| k == sc.key_of[s])?;
                Some((s, state[sc.key_of[s]], to))
            })
            .collect();
        for &(k, to) in &keys {
            state[k] = to;
        }
        match batch {
            Batch::Batchpoke(set) => {
                let mut pokes: Vec<Poke> = changes
                    .iter()
                    .map(|&(s, from, to)| Poke::for_site(&sc.sites[s], from, to))
                    .map(|p| p.expect("encodable").expect("a flip changes the site"))
                    .collect();
                let len = prepare(&mut pokes).expect("no overlaps");
                pokes.truncate(len);
                // As the engine decides: a transaction with an ordinary
                // static key ends as configured, the others unsynced.
                let statics = set.iter().any(|&(k, _)| sc.shared[k]);
                let ending = if statics {
                    cfg.ending
                } else {
                    Ending::Unsynced
                };
                let mut r = Recorder::default();
                let rounds = run_batch(&pokes, &mut r, ending);
                if pokes.is_empty() {
                    continue;
                }
                let tail = changes
                    .iter()
                    .any(|&(s, f, t)| sc.bytes(s, f)[1..] != sc.bytes(s, t)[1..]);
                let want = 1 + usize::from(tail) + usize::from(ending == Ending::Synced);
                assert_eq!(rounds, want, "rounds of a batchpoke batch");
                match (statics, ending) {
                    (false, _) => n.own_batches += 1,
                    (true, Ending::Synced) => n.synced_batches += 1,
                    (true, Ending::Unsynced) => n.unsynced_static_batches += 1,
                }
                evs.push(Ev::Begin(Who::Batchpoke, changes.clone()));
                evs.extend(r.steps.into_iter().map(|s| Ev::Step(Who::Batchpoke, s)));
                last = Some((changes.iter().map(|c| c.0).collect(), ending));
            }
            Batch::Kernel(_) => {
                n.kernel_batches += 1;
                if let Some((touched, ending)) = &last {
                    if changes.iter().any(|c| touched.contains(&c.0)) {
                        n.handovers += 1;
                        n.unsynced_handovers += usize::from(*ending == Ending::Unsynced);
                    }
                }
                last = None;
                evs.push(Ev::Begin(Who::Kernel, changes.clone()));
                evs.extend(
                    kernel_batch(sc, &changes)
                        .into_iter()
                        .map(|s| Ev::Step(Who::Kernel, s)),
                );
            }
        }
    }
    evs
}

/// `text_poke_bp_batch` on `changes`: three rounds, the tails written
/// whether they change or not. Its vector says where its handler sends a
/// trap: where the new instruction goes, by this test's decoding.
fn kernel_batch(sc: &Scenario, changes: &[(usize, bool, bool)]) -> Vec<Step> {
    let news: Vec<(usize, Vec<u8>)> = changes
        .iter()
        .map(|&(s, _, to)| (sc.sites[s].addr, sc.bytes(s, to)))
        .collect();
    let vector = changes
        .iter()
        .zip(&news)
        .map(|(&(s, from, _), (addr, new))| Poke {
            addr: *addr,
            old: Insn::from_slice(&sc.bytes(s, from)).unwrap(),
            new: Insn::from_slice(new).unwrap(),
            resume: decode(*addr, new).expect("a site instruction"),
        })
        .collect();
    let mut steps = vec![Step::Publish(vector)];
    steps.extend(news.iter().map(|(a, _)| Step::Write(*a, vec![INT3])));
    steps.push(Step::Sync);
    steps.extend(
        news.iter()
            .map(|(a, new)| Step::Write(a + 1, new[1..].to_vec())),
    );
    steps.push(Step::Sync);
    steps.extend(
        news.iter()
            .map(|(a, new)| Step::Write(*a, new[..1].to_vec())),
    );
    steps.push(Step::Sync);
    steps.push(Step::Retire);
    steps
}
