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
#[path = "sys/batchpoke_api"]
mod batchpoke_api {
    pub mod compat;
    mod key;
    mod site;
    pub use key::{Change, Key, Report, Stats, APPLY_SERIAL};
}
mod demo;
mod engine;
mod sys;
mod knob;
// Shared with the host crate (rust/Cargo.toml), whose public API it is.
#[allow(unreachable_pub, dead_code)]
mod pure;
mod registry;
mod state;
mod stats;

use sys::sysfs::{Dir, Group};
use state::{PublishedState, State};

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
/// Fields are dropped in declaration order, which is the teardown order:
/// the module notifier and the debugfs directory go first, so no
/// `MODULE_STATE_GOING` callback or debugfs reader can still be using the
/// state while it is shut down and freed; the final check goes last, once
/// no transaction can be in flight.
struct Batchpoke {
    _module_notifier: sys::module_notifier::ModuleNotifier,
    /// Reads the state: removed (waiting for its readers) before it.
    _debugfs: sys::debugfs::DebugDir,
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
            // SAFETY: plain call.
            unsafe { sys::bindings::batchpoke_helper_warn_bad_site(0) };
        }
        pr_info!("batchpoke {} unloaded\n", VERSION);
    }
}

impl kernel::Module for Batchpoke {
    fn init(module: &'static ThisModule) -> Result<Self> {
        demo::self_check()?;
        let engine = engine::Engine::new()?;
        let root = Dir::create(c"batchpoke", None, Group::Root)?;
        let keys = Dir::create(c"keys", Some(&root.get()), Group::None)?;
        let state = KBox::pin_init(State::new(engine, root, keys), GFP_KERNEL)?;
        // SAFETY: this is the only `PublishedState`; it is dropped after the
        // module notifier (field order) and no client can be loaded while
        // this module goes away.
        let state = unsafe { PublishedState::publish(state) };
        let this = module.as_ptr().cast::<sys::bindings::module>();
        // SAFETY: the demo keys are statics of this module, which stays
        // loaded until `state` (which unregisters them) is dropped.
        unsafe { state.register(this, &demo::keys()) }?;
        let module_notifier = sys::module_notifier::ModuleNotifier::register()?;
        pr_info!(
            "batchpoke {} loaded on Linux {}\n",
            VERSION,
            sys::kernel_release()
        );
        Ok(Batchpoke {
            _module_notifier: module_notifier,
            _debugfs: sys::debugfs::DebugDir::create(),
            _state: state,
            _final_check: FinalCheck,
        })
    }
}
