#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The static-key race with true parallelism: run by make check in a guest
# with 4 vCPUs under multi-threaded TCG (vm-run.sh --parallel), where the
# kernel's own jump-label batch follows batchpoke's on the same sites while
# a reader on every vCPU executes them (samples/batchpoke_skeys/race.c).
# Before transactions of static keys ended with a sync round, the incdec
# case oopsed ("Oops: int3") in 4 runs of 4 here with 40 cycles (on 2
# vCPUs, 0 of 4: hence a run of its own). KTAP on stdout.
MODDIR=${MODDIR:-/lib/batchpoke}
here=$(dirname "$0")
. "$here/ktap.sh"
. "$here/skeys.sh"
klog_clear() { dmesg -c >>/tmp/klog.all; }

ktap_plan 5
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
ktap_finish
