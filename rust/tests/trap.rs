// SPDX-License-Identifier: GPL-2.0

//! The handler's resolution of an int3 at a registered site, against
//! literal bytes (not the encoder's output).

use batchpoke_pure::insn::{Form, Insn, Width, INT3};
use batchpoke_pure::plan::Poke;
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::{keeps_every_site, resolve, sort, TrapSite, Writers};

const NOP: Insn = Insn::from_prefix([0x0f, 0x1f, 0x44, 0x00, 0x00], 5);
/// `jmp 0x1100` at 0x1000: 0x1100 - 0x1005 = 0xfb.
const JMP: Insn = Insn::from_prefix([0xe9, 0xfb, 0x00, 0x00, 0x00], 5);

/// `bytes` as an instruction.
fn b(bytes: &[u8]) -> Insn {
    Insn::from_slice(bytes).unwrap()
}

fn site(likely: bool) -> Site {
    Site {
        addr: 0x1000,
        target: 0x1100,
        likely,
        width: Width::Near,
        form: Form::Kernel,
    }
}

#[test]
fn a_stale_int3_continues_as_the_bytes_the_site_holds() {
    for likely in [false, true] {
        let t = TrapSite::new(&site(likely)).unwrap();
        assert_eq!(resolve(Some(&t), &NOP, None), Some(0x1005));
        assert_eq!(resolve(Some(&t), &JMP, None), Some(0x1100));
    }
}

#[test]
fn an_int3_in_place_is_resolved_by_the_active_batch_only() {
    let s = site(false);
    let t = TrapSite::new(&s).unwrap();
    let poke = Poke::for_site(&s, false, true).unwrap().unwrap();
    let guarded = b(&[INT3, 0x1f, 0x44, 0x00, 0x00]);
    assert_eq!(resolve(Some(&t), &guarded, Some(&poke)), Some(0x1100));
    // Tail already written: still the new instruction's way.
    assert_eq!(
        resolve(Some(&t), &b(&[INT3, 0xfb, 0, 0, 0]), Some(&poke)),
        Some(0x1100)
    );
    // No batch holds the site, which only batchpoke writes: not a trap
    // batchpoke caused.
    assert_eq!(resolve(Some(&t), &guarded, None), None);
    // A site in the vector but missing from the table (the table could
    // not be rebuilt): the vector alone resolves its int3, and its new
    // instruction once written...
    assert_eq!(resolve(None, &guarded, Some(&poke)), Some(0x1100));
    assert_eq!(resolve(None, &JMP, Some(&poke)), Some(0x1100));
    // ...but nothing else: without the table nothing says the bytes are
    // a site's.
    assert_eq!(resolve(None, &NOP, Some(&poke)), None);
    assert_eq!(resolve(None, &JMP, None), None);
    assert_eq!(resolve(None, &guarded, None), None);
    // The head written, the vector not yet retired: the bytes decide.
    assert_eq!(resolve(Some(&t), &JMP, Some(&poke)), Some(0x1100));
}

#[test]
fn an_int3_no_batch_accounts_for_continues_as_the_instruction_its_tail_is() {
    for likely in [false, true] {
        let t = TrapSite::written_by(&site(likely), Writers::BatchpokeAndKernel).unwrap();
        assert_eq!(
            resolve(Some(&t), &b(&[INT3, 0x1f, 0x44, 0x00, 0x00]), None),
            Some(0x1005),
            "likely {likely}"
        );
        assert_eq!(
            resolve(Some(&t), &b(&[INT3, 0xfb, 0x00, 0x00, 0x00]), None),
            Some(0x1100),
            "likely {likely}"
        );
        // A tail that is neither instruction's: not a writer of this site.
        for tail in [[0xfc, 0, 0, 0], [0x1f, 0x44, 0x00, 0x01], [0xcc; 4]] {
            let bytes = [INT3, tail[0], tail[1], tail[2], tail[3]];
            assert_eq!(resolve(Some(&t), &b(&bytes), None), None, "{bytes:02x?}");
        }
    }
    // Short sites: NOP2's tail 0x90 against jmp rel8's.
    let s = Site {
        addr: 0x2000,
        target: 0x2040,
        likely: false,
        width: Width::Short,
        form: Form::Kernel,
    };
    let t = TrapSite::written_by(&s, Writers::BatchpokeAndKernel).unwrap();
    assert_eq!(resolve(Some(&t), &b(&[INT3, 0x90]), None), Some(0x2002));
    assert_eq!(resolve(Some(&t), &b(&[INT3, 0x3e]), None), Some(0x2040));
    assert_eq!(resolve(Some(&t), &b(&[INT3, 0x3f]), None), None);
}

#[test]
fn where_both_tails_are_equal_an_unaccounted_int3_runs_the_disabled_instruction() {
    // jmp rel8 0x90 (site + 2 - 112) has NOP2's tail; jmp rel32 0x441f has
    // NOP5's: the writer changes the first byte only, and either
    // instruction is the old or the new one of its change.
    let short = Site {
        addr: 0x2000,
        target: 0x2002 - 112,
        likely: false,
        width: Width::Short,
        form: Form::Kernel,
    };
    let near = Site {
        addr: 0x3000,
        target: 0x3005 + 0x441f,
        likely: true,
        width: Width::Near,
        form: Form::Kernel,
    };
    for (s, guarded) in [
        (short, b(&[INT3, 0x90])),
        (near, b(&[INT3, 0x1f, 0x44, 0, 0])),
    ] {
        let t = TrapSite::written_by(&s, Writers::BatchpokeAndKernel).unwrap();
        // batchpoke's own sites: no other writer, no such int3.
        assert_eq!(
            resolve(Some(&TrapSite::new(&s).unwrap()), &guarded, None),
            None
        );
        let disabled = s.insn(false).unwrap();
        let resume = batchpoke_pure::insn::resume_address(s.addr, &disabled);
        assert_eq!(resolve(Some(&t), &guarded, None), resume, "{s:x?}");
    }
}

#[test]
fn bytes_that_are_neither_instruction_are_not_batchpokes() {
    let t = TrapSite::new(&site(false)).unwrap();
    for bytes in [
        [0xe9, 0xfc, 0x00, 0x00, 0x00],
        [0x0f, 0x1f, 0x44, 0x00, 0x01],
        [0x90, 0x90, 0x90, 0x90, 0x90],
        [0xeb, 0x7e, 0x00, 0x00, 0x00],
    ] {
        assert_eq!(resolve(Some(&t), &b(&bytes), None), None, "{bytes:02x?}");
    }
}

#[test]
fn an_unencodable_site_has_no_entry() {
    let far = Site {
        addr: 0x1000,
        target: 0x1000 + (1 << 40),
        likely: false,
        width: Width::Near,
        form: Form::Kernel,
    };
    assert_eq!(TrapSite::new(&far), None);
}

/// The sorted table of unlikely-form sites at `addrs`, each jumping 0x40
/// ahead.
fn table(addrs: &[usize]) -> Vec<TrapSite> {
    let mut t: Vec<TrapSite> = addrs
        .iter()
        .map(|&addr| {
            TrapSite::new(&Site {
                addr,
                target: addr + 0x40,
                likely: false,
                width: Width::Near,
                form: Form::Kernel,
            })
            .unwrap()
        })
        .collect();
    sort(&mut t);
    t
}

#[test]
fn the_sorted_table_finds_every_site_and_nothing_else() {
    let addrs = [0x9000, 0x1000, 0x5000, 0x3000, 0x7005];
    let table = table(&addrs);
    for &addr in &addrs {
        let t = find(&table, addr);
        assert!(t.is_some(), "{addr:#x}");
        assert_eq!(resolve(t, &NOP, None), Some(addr + 5));
    }
    for addr in [0, 0x1001, 0x0fff, 0x7000, 0x9005, usize::MAX] {
        assert!(find(&table, addr).is_none(), "{addr:#x}");
    }
    assert!(find::<TrapSite>(&[], 0x1000).is_none());
}

#[test]
fn a_table_keeps_every_site_only_if_none_leaves() {
    let a = table(&[0x1000, 0x2000, 0x3000]);
    assert!(keeps_every_site(&a, &a));
    assert!(keeps_every_site(
        &a,
        &table(&[0x500, 0x1000, 0x1500, 0x2000, 0x3000, 0x4000])
    ));
    assert!(keeps_every_site(&[], &a));
    assert!(keeps_every_site(&[], &[]));
    assert!(!keeps_every_site(&a, &[]));
    assert!(!keeps_every_site(&a, &table(&[0x1000, 0x3000])));
    assert!(!keeps_every_site(&a, &table(&[0x1000, 0x2000])));
    assert!(!keeps_every_site(&a, &table(&[0x2000, 0x3000, 0x4000])));
    assert!(!keeps_every_site(&a, &table(&[0x1000, 0x2001, 0x3000])));
}

// Short (2-byte) sites.

/// `66 90` (NOP2).
const NOP2: Insn = Insn::from_prefix([0x66, 0x90, 0, 0, 0], 2);
/// `jmp 0x1040` at 0x1000 in two bytes: 0x1040 - 0x1002 = 0x3e.
const JMP8: Insn = Insn::from_prefix([0xeb, 0x3e, 0, 0, 0], 2);

fn short_site(likely: bool) -> Site {
    Site {
        addr: 0x1000,
        target: 0x1040,
        likely,
        width: Width::Short,
        form: Form::Kernel,
    }
}

#[test]
fn a_short_site_has_a_short_entry() {
    for likely in [false, true] {
        assert_eq!(TrapSite::new(&short_site(likely)).unwrap().len(), 2);
        assert_eq!(TrapSite::new(&site(likely)).unwrap().len(), 5);
    }
}

#[test]
fn a_stale_int3_at_a_short_site_continues_as_its_bytes() {
    for likely in [false, true] {
        let t = TrapSite::new(&short_site(likely)).unwrap();
        assert_eq!(resolve(Some(&t), &NOP2, None), Some(0x1002));
        assert_eq!(resolve(Some(&t), &JMP8, None), Some(0x1040));
    }
}

#[test]
fn near_bytes_at_a_short_site_are_not_batchpokes_nor_the_reverse() {
    let t = TrapSite::new(&short_site(false)).unwrap();
    for bytes in [
        // The 5-byte instructions of a near site with the same target.
        &[0x0f, 0x1f, 0x44, 0x00, 0x00][..],
        &[0xe9, 0x3b, 0x00, 0x00, 0x00][..],
        // The short ones, padded or read too long.
        &[0x66, 0x90, 0x00, 0x00, 0x00][..],
        &[0xeb, 0x3e, 0x00, 0x00, 0x00][..],
        &[0x66, 0x90, 0x0f, 0x1f, 0x44][..],
        // Neither short instruction of this site.
        &[0xeb, 0x3f][..],
        &[0xeb, 0x00][..],
        &[0x66, 0x91][..],
        &[0x90, 0x90][..],
        &[0x66][..],
    ] {
        assert_eq!(resolve(Some(&t), &b(bytes), None), None, "{bytes:02x?}");
    }
    let near = TrapSite::new(&site(false)).unwrap();
    for bytes in [&[0x66, 0x90][..], &[0xeb, 0xfb][..], &[0x0f, 0x1f][..]] {
        assert_eq!(resolve(Some(&near), &b(bytes), None), None, "{bytes:02x?}");
    }
}

#[test]
fn an_int3_at_a_short_site_is_resolved_by_the_active_batch_only() {
    let s = short_site(false);
    let t = TrapSite::new(&s).unwrap();
    let on = Poke::for_site(&s, false, true).unwrap().unwrap();
    let off = Poke::for_site(&s, true, false).unwrap().unwrap();
    assert_eq!((on.resume, off.resume), (0x1040, 0x1002));
    let guarded = b(&[INT3, 0x90]);
    assert_eq!(resolve(Some(&t), &guarded, Some(&on)), Some(0x1040));
    // Tail already written: still the new instruction's way.
    assert_eq!(
        resolve(Some(&t), &b(&[INT3, 0x3e]), Some(&on)),
        Some(0x1040)
    );
    assert_eq!(
        resolve(Some(&t), &b(&[INT3, 0x3e]), Some(&off)),
        Some(0x1002)
    );
    assert_eq!(resolve(Some(&t), &guarded, Some(&off)), Some(0x1002));
    // No batch holds the site, which only batchpoke writes: not a trap
    // batchpoke caused.
    assert_eq!(resolve(Some(&t), &guarded, None), None);
    // Without the table, the vector resolves the int3 and the new bytes.
    assert_eq!(resolve(None, &guarded, Some(&on)), Some(0x1040));
    assert_eq!(resolve(None, &JMP8, Some(&on)), Some(0x1040));
    assert_eq!(resolve(None, &NOP2, Some(&on)), None);
    assert_eq!(resolve(None, &NOP2, Some(&off)), Some(0x1002));
    // The head written, the vector not yet retired: the bytes decide.
    assert_eq!(resolve(Some(&t), &JMP8, Some(&on)), Some(0x1040));
    assert_eq!(resolve(Some(&t), &NOP2, Some(&on)), Some(0x1002));
}

#[test]
fn a_short_site_out_of_rel8_range_has_no_entry() {
    for target in [0x1002 + 128, 0x1002 - 129, 0x1100] {
        let far = Site {
            target,
            ..short_site(false)
        };
        assert_eq!(TrapSite::new(&far), None, "{target:#x}");
        // The same target is in a near site's range.
        let near = Site {
            width: Width::Near,
            form: Form::Kernel,
            ..far
        };
        assert!(TrapSite::new(&near).is_some());
    }
    for target in [0x1002 + 127, 0x1002 - 128] {
        let edge = Site {
            target,
            ..short_site(true)
        };
        let t = TrapSite::new(&edge).unwrap();
        let jmp = b(&[0xeb, target.wrapping_sub(0x1002) as u8]);
        assert_eq!(resolve(Some(&t), &jmp, None), Some(target));
    }
}

#[test]
fn a_table_of_short_and_near_sites() {
    // Adjacent short and near sites, each jumping 0x40 ahead.
    let sites: Vec<Site> = [
        (0x1000, Width::Short),
        (0x1002, Width::Near),
        (0x1007, Width::Short),
        (0x1009, Width::Short),
        (0x5000, Width::Near),
    ]
    .into_iter()
    .map(|(addr, width)| Site {
        addr,
        target: addr + 0x40,
        likely: false,
        width,
        form: Form::Kernel,
    })
    .collect();
    let mut table: Vec<TrapSite> = sites.iter().map(|s| TrapSite::new(s).unwrap()).collect();
    table.reverse();
    sort(&mut table);
    for s in &sites {
        let t = find(&table, s.addr);
        assert_eq!(t.map(TrapSite::len), Some(s.width.len()), "{:#x}", s.addr);
        let (nop, jmp): (&[u8], &[u8]) = match s.width {
            Width::Short => (&[0x66, 0x90], &[0xeb, 0x3e]),
            Width::Near => (&[0x0f, 0x1f, 0x44, 0x00, 0x00], &[0xe9, 0x3b, 0, 0, 0]),
        };
        assert_eq!(resolve(t, &b(nop), None), Some(s.end()), "{:#x}", s.addr);
        assert_eq!(resolve(t, &b(jmp), None), Some(s.addr + 0x40));
    }
    for addr in [0x1001, 0x1003, 0x1008, 0x100a, 0x100b] {
        assert!(find(&table, addr).is_none(), "{addr:#x}");
    }
}
