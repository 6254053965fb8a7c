// SPDX-License-Identifier: GPL-2.0

//! The keys batchpoke knows: their names, owners, sites and sysfs
//! directories, and the transaction that turns key changes into one batch
//! of pokes.
//!
//! Creating or removing a sysfs directory waits for its running callbacks,
//! and those take the registry lock, so directories are never created or
//! removed under the lock. A key therefore enters in two steps
//! ([`Registry::add_pending`], then [`Registry::go_live`] once its
//! directory exists) and leaves in two: [`Registry::retire`] marks it dead
//! under the lock (from then on it is invisible), and the caller removes
//! its directory with the lock dropped ([`Registry::take_dead_dir`]) before
//! [`Registry::remove_dead`] forgets it. Retiring allocates nothing, so
//! unregistration cannot fail.

use core::ffi::CStr;

use kernel::alloc::KVec;
use kernel::prelude::*;

use crate::batchpoke_api::compat;
use crate::batchpoke_api::Key;
use crate::engine::{Applied, Engine, Strategy};
use crate::pure::plan::Poke;
use crate::pure::site::Site;
use crate::pure::trap::Writers;
use crate::pure::txn;
use crate::sys::bindings;
use crate::sys::int3::{SiteTable, SiteTableSlot};
use crate::sys::module::{ModuleRef, Registered};
use crate::sys::static_key::{BatchpokeKeyLink, StaticChange, StaticKey};
use crate::sys::sysfs::Dir;
use crate::sys::text::TextPokes;

/// Longest `<module>.<key>` name.
pub(crate) const NAME_MAX: usize = 96;

/// Most sites one transaction may change: far above any real key (the
/// kernel's largest, dynamic debug aside, have a few hundred sites) and
/// small enough that the vector of pokes is a modest allocation.
pub(crate) const MAX_TRANSACTION_SITES: usize = 1 << 16;

/// Where a key is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Registered, its directory being created: invisible except to name
    /// clashes.
    Pending,
    /// Visible and usable.
    Live,
    /// Being unregistered: invisible, waiting for its directory to go.
    Dead,
}

/// A key a module asks to register.
#[derive(Clone, Copy)]
pub(crate) enum NewKey<'a> {
    /// A batchpoke key; its name is in it.
    Batchpoke(*const Key),
    /// An ordinary static key, called `name`.
    Static {
        key: *const StaticKey,
        name: &'a CStr,
    },
}

/// Which key, by kind and address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyId {
    Batchpoke(usize),
    Static(usize),
}

/// The key of an entry.
enum KeyRef {
    /// A batchpoke key: batchpoke keeps its state.
    Batchpoke(Registered<Key>),
    /// An ordinary static key: its count says its state, and the kernel's
    /// static-key API may change it too.
    Static(Registered<StaticKey>),
}

impl KeyRef {
    fn id(&self) -> KeyId {
        match self {
            KeyRef::Batchpoke(key) => KeyId::Batchpoke(key.as_ptr() as usize),
            KeyRef::Static(key) => KeyId::Static(key.as_ptr() as usize),
        }
    }

    /// The address the key's jump-table entries record.
    fn raw_address(&self) -> usize {
        match self {
            KeyRef::Batchpoke(key) => key.get().raw_address(),
            KeyRef::Static(key) => key.get().raw_address(),
        }
    }

    fn is_enabled(&self) -> bool {
        match self {
            KeyRef::Batchpoke(key) => key.get().is_enabled(),
            KeyRef::Static(key) => key.get().is_enabled(),
        }
    }

    /// Who writes the key's sites: the kernel's jump-label code patches an
    /// ordinary static key's too; a batchpoke key's only batchpoke.
    fn writers(&self) -> Writers {
        match self {
            KeyRef::Batchpoke(_) => Writers::Batchpoke,
            KeyRef::Static(_) => Writers::BatchpokeAndKernel,
        }
    }
}

/// One registered key: `sites` are its sites, all in `owner`'s core text.
pub(crate) struct KeyEntry {
    key: KeyRef,
    owner: Registered<bindings::module>,
    /// `<module>.<key>` and a NUL.
    name: KVec<u8>,
    sites: KVec<Site>,
    /// `keys/<name>/` in sysfs.
    dir: Option<Dir>,
    status: Status,
    /// The registration that added the key.
    ticket: u64,
}

impl KeyEntry {
    /// Whether the key is enabled: the state its sites hold or are being
    /// patched to.
    pub(crate) fn is_enabled(&self) -> bool {
        self.key.is_enabled()
    }

    /// The key, if it is an ordinary static key.
    fn static_key(&self) -> Option<&StaticKey> {
        match &self.key {
            KeyRef::Static(key) => Some(key.get()),
            KeyRef::Batchpoke(_) => None,
        }
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
        self.owner.get()
    }

    /// The key's sites.
    pub(crate) fn sites(&self) -> &[Site] {
        &self.sites
    }

    fn is_owned_by(&self, owner: *const bindings::module) -> bool {
        self.owner.as_ptr() == owner
    }
}

/// Every registered key, in registration order, and the sysfs directories.
pub(crate) struct Registry {
    entries: KVec<KeyEntry>,
    /// `/sys/kernel/batchpoke/keys` and `/sys/kernel/batchpoke`.
    dirs: [Option<Dir>; 2],
    next_ticket: u64,
    /// The int3 handler's table of sites.
    sites: SiteTableSlot,
    /// The table is not this registry's (its rebuild failed): rebuilt
    /// before the next transaction.
    table_stale: bool,
}

impl Registry {
    /// An empty registry whose keys appear under `keys_dir` and whose
    /// sites go into the int3 handler's table through `sites`.
    pub(crate) fn new(root_dir: Dir, keys_dir: Dir, sites: SiteTableSlot) -> Self {
        Registry {
            entries: KVec::new(),
            dirs: [Some(keys_dir), Some(root_dir)],
            next_ticket: 0,
            sites,
            table_stale: false,
        }
    }

    /// The index of the live key called `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.status == Status::Live && e.name() == name)
    }

    /// The index of the live key `id`.
    pub(crate) fn find_key(&self, id: KeyId) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.status == Status::Live && e.key.id() == id)
    }

    /// The live keys, in registration order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter().filter(|e| e.status == Status::Live)
    }

    /// The live key at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&KeyEntry> {
        self.entries.get(index).filter(|e| e.status == Status::Live)
    }

    /// The directory keys appear in, if batchpoke is not shutting down.
    pub(crate) fn keys_dir(&self) -> Option<&Dir> {
        self.dirs[0].as_ref()
    }

    /// Adds `keys` of `owner` as pending, with the sites found for them in
    /// `owner`'s jump table, after checking everything: the owner is not
    /// going away, every key lies in its memory, every name is valid and
    /// free, every site is in its core text and holds the instruction for
    /// its key's current state, and no static key is refused by
    /// [`StaticKey::check`] (checked, like their sites, under the
    /// engine's text locks). Nothing is added on error. Returns the
    /// registration's ticket, for [`Self::go_live`].
    pub(crate) fn add_pending(
        &mut self,
        engine: &Engine,
        owner: ModuleRef<'_>,
        keys: &[NewKey<'_>],
    ) -> Result<u64> {
        if self.keys_dir().is_none() {
            return Err(ENODEV);
        }
        if !owner.is_live() {
            pr_err!(
                "module {:?} is going away: its keys cannot be registered\n",
                core::str::from_utf8(owner.name()).unwrap_or("?")
            );
            return Err(ENODEV);
        }
        let ticket = self.next_ticket;
        let first_new = self.entries.len();
        let result = self.push_entries(engine, owner, keys, ticket);
        if let Err(e) = result {
            for entry in &mut self.entries[first_new..] {
                entry.status = Status::Dead;
            }
            // None of them has a directory yet.
            self.remove_dead();
            return Err(e);
        }
        self.next_ticket = ticket.wrapping_add(1);
        Ok(ticket)
    }

    fn push_entries(
        &mut self,
        engine: &Engine,
        owner: ModuleRef<'_>,
        keys: &[NewKey<'_>],
        ticket: u64,
    ) -> Result {
        let first_new = self.entries.len();
        for &new_key in keys {
            let (key, key_name) = match new_key {
                NewKey::Batchpoke(raw) => {
                    let Some(registered) = owner.object_at(raw) else {
                        pr_err!(
                            "key at {:#x} is not in the memory of the module registering it\n",
                            raw as usize
                        );
                        return Err(EINVAL);
                    };
                    let name = registered.get().name();
                    (KeyRef::Batchpoke(registered), name)
                }
                NewKey::Static { key, name } => {
                    let Some(registered) = owner.object_at(key) else {
                        pr_err!(
                            "static key {:?} at {:#x} is not in the memory of the module registering it: only a module's own keys can be registered\n",
                            name,
                            key as usize
                        );
                        return Err(EPERM);
                    };
                    (KeyRef::Static(registered), name)
                }
            };
            let mut name = KVec::new();
            name.extend_from_slice(owner.name(), GFP_KERNEL)?;
            name.push(b'.', GFP_KERNEL)?;
            name.extend_from_slice(key_name.to_bytes(), GFP_KERNEL)?;
            if name.len() > NAME_MAX || !txn::valid_name(&name) {
                pr_err!(
                    "key name {:?} is too long or not [A-Za-z0-9_.-]\n",
                    key_name
                );
                return Err(EINVAL);
            }
            let taken = self
                .entries
                .iter()
                .any(|e| e.status != Status::Dead && e.name() == name.as_slice());
            if taken {
                pr_err!(
                    "key {:?} is registered already\n",
                    core::str::from_utf8(&name).unwrap_or("?")
                );
                return Err(EEXIST);
            }
            name.push(0, GFP_KERNEL)?;
            self.entries.push(
                KeyEntry {
                    key,
                    owner: owner.registered(),
                    name,
                    sites: KVec::new(),
                    dir: None,
                    status: Status::Pending,
                    ticket,
                },
                GFP_KERNEL,
            )?;
        }
        let new = &mut self.entries[first_new..];
        // Static keys' counts and sites, and the link between a batchpoke
        // key and its sites, are stable under the text locks only.
        let locked = engine.lock_text();
        for entry in new.iter() {
            match &entry.key {
                KeyRef::Static(key) => key.get().check(entry.c_name(), &locked)?,
                KeyRef::Batchpoke(key) => {
                    BatchpokeKeyLink::of(key.get()).check(entry.c_name(), &locked)?
                }
            }
        }
        owner.for_each_entry(|jump_entry| {
            let Some(entry) = new
                .iter_mut()
                .find(|e| e.key.raw_address() == jump_entry.key)
            else {
                // Another key's site: not batchpoke's to check.
                return Ok(());
            };
            let Some(site) = owner.site(jump_entry) else {
                pr_err!(
                    "site {:#x} of key {:?} is outside the module's core text (an __init function?) or holds no site instruction: init text is freed after init, so batchpoke refuses such keys\n",
                    jump_entry.addr,
                    entry.c_name()
                );
                return Err(EINVAL);
            };
            let bytes = owner.read_site(&site).ok_or(EINVAL)?;
            if site.insn(entry.is_enabled()) != Some(bytes) {
                pr_err!(
                    "site {:#x} of key {:?} holds unexpected bytes {:02x?}\n",
                    site.addr,
                    entry.c_name(),
                    bytes.as_bytes()
                );
                return Err(EINVAL);
            }
            Ok(entry.sites.push(site, GFP_KERNEL)?)
        })?;
        // Everything checked: from now on only batchpoke writes the sites
        // of the new batchpoke keys.
        for entry in new.iter() {
            if let KeyRef::Batchpoke(key) = &entry.key {
                BatchpokeKeyLink::of(key.get()).detach(&locked);
            }
        }
        Ok(())
    }

    /// The names of the pending keys of registration `ticket`, in order,
    /// for creating their directories with the lock dropped.
    pub(crate) fn pending_names(&self, ticket: u64) -> Result<KVec<KVec<u8>>> {
        let mut names = KVec::new();
        for entry in self.pending(ticket) {
            let mut name = KVec::new();
            name.extend_from_slice(&entry.name, GFP_KERNEL)?;
            names.push(name, GFP_KERNEL)?;
        }
        Ok(names)
    }

    fn pending(&self, ticket: u64) -> impl Iterator<Item = &KeyEntry> {
        self.entries
            .iter()
            .filter(move |e| e.ticket == ticket && e.status == Status::Pending)
    }

    /// Makes the pending keys of registration `ticket` live with their
    /// directories `dirs` (in the order of [`Self::pending_names`]). If a
    /// key was retired meanwhile the registration fails and every one of
    /// its keys is retired: `dirs` come back, to be dropped unlocked.
    pub(crate) fn go_live(
        &mut self,
        ticket: u64,
        dirs: KVec<Dir>,
    ) -> core::result::Result<(), (Error, KVec<Dir>)> {
        let count = self.pending(ticket).count();
        let all_there = self.entries.iter().filter(|e| e.ticket == ticket).count() == count;
        if count != dirs.len() || !all_there {
            self.retire_ticket(ticket);
            return Err((ENODEV, dirs));
        }
        let mut dirs = dirs.into_iter();
        for entry in self.entries.iter_mut() {
            if entry.ticket == ticket && entry.status == Status::Pending {
                entry.dir = dirs.next();
                entry.status = Status::Live;
            }
        }
        Ok(())
    }

    /// Retires every key of registration `ticket`.
    pub(crate) fn retire_ticket(&mut self, ticket: u64) {
        for entry in self.entries.iter_mut().filter(|e| e.ticket == ticket) {
            entry.status = Status::Dead;
        }
    }

    /// Retires the keys of `owner` that `listed` picks. Returns how many
    /// were registered.
    pub(crate) fn retire_keys(
        &mut self,
        owner: *const bindings::module,
        listed: impl Fn(KeyId) -> bool,
    ) -> usize {
        let mut count = 0;
        for entry in self.entries.iter_mut() {
            if entry.status != Status::Dead && entry.is_owned_by(owner) && listed(entry.key.id()) {
                entry.status = Status::Dead;
                count += 1;
            }
        }
        count
    }

    /// Retires every key of `owner` (every key, for `None`). Returns how
    /// many there were.
    pub(crate) fn retire_module(&mut self, owner: Option<*const bindings::module>) -> usize {
        let mut count = 0;
        for entry in self.entries.iter_mut() {
            let owned = match owner {
                Some(owner) => entry.is_owned_by(owner),
                None => true,
            };
            if entry.status != Status::Dead && owned {
                entry.status = Status::Dead;
                count += 1;
            }
        }
        count
    }

    /// One sysfs directory of a dead key, to drop after unlocking.
    pub(crate) fn take_dead_dir(&mut self) -> Option<Dir> {
        self.entries
            .iter_mut()
            .filter(|e| e.status == Status::Dead)
            .find_map(|e| e.dir.take())
    }

    /// Forgets the dead keys; their directories must be gone already.
    pub(crate) fn remove_dead(&mut self) {
        compat::retain(&mut self.entries, |e| {
            e.status != Status::Dead || e.dir.is_some()
        });
    }

    /// Installs the table of the sites of every key not retired (pending
    /// ones included) as the one the int3 handler resolves traps from. On
    /// failure installs none, and the next transaction tries again before
    /// it patches anything.
    pub(crate) fn install_sites(&mut self) -> Result {
        let mut table = SiteTable::new();
        let mut result = Ok(());
        for entry in self.entries.iter().filter(|e| e.status != Status::Dead) {
            let owner = entry.owner();
            let writers = entry.key.writers();
            result = entry
                .sites
                .iter()
                .try_for_each(|site| table.push(owner, site, writers));
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| self.sites.install(table));
        if result.is_err() {
            self.sites.clear();
        }
        self.table_stale = result.is_err();
        result
    }

    /// The top directories, to drop after unlocking, once no key is left.
    pub(crate) fn take_dirs(&mut self) -> [Option<Dir>; 2] {
        core::mem::take(&mut self.dirs)
    }

    /// Sets each key `changes[i].0` (an index) to state `changes[i].1`, in
    /// one transaction. All or nothing: a repeated key is `EINVAL`, an
    /// unknown one `ENOENT`, more than [`MAX_TRANSACTION_SITES`] sites to
    /// change `E2BIG`.
    pub(crate) fn apply(
        &mut self,
        engine: &Engine,
        changes: &[(usize, bool)],
        strategy: Strategy,
    ) -> Result<Applied> {
        if self.table_stale {
            self.install_sites()?;
        }
        let mut pokes = TextPokes::new();
        let mut statics = KVec::new();
        for (n, &(index, enable)) in changes.iter().enumerate() {
            if changes[..n].iter().any(|&(other, _)| other == index) {
                return Err(EINVAL);
            }
            let entry = self.get(index).ok_or(ENOENT)?;
            let from = entry.is_enabled();
            if let Some(key) = entry.static_key() {
                let change = StaticChange {
                    key,
                    name: entry.c_name(),
                    from,
                    to: enable,
                };
                statics.push(change, GFP_KERNEL)?;
            }
            let owner = entry.owner();
            for site in entry.sites() {
                if let Some(poke) = Poke::for_site(site, from, enable).map_err(|_| ERANGE)? {
                    if pokes.len() == MAX_TRANSACTION_SITES {
                        pr_err!(
                            "a transaction may change at most {} sites\n",
                            MAX_TRANSACTION_SITES
                        );
                        return Err(E2BIG);
                    }
                    pokes.push(owner, poke)?;
                }
            }
        }
        let applied = engine.apply(&mut pokes, &statics, strategy)?;
        for &(index, enable) in changes {
            if let Some(KeyRef::Batchpoke(key)) = self.get(index).map(|e| &e.key) {
                key.get().set_enabled(enable);
            }
        }
        Ok(applied)
    }
}
