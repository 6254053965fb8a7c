#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh KDIR: `make bench`. Boots the VM with BENCH_CPUS (4) vCPUs and
# runs scripts/selftest/bench.sh (batchpoke batch, its `static` variant on
# ordinary static keys, serial, and the kernel's
# static keys, over the grid of K keys x S sites and the workloads), then
# boots it again with each of BENCH_GRID_CPUS (2 and 8) vCPUs for the grid
# alone, and writes under $BATCHPOKE_CACHE/bench/<time>/:
#
#   results.csv   one line per run (vCPUs, variant, cell, repetition)
#   table.txt     the tables printed at the end
#   plot.svg      IPIs per flip and time per flip against total sites
#   meta.txt      vCPUs, kernel, KVM or TCG, repetitions, date
#   guest-Ncpus.log  the full guest logs; guest-Ncpus.out the guest
#                 script's output
#
# Like every VM run, the bench fails, writing no results, when the guest
# kernel reports a problem (scripts/vm-run.sh).
#
# BENCH_REPS (default 5) sets the measured on/off repetitions per run
# (BENCH_BATCH_REPS, default 20, for the batch, static and idle variants),
# BENCH_ROUNDS (default 3) the runs per cell and variant; BENCH_DOCS=1
# also copies the results into Documentation/performance/ and rewrites the
# results block of Documentation/performance.rst.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
kdir=${1:?usage: bench.sh KDIR}
cpus=${BENCH_CPUS:-4}
grid_cpus=${BENCH_GRID_CPUS-2 8}
reps=${BENCH_REPS:-5}
batch_reps=${BENCH_BATCH_REPS:-20}
rounds=${BENCH_ROUNDS:-3}

out=$BATCHPOKE_CACHE/bench/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "cpus,variant,keys,sites_per_key,rep,flips,median_ns,p90_ns,rounds,cal,tlb,int3_hits,max_stall_ns" >"$out/results.csv"
# bench_vm N CELLS: one guest with N vCPUs running the guest script on CELLS.
bench_vm() {
	local n=$1 cells=$2 log=$out/guest-$1cpus.log
	say "$n vCPUs: $cells"
	# Figures from a run that WARNed must not be published: set -e stops here.
	"$here/vm-run.sh" --kdir "$kdir" --cpus "$n" --quiet --timeout 5400 --log "$log" -- \
		"REPS=$reps BATCH_REPS=$batch_reps ROUNDS=$rounds CELLS=$cells ./bench.sh"
	# The guest script's own output, free of interleaved kernel lines.
	sed -n "s/^BENCH,/$n,/p" "${log%.log}.out" >>"$out/results.csv"
	if grep -q '^BENCHERROR' "${log%.log}.out"; then
		say "some runs failed: $(grep '^BENCHERROR' "${log%.log}.out" | tr '\n' ' ')"
	fi
	guest_kernel=$(sed -n 's/^BENCHMETA.*kernel=\([^,]*\).*/\1/p' "${log%.log}.out")
}
bench_vm "$cpus" all
for n in $grid_cpus; do
	bench_vm "$n" grid
done
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=KVM; else accel=TCG; fi
{
	echo "cpus $cpus"
	echo "grid_cpus $(echo $cpus $grid_cpus | tr ' ' '\n' | sort -n | tr '\n' ' ')"
	echo "kernel $guest_kernel"
	echo "reps $reps"
	echo "batch_reps $batch_reps"
	echo "rounds $rounds"
	echo "accel $accel"
	echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "host_cpus $(nproc)"
} >"$out/meta.txt"
python3 "$here/bench_report.py" "$out"
if [ "${BENCH_DOCS:-0}" = 1 ]; then
	mkdir -p "$top/Documentation/performance"
	cp "$out"/{results.csv,table.txt,plot.svg,meta.txt} "$top/Documentation/performance/"
	python3 "$here/bench_report.py" "$top/Documentation/performance" "$top/Documentation/performance.rst" >/dev/null
	say "copied to Documentation/performance/ and updated Documentation/performance.rst"
fi
say "results in $out"
