#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of `make bench`. For every cell (K keys x S sites per key)
# and every variant it flips the K keys on and off (REPS times, see below) through
# /sys/kernel/batchpoke_bench/run, after one unmeasured on/off (warm-up),
# and prints one CSV line per run:
#
#   BENCH,variant,keys,sites,rep,flips,median_ns,p90_ns,rounds,cal,tlb,
#         int3_hits,max_stall_ns
#
# Each cell is run ROUNDS times, the variants in a rotating order (rep r
# starts r places further along), so that no variant always runs first or
# after the same neighbour. cal and tlb are the growth of the CAL and TLB
# lines of /proc/interrupts (summed over CPUs) across the measured run, the
# same way for every variant; the `idle` variant does everything a run
# does but flip, so the report can subtract the measurement's own IPIs.
# rounds is batchpoke's sync-round counter over the run (0 for kernel and
# idle, which do not go through batchpoke). `static` flips the kernel
# variant's ordinary static keys through batchpoke.
#
# batch, static and idle run BATCH_REPS (20) on/off per run: a batch costs about
# 6 IPIs per flip at 4 vCPUs, and other IPIs of the system come in bursts
# of up to ten per run, so a few flips per run would blur it; they are
# cheap. The other variants cost tens to thousands of IPIs per flip and run
# REPS (5).
#
# The kernel path on the 1900-key workload takes tens of seconds per flip
# under emulation, so it runs KERNEL_SLOW_REPS (1) on/off per run; its
# IPIs per flip vary by far less than the other variants' (thousands, all
# from its own rounds), so fewer flips do not blur them.
#
# CELLS: "grid" (K in {1, 8, 64} x S in {1, 16, 256}), "workloads" (1900
# keys x 1 site, 1 key x 164 sites, 1 key x 56 sites) or "all".
MODDIR=${MODDIR:-/lib/batchpoke}
REPS=${REPS:-5}
BATCH_REPS=${BATCH_REPS:-20}
ROUNDS=${ROUNDS:-3}
CELLS=${CELLS:-all}
SERIAL_MAX_SITES=${SERIAL_MAX_SITES:-256}
B=/sys/kernel/batchpoke_bench
. "$(dirname "$0")/measure.sh"

cells=
case $CELLS in grid | all)
	for s in 1 16 256; do for k in 1 8 64; do cells="$cells $k:$s"; done; done ;;
esac
case $CELLS in workloads | all) cells="$cells 1900:1 1:164 1:56" ;; esac

# rotated N WORD...: the words, starting N places along.
rotated() {
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		first=$1
		shift
		set -- "$@" "$first"
		n=$((n - 1))
	done
	echo "$@"
}

insmod "$MODDIR/batchpoke.ko" || exit 1
insmod "$MODDIR/batchpoke_bench.ko" || exit 1
echo "BENCHMETA,cpus=$(grep -c ^processor /proc/cpuinfo),kernel=$(uname -r),reps=$REPS,rounds=$ROUNDS"
for cell in $cells; do
	k=${cell%:*} s=${cell#*:}
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		for v in $(rotated $r idle batch static serial kernel); do
			if [ $v = serial ] && [ $((k * s)) -gt "$SERIAL_MAX_SITES" ]; then
				continue
			fi
			echo "$v $k $s 1" >"$B/run" || { echo "BENCHERROR,$v,$k,$s,warm-up"; continue; }
			c0=$(irq_total CAL) t0=$(irq_total TLB)
			case $v in
			batch | static | idle) reps=$BATCH_REPS ;;
			*) reps=$REPS ;;
			esac
			[ $v = kernel ] && [ "$k" -gt 64 ] && reps=${KERNEL_SLOW_REPS:-1}
			echo "$v $k $s $reps" >"$B/run" || { echo "BENCHERROR,$v,$k,$s"; continue; }
			c1=$(irq_total CAL) t1=$(irq_total TLB)
			set -- $(cat "$B/result")
			# variant keys sites flips median p90 rounds int3 stall spins
			echo "BENCH,$v,$k,$s,$r,$4,$5,$6,$7,$((c1 - c0)),$((t1 - t0)),$8,$9"
		done
		r=$((r + 1))
	done
done
rmmod batchpoke_bench
rmmod batchpoke
