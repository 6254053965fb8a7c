#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of `make bench`: for every cell of the grid K keys x S sites
# and every variant, flips the K keys on and off REPS times through
# /sys/kernel/batchpoke_bench/run and prints one CSV line:
#
#   BENCH,variant,keys,sites,flips,median_ns,p90_ns,rounds_per_flip,
#         ipis_per_flip,int3_hits,max_stall_ns
#
# IPIs are the growth of the CAL line of /proc/interrupts (function-call
# IPIs received, summed over CPUs) during the run, the same way for all
# variants. rounds_per_flip is batchpoke's sync-round counter (empty for
# the kernel variant, which has no such counter).
MODDIR=${MODDIR:-/lib/batchpoke}
REPS=${REPS:-5}
SERIAL_MAX_SITES=${SERIAL_MAX_SITES:-1024}
B=/sys/kernel/batchpoke_bench
. "$(dirname "$0")/measure.sh"

insmod "$MODDIR/batchpoke.ko" || exit 1
insmod "$MODDIR/batchpoke_bench.ko" || exit 1
echo "BENCHMETA,cpus=$(grep -c ^processor /proc/cpuinfo),kernel=$(uname -r),reps=$REPS"
for s in 1 16 256; do
	for k in 1 8 64; do
		for v in batch serial kernel; do
			if [ $v = serial ] && [ $((k * s)) -gt "$SERIAL_MAX_SITES" ]; then
				continue
			fi
			c0=$(cal_total)
			echo "$v $k $s $REPS" >"$B/run" || { echo "BENCHERROR,$v,$k,$s"; continue; }
			c1=$(cal_total)
			set -- $(cat "$B/result")
			# variant keys sites flips median p90 rounds int3 stall spins
			flips=$4
			rounds=$(awk -v r="$7" -v f="$flips" 'BEGIN { printf "%.1f", r / f }')
			[ $v = kernel ] && rounds=
			ipis=$(awk -v c=$((c1 - c0)) -v f="$flips" 'BEGIN { printf "%.1f", c / f }')
			echo "BENCH,$v,$k,$s,$flips,$5,$6,$rounds,$ipis,$8,$9"
		done
	done
done
rmmod batchpoke_bench
rmmod batchpoke
