// SPDX-License-Identifier: GPL-2.0

//! Finding keys: the index of the live keys by address and by name, and
//! the lookups of transactions and sysfs through it.

use kernel::alloc::KVVec;
use kernel::prelude::*;

use crate::pure::sort;

use super::{caller_sized, positions, yield_every, KeyEntry, Registry, Status};

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
    /// Rebuilds [`Self::index`] from the live entries; leaves none if it
    /// cannot be allocated.
    pub(super) fn reindex(&mut self) {
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
        sort::sort_by_key(&mut by_id, |&at| entries.get(at).map(|e| e.key.id()));
        sort::sort_by(&mut by_name, |&a, &b| {
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

    /// The live keys `wanted` lists (each a lookup key, found by `key_of`,
    /// and a state), as (index, state) in the order of `wanted`: `ENOENT`
    /// if one is not registered. Without the index, also `EINVAL` if one is
    /// listed twice; with it, a key listed twice comes back twice and
    /// [`Registry::apply`] refuses it.
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
            // A key listed twice resolves to one index twice, which
            // `apply` refuses first thing (`check_changes`: EINVAL).
            return Ok(resolved);
        }
        let mut order = positions(wanted.len())?;
        sort::sort_by(&mut order, |&a, &b| wanted[a].0.cmp(&wanted[b].0));
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
}
