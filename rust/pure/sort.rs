// SPDX-License-Identifier: GPL-2.0

//! Sorting the site tables and the vector of pokes in constant stack.
//!
//! `slice::sort_unstable` is a quicksort that keeps a scratch array of
//! elements on the stack in every recursion level: for the handler's table
//! entries (about 80 bytes each) a frame took 2.8 KiB in a kernel built
//! for speed (Debian's config), and sorting the demo's 585 sites overflowed
//! the 16 KiB kernel stack at load. A heapsort needs neither recursion nor
//! scratch space, and O(n log n) comparisons is what the tables need.

use core::cmp::Ordering;

/// Sorts `v` by `key`, not stably, in place, with no recursion.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v`, not stably, in place, with no recursion.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Sorts `v` by `compare`, not stably, in place, with no recursion.
/// The module sorts with these rather than `slice::sort_unstable*`, whose
/// out-of-line panic paths objtool also flags as falling through in
/// Debian's config.
pub fn sort_by<T>(v: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    let len = v.len();
    for start in (0..len / 2).rev() {
        sift_down(v, start, len, &compare);
    }
    for end in (1..len).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, &compare);
    }
}

/// Moves `v[root]` down the heap `v[..end]` until both its children are
/// not greater.
fn sift_down<T>(v: &mut [T], mut root: usize, end: usize, compare: &impl Fn(&T, &T) -> Ordering) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && compare(&v[child], &v[child + 1]) == Ordering::Less {
            child += 1;
        }
        if compare(&v[root], &v[child]) != Ordering::Less {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}
