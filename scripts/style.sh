#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# style.sh KDIR [--fix]: rustfmt with the kernel's .rustfmt.toml over every
# Rust file of the project, clippy (make CLIPPY=1) over the module crates
# and the host crate, and a look at the int3 path's machine code; prints
# `ok`/`not ok` lines and fails on any finding.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
kdir=${1:?usage: style.sh KDIR [--fix]}
fix=${2:-}

cd "$top"
# rustfmt follows `mod` declarations from these roots.
roots=(rust/batchpoke_main.rs rust/pure/mod.rs rust/batchpoke_api/mod.rs samples/*/*.rs rust/tests/*.rs)
fmt=(rustfmt --edition 2021 --config-path "$kdir/.rustfmt.toml")
status=0
if [ "$fix" = --fix ]; then
	"${fmt[@]}" "${roots[@]}"
	exit
fi
if out=$("${fmt[@]}" --check "${roots[@]}" 2>&1); then
	echo "ok rustfmt_clean"
else
	echo "not ok rustfmt_clean"
	echo "$out" | head -n 20 | sed 's/^/# /'
	status=1
fi
# Clippy: rebuild the crates with clippy as the compiler driver.
touch rust/batchpoke_main.rs samples/*/*.rs
log=$(make -s CLIPPY=1 KDIR="$kdir" modules 2>&1)
touch rust/batchpoke_main.rs samples/*/*.rs
if ! grep -qE '^(warning|error)' <<<"$log"; then
	echo "ok clippy_clean"
else
	echo "not ok clippy_clean"
	grep -E -A 4 '^(warning|error)' <<<"$log" | head -n 30 | sed 's/^/# /'
	status=1
fi
# Everything on the int3 path must be NOKPROBE. The two functions in the
# blacklist are the whole path only if they call nothing: a helper the
# compiler did not inline would be an unlisted function on it. A KASAN
# build instruments every memory access with calls into KASAN's checkers
# (NMI-safe, and part of the kernel's own instrumentation); only those
# are allowed.
path=$(objdump -dr --no-show-raw-insn rust/batchpoke.ko |
	awk '/<batchpoke_int3_(notify|resolve)>:/ { f = 1 } f && /^$/ { f = 0 } f')
calls=$(grep -A1 -E '\s(call|callq)\s' <<<"$path" | grep -E 'R_X86_64_(PLT|PC)32' |
	grep -vE '\s(__asan_|__kasan_)' || true)
if [ -n "$path" ] && [ -z "$calls" ] &&
	[ "$(grep -cE '\s(call|callq)\s' <<<"$path")" = "$(grep -A1 -E '\s(call|callq)\s' <<<"$path" | grep -cE 'R_X86_64_(PLT|PC)32')" ]; then
	echo "ok int3_path_calls_nothing"
else
	echo "not ok int3_path_calls_nothing"
	grep -A1 -E '>:|call' <<<"$path" | head -n 10 | sed 's/^/# /'
	status=1
fi
if out=$(cd rust && CARGO_TARGET_DIR=$BATCHPOKE_CACHE/cargo-target cargo clippy --quiet --all-targets -- -D warnings 2>&1); then
	echo "ok host_clippy_clean"
else
	echo "not ok host_clippy_clean"
	echo "$out" | head -n 20 | sed 's/^/# /'
	status=1
fi
exit $status
