// SPDX-License-Identifier: GPL-2.0

//! A guest that goes wrong on request, to prove the VM harness notices.
//!
//! `make check` loads it with `crash=1` and with `warn=1` and expects the
//! run to fail with the oops or warning shown; loaded without parameters it
//! does nothing. It is a test fixture, never something to load elsewhere.

use kernel::prelude::*;

module! {
    type: Canary,
    name: "batchpoke_canary",
    authors: ["batchpoke developers"],
    description: "VM harness self-test: BUG or WARN on request",
    license: "GPL",
    params: {
        crash: bool {
            default: false,
            description: "Hit BUG() while loading",
        },
        warn: bool {
            default: false,
            description: "Emit a WARNING while loading",
        },
    },
}

struct Canary;

impl kernel::Module for Canary {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::warn.value() {
            kernel::warn_on!(true);
        }
        if module_parameters::crash.value() {
            // The kernel's Rust panic handler ends in BUG(): exactly the
            // oops the harness must catch.
            panic!("batchpoke_canary: crash requested");
        }
        pr_info!("batchpoke_canary loaded\n");
        Ok(Canary)
    }
}
