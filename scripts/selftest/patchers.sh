#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's real text patchers beside batchpoke: run by make check on
# the distro flavor (Debian's config, where they are built in), in a guest
# under single-threaded TCG (see check.sh for why). While parallel.sh runs its
# transactions of batchpoke keys and of ordinary static keys with readers
# on every vCPU (batchpoke_test's kthread, hard-IRQ and NMI readers; a
# reader per vCPU on batchpoke_skeys' 257 sites), and a loop applies
# random states to batchpoke_cclient's nine keys (80 sites), a loop per
# patcher rewrites kernel text in the background:
#
#   ftrace      the function tracer switched on and off (tracefs) on the
#               clients' functions and the VFS's: their fentry calls
#               patched, in the clients' module text too;
#   preempt     the preemption model cycled through every model the kernel
#               offers (debugfs sched/preempt): static calls and static
#               keys updated at run time;
#   optprobe    a kprobe event inside a hot function, optimized into a
#               jump (debug.kprobes-optimization=1, checked [OPTIMIZED])
#               and disabled again, over and over;
#   schedstats  kernel.sched_schedstats toggled: one of the kernel's own
#               static keys, patched by its jump-label code;
#   bpf         BPF programs JIT-compiled, attached to a kprobe on
#               ksys_read (ftrace) and to the sched_switch tracepoint
#               (its static key), and detached (scripts/bpf);
#   livepatch   batchpoke_livepatch enabled and disabled: it replaces
#               probe_wide() of batchpoke_cclient, the function that holds
#               the 64 sites of its key "wide", while those sites are
#               flipped (checked: the client's file shows the
#               replacement ran).
#
# Each must have run (its loop counts its cycles), and parallel.sh's cases
# must pass unchanged: one round per transaction of batchpoke keys, every
# site at its key's state, no splat (the VM harness fails the run on any);
# every apply of the client took one round, and its sites (the original
# probe_wide() included) execute their keys' states at the end.
MODDIR=${MODDIR:-/lib/batchpoke}
here=$(dirname "$0")
. "$here/ktap.sh"

T=/sys/kernel/tracing
D=/sys/kernel/debug
CC=/sys/kernel/batchpoke_cclient
LP=/sys/kernel/livepatch/batchpoke_livepatch
STOP=/tmp/patchers_stop
PATCHERS="ftrace preempt optprobe schedstats bpf livepatch"

ktap_plan 15
grep -q " $T " /proc/mounts || mount -t tracefs nodev "$T" 2>/dev/null
rm -f "$STOP" /tmp/patcher.* /tmp/cclient.*

# wait_for SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds.
# (Its own variable: the loops that call it count in theirs.)
wait_for() {
	wait_polls=$(($1 * 50))
	shift
	while ! "$@"; do
		wait_polls=$((wait_polls - 1))
		[ $wait_polls -gt 0 ] || return 1
		usleep 20000
	done
}

# The function tracer on the batchpoke clients' functions (their fentry
# calls share pages with batchpoke's sites; batchpoke_skeys' filter waits
# for it to load) and the VFS's. Not on every function: under TCG that
# holds text_mutex for minutes per switch, and the hung-task detector
# rightly reports every text patcher waiting behind it.
ftrace_setup() {
	echo ':mod:batchpoke_cclient' >"$T/set_ftrace_filter" &&
		echo ':mod:batchpoke_skeys' >>"$T/set_ftrace_filter" &&
		echo 'vfs_* ksys_*' >>"$T/set_ftrace_filter"
}
ftrace_cycle() { echo function >"$T/current_tracer" && echo nop >"$T/current_tracer"; }
# The models this kernel offers (the file lists them, the current one in
# parentheses): with PREEMPT_LAZY, 7.3 offers no "none" or "voluntary".
preempt_models=$(tr -d '()' <"$D/sched/preempt" 2>/dev/null)
preempt_cycle() {
	[ -n "$preempt_models" ] || return 1
	for m in $preempt_models; do
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
# The BPF loader is one process that cycles until $STOP (scripts/bpf).
bpf_cycle() {
	"$here/batchpoke-bpf" ksys_read sched/sched_switch "$STOP" /tmp/bpf.counts >/tmp/bpf.out 2>&1 || {
		cat /tmp/bpf.out >>/tmp/patcher.bpf.why
		return 1
	}
}
livepatch_applied() { [ "$(cat "$LP/transition" 2>/dev/null)" = 0 ] && [ "$(cat "$LP/enabled" 2>/dev/null)" = 1 ]; }
livepatch_gone() { [ ! -d "$LP" ]; }
# probe_wide() replaced: the client's "wide" line counts 65 sites of 64.
livepatch_diverts() { grep -q '^wide [01] 65$' "$CC/sites"; }
livepatch_cycle() {
	insmod "$MODDIR/batchpoke_livepatch.ko" || return 1
	wait_for 60 livepatch_applied || { echo "transition to patched did not end" >>/tmp/patcher.livepatch.why; return 1; }
	livepatch_diverts || { echo "probe_wide() ran unpatched: $(grep '^wide' "$CC/sites")" >>/tmp/patcher.livepatch.why; return 1; }
	echo 0 >"$LP/enabled" || return 1
	wait_for 60 livepatch_gone || { echo "transition to unpatched did not end" >>/tmp/patcher.livepatch.why; return 1; }
	rmmod batchpoke_livepatch
}

# patcher NAME: runs NAME_cycle in a loop until $STOP, its counts of
# completed and failed cycles in /tmp/patcher.NAME.
patcher() {
	(
		cycles=0 failed=0
		while [ ! -e "$STOP" ]; do
			if "$1_cycle" >/dev/null 2>&1; then cycles=$((cycles + 1)); else failed=$((failed + 1)); fi
			echo "$cycles $failed" >"/tmp/patcher.$1"
		done
	) &
	pids="$pids $!"
}

# Random states for the client's nine keys, one transaction each; every
# apply that moved a site must have taken one round ("report": sites
# rounds). Counts in /tmp/cclient.applies and /tmp/cclient.rounds_off.
cclient_flipper() {
	(
		n=0 off=0
		while [ ! -e "$STOP" ]; do
			digits= i=0
			while [ $i -lt 9 ]; do digits=$digits$((RANDOM & 1)); i=$((i + 1)); done
			echo "$digits" >"$CC/apply" || { off=$((off + 1)); continue; }
			read -r sites rounds <"$CC/report"
			[ "$sites" = 0 ] || [ "$rounds" = 1 ] || { off=$((off + 1)); echo "$digits: $sites sites $rounds rounds" >>/tmp/cclient.why; }
			n=$((n + 1))
			echo "$n $off" >/tmp/cclient.applies
		done
	) &
	pids="$pids $!"
}

# Every site of the client executes its key's state: c0..c7 "name state
# unlikely likely", wide "wide state count".
cclient_sites_at_states() {
	awk '$1 == "wide" { if ($3 != 64 * $2) bad = bad " " $0; next }
		{ if ($3 != $2 || $4 != $2) bad = bad " " $0 }
		END { if (bad != "") { print bad; exit 1 } }' "$CC/sites"
}

ktap_check load insmod "$MODDIR/batchpoke.ko"
ktap_check cclient_load insmod "$MODDIR/batchpoke_cclient.ko"
pids=
if optprobe_setup; then
	ktap_ok "optprobe_optimized_at_$(cat /tmp/optprobe.at)"
else
	ktap_fail optprobe_optimized "no probe of $T/kprobe_events was optimized"
fi
if ftrace_setup; then
	ktap_ok "ftrace_filter_$(wc -l <"$T/set_ftrace_filter")_functions"
else
	ktap_fail ftrace_filter "$T/set_ftrace_filter refused the filter"
fi
ktap_diag "preemption models offered: ${preempt_models:-none (no $D/sched/preempt)}"
for p in $PATCHERS; do patcher "$p"; done
cclient_flipper

# The transactions with readers on every CPU, and their own checks
# (parallel.sh finds batchpoke loaded and leaves it so).
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
	read -r n bad <"/tmp/patcher.$p" 2>/dev/null
	counts="$counts $p:${n:-0}/${bad:-0}"
	if [ "${n:-0}" -gt 0 ] && [ "${bad:-0}" = 0 ]; then
		ktap_ok "patcher_${p}_ran"
	else
		ktap_fail "patcher_${p}_ran" "${n:-0} cycles completed, ${bad:-0} failed: $(head -c 300 "/tmp/patcher.$p.why" 2>/dev/null | tr '\n' ' ')"
	fi
done
ktap_diag "patcher cycles completed/failed during the transactions:$counts"
ktap_diag "BPF: $(cat /tmp/bpf.out 2>/dev/null)"
read -r applies off <"/tmp/cclient.applies" 2>/dev/null
if [ "${applies:-0}" -gt 0 ] && [ "${off:-0}" = 0 ]; then
	ktap_ok "cclient_${applies}_applies_1_round_each"
else
	ktap_fail cclient_applies_1_round_each "${applies:-0} applies, ${off:-0} refused or not 1 round: $(head -n 3 /tmp/cclient.why 2>/dev/null | tr '\n' ' ')"
fi
# probe_wide() runs again as compiled: its 64 sites were patched while it
# was replaced.
if out=$(cclient_sites_at_states); then
	ktap_ok cclient_sites_at_their_keys_states
else
	ktap_fail cclient_sites_at_their_keys_states "$out"
fi
echo 0 >"$T/events/bpopt/probe/enable" 2>/dev/null
echo "-:bpopt/probe" >>"$T/kprobe_events" 2>/dev/null
ktap_check cclient_unload rmmod batchpoke_cclient
ktap_check unload rmmod batchpoke
ktap_finish
