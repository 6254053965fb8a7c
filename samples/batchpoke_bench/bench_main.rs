// SPDX-License-Identifier: GPL-2.0

//! batchpoke_bench: flips K keys of S sites each, R times on and off, with
//! three variants side by side, and reports what each flip cost:
//!
//! - `batch`: batchpoke, one transaction per flip of all K keys;
//! - `serial`: batchpoke, one batch per site (the pre-batching protocol);
//! - `kernel`: the same layout of sites on ordinary static keys, flipped
//!   with `static_key_enable()`/`static_key_disable()` (kernel_keys.c);
//! - `static`: those same ordinary static keys, registered with batchpoke
//!   and flipped through it, one transaction per flip (static_twins.c);
//! - `idle`: everything a run does but the flips, so that the measurement's
//!   own IPIs can be subtracted.
//!
//! The keys are the grid's three groups of 64 keys (1, 16 and 256 sites
//! each, below) and the workloads of workloads.c (1900 keys x 1 site,
//! 1 key x 164 sites, 1 key x 56 sites).
//!
//! Driven through `/sys/kernel/batchpoke_bench/run` (write
//! `<variant> <K> <S> <R>`, then read `result`) by
//! `scripts/selftest/bench.sh`, which measures the IPIs of every run from
//! the CAL line of `/proc/interrupts`.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel::prelude::*;
use kernel::sync::{new_mutex, Mutex};

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/entry/batchpoke_api/mod.rs"]
mod batchpoke_api;
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/pure/mod.rs"]
mod pure;

use batchpoke_api::{Change, Key, Registration};
use pure::writer::SliceWriter;

crate::batchpoke_module! {
    type: BatchpokeBench,
    name: "batchpoke_bench",
    author: "batchpoke developers",
    description: "batchpoke benchmark: batch vs serial vs the kernel's static keys",
    license: "GPL",
}

/// Keys per group of the grid.
const KEYS: usize = 64;
/// Sites per key of each group of the grid.
const GROUP_SITES: [usize; 3] = [1, 16, 256];
/// Keys and sites per key of each workload of workloads.c, in its order.
const WORKLOADS: [(usize, usize); 3] = [(1900, 1), (1, 164), (1, 56)];

/// The keys a run flips: a group of the grid or a workload.
#[derive(Clone, Copy)]
enum Group {
    Grid(usize),
    Workload(usize),
}

impl Group {
    /// The group whose keys have `sites` sites each and that has at least
    /// `keys` keys (a workload: exactly `keys`).
    fn find(keys: usize, sites: usize) -> Option<Self> {
        if keys <= KEYS {
            if let Some(group) = GROUP_SITES.iter().position(|&s| s == sites) {
                return Some(Group::Grid(group));
            }
        }
        WORKLOADS
            .iter()
            .position(|&w| w == (keys, sites))
            .map(Group::Workload)
    }

    fn keys(self) -> &'static [Key] {
        match self {
            Group::Grid(group) => group_keys(group),
            Group::Workload(w) => workload_keys(w),
        }
    }

    /// Runs every site of the group's first key (a workload: every site),
    /// on the batchpoke keys or on their `kernel` twins.
    fn run(self, kernel: bool) {
        match self {
            Group::Grid(group) if kernel => {
                // SAFETY: valid group and key.
                unsafe { batchpoke_bench_kernel_run(group as c_int, 0) };
            }
            Group::Grid(group) => {
                group_runners(group)[0]();
            }
            Group::Workload(w) => {
                // SAFETY: plain call; `w` is checked by the callee.
                unsafe { batchpoke_bench_workload_run(w as c_int, kernel) };
            }
        }
    }

    /// Sets the first `keys` `kernel` twins of the group in one batchpoke
    /// transaction.
    fn static_apply(self, keys: usize, enable: bool) -> Result {
        let keys = c_int::try_from(keys).map_err(|_| EINVAL)?;
        // SAFETY: plain call; the callee checks its arguments.
        let ret = unsafe { batchpoke_bench_twins_apply(self.encode() as c_int, keys, enable) };
        kernel::error::to_result(ret)
    }

    /// Sets the `kernel` twin of the group's key `key`.
    fn kernel_set(self, key: usize, enable: bool) -> Result {
        // SAFETY: plain calls; the callees check their arguments.
        let ret = unsafe {
            match self {
                Group::Grid(group) => {
                    batchpoke_bench_kernel_set(group as c_int, key as c_int, enable)
                }
                Group::Workload(w) => {
                    batchpoke_bench_workload_kernel_set(w as c_int, key as c_int, enable)
                }
            }
        };
        kernel::error::to_result(ret)
    }

    /// For the spinner, which reads it from an atomic.
    fn encode(self) -> usize {
        match self {
            Group::Grid(group) => group,
            Group::Workload(w) => GROUP_SITES.len() + w,
        }
    }

    fn decode(code: usize) -> Self {
        match code.checked_sub(GROUP_SITES.len()) {
            None => Group::Grid(code),
            Some(w) => Group::Workload(w),
        }
    }
}

/// `$m!($($args)* [0 1 ... 63])`: the index of every key of a group, written
/// once; the arrays built from it have `KEYS` elements or do not compile.
macro_rules! with_key_indices {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)* [
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25
            26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48
            49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
        ])
    };
}

/// The keys `<prefix>0` .. `<prefix>63` of a group.
macro_rules! key_group {
    ($prefix:literal [$($i:literal)*]) => {
        [$(
            match CStr::from_bytes_with_nul(concat!($prefix, stringify!($i), "\0").as_bytes()) {
                Ok(name) => Key::new(name, false),
                Err(_) => panic!("key names are NUL-terminated literals"),
            }
        ),*]
    };
}

static G1: [Key; KEYS] = with_key_indices!(key_group!("g1_"));
static G16: [Key; KEYS] = with_key_indices!(key_group!("g16_"));
static G256: [Key; KEYS] = with_key_indices!(key_group!("g256_"));

/// One unlikely-form site of `$array[$index]`: the bench's keys are array
/// elements, which the ordinary branch macros (one static per key) do not
/// name; the same site, with the key's address as array + offset.
macro_rules! bench_site {
    ($array:ident, $index:literal) => {
        $crate::__batchpoke_site!(
            @record $array,
            $index * core::mem::size_of::<Key>(),
            false,
            false
        )
    };
}

macro_rules! x16 { ($($b:tt)*) => { $($b)* $($b)* $($b)* $($b)* $($b)* $($b)* $($b)* $($b)*
    $($b)* $($b)* $($b)* $($b)* $($b)* $($b)* $($b)* $($b)* }; }
macro_rules! x1 { ($($b:tt)*) => { $($b)* }; }
macro_rules! x256 { ($($b:tt)*) => { x16! { x16! { $($b)* } } }; }

type Runner = fn() -> u32;

/// One runner per key of group `$array`: it runs the key's `$times` sites
/// and counts those that jumped.
macro_rules! runners {
    ($array:ident, $times:ident, [$($i:literal)*]) => {
        [$(
            || {
                let mut n = 0u32;
                $times! { n += u32::from(bench_site!($array, $i)); }
                n
            }
        ),*]
    };
}

// The spinner only ever calls runner 0 of a group, so without `used` the
// compiler would keep only that one, and with the others every other key's
// sites.
#[used(compiler)]
static RUN_G1: [Runner; KEYS] = with_key_indices!(runners!(G1, x1,));
#[used(compiler)]
static RUN_G16: [Runner; KEYS] = with_key_indices!(runners!(G16, x16,));
#[used(compiler)]
static RUN_G256: [Runner; KEYS] = with_key_indices!(runners!(G256, x256,));

fn group_keys(group: usize) -> &'static [Key; KEYS] {
    match group {
        0 => &G1,
        1 => &G16,
        _ => &G256,
    }
}

/// The keys of workload `w` (empty if there is none).
fn workload_keys(w: usize) -> &'static [Key] {
    let mut count = 0usize;
    // SAFETY: plain call; `count` is valid for writing.
    let keys = unsafe { batchpoke_bench_workload_keys(w as c_int, &mut count) };
    if keys.is_null() {
        return &[];
    }
    // SAFETY: `keys` is a static array of `count` `struct batchpoke_key`s of
    // this module, whose layout is `Key`'s (checked by batchpoke's ABI
    // assertions against the same header).
    unsafe { core::slice::from_raw_parts(keys.cast::<Key>(), count) }
}

fn group_runners(group: usize) -> &'static [Runner; KEYS] {
    match group {
        0 => &RUN_G1,
        1 => &RUN_G16,
        _ => &RUN_G256,
    }
}

extern "C" {
    fn batchpoke_bench_kernel_set(group: c_int, key: c_int, enable: bool) -> c_int;
    fn batchpoke_bench_kernel_run(group: c_int, key: c_int) -> c_int;
    fn batchpoke_bench_glue_start() -> c_int;
    fn batchpoke_bench_glue_stop();
    fn batchpoke_bench_spinner_start(cpu: c_int) -> c_int;
    fn batchpoke_bench_spinner_stop();
    fn batchpoke_bench_now_ns() -> u64;
    fn batchpoke_bench_workloads_init();
    fn batchpoke_bench_workload_keys(w: c_int, count: *mut usize) -> *const c_void;
    fn batchpoke_bench_workload_run(w: c_int, kernel: bool) -> c_int;
    fn batchpoke_bench_workload_kernel_set(w: c_int, key: c_int, enable: bool) -> c_int;
    fn batchpoke_bench_twins_register(owner: *mut c_void) -> c_int;
    fn batchpoke_bench_twins_unregister(owner: *mut c_void);
    fn batchpoke_bench_twins_apply(group: c_int, keys: c_int, enable: bool) -> c_int;
}

fn now_ns() -> u64 {
    // SAFETY: plain call.
    unsafe { batchpoke_bench_now_ns() }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Batch,
    Serial,
    Kernel,
    Static,
    Idle,
}

impl Variant {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "batch" => Some(Variant::Batch),
            "serial" => Some(Variant::Serial),
            "kernel" => Some(Variant::Kernel),
            "static" => Some(Variant::Static),
            "idle" => Some(Variant::Idle),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Batch => "batch",
            Variant::Serial => "serial",
            Variant::Kernel => "kernel",
            Variant::Static => "static",
            Variant::Idle => "idle",
        }
    }
}

// The spinner: a kthread running one site of the flipped group's first key
// in a loop, recording the longest gap between two runs.
static SPIN_VARIANT_KERNEL: AtomicBool = AtomicBool::new(false);
static SPIN_GROUP: AtomicUsize = AtomicUsize::new(0);
static SPIN_MAX_GAP: AtomicU64 = AtomicU64::new(0);
static SPIN_RUNS: AtomicU64 = AtomicU64::new(0);

/// One spinner iteration, called by the kthread in bench_glue.c.
#[no_mangle]
extern "C" fn batchpoke_bench_spin_once(last: u64) -> u64 {
    Group::decode(SPIN_GROUP.load(Ordering::Relaxed))
        .run(SPIN_VARIANT_KERNEL.load(Ordering::Relaxed));
    let now = now_ns();
    if last != 0 {
        SPIN_MAX_GAP.fetch_max(now.saturating_sub(last), Ordering::Relaxed);
    }
    SPIN_RUNS.fetch_add(1, Ordering::Relaxed);
    now
}

/// The result of one run.
#[derive(Default)]
struct Outcome {
    flips: usize,
    median_ns: u64,
    p90_ns: u64,
    rounds: u64,
    int3_hits: u64,
    max_stall_ns: u64,
    spinner_runs: u64,
}

fn flip(
    variant: Variant,
    group: Group,
    keys: usize,
    enable: bool,
    changes: &mut KVec<Change>,
) -> Result {
    match variant {
        Variant::Idle => Ok(()),
        Variant::Kernel => {
            for key in 0..keys {
                group.kernel_set(key, enable)?;
            }
            Ok(())
        }
        Variant::Static => group.static_apply(keys, enable),
        Variant::Batch | Variant::Serial => {
            *changes = KVec::with_capacity(keys, GFP_KERNEL)?;
            for key in group.keys().iter().take(keys) {
                changes.push(Change::new(key, enable), GFP_KERNEL)?;
            }
            let result = if variant == Variant::Serial {
                batchpoke_api::apply_serial(changes)
            } else {
                batchpoke_api::apply(changes)
            };
            result.map(|_| ())
        }
    }
}

fn run(variant: Variant, keys: usize, sites: usize, reps: usize) -> Result<Outcome> {
    let group = Group::find(keys, sites).ok_or(EINVAL)?;
    if keys == 0 || keys > group.keys().len() || reps == 0 || reps > 1000 {
        return Err(EINVAL);
    }
    let mut times = KVec::with_capacity(2 * reps, GFP_KERNEL)?;
    let mut changes = KVec::with_capacity(keys, GFP_KERNEL)?;
    // `static` flips the `kernel` twins too.
    let twins = matches!(variant, Variant::Kernel | Variant::Static);
    SPIN_VARIANT_KERNEL.store(twins, Ordering::Relaxed);
    SPIN_GROUP.store(group.encode(), Ordering::Relaxed);
    SPIN_MAX_GAP.store(0, Ordering::Relaxed);
    SPIN_RUNS.store(0, Ordering::Relaxed);
    let before = batchpoke_api::stats();
    // SAFETY: plain call; stopped below.
    let spinning = unsafe { batchpoke_bench_spinner_start(-1) } == 0;
    let mut result = Ok(());
    for _ in 0..reps {
        for enable in [true, false] {
            let start = now_ns();
            result = flip(variant, group, keys, enable, &mut changes);
            times.push(now_ns().saturating_sub(start), GFP_KERNEL)?;
            if result.is_err() {
                break;
            }
        }
    }
    if spinning {
        // SAFETY: started above.
        unsafe { batchpoke_bench_spinner_stop() };
    }
    result?;
    let after = batchpoke_api::stats();
    // Insertion sort (a run has at most a few dozen flips): `sort_unstable`
    // brings panic paths objtool flags in Debian's config.
    for i in 1..times.len() {
        let mut j = i;
        while j > 0 && times[j - 1] > times[j] {
            times.swap(j - 1, j);
            j -= 1;
        }
    }
    let at = |q: usize| times.get((times.len() - 1) * q / 100).copied().unwrap_or(0);
    Ok(Outcome {
        flips: times.len(),
        median_ns: at(50),
        p90_ns: at(90),
        rounds: after.sync_rounds - before.sync_rounds,
        int3_hits: after.int3_hits - before.int3_hits,
        max_stall_ns: SPIN_MAX_GAP.load(Ordering::Relaxed),
        spinner_runs: SPIN_RUNS.load(Ordering::Relaxed),
    })
}

/// The last run's result line.
struct LastResult {
    text: [u8; 256],
    len: usize,
}

#[pin_data]
struct Shared {
    #[pin]
    last: Mutex<LastResult>,
}

static SHARED: core::sync::atomic::AtomicPtr<Shared> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

fn with_shared<R>(f: impl FnOnce(&Shared) -> Result<R>) -> Result<R> {
    // SAFETY: set while the module is loaded; the sysfs files that call in
    // are removed before it is cleared and freed.
    match unsafe { SHARED.load(Ordering::Acquire).as_ref() } {
        Some(shared) => f(shared),
        None => Err(ENODEV),
    }
}

fn store_run(input: &[u8]) -> Result {
    let text = core::str::from_utf8(input).map_err(|_| EINVAL)?;
    let mut words = text.split_ascii_whitespace();
    let variant = words.next().and_then(Variant::parse).ok_or(EINVAL)?;
    let mut number =
        || -> Result<usize> { words.next().and_then(|w| w.parse().ok()).ok_or(EINVAL) };
    let (keys, sites, reps) = (number()?, number()?, number()?);
    with_shared(|shared| {
        let mut last = shared.last.lock();
        let outcome = run(variant, keys, sites, reps)?;
        let mut text = SliceWriter::new(&mut last.text);
        writeln!(
            text,
            "{} {} {} {} {} {} {} {} {} {}",
            variant.name(),
            keys,
            sites,
            outcome.flips,
            outcome.median_ns,
            outcome.p90_ns,
            outcome.rounds,
            outcome.int3_hits,
            outcome.max_stall_ns,
            outcome.spinner_runs
        )
        .map_err(|_| EINVAL)?;
        last.len = text.len();
        Ok(())
    })
}

/// `run` store callback.
///
/// # Safety
///
/// Called by sysfs with `count` bytes at `buf`.
#[no_mangle]
unsafe extern "C" fn batchpoke_bench_run_store(buf: *const c_char, count: usize) -> isize {
    // SAFETY: caller's contract.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    match store_run(input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `result` show callback.
///
/// # Safety
///
/// Called by sysfs with its `PAGE_SIZE` buffer.
#[no_mangle]
unsafe extern "C" fn batchpoke_bench_result_show(buf: *mut c_char) -> isize {
    let shown = with_shared(|shared| {
        let last = shared.last.lock();
        // SAFETY: the page holds far more than the 256 bytes copied.
        unsafe { core::ptr::copy_nonoverlapping(last.text.as_ptr(), buf.cast::<u8>(), last.len) };
        Ok(last.len as isize)
    });
    shown.unwrap_or_else(|e| e.to_errno() as isize)
}

struct BatchpokeBench {
    _shared: Pin<KBox<Shared>>,
    _twins: TwinsRegistration,
    _keys: Registration,
}

/// The `kernel` twins registered with batchpoke, for the `static` variant;
/// unregistered on drop.
struct TwinsRegistration {
    module: &'static ThisModule,
}

impl TwinsRegistration {
    fn new(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `module` is this module, which unregisters the twins in
        // `drop` before it goes away.
        let ret = unsafe { batchpoke_bench_twins_register(module.as_ptr().cast()) };
        kernel::error::to_result(ret)?;
        Ok(TwinsRegistration { module })
    }
}

impl Drop for TwinsRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `new` for this module.
        unsafe { batchpoke_bench_twins_unregister(self.module.as_ptr().cast()) };
    }
}

impl kernel::Module for BatchpokeBench {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: plain call, before the keys it names are registered.
        unsafe { batchpoke_bench_workloads_init() };
        let mut all: KVec<&'static Key> = KVec::new();
        for group in (0..GROUP_SITES.len()).map(Group::Grid) {
            for key in group.keys() {
                all.push(key, GFP_KERNEL)?;
            }
        }
        for (w, &(keys, _)) in WORKLOADS.iter().enumerate() {
            let workload = Group::Workload(w).keys();
            if workload.len() != keys {
                pr_err!("workloads.c and WORKLOADS disagree on workload {w}\n");
                return Err(EINVAL);
            }
            for key in workload {
                all.push(key, GFP_KERNEL)?;
            }
        }
        let keys = Registration::new(module, &all)?;
        let twins = TwinsRegistration::new(module)?;
        let shared = KBox::pin_init(
            pin_init!(Shared {
                last <- new_mutex!(LastResult { text: [0; 256], len: 0 }),
            }),
            GFP_KERNEL,
        )?;
        SHARED.store(core::ptr::from_ref(&*shared).cast_mut(), Ordering::Release);
        // SAFETY: plain call; undone in `drop`.
        let ret = unsafe { batchpoke_bench_glue_start() };
        if ret != 0 {
            SHARED.store(core::ptr::null_mut(), Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        Ok(BatchpokeBench {
            _shared: shared,
            _twins: twins,
            _keys: keys,
        })
    }
}

impl Drop for BatchpokeBench {
    fn drop(&mut self) {
        // SAFETY: started in `init`; removes the sysfs files first.
        unsafe { batchpoke_bench_glue_stop() };
        SHARED.store(core::ptr::null_mut(), Ordering::Release);
    }
}
