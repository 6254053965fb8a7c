// SPDX-License-Identifier: GPL-2.0

//! Monotonic time for the engine's counters.

use super::bindings;

/// `ktime_get()` in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: plain call, valid in any context.
    let t = unsafe { bindings::ktime_get() };
    u64::try_from(t).unwrap_or(0)
}
