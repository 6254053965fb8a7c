// SPDX-License-Identifier: GPL-2.0

//! A batchpoke key: a named on/off state whose branch sites batchpoke
//! patches.

// FFI (see rust/entry/mod.rs); client modules compile this file too.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ffi::{c_char, CStr};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

/// A static key owned by the module that defines it, flipped by batchpoke.
///
/// Define keys with [`define_key!`](crate::define_key) and branch on them
/// with [`static_branch_unlikely!`](crate::static_branch_unlikely) and
/// [`static_branch_likely!`](crate::static_branch_likely).
///
/// Every site is a real `__jump_table` entry whose key is `raw`, a genuine
/// `struct static_key`: the module loader sorts the entries and the kernel's
/// kprobes refuse to probe the sites (`jump_label_text_reserved()`). The
/// kernel never patches the sites: the loader links `raw` to them
/// (`jump_label_add_module()` writes its entries pointer), and batchpoke
/// unlinks it when the key is registered, under `jump_label_mutex`, so the
/// kernel's static-key API, should `raw` reach it, only moves a count
/// batchpoke never reads and patches nothing. The key's state is
/// [`Key::is_enabled`].
///
/// A key must be a plain static of the module that registers it: in its
/// writable data, not `const`, `__ro_after_init` or `__initdata`.
///
/// The layout is `repr(C)` because batchpoke reads the keys of client
/// modules, which compile this same definition.
#[repr(C)]
pub struct Key {
    /// The kernel's view of the key: linked to its sites by
    /// `jump_label_add_module()` at load, unlinked by batchpoke at
    /// registration. Jump-table entries point here; it must stay first.
    raw: UnsafeCell<MaybeUninit<kernel::bindings::static_key>>,
    /// A `&'static CStr` for a key made by [`Key::new`], kept thin so the
    /// layout is C's; in a key a C client defines, whatever it wrote
    /// (NULL included), which batchpoke checks before reading.
    name: *const c_char,
    initially: bool,
    enabled: AtomicBool,
}

// SAFETY: `raw` is written only by the kernel's jump-label code while the
// owning module loads, before any other thread can reach the key, and by
// batchpoke under `jump_label_mutex`, as the kernel writes it; `name`
// points to an immutable static string; the rest is immutable or atomic.
unsafe impl Sync for Key {}

impl Key {
    /// The offsets of `raw`, `name`, `initially` and `enabled`, for the
    /// layout check against `struct batchpoke_key` (`rust/entry/abi.rs`).
    #[doc(hidden)]
    pub const FIELD_OFFSETS: [usize; 4] = [
        core::mem::offset_of!(Key, raw),
        core::mem::offset_of!(Key, name),
        core::mem::offset_of!(Key, initially),
        core::mem::offset_of!(Key, enabled),
    ];

    /// A key named `name` (unique within its module), initially `initially`.
    ///
    /// Use [`define_key!`](crate::define_key), which also records the
    /// initial state where the branch macros can see it at compile time.
    #[doc(hidden)]
    // `name` stays a `core::ffi::CStr` pointer on both ends.
    #[allow(clippy::disallowed_methods)]
    pub const fn new(name: &'static CStr, initially: bool) -> Self {
        Key {
            raw: UnsafeCell::new(MaybeUninit::zeroed()),
            name: name.as_ptr(),
            initially,
            enabled: AtomicBool::new(initially),
        }
    }

    /// The key's name within its module; empty if the key has none (a C
    /// key whose `name` is NULL, which batchpoke refuses to register).
    #[allow(clippy::disallowed_methods)]
    pub fn name(&self) -> &'static CStr {
        if self.name.is_null() {
            return c"";
        }
        // SAFETY: a non-null `name` is a `&'static CStr` from `new`, or, in
        // a key a C client defined, the static NUL-terminated string
        // `batchpoke.h` requires `name` to be.
        unsafe { CStr::from_ptr(self.name) }
    }

    /// The `name` pointer as the key holds it, unchecked: batchpoke reads
    /// the keys of C clients through it only after checking it.
    #[doc(hidden)]
    pub fn name_ptr(&self) -> *const c_char {
        self.name
    }

    /// Whether the key is enabled now: the state its sites hold, or are
    /// being patched to.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// The state the key's sites were compiled for.
    pub fn initially(&self) -> bool {
        self.initially
    }

    /// The address jump-table entries record for this key.
    pub fn raw_address(&self) -> usize {
        self.raw.get() as usize
    }

    /// Records the state batchpoke patched the sites to.
    #[doc(hidden)]
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
    }
}

/// Defines a batchpoke key.
///
/// ```ignore
/// define_key!(pub(crate) TRACE_IO: c"trace_io" = false);
/// ```
///
/// defines the static `TRACE_IO` and, in the type namespace, a module of
/// the same name holding the initial state for the branch macros.
#[macro_export]
macro_rules! define_key {
    ($(#[$meta:meta])* $vis:vis $name:ident : $key_name:literal = $initially:literal) => {
        $(#[$meta])*
        $vis static $name: $crate::batchpoke_api::Key =
            $crate::batchpoke_api::Key::new($key_name, $initially);

        #[doc(hidden)]
        #[allow(non_snake_case, dead_code)]
        $vis mod $name {
            pub(crate) const INITIALLY: bool = $initially;
        }
    };
}

/// One key change of a transaction (`struct batchpoke_change`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Change {
    /// The key, registered by the module that owns it.
    pub key: *const Key,
    /// The state to set.
    pub enable: bool,
}

impl Change {
    /// A change of `key` to `enable`.
    pub fn new(key: &'static Key, enable: bool) -> Self {
        Change { key, enable }
    }
}

/// Apply the transaction one site at a time (three sync rounds per site),
/// as patching worked before batching; for comparisons.
pub const APPLY_SERIAL: u32 = 1;

/// What one transaction did (`struct batchpoke_report`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Sites whose bytes changed.
    pub sites: u64,
    /// Cross-CPU sync rounds it took.
    pub rounds: u64,
}

/// batchpoke's counters since it was loaded (`struct batchpoke_stats`),
/// as `/sys/kernel/batchpoke/stats` shows them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Transactions applied.
    pub transactions: u64,
    /// Sites changed.
    pub sites_patched: u64,
    /// Sync rounds run.
    pub sync_rounds: u64,
    /// Traps on a site resolved by the int3 handler.
    pub int3_hits: u64,
    /// Transactions refused (nothing changed).
    pub refused: u64,
    /// Duration of the last transaction, ns.
    pub last_ns: u64,
    /// Longest transaction, ns.
    pub max_ns: u64,
}

impl Stats {
    /// The counters as `name value` pairs, in the order `stats` shows them.
    pub fn fields(&self) -> [(&'static str, u64); 7] {
        [
            ("transactions", self.transactions),
            ("sites_patched", self.sites_patched),
            ("sync_rounds", self.sync_rounds),
            ("int3_hits", self.int3_hits),
            ("refused", self.refused),
            ("last_ns", self.last_ns),
            ("max_ns", self.max_ns),
        ]
    }
}
