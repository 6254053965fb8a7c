// SPDX-License-Identifier: GPL-2.0

//! sysfs directories of `/sys/kernel/batchpoke`. Their files' entry points
//! are in `sysfs_callbacks.rs`, the attribute tables in `sysfs_attrs.c`.

use core::ffi::CStr;
use core::ptr::NonNull;

use kernel::prelude::*;

use crate::machine::bindings;

/// Which attribute table a directory gets.
pub(crate) enum Group {
    /// `stats`, `strategy`, `transaction`.
    Root,
    /// `enabled`, `sites`, `owner`.
    Key,
    /// No files.
    None,
}

/// A sysfs directory (a bare kobject) with its files.
///
/// # Invariants
///
/// `0` is a kobject from `kobject_create_and_add()` this value holds the
/// only reference to.
pub(crate) struct Dir(NonNull<bindings::kobject>);

// SAFETY: kobjects may be released from any thread.
unsafe impl Send for Dir {}
// SAFETY: `Dir` exposes nothing but the pointer for use as a parent.
unsafe impl Sync for Dir {}

/// A counted reference to a directory, to create subdirectories in
/// without holding the lock that guards the [`Dir`] itself.
///
/// # Invariants
///
/// `0` is a kobject this value holds a reference to.
pub(crate) struct DirRef(NonNull<bindings::kobject>);

impl Drop for DirRef {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant).
        unsafe { bindings::kobject_put(self.0.as_ptr()) };
    }
}

impl Dir {
    /// A counted reference to this directory.
    pub(crate) fn get(&self) -> DirRef {
        // SAFETY: the kobject is live (type invariant); the reference is
        // dropped by `DirRef`.
        unsafe { bindings::kobject_get(self.0.as_ptr()) };
        // INVARIANT: the reference was just taken.
        DirRef(self.0)
    }

    /// Creates `name` under `parent` (or `/sys/kernel`) with `group`'s files.
    /// If `parent` was removed meanwhile, creation fails.
    pub(crate) fn create(name: &CStr, parent: Option<&DirRef>, group: Group) -> Result<Self> {
        let parent = match parent {
            Some(dir) => dir.0.as_ptr(),
            // SAFETY: `kernel_kobj` is set up at boot and never changes.
            None => unsafe { bindings::kernel_kobj },
        };
        // SAFETY: `name` is NUL-terminated, `parent` a kobject we hold a
        // reference to (or the kernel's).
        let kobj =
            unsafe { bindings::kobject_create_and_add(crate::machine::cstr_ptr(name), parent) };
        let kobj = NonNull::new(kobj).ok_or(ENOMEM)?;
        // INVARIANT: created just above; the reference is ours.
        let dir = Dir(kobj);
        let group = match group {
            // SAFETY: the groups are immutable statics of sysfs_attrs.c.
            Group::Root => unsafe { &bindings::batchpoke_root_group },
            // SAFETY: as above.
            Group::Key => unsafe { &bindings::batchpoke_key_group },
            Group::None => return Ok(dir),
        };
        // SAFETY: `kobj` is live; the group outlives the directory. On
        // failure `dir` is dropped, which removes the directory; the caller
        // holds no lock a callback of its files could wait for.
        let ret = unsafe { bindings::sysfs_create_group(kobj.as_ptr(), group) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant). `kobject_del()` removes
        // the directory and its files at once and waits for running
        // callbacks; the release that `kobject_put()` may defer
        // (CONFIG_DEBUG_KOBJECT_RELEASE) then touches no file.
        unsafe {
            bindings::kobject_del(self.0.as_ptr());
            bindings::kobject_put(self.0.as_ptr());
        }
    }
}
