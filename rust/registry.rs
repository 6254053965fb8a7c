// SPDX-License-Identifier: GPL-2.0

//! The keys batchpoke knows: their names, owners, sites and sysfs
//! directories, and the transaction that turns key changes into one batch
//! of pokes.
//!
//! Removing a sysfs directory waits for its running callbacks, and those
//! take the registry lock, so directories are never removed under the lock.
//! Keys leave in two steps instead: [`Registry::retire_module`] marks them
//! dead under the lock (from then on they are invisible), and the caller then
//! removes their directories one at a time with the lock dropped
//! ([`Registry::take_dead_dir`]) before [`Registry::remove_dead`] forgets
//! them. No step allocates, so unregistration cannot fail.

use core::ffi::CStr;
use core::ptr::NonNull;

use kernel::alloc::KVec;
use kernel::prelude::*;

#[cfg(batchpoke_legacy_6)]
use crate::batchpoke_api::compat::KVecRetain;
use crate::batchpoke_api::Key;
use crate::engine::{Applied, Engine, Strategy};
use crate::ffi::bindings;
use crate::ffi::jump_table::ModuleRef;
use crate::ffi::sysfs::{Dir, Group};
use crate::ffi::text::read_site;
use crate::pure::plan::Poke;
use crate::pure::site::Site;
use crate::pure::txn;

/// Longest `<module>.<key>` name.
pub(crate) const NAME_MAX: usize = 96;

/// One registered key.
///
/// # Invariants
///
/// `key` points into the memory of `owner`, a module that stays loaded
/// while the entry is in the registry; `sites` are that key's sites, all in
/// `owner`'s text.
pub(crate) struct KeyEntry {
    key: NonNull<Key>,
    owner: NonNull<bindings::module>,
    /// `<module>.<key>` and a NUL.
    name: KVec<u8>,
    sites: KVec<Site>,
    /// `keys/<name>/` in sysfs.
    dir: Option<Dir>,
    /// Being unregistered: invisible, waiting for its directory to go.
    dead: bool,
}

// SAFETY: the pointees are a `Sync` key and a module; the registry mutex
// serializes every use.
unsafe impl Send for KeyEntry {}

impl KeyEntry {
    /// The key.
    pub(crate) fn key(&self) -> &Key {
        // SAFETY: the owner is loaded while the entry exists (invariant).
        unsafe { self.key.as_ref() }
    }

    /// `<module>.<key>`.
    pub(crate) fn name(&self) -> &[u8] {
        self.c_name().to_bytes()
    }

    /// `<module>.<key>`, NUL-terminated.
    pub(crate) fn c_name(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.name).unwrap_or(c"?")
    }

    /// The owner module.
    pub(crate) fn owner(&self) -> ModuleRef<'_> {
        // SAFETY: loaded while the entry exists (invariant).
        unsafe { ModuleRef::new(self.owner.as_ptr()) }
    }

    /// The key's sites.
    pub(crate) fn sites(&self) -> &[Site] {
        &self.sites
    }
}

/// Every registered key, in registration order, and the sysfs directories.
pub(crate) struct Registry {
    entries: KVec<KeyEntry>,
    /// `/sys/kernel/batchpoke/keys` and `/sys/kernel/batchpoke`.
    dirs: [Option<Dir>; 2],
}

impl Registry {
    /// An empty registry whose keys appear under `keys_dir`.
    pub(crate) fn new(root_dir: Dir, keys_dir: Dir) -> Self {
        Registry {
            entries: KVec::new(),
            dirs: [Some(keys_dir), Some(root_dir)],
        }
    }

    /// The index of the live key called `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| !e.dead && e.name() == name)
    }

    /// The index of the live key at address `key`.
    pub(crate) fn find_key(&self, key: *const Key) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| !e.dead && e.key.as_ptr().cast_const() == key)
    }

    /// The live keys, in registration order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter().filter(|e| !e.dead)
    }

    /// The live key at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&KeyEntry> {
        self.entries.get(index).filter(|e| !e.dead)
    }

    /// Registers `keys`, owned by `owner`, with the sites found in
    /// `owner`'s jump table, and gives each a sysfs directory. On error the
    /// keys added so far are left dead, for the caller to clean up as after
    /// [`Self::retire_module`].
    ///
    /// # Safety
    ///
    /// `owner` stays loaded until its keys are removed, and every key in
    /// `keys` is in `owner`'s memory and stays there.
    pub(crate) unsafe fn register(
        &mut self,
        owner: *const bindings::module,
        keys: &[&Key],
    ) -> Result {
        // SAFETY: loaded for the duration (caller's contract).
        let module = unsafe { ModuleRef::new(owner) };
        let owner = NonNull::new(owner.cast_mut()).ok_or(EINVAL)?;
        let first_new = self.entries.len();
        let result = self.add_entries(module, owner, keys);
        if result.is_err() {
            for entry in &mut self.entries[first_new..] {
                entry.dead = true;
            }
        }
        result
    }

    fn add_entries(
        &mut self,
        module: ModuleRef<'_>,
        owner: NonNull<bindings::module>,
        keys: &[&Key],
    ) -> Result {
        let first_new = self.entries.len();
        for &key in keys {
            if !module.owns(key.raw_address()) {
                pr_err!(
                    "key {:?} is not in the memory of the module registering it\n",
                    key.name()
                );
                return Err(EINVAL);
            }
            let mut name = KVec::new();
            name.extend_from_slice(module.name(), GFP_KERNEL)?;
            name.push(b'.', GFP_KERNEL)?;
            name.extend_from_slice(key.name().to_bytes(), GFP_KERNEL)?;
            if name.len() > NAME_MAX || !txn::valid_name(&name) {
                pr_err!(
                    "key name {:?} is too long or not [A-Za-z0-9_.-]\n",
                    key.name()
                );
                return Err(EINVAL);
            }
            if self.find(&name).is_some() {
                pr_err!("key {:?} is registered already\n", key.name());
                return Err(EEXIST);
            }
            name.push(0, GFP_KERNEL)?;
            self.entries.push(
                KeyEntry {
                    key: NonNull::from(key),
                    owner,
                    name,
                    sites: KVec::new(),
                    dir: None,
                    dead: false,
                },
                GFP_KERNEL,
            )?;
        }
        let new = &mut self.entries[first_new..];
        module.for_each_site(|key_addr, site| {
            if let Some(entry) = new.iter_mut().find(|e| e.key().raw_address() == key_addr) {
                // SAFETY: the site is in the loaded module's text (checked
                // by for_each_site).
                let bytes = unsafe { read_site(site.addr) };
                if site.insn(entry.key().is_enabled()) != Some(bytes) {
                    pr_err!(
                        "site {:#x} of key {:?} holds unexpected bytes {:02x?}\n",
                        site.addr,
                        entry.c_name(),
                        bytes
                    );
                    return Err(EINVAL);
                }
                entry.sites.push(site, GFP_KERNEL)?;
            }
            Ok(())
        })?;
        let [keys_dir, _] = &self.dirs;
        let keys_dir = keys_dir.as_ref().ok_or(ENODEV)?;
        for entry in &mut self.entries[first_new..] {
            entry.dir = Some(Dir::create(entry.c_name(), Some(keys_dir), Group::Key)?);
        }
        Ok(())
    }

    /// Marks every key of `owner` (every key, for `None`) dead. Returns how
    /// many were marked.
    pub(crate) fn retire_module(&mut self, owner: Option<*const bindings::module>) -> usize {
        let mut count = 0;
        for entry in self.entries.iter_mut() {
            if !entry.dead && (owner.is_none() || owner == Some(entry.owner.as_ptr().cast_const()))
            {
                entry.dead = true;
                count += 1;
            }
        }
        count
    }

    /// One sysfs directory of a dead key, to drop after unlocking.
    pub(crate) fn take_dead_dir(&mut self) -> Option<Dir> {
        self.entries
            .iter_mut()
            .filter(|e| e.dead)
            .find_map(|e| e.dir.take())
    }

    /// Forgets the dead keys; their directories must be gone already.
    pub(crate) fn remove_dead(&mut self) {
        self.entries.retain(|e| !e.dead);
    }

    /// The top directories, to drop after unlocking, once no key is left.
    pub(crate) fn take_dirs(&mut self) -> [Option<Dir>; 2] {
        core::mem::take(&mut self.dirs)
    }

    /// Sets each key `changes[i].0` (an index) to state `changes[i].1`, in
    /// one transaction. All or nothing: a repeated key is `EINVAL`, an
    /// unknown one `ENOENT`.
    pub(crate) fn apply(
        &self,
        engine: &Engine,
        changes: &[(usize, bool)],
        strategy: Strategy,
    ) -> Result<Applied> {
        let mut pokes = KVec::new();
        for (n, &(index, enable)) in changes.iter().enumerate() {
            if changes[..n].iter().any(|&(other, _)| other == index) {
                return Err(EINVAL);
            }
            let entry = self.get(index).ok_or(ENOENT)?;
            let from = entry.key().is_enabled();
            for site in entry.sites() {
                if let Some(poke) = Poke::for_site(site, from, enable).map_err(|_| ERANGE)? {
                    pokes.push(poke, GFP_KERNEL)?;
                }
            }
        }
        // SAFETY: every site belongs to a live key, whose owner stays loaded
        // while registered; the registry is borrowed (its mutex held) for
        // the whole call, so no key leaves meanwhile.
        let applied = unsafe { engine.apply(&mut pokes, strategy)? };
        for &(index, enable) in changes {
            if let Some(entry) = self.get(index) {
                entry.key().set_enabled(enable);
            }
        }
        Ok(applied)
    }
}
