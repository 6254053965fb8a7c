#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# batchpoke's concurrency cases with true parallelism: run by make check in
# a guest whose vCPUs each have a host thread (vm-run.sh --parallel, QEMU
# 10 with multi-threaded TCG), where a reader on one vCPU really executes a
# site while another vCPU writes it, and a vCPU can run an int3 it fetched
# before a batch ended (a stale fetch) after the batch ended. KTAP on
# stdout, exit 0 when all cases pass.
#
# batchpoke_test parallel_flips=N runs only its three concurrency cases
# (kthread and hard-IRQ readers on every CPU, then NMI readers), N
# transactions each. It asserts no oops, no wrong state between
# transactions and int3 hits in every context; runs that see the old state
# after a first sync round are counted, not failed (the emulator does not
# exclude them: Documentation/batchpoke.rst, "Building and testing").
MODDIR=${MODDIR:-/lib/batchpoke}
FLIPS=${PARALLEL_FLIPS:-1000}
here=$(dirname "$0")
. "$here/ktap.sh"
. "$here/skeys.sh"
klog_clear() { dmesg -c >>/tmp/klog.all; }

# Loaded by a caller (patchers.sh, whose client must stay registered):
# left loaded; the case is then the caller's.
if [ -d /sys/kernel/batchpoke ]; then
	ours=0
	ktap_plan 4
else
	ours=1
	ktap_plan 6
fi
online=$(grep -c ^processor /proc/cpuinfo)
if [ "$online" -ge 2 ]; then ktap_ok "smp_cpus_online_$online"; else ktap_fail smp_cpus_online "only $online CPU"; fi
[ $ours = 0 ] || ktap_check load insmod "$MODDIR/batchpoke.ko"
klog_clear
if insmod "$MODDIR/batchpoke_test.ko" parallel_flips="$FLIPS"; then test_loaded=1; else test_loaded=0; fi
kt=$(dmesg | sed -n 's/^\[[^]]*\] batchpoke_test: //p')
echo "$kt" | grep -E '^(KTAP version|1\.\.|ok |not ok |# )' | grep -v '^# batchpoke_test:' | sed 's/^/    /'
cases=$(echo "$kt" | grep -cE '^(not )?ok [0-9]+ ')
failed_cases=$(echo "$kt" | grep -cE '^not ok [0-9]+ ')
planned=$(echo "$kt" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
if [ $test_loaded = 1 ] && [ "$planned" = 3 ] && [ "$cases" = 3 ] && [ "$failed_cases" = 0 ]; then
	ktap_ok "batchpoke_test_concurrency_${FLIPS}_transactions_each"
else
	ktap_fail "batchpoke_test_concurrency_${FLIPS}_transactions_each" "init loaded=$test_loaded, $cases of ${planned:-?} planned cases ran, $failed_cases failed"
fi
# The trap counts: how often a reader hit a site mid-batch, and whether
# any int3 outlived its batch (resolved from the handler's table).
ktap_diag "$(echo "$kt" | grep -E '^# [0-9]+ flips' | tr '\n' ' ')"
[ $test_loaded = 1 ] && rmmod batchpoke_test

# Ordinary static keys, 2- and 5-byte sites: a reader on every vCPU
# executes all 257 sites of batchpoke_skeys (reading its `state`) while
# the kernel's static-key API and batchpoke's batches flip them.
klog_clear
if insmod "$MODDIR/batchpoke_skeys.ko"; then
	hits0=$(sed -n 's/^int3_hits //p' /sys/kernel/batchpoke/stats)
	readers= c=0
	while [ $c -lt "$online" ]; do
		taskset $((1 << c)) sh -c "while [ ! -e /tmp/readers_stop ]; do cat $SK/state >/dev/null; done" &
		readers="$readers $!" c=$((c + 1))
	done
	skeys_race skeys_race_with_readers_on_every_cpu 100
	touch /tmp/readers_stop
	wait $readers
	ktap_diag "int3 hits resolved during the race: $(($(sed -n 's/^int3_hits //p' /sys/kernel/batchpoke/stats) - hits0))"
	rmmod batchpoke_skeys
else
	ktap_fail skeys_race_with_readers_on_every_cpu "batchpoke_skeys did not load"
fi
[ $ours = 0 ] || ktap_check unload rmmod batchpoke
# (vm-run.sh's verdict reads the whole console log as well.)
klog_clear
if grep -qE 'Oops|BUG|WARNING|Call Trace' /tmp/klog.all; then
	ktap_fail kernel_log_clean "$(grep -E 'Oops|BUG|WARNING|Call Trace' /tmp/klog.all | head -n 3 | tr '\n' ' ')"
else
	ktap_ok kernel_log_clean
fi
ktap_finish
