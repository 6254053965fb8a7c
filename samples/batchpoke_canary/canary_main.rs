// SPDX-License-Identifier: GPL-2.0

//! A guest that goes wrong on request, to prove the VM harness notices.
//!
//! `make check` loads it with `crash=1`, `warn=1`, `warns=2000` (a storm of
//! WARNINGs) and `fake_bugs=N warn=1` (a WARNING after many BUG-like lines)
//! and expects every such run to fail with the problem shown; loaded without
//! parameters it does nothing. It is a test fixture, never something to load
//! elsewhere.

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/entry/batchpoke_api/compat.rs"]
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
    fn batchpoke_canary_misbehave();
}

struct Canary;

impl kernel::Module for Canary {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: module parameters (canary_params.c), set before init runs.
        let crash = unsafe { batchpoke_canary_crash };
        // SAFETY: plain call; it logs and WARNs as its parameters ask.
        unsafe { batchpoke_canary_misbehave() };
        if crash {
            // The kernel's Rust panic handler ends in BUG(): exactly the
            // oops the harness must catch.
            panic!("batchpoke_canary: crash requested");
        }
        pr_info!("batchpoke_canary loaded\n");
        Ok(Canary)
    }
}
