// SPDX-License-Identifier: GPL-2.0

use batchpoke_pure::insn::{Insn, Width, NOP2, NOP5};
use batchpoke_pure::pages::{alias_offset, pages_touched, PAGE_SIZE};
use batchpoke_pure::plan::Poke;

const BASE: usize = 0xffff_ffff_c000_0000;
const P: usize = PAGE_SIZE;

/// A poke of a site of `width` at `addr`: NOP to a jump to the next
/// instruction.
fn poke(addr: usize, width: Width) -> Poke {
    let (old, new): (Insn, &[u8]) = match width {
        Width::Near => (NOP5, &[0xe9, 0, 0, 0, 0]),
        Width::Short => (NOP2, &[0xeb, 0]),
    };
    Poke {
        addr,
        old,
        new: Insn::from_slice(new).unwrap(),
        resume: addr.wrapping_add(width.len()),
    }
}

fn at(addrs: &[usize]) -> Vec<Poke> {
    addrs.iter().map(|&addr| poke(addr, Width::Near)).collect()
}

fn touched(addrs: &[usize]) -> Vec<usize> {
    pages_touched(&at(addrs)).collect()
}

/// The pages touched by sites at the given addresses and widths.
fn touched_by(sites: &[(usize, Width)]) -> Vec<usize> {
    let pokes: Vec<Poke> = sites.iter().map(|&(a, w)| poke(a, w)).collect();
    pages_touched(&pokes).collect()
}

#[test]
fn page_size_is_the_x86_64_one() {
    assert_eq!(PAGE_SIZE, 0x1000);
}

#[test]
fn no_pokes_touch_no_page() {
    assert_eq!(touched(&[]), Vec::<usize>::new());
}

#[test]
fn a_site_that_ends_on_the_last_byte_of_a_page_touches_one_page() {
    assert_eq!(touched(&[BASE + P - 5]), [BASE]);
    assert_eq!(touched(&[BASE]), [BASE]);
}

#[test]
fn a_site_across_a_page_boundary_touches_both_pages() {
    for k in 1..=4 {
        assert_eq!(touched(&[BASE + P - k]), [BASE, BASE + P], "k={k}");
    }
}

#[test]
fn pages_are_distinct_and_ascending() {
    // Two sites on the first page, one across into the second, one on the
    // second, a gap, one across the fourth and fifth.
    let addrs = [
        BASE + 0x10,
        BASE + 0x800,
        BASE + P - 2,
        BASE + P + 0x40,
        BASE + 4 * P - 1,
    ];
    assert_eq!(
        touched(&addrs),
        [BASE, BASE + P, BASE + 3 * P, BASE + 4 * P]
    );
    // Sorted input that repeats or overlaps still yields each page once.
    let addrs = [BASE + P - 3, BASE + P - 3, BASE + P - 1, BASE + P + 1];
    assert_eq!(touched(&addrs), [BASE, BASE + P]);
}

#[test]
fn a_site_at_the_top_of_the_address_space_does_not_wrap() {
    let top = usize::MAX - 2;
    assert_eq!(touched(&[top]), [top & !(P - 1)]);
}

#[test]
fn alias_offsets_put_the_pages_back_to_back() {
    let pages = [BASE, BASE + 2 * P, BASE + 7 * P];
    assert_eq!(alias_offset(&pages, BASE), Some(0));
    assert_eq!(alias_offset(&pages, BASE + P - 1), Some(P - 1));
    assert_eq!(alias_offset(&pages, BASE + 2 * P), Some(P));
    assert_eq!(alias_offset(&pages, BASE + 2 * P + 0x123), Some(P + 0x123));
    assert_eq!(alias_offset(&pages, BASE + 7 * P + 0xfff), Some(3 * P - 1));
    for unmapped in [
        BASE - 1,
        BASE + P,
        BASE + 3 * P,
        BASE + 7 * P - 1,
        BASE + 8 * P,
        0,
    ] {
        assert_eq!(alias_offset(&pages, unmapped), None, "{unmapped:#x}");
    }
    assert_eq!(alias_offset(&[], BASE), None);
}

/// Every byte of every site, page-crossing ones included, has a place in
/// the alias of the pages the sites touch, and no two bytes share one.
#[test]
fn every_site_byte_has_its_own_place_in_the_alias() {
    let [crossing, short_crossing] = random_sites_in_the_alias(false);
    assert!(crossing > 100, "only {crossing} page-crossing sites");
    assert_eq!(short_crossing, 0);
}

/// The same with short and near sites mixed, adjacent ones included.
#[test]
fn every_byte_of_short_and_near_sites_has_its_own_place_in_the_alias() {
    let [crossing, short_crossing] = random_sites_in_the_alias(true);
    assert!(crossing > 100, "only {crossing} page-crossing sites");
    assert!(
        short_crossing > 300,
        "only {short_crossing} page-crossing short sites"
    );
}

/// 200 rounds of 30 sorted, non-overlapping sites, all near or (`mix`)
/// each short or near; checks every byte's place in the alias and returns
/// how many sites crossed a page: [all, short ones].
fn random_sites_in_the_alias(mix: bool) -> [usize; 2] {
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        // splitmix64
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as usize
    };
    let pick = move |next: &mut dyn FnMut() -> usize| {
        if mix && next() % 2 == 1 {
            Width::Short
        } else {
            Width::Near
        }
    };
    let mut crossing = 0;
    let mut short_crossing = 0;
    for round in 0..200 {
        let mut sites: Vec<(usize, Width)> = Vec::new();
        let mut addr = BASE + next() % 64;
        let mut width = pick(&mut next);
        while sites.len() < 30 {
            sites.push((addr, width));
            addr += width.len();
            // The next site's width decides how close to a page boundary
            // it must start to cross it.
            width = pick(&mut next);
            addr = match next() % 4 {
                0 => addr,
                1 => addr + next() % 32,
                // Up to a page boundary, 1 to len - 1 bytes short of it.
                2 => (addr | (P - 1)) + 1 - (1 + next() % (width.len() - 1)),
                _ => addr + next() % (3 * P),
            }
            .max(addr);
        }
        let pokes: Vec<Poke> = sites.iter().map(|&(a, w)| poke(a, w)).collect();
        let pages: Vec<usize> = pages_touched(&pokes).collect();
        assert!(pages.windows(2).all(|w| w[0] < w[1]), "round {round}");
        assert!(pages.iter().all(|p| p % P == 0), "round {round}");
        let mut seen = std::collections::HashSet::new();
        for &(a, w) in &sites {
            let len = w.len();
            if (a % P) + len > P {
                crossing += 1;
                if w == Width::Short {
                    short_crossing += 1;
                }
            }
            for b in a..a + len {
                let off = alias_offset(&pages, b)
                    .unwrap_or_else(|| panic!("round {round}: {b:#x} not mapped"));
                assert!(off < pages.len() * P, "round {round}");
                assert_eq!(pages[off / P] + off % P, b, "round {round}");
                assert!(seen.insert(off), "round {round}");
            }
        }
        // No page is mapped that no site needs.
        for &p in &pages {
            assert!(
                sites
                    .iter()
                    .any(|&(a, w)| a / P == p / P || (a + w.len() - 1) / P == p / P),
                "round {round}: {p:#x} mapped for nothing"
            );
        }
    }
    [crossing, short_crossing]
}

#[test]
fn a_short_site_on_the_last_byte_of_a_page_touches_two_pages() {
    let s = Width::Short;
    assert_eq!(touched_by(&[(BASE + P - 1, s)]), [BASE, BASE + P]);
    // The same address as a near site's start: also two pages.
    assert_eq!(touched_by(&[(BASE + P - 1, Width::Near)]), [BASE, BASE + P]);
}

#[test]
fn a_short_site_that_ends_on_the_last_byte_of_a_page_touches_one_page() {
    let s = Width::Short;
    assert_eq!(touched_by(&[(BASE + P - 2, s)]), [BASE]);
    assert_eq!(touched_by(&[(BASE + P - 3, s)]), [BASE]);
    assert_eq!(touched_by(&[(BASE, s)]), [BASE]);
    // A near site there would cross: each site's own length counts.
    assert_eq!(touched_by(&[(BASE + P - 2, Width::Near)]), [BASE, BASE + P]);
    assert_eq!(touched_by(&[(BASE + P - 4, Width::Near)]), [BASE, BASE + P]);
    assert_eq!(touched_by(&[(BASE + P - 4, s)]), [BASE]);
}

#[test]
fn short_and_near_sites_mixed() {
    let (s, n) = (Width::Short, Width::Near);
    // Adjacent short sites up to the boundary, a near one across the next.
    assert_eq!(
        touched_by(&[
            (BASE + P - 6, s),
            (BASE + P - 4, s),
            (BASE + P - 2, s),
            (BASE + 2 * P - 3, n),
        ]),
        [BASE, BASE + P, BASE + 2 * P]
    );
    // A short site across the second boundary after a near site on the
    // first page.
    assert_eq!(
        touched_by(&[(BASE + P - 5, n), (BASE + 2 * P - 1, s)]),
        [BASE, BASE + P, BASE + 2 * P]
    );
    assert_eq!(
        touched_by(&[(BASE + P - 5, n), (BASE + 2 * P - 2, s)]),
        [BASE, BASE + P]
    );
}

#[test]
fn a_short_site_at_the_top_of_the_address_space_does_not_wrap() {
    let top = usize::MAX - 1;
    assert_eq!(touched_by(&[(top, Width::Short)]), [top & !(P - 1)]);
}
