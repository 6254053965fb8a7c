// SPDX-License-Identifier: GPL-2.0

//! The text pages a batch writes to, and where their bytes lie in the
//! writable alias that maps those pages back to back.
//!
//! A site is two or five bytes and need not be page-aligned, so one site can touch
//! two pages; both must be in the alias, or half of its new bytes would be
//! lost.

use super::plan::Poke;

/// Size of a page of kernel text (x86_64).
pub const PAGE_SIZE: usize = 4096;

/// The page holding `addr`.
fn page_of(addr: usize) -> usize {
    addr & !(PAGE_SIZE - 1)
}

/// The distinct page addresses (ascending) touched by the sites of
/// `pokes`, which are sorted by address.
pub fn pages_touched(pokes: &[Poke]) -> impl Iterator<Item = usize> + '_ {
    let mut last: Option<usize> = None;
    pokes
        .iter()
        .flat_map(|poke| {
            // Saturating: a site cannot end past the top of the address
            // space, and this must not panic in the kernel if one did.
            let end = poke.end().saturating_sub(1);
            [page_of(poke.addr), page_of(end)]
        })
        // Only a page above every page so far is new: with the sites sorted,
        // that keeps each page once even if sites overlap or repeat.
        .filter(move |&page| {
            if last.is_some_and(|l| page <= l) {
                return false;
            }
            last = Some(page);
            true
        })
}

/// Where the text byte at `addr` lies in an alias mapping `pages` (sorted,
/// distinct, page-aligned) back to back: its offset from the alias base, or
/// `None` if its page is not mapped.
pub fn alias_offset(pages: &[usize], addr: usize) -> Option<usize> {
    let index = pages.binary_search(&page_of(addr)).ok()?;
    index
        .checked_mul(PAGE_SIZE)?
        .checked_add(addr - page_of(addr))
}
