// SPDX-License-Identifier: GPL-2.0

//! The parts of batchpoke that are plain computation: instruction encoding,
//! site descriptions, transaction planning, the pages a batch writes to and
//! the handler's lookup and its resolution of a trap.
//!
//! Everything here uses `core` only, so the same files compile into the
//! kernel module and into the host crate `rust/Cargo.toml`, where
//! `cargo test` exercises them.

pub mod insn;
pub mod pages;
pub mod plan;
pub mod search;
pub mod site;
pub mod sort;
pub mod trap;
pub mod txn;
pub mod writer;
