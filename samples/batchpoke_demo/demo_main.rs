// SPDX-License-Identifier: GPL-2.0

//! batchpoke_demo: a client module with batchpoke keys in realistic places.
//!
//! A 10 ms timer and a worker kthread each do some "work". Two keys change
//! what they do:
//!
//! - `batchpoke_demo.accounting` (off at load, unlikely sites): debug
//!   accounting of every event, the kind of branch that is normally off;
//! - `batchpoke_demo.fast_path` (on at load, likely sites): the normal
//!   path; switched off, events take the slow path instead.
//!
//! `/sys/kernel/batchpoke_demo/counters` shows the effect of a flip:
//!
//! ```text
//! echo 1 > /sys/kernel/batchpoke/keys/batchpoke_demo.accounting/enabled
//! cat /sys/kernel/batchpoke_demo/counters
//! ```
//!
//! Two parameters exist for batchpoke's lifecycle selftests only: `forget=1`
//! loses the registration, so batchpoke's module notifier must drop the
//! keys when the module goes; `serial_loop=1` makes the kthread flip both
//! keys in serial transactions, back to back, so that an unload finds one
//! in flight.

use core::ffi::c_char;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/entry/batchpoke_api/mod.rs"]
mod batchpoke_api;
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/pure/mod.rs"]
mod pure;

use batchpoke_api::{Change, Registration};
use pure::writer::SliceWriter;

crate::batchpoke_module! {
    type: BatchpokeDemo,
    name: "batchpoke_demo",
    author: "batchpoke developers",
    description: "batchpoke client example: keys in a timer and a kthread",
    license: "GPL",
}

define_key!(ACCOUNTING: c"accounting" = false);
define_key!(FAST_PATH: c"fast_path" = true);

static TIMER_TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_ACCOUNTED: AtomicU64 = AtomicU64::new(0);
static WORKER_STEPS: AtomicU64 = AtomicU64::new(0);
static WORKER_ACCOUNTED: AtomicU64 = AtomicU64::new(0);
static FAST_PATH_EVENTS: AtomicU64 = AtomicU64::new(0);
static SLOW_PATH_EVENTS: AtomicU64 = AtomicU64::new(0);
static SERIAL_FLIPS: AtomicU64 = AtomicU64::new(0);
static SERIAL_ERRORS: AtomicU64 = AtomicU64::new(0);

fn handle_event() {
    if static_branch_likely!(FAST_PATH) {
        FAST_PATH_EVENTS.fetch_add(1, Ordering::Relaxed);
    } else {
        SLOW_PATH_EVENTS.fetch_add(1, Ordering::Relaxed);
    }
}

#[no_mangle]
extern "C" fn batchpoke_demo_timer_tick() {
    TIMER_TICKS.fetch_add(1, Ordering::Relaxed);
    if static_branch_unlikely!(ACCOUNTING) {
        TIMER_ACCOUNTED.fetch_add(1, Ordering::Relaxed);
    }
    handle_event();
}

#[no_mangle]
extern "C" fn batchpoke_demo_worker_step() {
    WORKER_STEPS.fetch_add(1, Ordering::Relaxed);
    if static_branch_unlikely!(ACCOUNTING) {
        WORKER_ACCOUNTED.fetch_add(1, Ordering::Relaxed);
    }
    handle_event();
    // SAFETY: a module parameter, set before init and read-only after.
    if unsafe { batchpoke_demo_serial_loop } {
        flip_serially();
    }
}

/// One serial transaction flipping both keys (`serial_loop=1`). The keys
/// stay registered until the kthread has stopped, so it never fails.
fn flip_serially() {
    let accounting = !ACCOUNTING.is_enabled();
    let changes = [
        Change::new(&ACCOUNTING, accounting),
        Change::new(&FAST_PATH, !accounting),
    ];
    match batchpoke_api::apply_serial(&changes) {
        Ok(_) => {
            SERIAL_FLIPS.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            if SERIAL_ERRORS.fetch_add(1, Ordering::Relaxed) == 0 {
                pr_err!("serial transaction failed: {:?}\n", e);
            }
        }
    }
}

/// # Safety
///
/// `buf` is a sysfs `show` page (`PAGE_SIZE` writable bytes).
#[no_mangle]
unsafe extern "C" fn batchpoke_demo_show_counters(buf: *mut c_char) -> isize {
    // SAFETY: caller's contract.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut page = SliceWriter::new(buf);
    let counters = [
        ("timer_ticks", &TIMER_TICKS),
        ("timer_accounted", &TIMER_ACCOUNTED),
        ("worker_steps", &WORKER_STEPS),
        ("worker_accounted", &WORKER_ACCOUNTED),
        ("fast_path_events", &FAST_PATH_EVENTS),
        ("slow_path_events", &SLOW_PATH_EVENTS),
        ("serial_flips", &SERIAL_FLIPS),
        ("serial_errors", &SERIAL_ERRORS),
    ];
    for (name, value) in counters {
        if writeln!(page, "{} {}", name, value.load(Ordering::Relaxed)).is_err() {
            return EINVAL.to_errno() as isize;
        }
    }
    page.len() as isize
}

extern "C" {
    fn batchpoke_demo_glue_start() -> core::ffi::c_int;
    fn batchpoke_demo_glue_stop();
    static batchpoke_demo_forget: bool;
    static batchpoke_demo_serial_loop: bool;
}

struct BatchpokeDemo {
    /// `None` with `forget=1`.
    _keys: Option<Registration>,
}

impl kernel::Module for BatchpokeDemo {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let keys = Registration::new(module, &[&ACCOUNTING, &FAST_PATH])?;
        // SAFETY: plain call; undone in `drop`.
        let ret = unsafe { batchpoke_demo_glue_start() };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        pr_info!(
            "batchpoke_demo loaded: keys batchpoke_demo.accounting, batchpoke_demo.fast_path\n"
        );
        // SAFETY: a module parameter, set before init and read-only after.
        let keys = if unsafe { batchpoke_demo_forget } {
            // The keys stay registered (and the registration's small key
            // list is leaked): batchpoke's module notifier must drop them
            // when this module goes away.
            core::mem::forget(keys);
            None
        } else {
            Some(keys)
        };
        Ok(BatchpokeDemo { _keys: keys })
    }
}

impl Drop for BatchpokeDemo {
    fn drop(&mut self) {
        // The timer and worker run the sites: stop them before the keys go.
        // SAFETY: started in `init`.
        unsafe { batchpoke_demo_glue_stop() };
    }
}
