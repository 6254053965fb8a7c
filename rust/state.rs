// SPDX-License-Identifier: GPL-2.0

//! The module's state, shared by sysfs, the client API and module teardown.

use core::ffi::CStr;

use kernel::alloc::{KVVec, KVec};
use kernel::prelude::*;
use kernel::sync::{new_mutex, Mutex};

use crate::batchpoke_api::Change;
use crate::engine::{Applied, Engine, Strategy};
use crate::entry::sysfs::{Dir, Group};
use crate::machine::bindings;
use crate::machine::int3::SiteTableSlot;
use crate::machine::module::ModuleRef;
use crate::pure::txn::{self, ParseError};
use crate::registry::{
    caller_sized, yield_every, KeyEntry, KeyId, LiveIndex, NewKey, Origin, Registry,
};
use crate::stats::STATS;

/// Everything batchpoke runs on.
#[pin_data]
pub(crate) struct State {
    pub(crate) engine: Engine,
    #[pin]
    registry: Mutex<Registry>,
}

impl State {
    /// The state, with sysfs directories `root_dir` and `keys_dir`, and
    /// the int3 handler's table of sites installed through `sites`.
    pub(crate) fn new(
        engine: Engine,
        sites: SiteTableSlot,
        root_dir: Dir,
        keys_dir: Dir,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(State {
            engine,
            registry <- new_mutex!(Registry::new(root_dir, keys_dir, sites)),
        })
    }

    /// Registers `keys` of `owner`: checks them and their sites (see
    /// [`Registry::add_pending`]), creates their sysfs directories with the
    /// registry lock dropped, then makes them live. All or nothing.
    ///
    /// Every pointer in `keys` that lies in `owner`'s memory must be the
    /// kind of key it says (the client API's contract); others are refused
    /// unread.
    pub(crate) fn register(&self, module: ModuleRef<'_>, keys: &[NewKey<'_>]) -> Result {
        let (ticket, names) = {
            let mut registry = self.registry.lock();
            let ticket = registry.add_pending(&self.engine, module, keys)?;
            // Its sites are in the int3 handler's table before any of them
            // can be patched.
            // Then batchpoke keys' sites take the form that flips in one
            // round.
            let names = registry
                .install_sites()
                .and_then(|()| registry.convert_pending(&self.engine, ticket))
                .and_then(|()| registry.pending_names(ticket));
            match names {
                Ok(names) => (ticket, names),
                Err(e) => {
                    registry.retire_ticket(ticket);
                    registry.restore_dead(&self.engine);
                    registry.remove_dead();
                    // Failure or not, the error is the registration's.
                    let _ = registry.install_sites();
                    return Err(e);
                }
            }
        };
        let dirs = self.create_dirs(&names);
        let mut registry = self.registry.lock();
        let result = match dirs {
            Ok(dirs) => registry.go_live(ticket, dirs),
            Err((e, dirs)) => {
                registry.retire_ticket(ticket);
                Err((e, dirs))
            }
        };
        drop(registry);
        match result {
            Ok(()) => Ok(()),
            Err((e, dirs)) => {
                // Removed here, with the lock released.
                drop(dirs);
                self.remove_dead();
                Err(e)
            }
        }
    }

    /// One directory per name under `keys/`; on error, those made so far.
    fn create_dirs(
        &self,
        names: &[KVec<u8>],
    ) -> core::result::Result<KVec<Dir>, (Error, KVec<Dir>)> {
        let mut dirs = KVec::new();
        if let Err(e) = dirs.reserve(names.len(), caller_sized()) {
            return Err((e.into(), dirs));
        }
        // Taken once: a lock per directory made 4,096 keys take 80 times
        // longer to register while another thread ran transactions. If
        // the directory is removed meanwhile (shutdown), creation fails.
        let parent = match self.registry.lock().keys_dir().map(Dir::get) {
            Some(parent) => parent,
            None => return Err((ENODEV, dirs)),
        };
        for (step, name) in names.iter().enumerate() {
            yield_every(step);
            let name = CStr::from_bytes_until_nul(name).map_err(|_| EINVAL);
            let dir = name.and_then(|name| Dir::create(name, Some(&parent), Group::Key));
            match dir {
                Ok(dir) => {
                    if let Err(e) = dirs.push(dir, GFP_KERNEL) {
                        return Err((e.into(), dirs));
                    }
                }
                Err(e) => return Err((e, dirs)),
            }
        }
        Ok(dirs)
    }

    /// Removes the keys of `owner` that `listed` picks. Returns how many
    /// there were.
    pub(crate) fn unregister_keys(
        &self,
        owner: *const bindings::module,
        listed: impl Fn(KeyId) -> bool,
    ) -> usize {
        let count = self.registry.lock().retire_keys(owner, listed);
        self.remove_retired(count);
        count
    }

    /// Removes every key of `owner`. Returns how many there were.
    pub(crate) fn unregister_module(&self, owner: *const bindings::module) -> usize {
        let count = self.registry.lock().retire_module(Some(owner));
        self.remove_retired(count);
        count
    }

    /// Removes what was just retired. Nothing retired (a module without
    /// keys going, an empty unregistration) costs nothing: no table
    /// rebuild, no RCU grace period, unless an earlier rebuild failed.
    fn remove_retired(&self, retired: usize) {
        if retired == 0 && !self.registry.lock().table_stale() {
            return;
        }
        self.remove_dead();
    }

    /// Removes every key and the sysfs tree; nothing can be registered after.
    pub(crate) fn shutdown(&self) {
        let dirs = {
            let mut registry = self.registry.lock();
            registry.retire_module(None);
            registry.take_dirs()
        };
        self.remove_dead();
        drop(dirs);
    }

    fn remove_dead(&self) {
        loop {
            let dirs = self.registry.lock().take_dead_dirs();
            if dirs.is_empty() {
                break;
            }
            // Dropped here, with the lock released.
            drop(dirs);
        }
        let mut registry = self.registry.lock();
        registry.restore_dead(&self.engine);
        registry.remove_dead();
        // Sites leave the table before their module's text can go: callers
        // retire a module's keys in its `GOING` notification at the latest.
        // Failing, the table is left empty until the next transaction.
        let _ = registry.install_sites();
    }

    /// Applies a `name=value ...` request as one transaction.
    pub(crate) fn transaction(&self, request: &[u8]) -> Result<Applied> {
        counted(self.parse_and_apply(request))
    }

    fn parse_and_apply(&self, request: &[u8]) -> Result<Applied> {
        // A request is shorter than a page: a modest vector.
        let mut wanted = KVVec::new();
        let mut alloc = Ok(());
        txn::parse_transaction(request, |name, enable| {
            if alloc.is_ok() {
                alloc = wanted.push((name, enable), caller_sized());
            }
        })
        .map_err(parse_error)?;
        alloc?;
        let mut registry = self.registry.lock();
        let changes = registry.resolve(&wanted, KeyEntry::name, LiveIndex::by_name)?;
        registry.apply(
            &self.engine,
            &changes,
            self.engine.strategy(),
            Origin::Sysfs,
        )
    }

    /// Applies `changes` (key address, state) as one transaction, for a
    /// client. Refusals are counted by the caller.
    pub(crate) fn apply_changes(&self, changes: &[Change], strategy: Strategy) -> Result<Applied> {
        let changes = changes
            .iter()
            .map(|change| (KeyId::Batchpoke(change.key as usize), change.enable));
        self.apply_ids(changes, strategy)
    }

    /// Applies `changes` (key, state) of ordinary static keys as one
    /// transaction, for a client. Refusals are counted by the caller.
    pub(crate) fn apply_static_changes(
        &self,
        changes: &[bindings::batchpoke_static_change],
        strategy: Strategy,
    ) -> Result<Applied> {
        let changes = changes
            .iter()
            .map(|change| (KeyId::Static(change.key as usize), change.enable));
        self.apply_ids(changes, strategy)
    }

    /// `changes` come from a caller whose count is at most
    /// [`crate::registry::MAX_KEYS_PER_CALL`] (checked at the boundary).
    fn apply_ids(
        &self,
        changes: impl ExactSizeIterator<Item = (KeyId, bool)>,
        strategy: Strategy,
    ) -> Result<Applied> {
        let mut wanted = KVVec::with_capacity(changes.len(), caller_sized())?;
        for change in changes {
            wanted.push(change, caller_sized())?;
        }
        let mut registry = self.registry.lock();
        let indices = registry.resolve(&wanted, KeyEntry::id, LiveIndex::by_id)?;
        registry.apply(&self.engine, &indices, strategy, Origin::Client)
    }

    /// Sets the key called `name`, from sysfs.
    pub(crate) fn set_key(&self, name: &[u8], enable: bool) -> Result<Applied> {
        let mut registry = self.registry.lock();
        let index = registry.find(name).ok_or(ENOENT);
        counted(index.and_then(|index| {
            registry.apply(
                &self.engine,
                &[(index, enable)],
                self.engine.strategy(),
                Origin::Sysfs,
            )
        }))
    }

    /// Runs `f` on every live key, in registration order, registry locked:
    /// no key comes or goes and no transaction runs meanwhile.
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(&KeyEntry)) {
        for entry in self.registry.lock().live() {
            f(entry);
        }
    }

    /// Runs `f` on the key called `name`, registry locked.
    pub(crate) fn with_key<R>(&self, name: &[u8], f: impl FnOnce(&KeyEntry) -> R) -> Result<R> {
        let registry = self.registry.lock();
        let index = registry.find(name).ok_or(ENOENT)?;
        registry.get(index).map(f).ok_or(ENOENT)
    }
}

/// Counts a refused request.
pub(crate) fn counted<T>(result: Result<T>) -> Result<T> {
    if result.is_err() {
        STATS.refusal();
    }
    result
}

/// The error code of a malformed request.
pub(crate) fn parse_error(e: ParseError) -> Error {
    match e {
        ParseError::Empty | ParseError::Nul | ParseError::Malformed(_) => EINVAL,
    }
}
