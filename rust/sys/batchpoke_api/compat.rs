// SPDX-License-Identifier: GPL-2.0

//! The one place that knows the differences between the kernels batchpoke
//! supports (Linux 7.3 and 6.12 LTS). The top-level Kbuild sets
//! `--cfg batchpoke_legacy_6` for 6.x kernels.

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
        #[cfg(not(batchpoke_legacy_6))]
        ::kernel::prelude::module! {
            type: $type,
            name: $name,
            authors: [$author],
            description: $description,
            license: $license,
        }
        #[cfg(batchpoke_legacy_6)]
        ::kernel::prelude::module! {
            type: $type,
            name: $name,
            author: $author,
            description: $description,
            license: $license,
        }
    };
}

/// `KVec::retain`, which 6.12's `KVec` lacks. 7.x's inherent method takes
/// precedence where it exists.
#[cfg(batchpoke_legacy_6)]
pub trait KVecRetain<T> {
    /// Keeps the elements for which `keep` returns `true`, in order.
    fn retain(&mut self, keep: impl FnMut(&mut T) -> bool);
}

#[cfg(batchpoke_legacy_6)]
impl<T> KVecRetain<T> for kernel::alloc::KVec<T> {
    fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        let len = self.len();
        let base = self.as_mut_ptr();
        let mut kept = 0;
        // SAFETY: the length is zero while elements move, so nothing is
        // dropped twice if `keep` unwinds (it cannot in the kernel: panics
        // end in BUG()); every element below `len` is initialized and is
        // either moved down to `kept` or dropped exactly once.
        unsafe {
            self.set_len(0);
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
            self.set_len(kept);
        }
    }
}
