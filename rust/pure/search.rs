// SPDX-License-Identifier: GPL-2.0

//! The int3 handler's lookup of a trapping address in the active vector.
//!
//! This runs in NMI-like context on the int3 path: it must not panic, so
//! it uses only wrapping arithmetic and checked indexing, and it is always
//! inlined into the handler so no separate function needs a kprobe
//! blacklist entry.

use super::plan::Poke;

/// Finds the poke for the site at `addr` in `pokes`, sorted by address.
#[inline(always)]
pub fn find(pokes: &[Poke], addr: usize) -> Option<&Poke> {
    let mut lo = 0usize;
    let mut hi = pokes.len();
    while lo < hi {
        let mid = lo.wrapping_add(hi.wrapping_sub(lo) >> 1);
        let poke = pokes.get(mid)?;
        if poke.addr == addr {
            return Some(poke);
        }
        if poke.addr < addr {
            lo = mid.wrapping_add(1);
        } else {
            hi = mid;
        }
    }
    None
}
