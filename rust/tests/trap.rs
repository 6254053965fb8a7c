// SPDX-License-Identifier: GPL-2.0

//! The handler's resolution of an int3 at a registered site, against
//! literal bytes (not the encoder's output).

use batchpoke_pure::insn::INT3;
use batchpoke_pure::plan::Poke;
use batchpoke_pure::search::find;
use batchpoke_pure::site::Site;
use batchpoke_pure::trap::{keeps_every_site, resolve, sort, TrapSite};

const NOP: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
/// `jmp 0x1100` at 0x1000: 0x1100 - 0x1005 = 0xfb.
const JMP: [u8; 5] = [0xe9, 0xfb, 0x00, 0x00, 0x00];

fn site(likely: bool) -> Site {
    Site {
        addr: 0x1000,
        target: 0x1100,
        likely,
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
    let guarded = [INT3, 0x1f, 0x44, 0x00, 0x00];
    assert_eq!(resolve(Some(&t), &guarded, Some(&poke)), Some(0x1100));
    // Tail already written: still the new instruction's way.
    assert_eq!(
        resolve(Some(&t), &[INT3, 0xfb, 0, 0, 0], Some(&poke)),
        Some(0x1100)
    );
    // No batch holds the site: someone else's int3.
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
    // The head written, the vector not yet retired: the bytes decide.
    assert_eq!(resolve(Some(&t), &JMP, Some(&poke)), Some(0x1100));
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
        assert_eq!(resolve(Some(&t), &bytes, None), None, "{bytes:02x?}");
    }
}

#[test]
fn an_unencodable_site_has_no_entry() {
    let far = Site {
        addr: 0x1000,
        target: 0x1000 + (1 << 40),
        likely: false,
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
