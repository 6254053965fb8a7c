// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::{encode_jmp, INT3, NOP5};
use batchpoke_pure::plan::*;
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;

fn site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: addr + 0x100,
        likely,
    }
}

fn poke(addr: usize) -> Poke {
    Poke::for_site(&site(addr, false), false, true)
        .unwrap()
        .unwrap()
}

#[test]
fn unlikely_site_jumps_when_enabled_likely_when_disabled() {
    let u = site(0x1000, false);
    assert_eq!(u.insn(false), Some(NOP5));
    assert_eq!(u.insn(true), encode_jmp(0x1000, 0x1100));
    let l = site(0x2000, true);
    assert_eq!(l.insn(true), Some(NOP5));
    assert_eq!(l.insn(false), encode_jmp(0x2000, 0x2100));
    for s in [u, l] {
        for state in [false, true] {
            assert_eq!(s.observed_state(&s.insn(state).unwrap()), Some(state));
        }
        assert_eq!(s.observed_state(&[INT3, 0, 0, 0, 0]), None);
    }
}

#[test]
fn poke_from_state_to_state() {
    let s = site(0x1000, false);
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    assert_eq!(
        (p.old, p.new, p.resume),
        (NOP5, encode_jmp(0x1000, 0x1100).unwrap(), 0x1100)
    );
    let back = Poke::for_site(&s, true, false).unwrap().unwrap();
    assert_eq!(back.resume, 0x1005);
    assert_eq!(Poke::for_site(&s, true, true), Ok(None));
    let far = Site {
        addr: 0,
        target: 1 << 40,
        likely: false,
    };
    assert_eq!(
        Poke::for_site(&far, false, true),
        Err(PlanError::Unencodable { addr: 0 })
    );
}

#[test]
fn prepare_sorts_and_merges_duplicates() {
    let mut v = vec![
        poke(0x3000),
        poke(0x1000),
        poke(0x2000),
        poke(0x1000),
        poke(0x3000),
    ];
    let n = prepare(&mut v).unwrap();
    assert_eq!(n, 3);
    let addrs: Vec<_> = v[..n].iter().map(|p| p.addr).collect();
    assert_eq!(addrs, [0x1000, 0x2000, 0x3000]);
}

#[test]
fn prepare_refuses_conflicts_and_overlaps() {
    let on = poke(0x1000);
    let off = Poke::for_site(&site(0x1000, false), true, false)
        .unwrap()
        .unwrap();
    assert_eq!(
        prepare(&mut [on, off]),
        Err(PlanError::Conflict { addr: 0x1000 })
    );
    assert_eq!(
        prepare(&mut [poke(0x1004), poke(0x1000)]),
        Err(PlanError::Overlap { addr: 0x1004 })
    );
    // Adjacent sites do not overlap.
    assert_eq!(prepare(&mut [poke(0x1005), poke(0x1000)]), Ok(2));
    assert_eq!(prepare(&mut []), Ok(0));
}

#[test]
fn verify_refuses_any_unexpected_site() {
    let v = [poke(0x1000), poke(0x2000)];
    assert_eq!(verify(&v, |_| NOP5), Ok(()));
    let tampered = |a: usize| {
        if a == 0x2000 {
            [0x0f, 0x1f, 0x44, 0, 1]
        } else {
            NOP5
        }
    };
    assert_eq!(
        verify(&v, tampered),
        Err(PlanError::Unexpected { addr: 0x2000 })
    );
}

#[test]
fn binary_search_finds_every_site_and_nothing_else() {
    for n in [0usize, 1, 2, 3, 255, 256, 257, 1024] {
        let v: Vec<Poke> = (0..n).map(|i| poke(0x10_000 + i * 16)).collect();
        for (i, p) in v.iter().enumerate() {
            assert_eq!(find(&v, p.addr), Some(&v[i]));
            assert_eq!(find(&v, p.addr + 1), None);
            assert_eq!(find(&v, p.addr - 1), None);
        }
        assert_eq!(find(&v, 0), None);
        assert_eq!(find(&v, usize::MAX), None);
    }
}

/// Counts what a batch does.
#[derive(Default)]
struct Counter {
    writes: Vec<(usize, Vec<u8>)>,
    syncs: usize,
    published: usize,
    retired: usize,
}

impl Text for Counter {
    fn publish(&mut self, _: &[Poke]) {
        self.published += 1;
    }
    fn write(&mut self, addr: usize, bytes: &[u8]) {
        self.writes.push((addr, bytes.to_vec()));
    }
    fn sync(&mut self) {
        self.syncs += 1;
    }
    fn retire(&mut self) {
        self.retired += 1;
    }
}

#[test]
fn a_batch_costs_two_rounds_whatever_its_size_serial_three_per_site() {
    for n in [1usize, 2, 64, 1024] {
        let v: Vec<Poke> = (0..n).map(|i| poke(0x10_000 + i * 8)).collect();
        let mut c = Counter::default();
        assert_eq!(run_batch(&v, &mut c), 2);
        assert_eq!((c.syncs, c.published, c.retired), (2, 1, 1));
        assert_eq!(c.writes.len(), 3 * n);
        let mut s = Counter::default();
        assert_eq!(run_serial(&v, &mut s), 3 * n);
        assert_eq!((s.syncs, s.published, s.retired), (3 * n, n, n));
    }
    assert_eq!(run_batch(&[], &mut Counter::default()), 0);
}

#[test]
fn no_tail_change_means_one_round_two_serial() {
    // jmp whose rel32 is exactly NOP5's tail: only the first byte differs.
    let addr = 0x40_0000;
    let s = Site {
        addr,
        target: addr + 5 + 0x441f,
        likely: false,
    };
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    assert!(!p.tail_changes());
    let mut c = Counter::default();
    assert_eq!(run_batch(&[p], &mut c), 1);
    assert_eq!(c.writes, vec![(addr, vec![INT3]), (addr, vec![0xe9])]);
    assert_eq!(run_serial(&[p], &mut Counter::default()), 2);
}

#[test]
fn phases_write_int3_then_tail_then_head() {
    let p = poke(0x1000);
    let mut c = Counter::default();
    run_batch(&[p], &mut c);
    assert_eq!(
        c.writes,
        vec![
            (0x1000, vec![INT3]),
            (0x1001, p.new[1..].to_vec()),
            (0x1000, vec![p.new[0]])
        ]
    );
}
