// SPDX-License-Identifier: GPL-2.0

//! What the files of `/sys/kernel/batchpoke` do. The ABI is documented in
//! `Documentation/ABI/testing/sysfs-kernel-batchpoke`.

use core::fmt::Write;

use kernel::prelude::*;

use crate::engine::Strategy;
use crate::entry::global::with_state;
use crate::pure::txn;
use crate::pure::writer::SliceWriter;
use crate::state::{counted, parse_error};
use crate::stats::STATS;

fn fmt_err(_: core::fmt::Error) -> Error {
    EINVAL
}

/// `stats`: one `name value` line per counter.
pub(crate) fn show_stats(out: &mut SliceWriter<'_>) -> Result {
    for (name, value) in STATS.snapshot().fields() {
        writeln!(out, "{name} {value}").map_err(fmt_err)?;
    }
    Ok(())
}

/// `strategy`: `batch` or `serial`.
pub(crate) fn show_strategy(out: &mut SliceWriter<'_>) -> Result {
    with_state(|state| writeln!(out, "{}", state.engine.strategy().name()).map_err(fmt_err))
}

/// `strategy` write: `batch` or `serial`, optionally followed by a newline.
pub(crate) fn store_strategy(input: &[u8]) -> Result {
    let word = input.strip_suffix(b"\n").unwrap_or(input);
    let strategy = counted(Strategy::from_name(word).ok_or(EINVAL))?;
    with_state(|state| {
        state.engine.set_strategy(strategy);
        Ok(())
    })
}

/// `transaction` write: `name=value ...` applied as one batch.
pub(crate) fn store_transaction(input: &[u8]) -> Result {
    with_state(|state| state.transaction(input).map(|_| ()))
}

/// `keys/<name>/enabled`: `0` or `1`.
pub(crate) fn show_enabled(name: &[u8], out: &mut SliceWriter<'_>) -> Result {
    with_state(|state| {
        let enabled = state.with_key(name, |entry| entry.is_enabled())?;
        writeln!(out, "{}", u8::from(enabled)).map_err(fmt_err)
    })
}

/// `keys/<name>/enabled` write: a boolean.
pub(crate) fn store_enabled(name: &[u8], input: &[u8]) -> Result {
    let enable = counted(txn::parse_bool_request(input).map_err(parse_error))?;
    with_state(|state| state.set_key(name, enable).map(|_| ()))
}

/// `keys/<name>/sites`: the number of branch sites.
pub(crate) fn show_sites(name: &[u8], out: &mut SliceWriter<'_>) -> Result {
    with_state(|state| {
        let sites = state.with_key(name, |entry| entry.sites().len())?;
        writeln!(out, "{sites}").map_err(fmt_err)
    })
}

/// `keys/<name>/owner`: the owning module's name.
pub(crate) fn show_owner(name: &[u8], out: &mut SliceWriter<'_>) -> Result {
    with_state(|state| {
        state.with_key(name, |entry| {
            let owner = core::str::from_utf8(entry.owner().name()).unwrap_or("?");
            writeln!(out, "{owner}").map_err(fmt_err)
        })?
    })
}
