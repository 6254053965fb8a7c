// SPDX-License-Identifier: GPL-2.0

//! The transaction: checked changes turned into one batch of pokes.

use kernel::alloc::KVVec;
use kernel::prelude::*;

use crate::pure::sort;

use crate::engine::{Applied, Engine, Strategy};
use crate::machine::static_key::StaticChange;
use crate::machine::text::TextPokes;
use crate::pure::plan::Poke;

use super::{caller_sized, yield_every, KeyRef, Origin, Registry, MAX_TRANSACTION_SITES};

impl Registry {
    /// Checks the changes of a transaction before anything is planned:
    /// `EINVAL` for a key listed twice, `ENOENT` for one that is not live,
    /// and, for a request from sysfs, `ENODEV` for a key whose owner is
    /// going away (see [`Origin::Sysfs`]).
    fn check_changes(&self, changes: &[(usize, bool)], origin: Origin) -> Result {
        let mut indices = KVVec::with_capacity(changes.len(), caller_sized())?;
        for &(index, _) in changes {
            indices.push(index, caller_sized())?;
        }
        sort::sort(&mut indices);
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
