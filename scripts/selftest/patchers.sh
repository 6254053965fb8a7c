#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's real text patchers beside batchpoke: run by make check on
# the distro flavor (Debian's config, where they are built in), in a guest
# with true parallelism (vm-run.sh --parallel). While parallel.sh runs its
# transactions of batchpoke keys and of ordinary static keys with readers
# on every vCPU (batchpoke_test's kthread, hard-IRQ and NMI readers; a
# reader per vCPU on batchpoke_skeys' 257 sites), a loop per patcher
# rewrites kernel text in the background:
#
#   ftrace      the function tracer switched on and off (tracefs): every
#               traced function's fentry call patched, module text too;
#   preempt     the preemption model cycled through none, voluntary, full
#               and lazy (debugfs sched/preempt): static calls and static
#               keys updated at run time;
#   optprobe    a kprobe event inside a hot function, optimized into a
#               jump (debug.kprobes-optimization=1, checked [OPTIMIZED])
#               and disabled again, over and over;
#   schedstats  kernel.sched_schedstats toggled: one of the kernel's own
#               static keys, patched by its jump-label code.
#
# Each must have run (its loop counts its cycles), and parallel.sh's cases
# must pass unchanged: one round per transaction of batchpoke keys, every
# site at its key's state, no splat (the VM harness fails the run on any).
# BPF program attachment and livepatch are not run here (no loader in the
# guest): see Documentation/batchpoke.rst, "Building and testing".
MODDIR=${MODDIR:-/lib/batchpoke}
here=$(dirname "$0")
. "$here/ktap.sh"

T=/sys/kernel/tracing
D=/sys/kernel/debug
STOP=/tmp/patchers_stop
PATCHERS="ftrace preempt optprobe schedstats"

ktap_plan 7
mountpoint -q "$T" || mount -t tracefs nodev "$T" 2>/dev/null
rm -f "$STOP" /tmp/patcher.*

ftrace_cycle() { echo function >"$T/current_tracer" && echo nop >"$T/current_tracer"; }
preempt_cycle() {
	for m in none voluntary full lazy; do
		echo "$m" >"$D/sched/preempt" || return 1
	done
}
schedstats_cycle() {
	echo 1 >/proc/sys/kernel/sched_schedstats && echo 0 >/proc/sys/kernel/sched_schedstats
}
# A probe the optimizer can turn into a jump: past the fentry call and
# ENDBR of a hot function (at its first byte a kprobe rides on ftrace
# instead). The first offset the kernel accepts as an instruction boundary
# and optimizes is kept.
optprobe_setup() {
	echo 1 >/proc/sys/debug/kprobes-optimization || return 1
	for f in vfs_read ksys_read do_sys_poll kernel_clone; do
		for off in 9 13 14 16 17 18 20 21 22 24; do
			echo "p:bpopt/probe $f+$off" >>"$T/kprobe_events" 2>/dev/null || continue
			echo 1 >"$T/events/bpopt/probe/enable"
			i=0
			while [ $i -lt 50 ]; do
				grep -q "$f+0x$(printf %x $off).*OPTIMIZED" "$D/kprobes/list" && {
					echo "$f+$off" >/tmp/optprobe.at
					return 0
				}
				usleep 20000
				i=$((i + 1))
			done
			echo 0 >"$T/events/bpopt/probe/enable"
			echo "-:bpopt/probe" >>"$T/kprobe_events"
		done
	done
	return 1
}
optprobe_cycle() {
	echo 0 >"$T/events/bpopt/probe/enable" && usleep 50000 &&
		echo 1 >"$T/events/bpopt/probe/enable" && usleep 50000
}

# patcher NAME: runs NAME_cycle in a loop until $STOP, its count of
# completed cycles in /tmp/patcher.NAME.
patcher() {
	(
		n=0
		while [ ! -e "$STOP" ]; do
			"$1_cycle" >/dev/null 2>&1 && n=$((n + 1))
			echo $n >"/tmp/patcher.$1"
		done
	) &
	pids="$pids $!"
}

pids=
if optprobe_setup; then
	ktap_ok "optprobe_optimized_at_$(cat /tmp/optprobe.at)"
else
	ktap_fail optprobe_optimized "no probe of $T/kprobe_events was optimized"
fi
for p in $PATCHERS; do patcher "$p"; done

# The transactions with readers on every CPU, and their own checks.
out=$(PARALLEL_FLIPS=${PATCHERS_FLIPS:-1000} "$here/parallel.sh")
rc=$?
echo "$out" | sed 's/^/    /'
touch "$STOP"
wait $pids
if [ $rc = 0 ]; then
	ktap_ok transactions_with_readers_beside_the_patchers
else
	ktap_fail transactions_with_readers_beside_the_patchers "$(echo "$out" | grep '^not ok' | head -n 3 | tr '\n' ' ')"
fi
counts=
for p in $PATCHERS; do
	n=$(cat "/tmp/patcher.$p" 2>/dev/null)
	counts="$counts $p:${n:-0}"
	if [ "${n:-0}" -gt 0 ]; then ktap_ok "patcher_${p}_ran"; else ktap_fail "patcher_${p}_ran" "no cycle completed"; fi
done
ktap_diag "patcher cycles during the transactions:$counts"
echo 0 >"$T/events/bpopt/probe/enable" 2>/dev/null
echo "-:bpopt/probe" >>"$T/kprobe_events" 2>/dev/null
ktap_finish
