// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::{encode_jmp, Form, Insn, Width, INT3, NOP2, NOP5};
use batchpoke_pure::plan::*;
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;

/// `bytes` as an instruction.
fn b(bytes: &[u8]) -> Insn {
    Insn::from_slice(bytes).unwrap()
}

fn site(addr: usize, likely: bool) -> Site {
    Site {
        addr,
        target: addr + 0x100,
        likely,
        width: Width::Near,
        form: Form::Kernel,
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
    assert_eq!(u.insn(true), encode_jmp(0x1000, 0x1100, Width::Near));
    let l = site(0x2000, true);
    assert_eq!(l.insn(true), Some(NOP5));
    assert_eq!(l.insn(false), encode_jmp(0x2000, 0x2100, Width::Near));
    for s in [u, l] {
        for state in [false, true] {
            assert_eq!(s.observed_state(&s.insn(state).unwrap()), Some(state));
        }
        assert_eq!(s.observed_state(&b(&[INT3, 0, 0, 0, 0])), None);
    }
}

#[test]
fn poke_from_state_to_state() {
    let s = site(0x1000, false);
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    assert_eq!(
        (p.old, p.new, p.resume),
        (
            NOP5,
            encode_jmp(0x1000, 0x1100, Width::Near).unwrap(),
            0x1100
        )
    );
    let back = Poke::for_site(&s, true, false).unwrap().unwrap();
    assert_eq!(back.resume, 0x1005);
    assert_eq!(Poke::for_site(&s, true, true), Ok(None));
    let far = Site {
        addr: 0,
        target: 1 << 40,
        likely: false,
        width: Width::Near,
        form: Form::Kernel,
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
    assert_eq!(verify(&v, |_, _| NOP5), Ok(()));
    let tampered = |a: usize, _: usize| {
        if a == 0x2000 {
            b(&[0x0f, 0x1f, 0x44, 0, 1])
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
    announced: Vec<usize>,
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
    fn announce(&mut self, pokes: &[Poke]) {
        self.announced.extend(pokes.iter().map(|p| p.addr));
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
        assert_eq!(run_batch(&v, &mut c, Ending::Unsynced), 2);
        assert_eq!((c.syncs, c.published, c.retired), (2, 1, 1));
        assert_eq!(c.writes.len(), 3 * n);
        let mut s = Counter::default();
        assert_eq!(run_serial(&v, &mut s), 3 * n);
        assert_eq!((s.syncs, s.published, s.retired), (3 * n, n, n));
    }
    assert_eq!(run_batch(&[], &mut Counter::default(), Ending::Unsynced), 0);
}

/// The order of what a batch does: `W` a write, `S` a sync, `A` the
/// announcement to tracers, `R` the retire.
#[derive(Default)]
struct Sequence(String);

impl Text for Sequence {
    fn publish(&mut self, _: &[Poke]) {
        self.0.push('P');
    }
    fn write(&mut self, _: usize, _: &[u8]) {
        self.0.push('W');
    }
    fn sync(&mut self) {
        self.0.push('S');
    }
    fn announce(&mut self, _: &[Poke]) {
        self.0.push('A');
    }
    fn retire(&mut self) {
        self.0.push('R');
    }
}

#[test]
fn a_synced_batch_syncs_after_the_first_bytes_before_it_retires() {
    let v: Vec<Poke> = (0..3).map(|i| poke(0x10_000 + i * 8)).collect();
    let mut synced = Sequence::default();
    assert_eq!(run_batch(&v, &mut synced, Ending::Synced), 3);
    assert_eq!(synced.0, "PWWWSWWWSAWWWSR");
    let mut unsynced = Sequence::default();
    assert_eq!(run_batch(&v, &mut unsynced, Ending::Unsynced), 2);
    assert_eq!(unsynced.0, "PWWWSWWWSAWWWR");
    // Serial is the kernel's protocol: synced, one site at a time.
    let mut serial = Sequence::default();
    run_serial(&v[..1], &mut serial);
    assert_eq!(serial.0, "PWSWSAWSR");
}

#[test]
fn no_tail_change_means_one_round_two_serial() {
    // jmp whose rel32 is exactly NOP5's tail: only the first byte differs.
    let addr = 0x40_0000;
    let s = Site {
        addr,
        target: addr + 5 + 0x441f,
        likely: false,
        width: Width::Near,
        form: Form::Kernel,
    };
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    assert!(!p.tail_changes());
    let mut c = Counter::default();
    assert_eq!(run_batch(&[p], &mut c, Ending::Unsynced), 1);
    assert_eq!(c.writes, vec![(addr, vec![INT3]), (addr, vec![0xe9])]);
    assert_eq!(run_serial(&[p], &mut Counter::default()), 2);
    // Announced after the int3 round, before the first byte, all the same.
    let mut seq = Sequence::default();
    run_batch(&[p], &mut seq, Ending::Unsynced);
    assert_eq!(seq.0, "PWSAWR");
}

#[test]
fn every_poke_is_announced_once() {
    let v: Vec<Poke> = (0..5).map(|i| poke(0x20_000 + i * 8)).collect();
    let addrs: Vec<usize> = v.iter().map(|p| p.addr).collect();
    let mut batch = Counter::default();
    run_batch(&v, &mut batch, Ending::Unsynced);
    assert_eq!(batch.announced, addrs);
    let mut serial = Counter::default();
    run_serial(&v, &mut serial);
    assert_eq!(serial.announced, addrs);
    let mut none = Counter::default();
    run_batch(&[], &mut none, Ending::Synced);
    assert!(none.announced.is_empty());
}

#[test]
fn phases_write_int3_then_tail_then_head() {
    let p = poke(0x1000);
    let mut c = Counter::default();
    run_batch(&[p], &mut c, Ending::Unsynced);
    assert_eq!(
        c.writes,
        vec![
            (0x1000, vec![INT3]),
            (0x1001, p.new.as_bytes()[1..].to_vec()),
            (0x1000, vec![p.new.first()])
        ]
    );
}

// Short (2-byte) sites.

fn short_site(addr: usize, target: usize, likely: bool) -> Site {
    Site {
        addr,
        target,
        likely,
        width: Width::Short,
        form: Form::Kernel,
    }
}

/// The poke of an unlikely short site at `addr` jumping 0x40 ahead, from
/// disabled to enabled.
fn short_poke(addr: usize) -> Poke {
    Poke::for_site(&short_site(addr, addr + 0x40, false), false, true)
        .unwrap()
        .unwrap()
}

#[test]
fn short_sites_hold_nop2_or_jmp8() {
    // 0x1040 - 0x1002 = 0x3e.
    let u = short_site(0x1000, 0x1040, false);
    assert_eq!(u.insn(false), Some(NOP2));
    assert_eq!(u.insn(true), Some(b(&[0xeb, 0x3e])));
    assert_eq!(u.end(), 0x1002);
    // Backwards: 0x1ff0 - 0x2002 = -0x12.
    let l = short_site(0x2000, 0x1ff0, true);
    assert_eq!(l.insn(true), Some(NOP2));
    assert_eq!(l.insn(false), Some(b(&[0xeb, 0xee])));
    for s in [u, l] {
        for state in [false, true] {
            let insn = s.insn(state).unwrap();
            assert_eq!(insn.len(), 2);
            assert_eq!(s.observed_state(&insn), Some(state));
        }
        assert_eq!(s.observed_state(&b(&[INT3, 0x90])), None);
        // The near instructions are not a short site's.
        assert_eq!(s.observed_state(&NOP5), None);
        let near = Site {
            width: Width::Near,
            form: Form::Kernel,
            ..s
        };
        assert_eq!(s.observed_state(&near.insn(!s.likely).unwrap()), None);
        assert_eq!(near.observed_state(&NOP2), None);
    }
    assert_eq!(site(0x1000, false).end(), 0x1005);
}

#[test]
fn short_site_out_of_rel8_range() {
    // rel8 0x7f and 0x80 reach, one byte further does not.
    let edge = short_site(0x1000, 0x1002 + 127, false);
    assert_eq!(edge.insn(true), Some(b(&[0xeb, 0x7f])));
    let edge = short_site(0x1000, 0x1002 - 128, false);
    assert_eq!(edge.insn(true), Some(b(&[0xeb, 0x80])));
    for target in [0x1002 + 128, 0x1002 - 129, 0x1100] {
        let far = short_site(0x1000, target, false);
        assert_eq!(far.insn(true), None, "{target:#x}");
        assert_eq!(far.insn(false), Some(NOP2));
        assert_eq!(
            Poke::for_site(&far, false, true),
            Err(PlanError::Unencodable { addr: 0x1000 })
        );
        // Even staying disabled needs the jump to be encodable.
        assert_eq!(
            Poke::for_site(&far, true, true),
            Err(PlanError::Unencodable { addr: 0x1000 })
        );
    }
}

#[test]
fn poke_of_a_short_site() {
    let s = short_site(0x1000, 0x1040, false);
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    assert_eq!((p.old, p.new, p.resume), (NOP2, b(&[0xeb, 0x3e]), 0x1040));
    assert_eq!(
        (p.old.len(), p.new.len(), p.len(), p.end()),
        (2, 2, 2, 0x1002)
    );
    assert!(p.tail_changes());
    let back = Poke::for_site(&s, true, false).unwrap().unwrap();
    assert_eq!((back.old, back.new), (b(&[0xeb, 0x3e]), NOP2));
    assert_eq!((back.resume, back.len(), back.end()), (0x1002, 2, 0x1002));
    assert!(back.tail_changes());
    assert_eq!(Poke::for_site(&s, true, true), Ok(None));
    assert_eq!(Poke::for_site(&s, false, false), Ok(None));
    let n = poke(0x1000);
    assert_eq!((n.len(), n.end()), (5, 0x1005));
}

#[test]
fn short_tail_changes_unless_rel8_is_nop2s_tail() {
    // `eb 00` against `66 90`: the tail differs.
    let zero = short_site(0x1000, 0x1002, false);
    let p = Poke::for_site(&zero, false, true).unwrap().unwrap();
    assert_eq!(p.new, b(&[0xeb, 0x00]));
    assert_eq!(p.resume, 0x1002);
    assert!(p.tail_changes());
    // `eb 90` (rel8 -0x70) against `66 90`: only the first byte differs.
    let same = short_site(0x1000, 0x1002 - 0x70, false);
    let p = Poke::for_site(&same, false, true).unwrap().unwrap();
    assert_eq!(p.new, b(&[0xeb, 0x90]));
    assert_eq!(p.resume, 0x1002 - 0x70);
    assert!(!p.tail_changes());
    let back = Poke::for_site(&same, true, false).unwrap().unwrap();
    assert!(!back.tail_changes());
    // The likely form, the other way round.
    let likely = short_site(0x1000, 0x1002 - 0x70, true);
    let p = Poke::for_site(&likely, true, false).unwrap().unwrap();
    assert_eq!((p.old, p.new), (NOP2, b(&[0xeb, 0x90])));
    assert!(!p.tail_changes());
}

#[test]
fn prepare_uses_each_short_sites_own_length() {
    let a = 0x1000;
    // Adjacent short sites do not overlap.
    assert_eq!(prepare(&mut [short_poke(a + 2), short_poke(a)]), Ok(2));
    assert_eq!(
        prepare(&mut [short_poke(a + 1), short_poke(a)]),
        Err(PlanError::Overlap { addr: a + 1 })
    );
    // A short site right after a near one, and a near one right after a
    // short one.
    assert_eq!(prepare(&mut [short_poke(a + 5), poke(a)]), Ok(2));
    assert_eq!(prepare(&mut [poke(a + 2), short_poke(a)]), Ok(2));
    assert_eq!(
        prepare(&mut [short_poke(a + 4), poke(a)]),
        Err(PlanError::Overlap { addr: a + 4 })
    );
    assert_eq!(
        prepare(&mut [poke(a + 1), short_poke(a)]),
        Err(PlanError::Overlap { addr: a + 1 })
    );
    // A run of adjacent short sites with near ones between them.
    let mut v = vec![
        short_poke(a + 9),
        short_poke(a),
        poke(a + 4),
        short_poke(a + 2),
        short_poke(a + 2),
        poke(a + 11),
    ];
    let n = prepare(&mut v).unwrap();
    let got: Vec<_> = v[..n].iter().map(|p| (p.addr, p.len())).collect();
    assert_eq!(
        got,
        [(a, 2), (a + 2, 2), (a + 4, 5), (a + 9, 2), (a + 11, 5)]
    );
    // A short and a near poke at the same address are different changes.
    assert_eq!(
        prepare(&mut [short_poke(a), poke(a)]),
        Err(PlanError::Conflict { addr: a })
    );
}

#[test]
fn verify_reads_each_site_with_its_own_length() {
    let v = [short_poke(0x1000), poke(0x2000), short_poke(0x3000)];
    let mut reads = Vec::new();
    let read = |a: usize, len: usize| {
        reads.push((a, len));
        if a == 0x2000 {
            NOP5
        } else {
            NOP2
        }
    };
    assert_eq!(verify(&v, read), Ok(()));
    assert_eq!(reads, [(0x1000, 2), (0x2000, 5), (0x3000, 2)]);
    // NOP5 where a short site's NOP2 should be, and NOP2 padded to five.
    for wrong in [NOP5, b(&[0x66, 0x90, 0, 0, 0]), b(&[0x66, 0x91])] {
        let read = |a: usize, _: usize| match a {
            0x2000 => NOP5,
            0x3000 => wrong,
            _ => NOP2,
        };
        assert_eq!(
            verify(&v, read),
            Err(PlanError::Unexpected { addr: 0x3000 }),
            "{wrong:?}"
        );
    }
}

#[test]
fn phases_on_a_short_site() {
    let p = short_poke(0x1000);
    let mut c = Counter::default();
    assert_eq!(run_batch(&[p], &mut c, Ending::Unsynced), 2);
    assert_eq!(
        c.writes,
        vec![
            (0x1000, vec![INT3]),
            (0x1001, vec![0x3e]),
            (0x1000, vec![0xeb])
        ]
    );
    // No tail change: `66 90` to `eb 90` is one round, the int3 and the head.
    let s = short_site(0x1000, 0x1002 - 0x70, false);
    let p = Poke::for_site(&s, false, true).unwrap().unwrap();
    let mut c = Counter::default();
    assert_eq!(run_batch(&[p], &mut c, Ending::Unsynced), 1);
    assert_eq!(c.writes, vec![(0x1000, vec![INT3]), (0x1000, vec![0xeb])]);
    assert_eq!(run_serial(&[p], &mut Counter::default()), 2);
}

#[test]
fn a_batch_of_short_and_near_sites_writes_each_sites_own_bytes() {
    let v = [short_poke(0x1000), poke(0x1002), short_poke(0x1007)];
    let mut c = Counter::default();
    assert_eq!(run_batch(&v, &mut c, Ending::Unsynced), 2);
    let near = v[1].new.as_bytes();
    assert_eq!(
        c.writes,
        vec![
            (0x1000, vec![INT3]),
            (0x1002, vec![INT3]),
            (0x1007, vec![INT3]),
            (0x1001, vec![0x3e]),
            (0x1003, near[1..].to_vec()),
            (0x1008, vec![0x3e]),
            (0x1000, vec![0xeb]),
            (0x1002, vec![0xe9]),
            (0x1007, vec![0xeb]),
        ]
    );
}

#[test]
fn the_heapsort_sorts_every_order() {
    use batchpoke_pure::sort::sort_by_key;
    let mut seed = 0x1234_5678u64;
    for len in (0..64).chain([255, 256, 1000, 4097]) {
        let mut v: Vec<(u32, u32)> = (0..len)
            .map(|i| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 40) as u32 % (len as u32 / 2 + 1), i as u32)
            })
            .collect();
        let mut want = v.clone();
        want.sort_by_key(|x| x.0);
        sort_by_key(&mut v, |x| x.0);
        let keys: Vec<u32> = v.iter().map(|x| x.0).collect();
        let want_keys: Vec<u32> = want.iter().map(|x| x.0).collect();
        assert_eq!(keys, want_keys, "len {len}");
        let mut got = v.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "len {len}: not a permutation");
    }
}
