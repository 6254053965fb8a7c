#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# check-kdir.sh KDIR
#
# Refuses, with a message that says what to do, a kernel tree that cannot
# build batchpoke: one that is not built, has no Rust support, or was built
# with another rustc (Rust metadata is only valid for the exact compiler).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kdir=${1:?usage: check-kdir.sh KDIR}

hint="use the cached tree (plain 'make'), or 'make kernel' to build it"
[ -f "$kdir/Makefile" ] && [ -f "$kdir/.config" ] ||
	die "KDIR=$kdir is not a configured kernel build tree; $hint"
grep -qx 'CONFIG_RUST=y' "$kdir/.config" ||
	die "KDIR=$kdir was configured without CONFIG_RUST=y: batchpoke is a Rust module; enable Rust (make rustavailable, then CONFIG_RUST) and rebuild, or $hint"
grep -qx 'CONFIG_MODULES=y' "$kdir/.config" ||
	die "KDIR=$kdir has no loadable module support (CONFIG_MODULES)"
grep -qx 'CONFIG_JUMP_LABEL=y' "$kdir/.config" ||
	die "KDIR=$kdir has no CONFIG_JUMP_LABEL: there would be no branch sites to patch"
[ -f "$kdir/rust/libkernel.rmeta" ] && [ -f "$kdir/Module.symvers" ] ||
	die "KDIR=$kdir is configured but not built (no rust/libkernel.rmeta or Module.symvers): run 'make' in it first"
[ -f "$kdir/rust/bindings/.bindings_generated.rs.cmd" ] ||
	die "KDIR=$kdir lacks rust/bindings/.bindings_generated.rs.cmd, which batchpoke's bindings generation reads"

built_with=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$kdir/.config")
have=$(rustc --version)
if [ -n "$built_with" ] && [ "$built_with" != "$have" ]; then
	die "KDIR=$kdir was built with '$built_with' but this build would use '$have'; Rust modules must be built by the kernel's own compiler: set RUSTUP_TOOLCHAIN to that toolchain, or rebuild the tree"
fi
