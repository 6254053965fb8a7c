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

use core::ffi::CStr;

use kernel::alloc::flags::__GFP_NOWARN;
use kernel::alloc::{Flags, KVVec, KVec};
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
use crate::sys::module::{cond_resched, ModuleRef, Placement, Registered};
use crate::sys::static_key::{BatchpokeKeyLink, StaticChange, StaticKey};
use crate::sys::sysfs::Dir;
use crate::sys::text::TextPokes;

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

/// A key of a registration, checked on its own ([`check_key`]) but not yet
/// against the registry or the call's other keys.
struct Checked {
    key: KeyRef,
    /// `<module>.<key>` and a NUL.
    name: KVec<u8>,
}

impl Checked {
    /// `<module>.<key>`, without the NUL.
    fn name(&self) -> &[u8] {
        self.name.split_last().map_or(&[], |(_, name)| name)
    }
}

/// The module's name, for messages.
fn module_name<'a>(owner: &ModuleRef<'a>) -> &'a str {
    core::str::from_utf8(owner.name()).unwrap_or("?")
}

/// Checks one key `owner` asks to register, on its own: where it lies (its
/// owner's core writable data), and its name (not NULL, not empty, valid
/// as `<module>.<key>`, at most [`NAME_MAX`] bytes). Nothing is read
/// through a pointer before it is known to lie in that data.
///
/// `EINVAL` for a batchpoke key outside `owner`'s memory or with a bad
/// name, `EPERM` for an ordinary static key outside it (another module's
/// or the kernel's), `EFAULT` for either kind inside it but not in its
/// core writable data (`const`, `__ro_after_init`, `__initdata`).
fn check_key(owner: ModuleRef<'_>, new_key: NewKey<'_>) -> Result<Checked> {
    let misplaced = |addr: usize, region: &str| {
        pr_err!(
            "key at {:#x} is in the {} of module {}: a key must be a writable static of its module (not const, __ro_after_init or __initdata)\n",
            addr,
            region,
            module_name(&owner)
        );
        EFAULT
    };
    match new_key {
        NewKey::Batchpoke(raw) => {
            let registered = match owner.place(raw) {
                Placement::Data(registered) => registered,
                Placement::Elsewhere(region) => return Err(misplaced(raw as usize, region)),
                Placement::Outside => {
                    pr_err!(
                        "key at {:#x} is not in the memory of the module registering it\n",
                        raw as usize
                    );
                    return Err(EINVAL);
                }
            };
            let Some(key_name) = registered.checked_name(NAME_MAX) else {
                pr_err!(
                    "key at {:#x} of module {} has no name (NULL) or one longer than {} bytes\n",
                    raw as usize,
                    module_name(&owner),
                    NAME_MAX
                );
                return Err(EINVAL);
            };
            let name = full_name(owner, key_name)?;
            Ok(Checked {
                key: KeyRef::Batchpoke(registered),
                name,
            })
        }
        NewKey::Static {
            key,
            name: key_name,
        } => {
            let registered = match owner.place(key) {
                Placement::Data(registered) => registered,
                Placement::Elsewhere(region) => return Err(misplaced(key as usize, region)),
                Placement::Outside => {
                    pr_err!(
                        "static key {:?} at {:#x} is not in the memory of the module registering it: only a module's own keys can be registered\n",
                        key_name,
                        key as usize
                    );
                    return Err(EPERM);
                }
            };
            let name = full_name(owner, key_name)?;
            Ok(Checked {
                key: KeyRef::Static(registered),
                name,
            })
        }
    }
}

/// `<module>.<key>` and a NUL: `EINVAL` for an empty key name, or a name
/// that is too long or not `[A-Za-z0-9_.-]`.
fn full_name(owner: ModuleRef<'_>, key_name: &CStr) -> Result<KVec<u8>> {
    if key_name.to_bytes().is_empty() {
        pr_err!(
            "a key of module {} has an empty name\n",
            module_name(&owner)
        );
        return Err(EINVAL);
    }
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
    name.push(0, GFP_KERNEL)?;
    Ok(name)
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

/// Positions in [`Registry::entries`] of the keys that were live when it
/// was built, sorted. Registering keys appends entries and retiring one
/// only marks it, so positions stay valid (a lookup still checks that the
/// entry is live) until [`Registry::remove_dead`] compacts the entries,
/// which rebuilds the index.
pub(crate) struct LiveIndex {
    by_id: KVVec<usize>,
    by_name: KVVec<usize>,
}

impl LiveIndex {
    /// The order by [`KeyEntry::id`].
    pub(crate) fn by_id(&self) -> &[usize] {
        &self.by_id
    }

    /// The order by [`KeyEntry::name`].
    pub(crate) fn by_name(&self) -> &[usize] {
        &self.by_name
    }
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

    /// Rebuilds [`Self::index`] from the live entries; leaves none if it
    /// cannot be allocated.
    fn reindex(&mut self) {
        self.index = None;
        let live = self.live().count();
        let (Ok(mut by_id), Ok(mut by_name)) = (
            KVVec::with_capacity(live, caller_sized()),
            KVVec::with_capacity(live, caller_sized()),
        ) else {
            return;
        };
        for (position, entry) in self.entries.iter().enumerate() {
            if entry.status == Status::Live {
                // Within the capacity reserved above: cannot fail.
                let _ = by_id.push(position, caller_sized());
                let _ = by_name.push(position, caller_sized());
            }
        }
        let entries = &self.entries;
        by_id.sort_unstable_by_key(|&at| entries.get(at).map(|e| e.key.id()));
        by_name.sort_unstable_by(|&a, &b| {
            let name = |at: usize| entries.get(at).map(|e| e.name());
            name(a).cmp(&name(b))
        });
        self.index = Some(LiveIndex { by_id, by_name });
    }

    /// The position of the live entry whose `key_of` is `key`, through
    /// `order` (an order of the index by `key_of`).
    fn lookup<'s, K: Ord>(
        &'s self,
        order: &[usize],
        key: &K,
        key_of: &impl Fn(&'s KeyEntry) -> K,
    ) -> Option<usize> {
        let at = order
            .binary_search_by(|&at| match self.entries.get(at) {
                Some(entry) => key_of(entry).cmp(key),
                None => core::cmp::Ordering::Less,
            })
            .ok()?;
        let position = *order.get(at)?;
        let live = self.entries.get(position)?.status == Status::Live;
        live.then_some(position)
    }

    /// The index of the live key called `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        match &self.index {
            Some(index) => self.lookup(index.by_name(), &name, &KeyEntry::name),
            None => self
                .entries
                .iter()
                .position(|e| e.status == Status::Live && e.name() == name),
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

    /// Adds `keys` of `owner` as pending, with the sites found for them in
    /// `owner`'s jump table, after checking everything: the owner is not
    /// going away, there are at most [`MAX_KEYS_PER_CALL`] keys, every key
    /// lies in its core writable data and has a valid name
    /// ([`check_key`]), no key or name is registered already or listed
    /// twice ([`Self::check_unique`]), every site is in its core text and
    /// holds the instruction for its key's current state, and no key is
    /// refused by [`StaticKey::check`] or [`BatchpokeKeyLink::check`]
    /// (checked, like their sites, under the engine's text locks). Nothing
    /// is added on error. Returns the registration's ticket, for
    /// [`Self::go_live`].
    pub(crate) fn add_pending(
        &mut self,
        engine: &Engine,
        owner: ModuleRef<'_>,
        keys: &[NewKey<'_>],
    ) -> Result<u64> {
        if self.keys_dir().is_none() {
            return Err(ENODEV);
        }
        // The C entry points refuse more before reading the array.
        if keys.len() > MAX_KEYS_PER_CALL {
            return Err(E2BIG);
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
        // Each key on its own, then against each other and the registry:
        // all before anything is added.
        let mut checked = KVVec::with_capacity(keys.len(), caller_sized())?;
        for (step, &new_key) in keys.iter().enumerate() {
            yield_every(step);
            checked.push(check_key(owner, new_key)?, caller_sized())?;
        }
        self.check_unique(&checked)?;
        // The vector of entries grows once, here, by the caller's count.
        self.entries.reserve(checked.len(), caller_sized())?;
        let first_new = self.entries.len();
        for (step, new_key) in checked.into_iter().enumerate() {
            yield_every(step);
            let entry = KeyEntry {
                key: new_key.key,
                owner: owner.registered(),
                name: new_key.name,
                sites: KVec::new(),
                dir: None,
                status: Status::Pending,
                ticket,
            };
            self.entries
                .push(KBox::new(entry, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let new = &mut self.entries[first_new..];
        // The new keys by the address jump entries record, for one binary
        // search per jump entry.
        let mut by_raw = KVVec::with_capacity(new.len(), caller_sized())?;
        for (position, entry) in new.iter().enumerate() {
            by_raw.push((entry.key.raw_address(), position), caller_sized())?;
        }
        by_raw.sort_unstable();
        // Static keys' counts and sites, and the link between a batchpoke
        // key and its sites, are stable under the text locks only.
        let locked = engine.lock_text();
        for (step, entry) in new.iter().enumerate() {
            yield_every(step);
            match &entry.key {
                KeyRef::Static(key) => key.get().check(entry.c_name(), &locked)?,
                KeyRef::Batchpoke(key) => {
                    BatchpokeKeyLink::of(key.get()).check(entry.c_name(), &locked)?
                }
            }
        }
        let mut step = 0;
        owner.for_each_entry(|jump_entry| {
            yield_every(step);
            step += 1;
            let Ok(found) = by_raw.binary_search_by(|&(raw, _)| raw.cmp(&jump_entry.key)) else {
                // Another key's site: not batchpoke's to check.
                return Ok(());
            };
            let Some(entry) = by_raw.get(found).and_then(|&(_, at)| new.get_mut(at)) else {
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

    /// Checks that no key of `new` is registered already (pending keys
    /// included; keys being removed do not count) or listed twice in
    /// `new`, by address and by name: `EEXIST`. Keys are compared by the
    /// memory they occupy, whatever their kind: the kernel has one list of
    /// sites per `struct static_key`, so a second entry for the same key
    /// (under another name, or a batchpoke key's `raw` as an ordinary
    /// static key) would own no sites and flip nothing.
    ///
    /// Sorts the new keys once and looks every registered key up among
    /// them: no scan of the registry per new key.
    fn check_unique(&self, new: &[Checked]) -> Result {
        let mut order = positions(new.len())?;
        let registered = || {
            self.entries
                .iter()
                .filter(|e| e.status != Status::Dead)
                .enumerate()
        };
        // By address: the new keys' ranges sorted by start must not
        // overlap each other, nor any registered key's.
        order.sort_unstable_by_key(|&at| new[at].key.range().0);
        for pair in order.windows(2) {
            let (first, second) = (&new[pair[0]], &new[pair[1]]);
            if first.key.range().1 > second.key.range().0 {
                pr_err!(
                    "keys {:?} and {:?} are the same key (at {:#x}): a key is registered once, under one name\n",
                    core::str::from_utf8(first.name()).unwrap_or("?"),
                    core::str::from_utf8(second.name()).unwrap_or("?"),
                    second.key.range().0
                );
                return Err(EEXIST);
            }
        }
        for (step, entry) in registered() {
            yield_every(step);
            let (start, end) = entry.key.range();
            // The last new key starting before `end` is the only one that
            // can overlap: the new keys' ends are sorted too.
            let after = order.partition_point(|&at| new[at].key.range().0 < end);
            let last = after.checked_sub(1).and_then(|p| order.get(p));
            if let Some(&at) = last {
                if new[at].key.range().1 > start {
                    pr_err!(
                        "key {:?} at {:#x} is registered already, as {:?}: a key is registered once, under one name\n",
                        core::str::from_utf8(new[at].name()).unwrap_or("?"),
                        new[at].key.range().0,
                        entry.c_name()
                    );
                    return Err(EEXIST);
                }
            }
        }
        // By name.
        order.sort_unstable_by(|&a, &b| new[a].name().cmp(new[b].name()));
        for pair in order.windows(2) {
            if new[pair[0]].name() == new[pair[1]].name() {
                pr_err!(
                    "key {:?} is listed twice\n",
                    core::str::from_utf8(new[pair[0]].name()).unwrap_or("?")
                );
                return Err(EEXIST);
            }
        }
        for (step, entry) in registered() {
            yield_every(step);
            if order
                .binary_search_by(|&at| new[at].name().cmp(entry.name()))
                .is_ok()
            {
                pr_err!("key {:?} is registered already\n", entry.c_name());
                return Err(EEXIST);
            }
        }
        Ok(())
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

    /// The live keys `wanted` lists (each a lookup key, found by `key_of`,
    /// and a state), as (index, state) in the order of `wanted`: `ENOENT`
    /// if one is not registered, otherwise `EINVAL` if one is listed twice.
    ///
    /// Looks every wanted key up in the index (`order` picks its order by
    /// `key_of`): O(k log n) for k keys among n. Without an index, sorts
    /// `wanted` once and looks every live key up among them: one pass over
    /// the registry, not one per wanted key.
    pub(crate) fn resolve<'s, K: Ord>(
        &'s self,
        wanted: &[(K, bool)],
        key_of: impl Fn(&'s KeyEntry) -> K,
        order: impl Fn(&LiveIndex) -> &[usize],
    ) -> Result<KVVec<(usize, bool)>> {
        if let Some(index) = &self.index {
            let order = order(index);
            let mut resolved = KVVec::with_capacity(wanted.len(), caller_sized())?;
            for (step, (key, enable)) in wanted.iter().enumerate() {
                yield_every(step);
                let position = self.lookup(order, key, &key_of).ok_or(ENOENT)?;
                resolved.push((position, *enable), caller_sized())?;
            }
            let mut sorted = KVVec::with_capacity(resolved.len(), caller_sized())?;
            for &(position, _) in resolved.iter() {
                sorted.push(position, caller_sized())?;
            }
            sorted.sort_unstable();
            if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err(EINVAL);
            }
            return Ok(resolved);
        }
        let mut order = positions(wanted.len())?;
        order.sort_unstable_by(|&a, &b| wanted[a].0.cmp(&wanted[b].0));
        let mut found = KVVec::with_capacity(wanted.len(), caller_sized())?;
        for _ in 0..wanted.len() {
            found.push(None, caller_sized())?;
        }
        for (step, (index, entry)) in self.entries.iter().enumerate().enumerate() {
            yield_every(step);
            if entry.status != Status::Live {
                continue;
            }
            let key = key_of(entry);
            let first = order.partition_point(|&at| wanted[at].0 < key);
            // Every position listing this key (more than one is refused
            // below, after the unknown keys).
            for &at in order.get(first..).unwrap_or(&[]) {
                if wanted[at].0 != key {
                    break;
                }
                if let Some(slot) = found.get_mut(at) {
                    *slot = Some(index);
                }
            }
        }
        let mut resolved = KVVec::with_capacity(wanted.len(), caller_sized())?;
        for (&(_, enable), index) in wanted.iter().zip(found.iter()) {
            resolved.push((index.ok_or(ENOENT)?, enable), caller_sized())?;
        }
        if order
            .windows(2)
            .any(|pair| wanted[pair[0]].0 == wanted[pair[1]].0)
        {
            return Err(EINVAL);
        }
        Ok(resolved)
    }

    /// Checks the changes of a transaction before anything is planned:
    /// `EINVAL` for a key listed twice, `ENOENT` for one that is not live,
    /// and, for a request from sysfs, `ENODEV` for a key whose owner is
    /// going away (see [`Origin::Sysfs`]).
    fn check_changes(&self, changes: &[(usize, bool)], origin: Origin) -> Result {
        let mut indices = KVVec::with_capacity(changes.len(), caller_sized())?;
        for &(index, _) in changes {
            indices.push(index, caller_sized())?;
        }
        indices.sort_unstable();
        if indices.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(EINVAL);
        }
        for (step, &(index, _)) in changes.iter().enumerate() {
            yield_every(step);
            let entry = self.get(index).ok_or(ENOENT)?;
            if origin == Origin::Sysfs && !entry.owner().is_live() {
                pr_err!(
                    "key {:?}: its module is going away, so sysfs cannot flip it\n",
                    entry.c_name()
                );
                return Err(ENODEV);
            }
        }
        Ok(())
    }

    /// Sets each key `changes[i].0` (an index) to state `changes[i].1`, in
    /// one transaction, for `origin`. All or nothing: a repeated key is
    /// `EINVAL`, an unknown one `ENOENT`, a key of a module going away
    /// `ENODEV` (from sysfs), more than [`MAX_TRANSACTION_SITES`] sites to
    /// change `E2BIG`.
    pub(crate) fn apply(
        &mut self,
        engine: &Engine,
        changes: &[(usize, bool)],
        strategy: Strategy,
        origin: Origin,
    ) -> Result<Applied> {
        self.check_changes(changes, origin)?;
        if self.table_stale {
            self.install_sites()?;
        }
        let mut pokes = TextPokes::new();
        let mut statics = KVVec::new();
        for (step, &(index, enable)) in changes.iter().enumerate() {
            yield_every(step);
            let entry = self.get(index).ok_or(ENOENT)?;
            let from = entry.is_enabled();
            if let Some(key) = entry.static_key() {
                let change = StaticChange {
                    key,
                    name: entry.c_name(),
                    from,
                    to: enable,
                };
                statics.push(change, caller_sized())?;
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
