// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/batchpoke/sites`, for tests: one line per site of
//! every live key, in registration order then site order,
//!
//! ```text
//! <key name> <site address as 0x%lx> <5 bytes as %02x, space-separated>
//! ```
//!
//! with the bytes read from the text when the file is read, so that a test
//! can check what the CPUs run without trusting batchpoke's own idea of it.
//! The registry lock is held while the lines are written: no transaction
//! runs meanwhile, so the file never shows a site mid-patch. The file
//! operations are in `debugfs.c`.

use core::ffi::c_int;

use super::global::with_state;
use crate::machine::bindings;
use crate::pure::insn::Insn;
use crate::registry::KeyEntry;

/// The `batchpoke` debugfs directory with its `sites` file.
///
/// # Invariants
///
/// `0` is what `batchpoke_debugfs_create()` returned: the directory, or an
/// error pointer when debugfs is unavailable; it is removed only on drop.
pub(crate) struct DebugDir(*mut bindings::dentry);

// SAFETY: debugfs entries may be removed from any thread.
unsafe impl Send for DebugDir {}
// SAFETY: `DebugDir` exposes nothing through a shared reference.
unsafe impl Sync for DebugDir {}

impl DebugDir {
    /// Creates `batchpoke/sites` in debugfs. The file reads the published
    /// state: create it once the state is published, drop it before the
    /// state is freed. Failing to create it is not an error (the kernel's
    /// convention for debugfs): the tests that need the file say so.
    pub(crate) fn create() -> Self {
        // INVARIANT: the return value, kept as is.
        // SAFETY: plain call.
        DebugDir(unsafe { bindings::batchpoke_debugfs_create() })
    }
}

impl Drop for DebugDir {
    fn drop(&mut self) {
        // SAFETY: what `batchpoke_debugfs_create()` returned (type
        // invariant), removed once. debugfs_remove() returns only when no
        // reader runs `batchpoke_debugfs_sites` any more.
        unsafe { bindings::batchpoke_debugfs_remove(self.0) };
    }
}

/// Longest line after the key name: ` 0x` + 16 digits + 5 × ` xx` + `\n`.
const TAIL_MAX: usize = 3 + 16 + 5 * 3 + 1;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// ` 0x<addr> xx xx xx xx xx\n` as `%lx` and `%02x` print them, and its
/// length. By hand rather than through `core::fmt`: the file is read after
/// every write of the selftest's fuzzer, under an emulator.
fn format_tail(addr: usize, bytes: &Insn) -> ([u8; TAIL_MAX], usize) {
    let mut out = [0u8; TAIL_MAX];
    let digits = (usize::BITS - addr.leading_zeros()).div_ceil(4).max(1) as usize;
    let mut slots = out.iter_mut();
    let mut put = |c: u8| {
        if let Some(slot) = slots.next() {
            *slot = c;
        }
    };
    put(b' ');
    put(b'0');
    put(b'x');
    for i in (0..digits).rev() {
        put(HEX[(addr >> (4 * i)) & 0xf]);
    }
    for &byte in bytes.as_bytes() {
        put(b' ');
        put(HEX[usize::from(byte >> 4)]);
        put(HEX[usize::from(byte & 0xf)]);
    }
    put(b'\n');
    (
        out,
        (3 + digits + 3 * bytes.as_bytes().len() + 1).min(TAIL_MAX),
    )
}

/// Writes `entry`'s lines to `m`. Returns `false` once `m` has overflowed:
/// seq_file then calls the show function again with a larger buffer, so
/// nothing more is worth writing this time.
///
/// # Safety
///
/// `m` is the `seq_file` being shown; `entry` is a live key and the
/// registry lock is held (its sites are mapped text).
unsafe fn write_key(m: *mut bindings::seq_file, entry: &KeyEntry) -> bool {
    let name = entry.name();
    for site in entry.sites() {
        let Some(bytes) = entry.owner().read_site(site) else {
            continue;
        };
        let (tail, len) = format_tail(site.addr, &bytes);
        // SAFETY: `m` is live (caller's contract); both buffers are valid
        // for the lengths given. seq_write() returns non-zero on overflow.
        let overflow = unsafe {
            bindings::seq_write(m, name.as_ptr().cast(), name.len()) != 0
                || bindings::seq_write(m, tail.as_ptr().cast(), len) != 0
        };
        if overflow {
            return false;
        }
    }
    true
}

/// The `show` function of `sites`.
///
/// # Safety
///
/// Called only by `batchpoke_sites_show()` in `debugfs.c`, with the
/// `seq_file` it was given.
#[no_mangle]
unsafe extern "C" fn batchpoke_debugfs_sites(m: *mut bindings::seq_file) -> c_int {
    let result = with_state(|state| {
        let mut room = true;
        state.for_each_key(|entry| {
            if room {
                // SAFETY: `m` is the file being shown (our contract);
                // `for_each_key` visits live keys with the registry locked.
                room = unsafe { write_key(m, entry) };
            }
        });
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
