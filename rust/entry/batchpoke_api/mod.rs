// SPDX-License-Identifier: GPL-2.0

//! batchpoke's client API: keys, branch sites, and the calls that register
//! keys and flip them.
//!
//! A client module compiles this directory in, mounted at its crate root
//! (the macros expand to `$crate::batchpoke_api::...`):
//!
//! ```ignore
//! #[path = "<batchpoke>/rust/entry/batchpoke_api/mod.rs"]
//! mod batchpoke_api;
//! ```
//!
//! batchpoke itself mounts only `key.rs` and `site.rs`: it implements the
//! functions `client.rs` calls.

mod client;
pub mod compat;
mod key;
mod site;

// A client uses some of these, not all.
#[allow(unused_imports)]
pub use client::{apply, apply_serial, raw, set, stats, Registration};
pub use key::{Change, Key, Report, Stats, APPLY_SERIAL};
