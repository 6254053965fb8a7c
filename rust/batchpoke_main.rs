// SPDX-License-Identifier: GPL-2.0

//! batchpoke: batched patching of static-key branch sites.
//!
//! Flipping a key rewrites every branch site of that key with the int3
//! protocol; batchpoke applies each phase of the protocol to all sites of a
//! transaction at once, so a transaction costs three cross-CPU sync rounds
//! whatever its size.

use kernel::prelude::*;

mod ffi;

/// The module's version, kept equal to `rust/Cargo.toml`'s by a host test.
const VERSION: &str = "0.1.0";

module! {
    type: Batchpoke,
    name: "batchpoke",
    authors: ["batchpoke developers"],
    description: "Batched patching of static-key branch sites",
    license: "GPL",
}

struct Batchpoke;

impl kernel::Module for Batchpoke {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!(
            "batchpoke {} loaded on Linux {}\n",
            VERSION,
            ffi::kernel_release()
        );
        Ok(Batchpoke)
    }
}

impl Drop for Batchpoke {
    fn drop(&mut self) {
        pr_info!("batchpoke {} unloaded\n", VERSION);
    }
}
