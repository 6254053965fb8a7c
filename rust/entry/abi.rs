// SPDX-License-Identifier: GPL-2.0

//! Compile-time proof that the Rust side of the client ABI is the one
//! `batchpoke_api/batchpoke.h` declares: the Rust types have the layout of
//! the header's structs (bindings generated from it), and batchpoke's
//! exports and the Rust clients' declarations of them have the header's
//! prototypes, type for type. A mismatch does not build.

use core::ffi::c_int;
use core::mem::{align_of, offset_of, size_of};

use super::exports;
use crate::batchpoke_api::{raw, Change, Key, Report, Stats, APPLY_SERIAL};
use crate::machine::bindings;

/// The header's type for a Rust type of the ABI.
trait InHeader {
    type C;
}

macro_rules! in_header {
    ($($rust:ty => $c:ty),* $(,)?) => {
        $(impl InHeader for $rust {
            type C = $c;
        })*
    };
}

in_header! {
    Key => bindings::batchpoke_key,
    Change => bindings::batchpoke_change,
    Report => bindings::batchpoke_report,
    Stats => bindings::batchpoke_stats,
    // Clients name `struct module` through the kernel crate, batchpoke
    // through its own bindings: both are C's.
    kernel::bindings::module => bindings::module,
    bindings::module => bindings::module,
    bindings::batchpoke_static_key => bindings::batchpoke_static_key,
    bindings::batchpoke_static_change => bindings::batchpoke_static_change,
    bindings::static_key => bindings::static_key,
    usize => usize,
    u32 => u32,
    c_int => c_int,
    () => (),
}

impl<T: InHeader> InHeader for *const T {
    type C = *const T::C;
}

impl<T: InHeader> InHeader for *mut T {
    type C = *mut T::C;
}

/// Same size and alignment.
const fn same_shape<R, C>() -> bool {
    size_of::<R>() == size_of::<C>() && align_of::<R>() == align_of::<C>()
}

const _: () = {
    assert!(same_shape::<Key, bindings::batchpoke_key>());
    let key = Key::FIELD_OFFSETS;
    assert!(key[0] == offset_of!(bindings::batchpoke_key, raw));
    assert!(key[1] == offset_of!(bindings::batchpoke_key, name));
    assert!(key[2] == offset_of!(bindings::batchpoke_key, initially));
    assert!(key[3] == offset_of!(bindings::batchpoke_key, enabled));

    assert!(same_shape::<Change, bindings::batchpoke_change>());
    assert!(offset_of!(Change, key) == offset_of!(bindings::batchpoke_change, key));
    assert!(offset_of!(Change, enable) == offset_of!(bindings::batchpoke_change, enable));

    assert!(same_shape::<Report, bindings::batchpoke_report>());
    assert!(offset_of!(Report, sites) == offset_of!(bindings::batchpoke_report, sites));
    assert!(offset_of!(Report, rounds) == offset_of!(bindings::batchpoke_report, rounds));

    assert!(same_shape::<Stats, bindings::batchpoke_stats>());
    assert!(offset_of!(Stats, transactions) == offset_of!(bindings::batchpoke_stats, transactions));
    assert!(
        offset_of!(Stats, sites_patched) == offset_of!(bindings::batchpoke_stats, sites_patched)
    );
    assert!(offset_of!(Stats, sync_rounds) == offset_of!(bindings::batchpoke_stats, sync_rounds));
    assert!(offset_of!(Stats, int3_hits) == offset_of!(bindings::batchpoke_stats, int3_hits));
    assert!(offset_of!(Stats, refused) == offset_of!(bindings::batchpoke_stats, refused));
    assert!(offset_of!(Stats, last_ns) == offset_of!(bindings::batchpoke_stats, last_ns));
    assert!(offset_of!(Stats, max_ns) == offset_of!(bindings::batchpoke_stats, max_ns));

    assert!(APPLY_SERIAL == bindings::BATCHPOKE_APPLY_SERIAL);

    // The limits: the header's, the Rust clients' and batchpoke's own.
    assert!(bindings::BATCHPOKE_MAX_KEYS as usize == raw::MAX_KEYS);
    assert!(raw::MAX_KEYS == crate::registry::MAX_KEYS_PER_CALL);
    assert!(bindings::BATCHPOKE_MAX_SITES as usize == raw::MAX_SITES);
    assert!(raw::MAX_SITES == crate::registry::MAX_TRANSACTION_SITES);
};

/// Accepts a Rust declaration only together with the header's prototype
/// of the same function: every parameter and the result must be the
/// header's type for the Rust one.
fn prototype1<A: InHeader, R: InHeader>(
    _rust: unsafe extern "C" fn(A) -> R,
    _header: unsafe extern "C" fn(A::C) -> R::C,
) {
}

fn prototype3<A: InHeader, B: InHeader, C: InHeader, R: InHeader>(
    _rust: unsafe extern "C" fn(A, B, C) -> R,
    _header: unsafe extern "C" fn(A::C, B::C, C::C) -> R::C,
) {
}

fn prototype4<A: InHeader, B: InHeader, C: InHeader, D: InHeader, R: InHeader>(
    _rust: unsafe extern "C" fn(A, B, C, D) -> R,
    _header: unsafe extern "C" fn(A::C, B::C, C::C, D::C) -> R::C,
) {
}

// Type-checked when batchpoke builds; never called.
const _: fn() = || {
    // batchpoke's definitions.
    prototype3(
        exports::batchpoke_register_keys,
        bindings::batchpoke_register_keys,
    );
    prototype3(
        exports::batchpoke_unregister_keys,
        bindings::batchpoke_unregister_keys,
    );
    prototype4(exports::batchpoke_apply, bindings::batchpoke_apply);
    prototype1(
        exports::batchpoke_read_stats,
        bindings::batchpoke_read_stats,
    );
    prototype3(
        exports::batchpoke_register_static_keys,
        bindings::batchpoke_register_static_keys,
    );
    prototype3(
        exports::batchpoke_unregister_static_keys,
        bindings::batchpoke_unregister_static_keys,
    );
    prototype4(
        exports::batchpoke_apply_static,
        bindings::batchpoke_apply_static,
    );
    // The declarations Rust clients compile.
    prototype3(
        raw::batchpoke_register_keys,
        bindings::batchpoke_register_keys,
    );
    prototype3(
        raw::batchpoke_unregister_keys,
        bindings::batchpoke_unregister_keys,
    );
    prototype4(raw::batchpoke_apply, bindings::batchpoke_apply);
    prototype1(raw::batchpoke_read_stats, bindings::batchpoke_read_stats);
};
