// SPDX-License-Identifier: GPL-2.0

//! The int3 handler's lookup of a trapping address in a sorted vector: the
//! active batch's pokes or the table of every registered site.
//!
//! This runs in NMI-like context on the int3 path: it must not panic, so
//! it uses only wrapping arithmetic and checked indexing, and it is always
//! inlined into the handler so no separate function needs a kprobe
//! blacklist entry.

/// Something that sits at one text address.
pub trait AtAddress {
    /// The address.
    fn addr(&self) -> usize;
}

/// Finds the item at `addr` in `items`, sorted by address.
#[inline(always)]
pub fn find<T: AtAddress>(items: &[T], addr: usize) -> Option<&T> {
    let mut lo = 0usize;
    let mut hi = items.len();
    while lo < hi {
        let mid = lo.wrapping_add(hi.wrapping_sub(lo) >> 1);
        let item = items.get(mid)?;
        let at = item.addr();
        if at == addr {
            return Some(item);
        }
        if at < addr {
            lo = mid.wrapping_add(1);
        } else {
            hi = mid;
        }
    }
    None
}
