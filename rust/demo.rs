// SPDX-License-Identifier: GPL-2.0

//! batchpoke's own keys, so the knob has something real to flip out of the
//! box: `batchpoke.demo_a` (1 site), `demo_b` (8), `demo_c` (64) and
//! `demo_d` (512), in both branch forms and both initial states.

use kernel::prelude::*;

use crate::batchpoke_api::Key;
use crate::registry::NewKey;
use crate::{define_key, static_branch_likely, static_branch_unlikely};

define_key!(DEMO_A: c"demo_a" = false);
define_key!(DEMO_B: c"demo_b" = true);
define_key!(DEMO_C: c"demo_c" = false);
define_key!(DEMO_D: c"demo_d" = false);

/// The demo keys, as registered.
pub(crate) static KEYS: [&Key; 4] = [&DEMO_A, &DEMO_B, &DEMO_C, &DEMO_D];

/// The demo keys' addresses, as registration takes them.
pub(crate) fn keys() -> [NewKey<'static>; 4] {
    KEYS.map(|key| NewKey::Batchpoke(core::ptr::from_ref(key)))
}

macro_rules! repeat_4 {
    ($($body:tt)*) => {
        $($body)* $($body)* $($body)* $($body)*
    };
}

macro_rules! repeat_8 {
    ($($body:tt)*) => {
        $($body)* $($body)* $($body)* $($body)* $($body)* $($body)* $($body)* $($body)*
    };
}

/// Runs every site of the demo key `index`; returns how many said `true`
/// and how many ran.
#[inline(never)]
pub(crate) fn run_sites(index: usize) -> (u32, u32) {
    let mut yes = 0u32;
    let mut ran = 0u32;
    macro_rules! site {
        ($branch:ident, $key:ident) => {
            yes += u32::from($branch!($key));
            ran += 1;
        };
    }
    match index {
        0 => {
            site!(static_branch_unlikely, DEMO_A);
        }
        1 => {
            repeat_8! { site!(static_branch_likely, DEMO_B); }
        }
        2 => {
            // Half of the sites in each form.
            repeat_8! { repeat_4! { site!(static_branch_unlikely, DEMO_C); } }
            repeat_8! { repeat_4! { site!(static_branch_likely, DEMO_C); } }
        }
        3 => {
            repeat_8! { repeat_8! { repeat_8! { site!(static_branch_unlikely, DEMO_D); } } }
        }
        _ => {}
    }
    (yes, ran)
}

/// Checks at load that every demo site runs and says its key's state, so a
/// miscompiled site is caught before anything is patched.
pub(crate) fn self_check() -> Result {
    for (index, key) in KEYS.iter().enumerate() {
        let (yes, ran) = run_sites(index);
        let expected = if key.is_enabled() { ran } else { 0 };
        if yes != expected {
            pr_err!(
                "demo key {:?}: {} of {} sites say true, expected {}\n",
                key.name(),
                yes,
                ran,
                expected
            );
            return Err(EINVAL);
        }
    }
    Ok(())
}
