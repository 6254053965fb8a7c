// SPDX-License-Identifier: GPL-2.0

//! Admitting keys: everything a registration checks before any key is
//! added ([`Registry::add_pending`]): each key on its own (its memory, its
//! name), against the call's other keys and the registry (by address and
//! by name, sorted, not scanned), and its sites in the owner's jump table.

use core::ffi::CStr;

use kernel::alloc::{KVVec, KVec};
use kernel::prelude::*;

use crate::pure::sort;

use crate::engine::Engine;
use crate::machine::module::{ModuleRef, Placement};
use crate::machine::static_key::BatchpokeKeyLink;
use crate::pure::insn::Form;
use crate::pure::txn;

use super::{
    caller_sized, positions, yield_every, KeyEntry, KeyRef, NewKey, Registry, Status,
    MAX_KEYS_PER_CALL, NAME_MAX,
};

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

impl Registry {
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
        sort::sort(&mut by_raw);
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
            if !site.reaches_target() {
                pr_err!(
                    "site {:#x} of key {:?} cannot jump to its target {:#x}: out of a {}-byte jump's reach, so no flip could encode it\n",
                    site.addr,
                    entry.c_name(),
                    site.target,
                    site.width.len()
                );
                return Err(ERANGE);
            }
            if site.form == Form::TailConstant && matches!(entry.key, KeyRef::Static(_)) {
                pr_err!(
                    "site {:#x} of static key {:?} holds batchpoke's form of a batchpoke key's site: not a static key's\n",
                    site.addr,
                    entry.c_name()
                );
                return Err(EINVAL);
            }
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
        sort::sort_by_key(&mut order, |&at| new[at].key.range().0);
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
        sort::sort_by(&mut order, |&a, &b| new[a].name().cmp(new[b].name()));
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
}
