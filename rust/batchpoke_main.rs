// SPDX-License-Identifier: GPL-2.0

//! batchpoke: batched patching of static-key branch sites.
//!
//! Flipping a key rewrites every branch site of that key with the int3
//! protocol; batchpoke applies each phase of the protocol to all sites of a
//! transaction at once, so a transaction costs three cross-CPU sync rounds
//! whatever its size. See `Documentation/batchpoke.rst`.

use kernel::prelude::*;

// Shared with client modules, which use different subsets of it; the
// client side (client.rs) is theirs only.
#[allow(unreachable_pub, dead_code)]
#[path = "entry/batchpoke_api"]
mod batchpoke_api {
    // Only its declarations of the exports (`raw`), checked by `entry::abi`.
    mod client;
    pub mod compat;
    mod key;
    mod site;
    pub use client::raw;
    pub use key::{Change, Key, Report, Stats, APPLY_SERIAL};
}
// Two edges around a safe middle. `entry` is where the kernel and clients
// call in (sysfs, debugfs, exports, notifiers), `machine` what batchpoke
// does to the machine (text, sync rounds, the int3 handler, module memory,
// static keys). rust/Kbuild makes the `unsafe_code` lint an error for the
// whole crate and only they (and the client API, FFI too) lift it. The
// middle (state, registry, engine, knob, stats, demo) decides; `pure` is
// shared with the host tests.
mod entry;
mod machine;

mod demo;
mod engine;
mod knob;
// Shared with the host crate (rust/Cargo.toml), whose public API it is.
#[allow(unreachable_pub, dead_code)]
mod pure;
mod registry;
mod state;
mod stats;

use entry::published::PublishedState;
use entry::sysfs::{Dir, Group};
use machine::int3::SiteTableSlot;
use machine::module::ModuleRef;
use state::State;

/// The module's version, kept equal to `rust/Cargo.toml`'s by a host test.
const VERSION: &str = "0.1.0";

crate::batchpoke_module! {
    type: Batchpoke,
    name: "batchpoke",
    author: "batchpoke developers",
    description: "Batched patching of static-key branch sites",
    license: "GPL",
}

/// The loaded module.
///
/// Fields are dropped in declaration order: the state (whose handle
/// unregisters its other users first, see [`PublishedState`]) before the
/// final check, which must run once no transaction can be in flight.
struct Batchpoke {
    _state: PublishedState,
    _final_check: FinalCheck,
}

/// Checks the demo sites when dropped, the last thing batchpoke does.
///
/// It must come after the state's teardown: until that has drained the
/// sysfs callbacks, a transaction may be patching the demo sites, and a
/// site already patched would disagree with its key's state.
struct FinalCheck;

impl Drop for FinalCheck {
    fn drop(&mut self) {
        // Whatever happened since load, every site of the demo keys must
        // still say its key's state.
        if demo::self_check().is_err() {
            machine::warn_bad_site(0);
        }
        pr_info!("batchpoke {} unloaded\n", VERSION);
    }
}

impl kernel::Module for Batchpoke {
    fn init(module: &'static ThisModule) -> Result<Self> {
        demo::self_check()?;
        let engine = engine::Engine::new(ModuleRef::this(module)?)?;
        let sites = SiteTableSlot::new()?;
        let root = Dir::create(c"batchpoke", None, Group::Root)?;
        let keys = Dir::create(c"keys", Some(&root.get()), Group::None)?;
        let state = KBox::pin_init(State::new(engine, sites, root, keys), GFP_KERNEL)?;
        let state = PublishedState::publish(state)?;
        state.register(ModuleRef::this(module)?, &demo::keys())?;
        pr_info!(
            "batchpoke {} loaded on Linux {}\n",
            VERSION,
            machine::kernel_release()
        );
        Ok(Batchpoke {
            _state: state,
            _final_check: FinalCheck,
        })
    }
}
