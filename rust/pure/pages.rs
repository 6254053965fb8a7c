// SPDX-License-Identifier: GPL-2.0

//! Which text pages a batch writes, and where a site byte lies in an alias
//! that maps those pages back to back.

use super::insn::INSN_SIZE;
use super::plan::Poke;

/// Size of a page of kernel text (x86_64).
pub const PAGE_SIZE: usize = 4096;

const PAGE_MASK: usize = !(PAGE_SIZE - 1);

/// The distinct page addresses (ascending) touched by the 5-byte sites of
/// `pokes`, which are sorted by address. A site that crosses a page
/// boundary touches two.
pub fn pages_touched(pokes: &[Poke]) -> impl Iterator<Item = usize> + '_ {
    let mut last = None;
    pokes
        .iter()
        .flat_map(|p| {
            [
                p.addr & PAGE_MASK,
                p.addr.wrapping_add(INSN_SIZE - 1) & PAGE_MASK,
            ]
        })
        .filter(move |&page| {
            let new = last != Some(page);
            last = Some(page);
            new
        })
}

/// Where the text byte at `addr` lies in an alias mapping `pages` (sorted,
/// distinct, page-aligned) back to back: its offset from the alias base, or
/// `None` if its page is not mapped.
pub fn alias_offset(pages: &[usize], addr: usize) -> Option<usize> {
    let index = pages.binary_search(&(addr & PAGE_MASK)).ok()?;
    Some(index * PAGE_SIZE + (addr & !PAGE_MASK))
}
