// SPDX-License-Identifier: GPL-2.0

//! batchpoke: batched patching of static-key branch sites.
//!
//! Flipping a key rewrites every branch site of that key with the int3
//! protocol; batchpoke applies each phase of the protocol to all sites of a
//! transaction at once, so a transaction costs three cross-CPU sync rounds
//! whatever its size. See `Documentation/batchpoke.rst`.

use core::pin::Pin;

use kernel::prelude::*;

// Shared with client modules, which use different subsets of it; the
// client side (client.rs) is theirs only.
#[allow(unreachable_pub, dead_code)]
#[path = "batchpoke_api"]
mod batchpoke_api {
    pub mod compat;
    mod key;
    mod site;
    pub use key::{Change, Key, Report, Stats, APPLY_SERIAL};
}
mod demo;
mod engine;
mod ffi;
mod knob;
// Shared with the host crate (rust/Cargo.toml), whose public API it is.
#[allow(unreachable_pub, dead_code)]
mod pure;
mod registry;
mod state;
mod stats;

use ffi::sysfs::{Dir, Group};
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

struct Batchpoke {
    state: Pin<KBox<State>>,
    _module_notifier: ffi::module_notifier::ModuleNotifier,
    /// Reads `state`: removed first on unload (see `drop`).
    debugfs: Option<ffi::debugfs::DebugDir>,
}

impl kernel::Module for Batchpoke {
    fn init(module: &'static ThisModule) -> Result<Self> {
        demo::self_check()?;
        let engine = engine::Engine::new()?;
        let root = Dir::create(c"batchpoke", None, Group::Root)?;
        let keys = Dir::create(c"keys", Some(&root), Group::None)?;
        let state = KBox::pin_init(State::new(engine, root, keys), GFP_KERNEL)?;
        let this = module.as_ptr().cast::<ffi::bindings::module>();
        // SAFETY: the demo keys are statics of this module, which stays
        // loaded until `drop` removes them.
        if let Err(e) = unsafe { state.register(this, &demo::KEYS) } {
            state.shutdown();
            return Err(e);
        }
        // SAFETY: `state` lives until `drop`, which shuts down every caller
        // (sysfs files, keys) before withdrawing and freeing it.
        unsafe { state::publish(&state) };
        let module_notifier = match ffi::module_notifier::ModuleNotifier::register() {
            Ok(notifier) => notifier,
            Err(e) => {
                state.shutdown();
                state::withdraw();
                return Err(e);
            }
        };
        pr_info!(
            "batchpoke {} loaded on Linux {}\n",
            VERSION,
            ffi::kernel_release()
        );
        Ok(Batchpoke {
            state,
            _module_notifier: module_notifier,
            debugfs: Some(ffi::debugfs::DebugDir::create()),
        })
    }
}

impl Drop for Batchpoke {
    fn drop(&mut self) {
        // Waits for its readers, which use the state.
        drop(self.debugfs.take());
        self.state.shutdown();
        state::withdraw();
        // Whatever happened since load, every site of the demo keys must
        // still say its key's state.
        if demo::self_check().is_err() {
            // SAFETY: plain call.
            unsafe { ffi::bindings::batchpoke_helper_warn_bad_site(0) };
        }
        pr_info!("batchpoke {} unloaded\n", VERSION);
    }
}
