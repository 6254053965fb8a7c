// SPDX-License-Identifier: GPL-2.0

//! The engine's counters, readable at any time without locks.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::batchpoke_api::Stats as Snapshot;

/// Counters of everything the engine did since the module was loaded.
pub(crate) struct Stats {
    transactions: AtomicU64,
    sites_patched: AtomicU64,
    sync_rounds: AtomicU64,
    int3_hits: AtomicU64,
    refused: AtomicU64,
    last_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// The module's counters.
pub(crate) static STATS: Stats = Stats {
    transactions: AtomicU64::new(0),
    sites_patched: AtomicU64::new(0),
    sync_rounds: AtomicU64::new(0),
    int3_hits: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    last_ns: AtomicU64::new(0),
    max_ns: AtomicU64::new(0),
};

impl Stats {
    /// Counts one trap resolved by the int3 handler. On the handler path.
    #[inline(always)]
    pub(crate) fn int3_hit(&self) {
        self.int3_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one sync round, as soon as every CPU has serialized: a
    /// reader that sees the count grow knows the round is complete.
    pub(crate) fn sync_round(&self) {
        self.sync_rounds.fetch_add(1, Ordering::Release);
    }

    /// Counts one applied transaction (its rounds were counted as they ran).
    pub(crate) fn transaction(&self, sites: usize, ns: u64) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.sites_patched
            .fetch_add(sites as u64, Ordering::Relaxed);
        self.last_ns.store(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Counts one transaction refused (bad request or unexpected text).
    pub(crate) fn refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            transactions: self.transactions.load(Ordering::Relaxed),
            sites_patched: self.sites_patched.load(Ordering::Relaxed),
            sync_rounds: self.sync_rounds.load(Ordering::Acquire),
            int3_hits: self.int3_hits.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            last_ns: self.last_ns.load(Ordering::Relaxed),
            max_ns: self.max_ns.load(Ordering::Relaxed),
        }
    }
}
