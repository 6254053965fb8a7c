// SPDX-License-Identifier: GPL-2.0

//! The form of a batchpoke key's sites: tail-constant while the key is
//! registered, the compiler's as soon as it is not.
//!
//! A batchpoke key's sites fall through as the compiler emitted them, the
//! kernel's NOP (objtool accepts nothing else at a `__jump_table` site).
//! Registration rewrites each such site to the tail-constant form
//! ([`Form::TailConstant`]) by the two-round protocol, once; from then on
//! every flip changes first bytes only and costs one sync round. Leaving
//! (unregistration, its owner or batchpoke going) rewrites them back, so
//! that nothing of batchpoke is left in a client's text. Ordinary static
//! keys keep the kernel's encodings: its jump-label code patches them too
//! and checks their bytes.

use kernel::prelude::*;

use crate::engine::Engine;
use crate::machine::text::TextPokes;
use crate::pure::insn::Form;
use crate::pure::plan::{Ending, Poke};

use super::{yield_every, KeyEntry, KeyRef, Registry, Status};

impl Registry {
    /// Puts the sites of the pending batchpoke keys of registration
    /// `ticket` in the tail-constant form. They are in the int3 handler's
    /// table already, which resolves a late trap at either form, so the
    /// batch needs no final sync. Nothing changes on error.
    pub(crate) fn convert_pending(&mut self, engine: &Engine, ticket: u64) -> Result {
        self.convert(
            engine,
            |e| e.ticket == ticket && e.status == Status::Pending,
            Form::TailConstant,
            Ending::Unsynced,
        )
    }

    /// Puts the sites of the retired batchpoke keys back in the compiler's
    /// form, before they leave the int3 handler's table. Ends with a sync
    /// round: once the sites are out of the table, no trap may still be
    /// resolved from it. Cannot fail: on error the sites stay in the
    /// tail-constant form (still one of their instructions; a later
    /// registration accepts it) and the log says so.
    pub(crate) fn restore_dead(&mut self, engine: &Engine) {
        if let Err(e) = self.convert(
            engine,
            |e| e.status == Status::Dead,
            Form::Kernel,
            Ending::Synced,
        ) {
            pr_warn!(
                "the sites of unregistered keys stay in batchpoke's form ({:?}): they still run as their key's state says\n",
                e
            );
        }
    }

    /// Puts every site of the batchpoke keys `pick` selects in `form`, as
    /// one batch ended as `ending` says.
    fn convert(
        &mut self,
        engine: &Engine,
        pick: impl Fn(&KeyEntry) -> bool,
        form: Form,
        ending: Ending,
    ) -> Result {
        let picked = |e: &KeyEntry| matches!(e.key, KeyRef::Batchpoke(_)) && pick(e);
        {
            let mut pokes = TextPokes::new();
            for entry in self.entries.iter().map(|e| &**e).filter(|e| picked(e)) {
                let (owner, enabled) = (entry.owner(), entry.is_enabled());
                for (step, site) in entry.sites.iter().enumerate() {
                    yield_every(step);
                    if let Some(poke) = Poke::converting(site, enabled, form).map_err(|_| ERANGE)? {
                        pokes.push(owner, poke)?;
                    }
                }
            }
            if pokes.len() > 0 {
                engine.convert(&mut pokes, ending)?;
            }
        }
        for entry in self.entries.iter_mut().filter(|e| picked(e)) {
            for site in entry.sites.iter_mut() {
                site.form = form;
            }
        }
        Ok(())
    }
}
