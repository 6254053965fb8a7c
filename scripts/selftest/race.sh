#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The static-key race with true parallelism: run by make check in a guest
# with 4 vCPUs under multi-threaded TCG (vm-run.sh --parallel), where the
# kernel's own jump-label batch follows batchpoke's on the same sites while
# a reader on every vCPU executes them (samples/batchpoke_skeys/race.c).
# Before transactions of static keys ended with a sync round, the incdec
# case oopsed ("Oops: int3") in 4 runs of 4 here with 40 cycles (on 2
# vCPUs, 0 of 4: hence a run of its own). batchpoke_late_int3, loaded
# first, holds every CPU that traps on an int3 the kernel did not claim for
# RACE_LATE_INT3_US (2 ms) before batchpoke's handler runs: the delay the
# race needs (an NMI, an SMI, a preempted vCPU) on every run, under single-
# threaded TCG too, where the old code then oopsed at once on 6.12 and 7.3.
# RACE_LATE_INT3_US=0 runs the race without it. KTAP on stdout.
MODDIR=${MODDIR:-/lib/batchpoke}
here=$(dirname "$0")
. "$here/ktap.sh"
. "$here/skeys.sh"
klog_clear() { dmesg -c >>/tmp/klog.all; }

ktap_plan 7
ktap_check late_int3_loads_before_batchpoke insmod "$MODDIR/batchpoke_late_int3.ko" "delay_us=${RACE_LATE_INT3_US:-2000}"
ktap_check load insmod "$MODDIR/batchpoke.ko"
if insmod "$MODDIR/batchpoke_skeys.ko"; then
	ktap_ok skeys_loads
	skeys_kernel_race skeys_kernel_incdec_after_each_batch_readers_on_every_cpu incdec "${SKEYS_RACE_CYCLES:-40}"
	skeys_kernel_race skeys_kernel_enable_disable_during_batches_readers_on_every_cpu enable "${SKEYS_RACE_CYCLES:-40}"
	rmmod batchpoke_skeys
else
	ktap_fail skeys_loads "batchpoke_skeys did not load"
	ktap_fail skeys_kernel_incdec_after_each_batch_readers_on_every_cpu "batchpoke_skeys did not load"
	ktap_fail skeys_kernel_enable_disable_during_batches_readers_on_every_cpu "batchpoke_skeys did not load"
fi
ktap_check unload rmmod batchpoke
# The race proves something only if readers were held on batchpoke's int3s.
held=$(cat /sys/module/batchpoke_late_int3/parameters/delayed 2>/dev/null)
ktap_diag "late_int3: $held traps held"
if [ "${RACE_LATE_INT3_US:-2000}" = 0 ] || [ "${held:-0}" -gt 0 ]; then
	ktap_ok late_int3_held_readers_on_batchpoke_int3s
else
	ktap_fail late_int3_held_readers_on_batchpoke_int3s "no trap was held"
fi
rmmod batchpoke_late_int3
ktap_finish
