// SPDX-License-Identifier: GPL-2.0

//! The one place that knows the differences between the kernels batchpoke
//! supports (Linux 7.3 and 6.12 LTS); `compat.h` beside it is the C side.
//! The top-level Kbuild sets one cfg per difference, named by what it
//! tests:
//!
//! - `batchpoke_module_author_string`: `module!` takes `author: ".."`
//!   (6.x) rather than `authors: [..]`;
//! - `batchpoke_kvec_without_retain`: `KVec` has no `retain()` (6.x).

// FFI (see rust/entry/mod.rs); client modules compile this file too.
#![allow(unsafe_code)]

/// `module!` for every supported kernel: 7.x takes `authors: [..]`, 6.12
/// `author: ".."`.
#[macro_export]
macro_rules! batchpoke_module {
    // `ident` and `tt` fragments reach the proc macro as plain tokens; 6.12's
    // `module!` does not accept the invisible groups other fragments become.
    (
        type: $type:ident,
        name: $name:tt,
        author: $author:tt,
        description: $description:tt,
        license: $license:tt $(,)?
    ) => {
        #[cfg(not(batchpoke_module_author_string))]
        ::kernel::prelude::module! {
            type: $type,
            name: $name,
            authors: [$author],
            description: $description,
            license: $license,
        }
        #[cfg(batchpoke_module_author_string)]
        ::kernel::prelude::module! {
            type: $type,
            name: $name,
            author: $author,
            description: $description,
            license: $license,
        }
    };
}

/// Keeps the elements of `vec` for which `keep` returns `true`, in order:
/// `KVec::retain()`, which 6.12's `KVec` lacks.
pub fn retain<T>(vec: &mut kernel::alloc::KVec<T>, keep: impl FnMut(&mut T) -> bool) {
    #[cfg(not(batchpoke_kvec_without_retain))]
    vec.retain(keep);
    #[cfg(batchpoke_kvec_without_retain)]
    retain_by_hand(vec, keep);
}

#[cfg(batchpoke_kvec_without_retain)]
fn retain_by_hand<T>(vec: &mut kernel::alloc::KVec<T>, mut keep: impl FnMut(&mut T) -> bool) {
    let len = vec.len();
    let base = vec.as_mut_ptr();
    let mut kept = 0;
    // SAFETY: the length is zero while elements move, so nothing is
    // dropped twice if `keep` unwinds (it cannot in the kernel: panics
    // end in BUG()); every element below `len` is initialized and is
    // either moved down to `kept` or dropped exactly once.
    unsafe {
        vec.set_len(0);
        for i in 0..len {
            let item = base.add(i);
            if keep(&mut *item) {
                if i != kept {
                    core::ptr::copy_nonoverlapping(item, base.add(kept), 1);
                }
                kept += 1;
            } else {
                core::ptr::drop_in_place(item);
            }
        }
        vec.set_len(kept);
    }
}
