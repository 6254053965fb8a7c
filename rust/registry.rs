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
//! its directory with the lock dropped ([`Registry::take_dead_dirs`]) before
//! [`Registry::remove_dead`] forgets it. Retiring allocates nothing, so
//! unregistration cannot fail.
//!
//! This file holds the entries and their life cycle; `admission.rs` what a
//! registration checks before a key is added, `conversion.rs` the form a
//! batchpoke key's sites take while registered, `lookup.rs` the index of the
//! live keys and the lookups through it, `transaction.rs` the checks of a
//! transaction and its batch.

use core::ffi::CStr;

use kernel::alloc::flags::__GFP_NOWARN;
use kernel::alloc::{Flags, KVVec, KVec};
use kernel::prelude::*;

use crate::batchpoke_api::compat;
use crate::batchpoke_api::Key;
use crate::entry::sysfs::Dir;
use crate::machine::bindings;
use crate::machine::int3::{SiteTable, SiteTableSlot};
use crate::machine::module::{cond_resched, ModuleRef, Registered};
use crate::machine::static_key::StaticKey;
use crate::pure::site::Site;
use crate::pure::trap::Writers;

mod admission;
mod conversion;
mod lookup;
mod transaction;

pub(crate) use lookup::LiveIndex;

/// Longest `<module>.<key>` name.
pub(crate) const NAME_MAX: usize = 96;

/// Most sites one transaction may change: far above any real key (the
/// kernel's largest, dynamic debug aside, have a few hundred sites) and
/// small enough that the vector of pokes is a modest allocation
/// (`BATCHPOKE_MAX_SITES`).
pub(crate) const MAX_TRANSACTION_SITES: usize = 1 << 16;

/// Most keys one call may register, unregister or change
/// (`BATCHPOKE_MAX_KEYS`): a transaction of more keys would change more
/// sites than [`MAX_TRANSACTION_SITES`] unless some had none. Larger
/// counts are refused before anything is read or allocated.
pub(crate) const MAX_KEYS_PER_CALL: usize = 1 << 16;

/// The flags of an allocation whose size a caller chose (a count of keys,
/// changes or names): it fails with `ENOMEM`, never with a page
/// allocator WARN (which `panic_on_warn` turns into a panic).
pub(crate) fn caller_sized() -> Flags {
    GFP_KERNEL | __GFP_NOWARN
}

/// Calls `cond_resched()` every 1024th step of a loop whose length a
/// caller chose: loops under the registry mutex (and, for the jump table,
/// the text locks) must not hog the CPU.
pub(crate) fn yield_every(step: usize) {
    if step % 1024 == 1023 {
        cond_resched();
    }
}

/// Who asks for a transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A write to `/sys/kernel/batchpoke`: refused (`ENODEV`) for a key
    /// whose owner is going away, since its exit function may already
    /// have turned the key off and freed what the key's code uses.
    Sysfs,
    /// A caller of the client API: the owner itself (whose exit may still
    /// flip its keys, and whose threads may until it stops them) or a
    /// module the owner gave the key to.
    Client,
}

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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

    /// The memory the key occupies: `[start, end)`.
    fn range(&self) -> (usize, usize) {
        let (start, size) = match self {
            KeyRef::Batchpoke(key) => (key.as_ptr() as usize, core::mem::size_of::<Key>()),
            KeyRef::Static(key) => (key.as_ptr() as usize, core::mem::size_of::<StaticKey>()),
        };
        (start, start.saturating_add(size))
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

    /// Which key this is.
    pub(crate) fn id(&self) -> KeyId {
        self.key.id()
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

/// `0..len`, to sort.
fn positions(len: usize) -> Result<KVVec<usize>> {
    let mut positions = KVVec::with_capacity(len, caller_sized())?;
    for position in 0..len {
        positions.push(position, caller_sized())?;
    }
    Ok(positions)
}

/// Every registered key, in registration order, and the sysfs directories.
pub(crate) struct Registry {
    /// Boxed, so that the vector stays small (a pointer per key) however
    /// many keys there are.
    entries: KVec<KBox<KeyEntry>>,
    /// `/sys/kernel/batchpoke/keys` and `/sys/kernel/batchpoke`.
    dirs: [Option<Dir>; 2],
    next_ticket: u64,
    /// The int3 handler's table of sites.
    sites: SiteTableSlot,
    /// The table is not this registry's (its rebuild failed): rebuilt
    /// before the next transaction.
    table_stale: bool,
    /// The live keys sorted by id and by name, so that a transaction or a
    /// sysfs access finds its keys in O(log n) each; `None` while it could
    /// not be allocated (lookups then scan the registry).
    index: Option<LiveIndex>,
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
            index: None,
        }
    }

    /// The live keys, in registration order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries
            .iter()
            .map(|e| &**e)
            .filter(|e| e.status == Status::Live)
    }

    /// The live key at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&KeyEntry> {
        self.entries
            .get(index)
            .map(|e| &**e)
            .filter(|e| e.status == Status::Live)
    }

    /// The directory keys appear in, if batchpoke is not shutting down.
    pub(crate) fn keys_dir(&self) -> Option<&Dir> {
        self.dirs[0].as_ref()
    }

    /// The names of the pending keys of registration `ticket`, in order,
    /// for creating their directories with the lock dropped.
    pub(crate) fn pending_names(&self, ticket: u64) -> Result<KVec<KVec<u8>>> {
        let mut names = KVec::new();
        names.reserve(self.pending(ticket).count(), caller_sized())?;
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
            .map(|e| &**e)
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
        self.reindex();
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
        for (step, entry) in self.entries.iter_mut().enumerate() {
            yield_every(step);
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
        for (step, entry) in self.entries.iter_mut().enumerate() {
            yield_every(step);
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

    /// The sysfs directories of the dead keys, to drop after unlocking: all
    /// of them in one pass, or one if the vector to hold them all cannot
    /// be had (the caller comes back for the rest), or none if not even
    /// that (they stay with their entries, for the next removal).
    pub(crate) fn take_dead_dirs(&mut self) -> KVec<Dir> {
        let dead = |e: &&mut KBox<KeyEntry>| e.status == Status::Dead && e.dir.is_some();
        let count = self.entries.iter_mut().filter(dead).count();
        let mut dirs = KVec::new();
        let room = if dirs.reserve(count, caller_sized()).is_ok() {
            count
        } else {
            usize::from(dirs.reserve(1, caller_sized()).is_ok())
        };
        for (step, entry) in self.entries.iter_mut().filter(dead).take(room).enumerate() {
            yield_every(step);
            if let Some(dir) = entry.dir.take() {
                // Within the room reserved above: no allocation, no failure
                // (a failed push would drop the directory under the lock).
                let _ = dirs.push(dir, caller_sized());
            }
        }
        dirs
    }

    /// Whether the int3 handler's table is not this registry's (a rebuild
    /// failed) and must be rebuilt even if no key went.
    pub(crate) fn table_stale(&self) -> bool {
        self.table_stale
    }

    /// Forgets the dead keys; their directories must be gone already.
    pub(crate) fn remove_dead(&mut self) {
        compat::retain(&mut self.entries, |e| {
            e.status != Status::Dead || e.dir.is_some()
        });
        self.reindex();
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
}
