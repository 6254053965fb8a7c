#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# gen-bindings.sh KERNEL_OBJTREE BINDGEN HEADER OUTPUT
#
# Generates Rust bindings for the kernel items batchpoke needs that
# `kernel::bindings` lacks, from the headers of the tree being built
# against, with the very clang flags the kernel used for its own
# `rust/bindings/bindings_generated.rs` (read back from kbuild's .cmd file),
# so no struct layout or constant is copied by hand. HEADER and OUTPUT are
# absolute paths; bindgen runs in the kernel's object tree, where the
# recorded include paths are valid.
set -euo pipefail
objtree=$1 bindgen=$2 header=$3 out=$4
cd "$objtree"

cmdfile=rust/bindings/.bindings_generated.rs.cmd
[ -f "$cmdfile" ] || { echo "gen-bindings: $PWD has no $cmdfile: not a built Rust-enabled kernel tree" >&2; exit 1; }

# The clang half of the kernel's bindgen command: after ` -- `, before the
# post-processing `; sed`, without the dependency-file option.
read -r -a cflags < <(sed -n 's/^savedcmd_[^ ]* := .* -- \(.*\)$/\1/p' "$cmdfile" |
	sed 's/ ; sed .*$//; s/-Wp,-MMD,[^ ]*//')
((${#cflags[@]})) || { echo "gen-bindings: cannot parse $cmdfile" >&2; exit 1; }

allow=(
	# die notifier and int3
	--allowlist-function 'register_die_notifier|unregister_die_notifier'
	--allowlist-type 'die_args|die_val|pt_regs|notifier_block'
	--allowlist-var 'NOTIFY_.*'
	# kprobes (symbol lookup, NOKPROBE checks)
	--allowlist-function 'register_kprobe|unregister_kprobe'
	--allowlist-type 'kprobe'
	# cross-CPU calls and CPU hotplug
	--allowlist-function 'on_each_cpu_cond_mask|cpus_read_lock|cpus_read_unlock'
	--allowlist-var '__cpu_online_mask'
	# writable aliases of module text
	--allowlist-function 'vmalloc_to_page|vunmap'
	# jump labels and modules
	--allowlist-type 'jump_entry|static_key|module|mod_mem_type'
	--allowlist-function 'register_module_notifier|unregister_module_notifier'
	--allowlist-type 'module_state'
	# sysfs
	--allowlist-function 'kobject_create_and_add|kobject_del|kobject_get|kobject_put|sysfs_create_group|sysfs_remove_group'
	# sysfs callbacks must have exactly the C prototype's types (kCFI)
	--allowlist-type 'kobj_attribute'
	--allowlist-var 'batchpoke_.*_group'
	--allowlist-var 'kernel_kobj'
	# debugfs batchpoke/sites (the file itself is in debugfs.c)
	--allowlist-function 'batchpoke_debugfs_(create|remove)|seq_write'
	--opaque-type 'seq_file'
	# symbol lookup and time
	--allowlist-function 'sprint_symbol|ktime_get'
	--allowlist-var 'KSYM_SYMBOL_LEN'
	--allowlist-function 'batchpoke_helper_.*'
	# the client ABI (batchpoke_api/batchpoke.h), checked by rust/entry/abi.rs
	--allowlist-type 'batchpoke_(key|change|report|stats|static_key|static_change)'
	--allowlist-function 'batchpoke_((un)?register_(static_)?keys|apply(_static)?|read_stats)'
	--allowlist-var 'BATCHPOKE_.*'
)

"$bindgen" "$header" "${allow[@]}" \
	--use-core --ctypes-prefix core::ffi --no-layout-tests --no-doc-comments \
	--no-debug '.*' --with-derive-default --opaque-type 'spinlock|xregs_state|desc_struct' \
	--blocklist-type '__kernel_s?size_t|__kernel_ptrdiff_t' \
	-o "$out.tmp" -- "${cflags[@]}" -DMODULE
mv "$out.tmp" "$out"
