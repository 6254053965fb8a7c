#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# import-cycles-test.sh: import-cycles.py must see cycles of the shapes the
# module's own files have. Each case plants a small crate in a temporary
# directory and prints one KTAP-style line; exits 1 if one fails.
#   - a cycle through `sys/int3.rs` (a digit) and `sys/module.rs` (a name
#     that starts with "mod"), by plain and by grouped `use` paths;
#   - the same cycle through a `#[path]` module and `super::super::`;
#   - no cycle: `sys/module_notifier.rs` beside `sys/module.rs`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

plant() { # CASE FILE CONTENT: writes CASE/rust/FILE
	mkdir -p "$(dirname "$tmp/$1/rust/$2")"
	printf '%s\n' "$3" >"$tmp/$1/rust/$2"
}
expect() { # NAME CASE STATUS PATTERN...: the checker exits STATUS, prints each PATTERN
	local name=$1 case=$2 want=$3 out rc
	shift 3
	out=$(python3 "$here/import-cycles.py" "$tmp/$case" 2>&1)
	rc=$?
	for pattern in "$@"; do
		grep -qF -- "$pattern" <<<"$out" || rc="$rc, '$pattern' missing"
	done
	if [ "$rc" = "$want" ]; then
		echo "ok $name"
	else
		echo "not ok $name"
		echo "# status $rc, want $want; output:"
		sed 's/^/# /' <<<"$out"
		status=1
	fi
}

plant digits batchpoke_main.rs 'mod sys;'
plant digits sys/mod.rs 'pub(crate) mod int3; pub(crate) mod module; pub(crate) mod text;'
plant digits sys/int3.rs 'use super::module::ModuleRef; // crate::text::nothing'
plant digits sys/module.rs 'use super::{bindings, text::read_text};'
plant digits sys/text.rs 'use crate::{pure::insn::Insn, sys::int3::ACTIVE};'
expect import_cycles_sees_a_cycle_through_int3_and_module digits 1 \
	'sys::int3 -> {sys::module}' 'sys::module -> {sys::text}' 'sys::text -> {sys::int3}'

plant pathmod batchpoke_main.rs '#[path = "sys/api"]
pub(crate) mod api { mod key; }
mod sys;'
plant pathmod sys/mod.rs 'pub(crate) mod module_x86;'
plant pathmod sys/module_x86.rs 'use crate::api::key::Key;'
plant pathmod sys/api/key.rs 'fn f() { super::super::sys::module_x86::g() }'
expect import_cycles_sees_a_cycle_through_a_path_module pathmod 1 \
	'api::key -> {sys::module_x86}' 'sys::module_x86 -> {api::key}'

plant acyclic batchpoke_main.rs 'mod sys;'
plant acyclic sys/mod.rs 'pub(crate) mod module; pub(crate) mod module_notifier;'
plant acyclic sys/module.rs 'use super::bindings;'
plant acyclic sys/module_notifier.rs 'use super::module::ModuleRef;'
expect import_cycles_passes_module_and_module_notifier acyclic 0
exit $status
