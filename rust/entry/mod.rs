// SPDX-License-Identifier: GPL-2.0

//! The entry edge: where the kernel and client modules call into
//! batchpoke.
//!
//! The sysfs directories and their callbacks (`sysfs`, `sysfs_callbacks`,
//! `sysfs_attrs.c`), the debugfs files (`debugfs`), the client API's
//! exports (`exports`, checked against the header by `abi`), the module
//! notifier (`module_notifier`), the die notifier's entry
//! (`die_notifier`), and how callbacks that get no context reach the
//! module's state (`global`, `published`). A callback converts what
//! crosses in and hands it to the middle (state, registry, engine), which
//! decides; what a flip does to the machine is `crate::machine`.

// An edge: rust/Kbuild denies unsafe code everywhere but here and in
// `crate::machine`.
#![allow(unsafe_code)]

mod abi;
pub(crate) mod debugfs;
pub(crate) mod die_notifier;
pub(crate) mod exports;
pub(crate) mod global;
pub(crate) mod module_notifier;
pub(crate) mod published;
pub(crate) mod sysfs;
mod sysfs_callbacks;
