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
roots=(rust/batchpoke_main.rs rust/pure/mod.rs rust/entry/batchpoke_api/mod.rs samples/*/*.rs rust/tests/*.rs)
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
# Layering: every `unsafe` of the module is in one of its two edges,
# rust/entry/ (where the kernel and clients call in) and rust/machine/
# (what batchpoke does to the machine); the middle and pure/ have none,
# and only the edges lift the crate-wide `-Dunsafe_code` (rust/Kbuild).
# No two files import each other, even through others.
middle=$(find rust -name '*.rs' -not -path 'rust/entry/*' -not -path 'rust/machine/*' \
	-not -path 'rust/tests/*' -not -path 'rust/target/*' | sort)
outside=$(grep -lw unsafe $middle)
lifted=$(grep -rl 'allow(unsafe_code)' rust --include='*.rs' | grep -vE '^rust/(entry|machine|target)/')
if [ -n "$middle" ] && [ -z "$outside$lifted" ]; then
	echo "ok unsafe_only_in_the_edges"
else
	echo "not ok unsafe_only_in_the_edges"
	echo "$outside $lifted" | sed 's/^/# /'
	status=1
fi
# The checker itself first: it must see cycles planted in the shapes of
# the module's own files (names with digits, names that start with "mod").
while IFS= read -r line; do
	echo "$line"
	case $line in "not ok "*) status=1 ;; esac
done < <("$here/import-cycles-test.sh")
if out=$(python3 "$here/import-cycles.py" 2>&1); then
	echo "ok no_import_cycles"
else
	echo "not ok no_import_cycles"
	echo "$out" | sed 's/^/# /'
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
# The C clients are judged as out-of-tree C modules would be: each built
# alone, from a copy outside the tree that includes batchpoke.h by path,
# with batchpoke's symbols from Module.symvers, at W=1.
llvm=$(cat "$kdir/.batchpoke-llvm" 2>/dev/null || true)
for sample in cclient skeys mistakes fuzz scale; do
	w1=$BATCHPOKE_WORK/$sample-w1
	rm -rf "$w1" && mkdir -p "$w1"
	cp samples/batchpoke_$sample/*.[ch] "$w1/"
	sed '/^ccflags-y/d' samples/batchpoke_$sample/Kbuild >"$w1/Kbuild"
	printf 'ccflags-y += -I%s\n' "$top/rust/entry/batchpoke_api" >>"$w1/Kbuild"
	log=$(make -C "$kdir" M="$w1" W=1 KBUILD_EXTRA_SYMBOLS="$top/Module.symvers" \
		${llvm:+LLVM=$llvm} modules 2>&1)
	rc=$?
	if [ $rc = 0 ] && ls "$w1"/*.ko >/dev/null 2>&1 && ! grep -qE 'warning:|error:|WARNING:|ERROR:' <<<"$log"; then
		echo "ok ${sample}_w1_clean"
	else
		echo "not ok ${sample}_w1_clean"
		grep -E -A 3 'warning:|error:|WARNING:|ERROR:' <<<"$log" | head -n 20 | sed 's/^/# /'
		status=1
	fi
done
# Everything on the int3 path must be NOKPROBE. The two functions in the
# blacklist are the whole path only if control never leaves them except to
# each other: a call or a tail jump to a helper the compiler did not inline
# (a precondition check under RUST_DEBUG_ASSERTIONS, a panic path) would be
# an unlisted function on it. Allowed targets: the two functions, the
# return thunk, and on KASAN builds KASAN's checkers (NMI-safe, the
# kernel's own instrumentation). Indirect calls and jumps are never allowed.
path_ok() { # OBJDUMP-OUTPUT: prints the offending instructions
	awk '
	/<batchpoke_int3_(notify|resolve)>:$/ { f = 1; next }
	f && /^$/ { f = 0 }
	!f { next }
	pending != "" {
		if ($0 ~ /R_X86_64_/) { sym = $NF; sub(/[-+].*$/, "", sym) } else { sym = local }
		if (sym !~ /^(batchpoke_int3_(notify|resolve)|__x86_return_thunk|__(asan|kasan)_.*)$/)
			print pending " -> " sym
		pending = ""
	}
	/\t(call|jmp)[a-z]*[ \t]/ {
		if ($0 ~ /\*/) { print $0 " (indirect)"; next }
		local = $0; sub(/^.*</, "", local); sub(/[-+>].*$/, "", local)
		pending = $0
	}'
}
path=$(objdump -dr --no-show-raw-insn rust/batchpoke.ko)
bad=$(path_ok <<<"$path")
if grep -qE '<batchpoke_int3_resolve>:$' <<<"$path" && [ -z "$bad" ]; then
	echo "ok int3_path_calls_nothing"
else
	echo "not ok int3_path_calls_nothing"
	echo "${bad:-int3 path not found}" | head -n 10 | sed 's/^/# /'
	status=1
fi
if out=$(cd rust && CARGO_TARGET_DIR=$BATCHPOKE_WORK/cargo-target cargo clippy --quiet --all-targets -- -D warnings 2>&1); then
	echo "ok host_clippy_clean"
else
	echo "not ok host_clippy_clean"
	echo "$out" | head -n 20 | sed 's/^/# /'
	status=1
fi
exit $status
