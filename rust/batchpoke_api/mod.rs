// SPDX-License-Identifier: GPL-2.0

//! batchpoke's client API: keys, branch sites, and (for client modules) the
//! calls that register keys and flip them.
//!
//! This directory is compiled into batchpoke itself and into every client
//! module, each mounting it at its crate root as `batchpoke_api`:
//!
//! ```ignore
//! #[path = "<batchpoke>/rust/batchpoke_api/mod.rs"]
//! mod batchpoke_api;
//! ```
//!
//! The macros expand to `$crate::batchpoke_api::...` paths.

mod key;
mod site;

pub use key::Key;
