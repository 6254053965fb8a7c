// SPDX-License-Identifier: GPL-2.0

//! A guest that goes wrong on request, to prove the VM harness notices.
//!
//! `make check` loads it with `crash=1` and with `warn=1` and expects the
//! run to fail with the oops or warning shown; loaded without parameters it
//! does nothing. It is a test fixture, never something to load elsewhere.

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/batchpoke_api/compat.rs"]
mod compat;

crate::batchpoke_module! {
    type: Canary,
    name: "batchpoke_canary",
    author: "batchpoke developers",
    description: "VM harness self-test: BUG or WARN on request",
    license: "GPL",
}

extern "C" {
    static batchpoke_canary_crash: bool;
    static batchpoke_canary_warn: bool;
    fn batchpoke_canary_warn_now();
}

struct Canary;

impl kernel::Module for Canary {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: module parameters (canary_params.c), set before init runs.
        let (crash, warn) = unsafe { (batchpoke_canary_crash, batchpoke_canary_warn) };
        if warn {
            // SAFETY: plain call.
            unsafe { batchpoke_canary_warn_now() };
        }
        if crash {
            // The kernel's Rust panic handler ends in BUG(): exactly the
            // oops the harness must catch.
            panic!("batchpoke_canary: crash requested");
        }
        pr_info!("batchpoke_canary loaded\n");
        Ok(Canary)
    }
}
