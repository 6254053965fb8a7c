#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh KDIR: `make bench`. Boots the VM, runs scripts/selftest/bench.sh
# (batchpoke batch vs serial vs the kernel's static keys over a grid of
# K keys x S sites), and writes under $BATCHPOKE_CACHE/bench/<time>/:
#
#   results.csv   one line per variant and cell
#   table.txt     the table printed at the end
#   plot.svg      IPIs per flip and time per flip against total sites
#   meta.txt      vCPUs, kernel, KVM or TCG, repetitions, date
#   guest.log     the full guest log; guest.out the guest script's output
#
# Like every VM run, the bench fails, writing no results, when the guest
# kernel reports a problem (scripts/vm-run.sh).
#
# BENCH_REPS (default 5) sets the on/off repetitions per cell; BENCH_DOCS=1
# also copies the results into Documentation/performance/ and rewrites the
# results block of Documentation/performance.rst.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
kdir=${1:?usage: bench.sh KDIR}
cpus=${BENCH_CPUS:-4}
reps=${BENCH_REPS:-5}

out=$BATCHPOKE_CACHE/bench/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
log=$out/guest.log
# Figures from a run that WARNed must not be published: set -e stops here.
"$here/vm-run.sh" --kdir "$kdir" --cpus "$cpus" --quiet --timeout 3000 --log "$log" -- "REPS=$reps ./bench.sh"
# The guest script's own output, free of interleaved kernel lines.
guest_out=${log%.log}.out
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=KVM; else accel=TCG; fi
{
	grep '^BENCHMETA' "$guest_out" | tr ',' '\n' | sed -n 's/^\(cpus\|kernel\|reps\)=/\1 /p'
	echo "accel $accel"
	echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "host_cpus $(nproc)"
} >"$out/meta.txt"
{
	echo "variant,keys,sites_per_key,flips,median_ns,p90_ns,rounds_per_flip,ipis_per_flip,int3_hits,max_stall_ns"
	sed -n 's/^BENCH,//p' "$guest_out"
} >"$out/results.csv"
if grep -q '^BENCHERROR' "$guest_out"; then
	say "some runs failed: $(grep '^BENCHERROR' "$guest_out" | tr '\n' ' ')"
fi
python3 "$here/bench_report.py" "$out"
if [ "${BENCH_DOCS:-0}" = 1 ]; then
	mkdir -p "$top/Documentation/performance"
	cp "$out"/{results.csv,table.txt,plot.svg,meta.txt} "$top/Documentation/performance/"
	python3 "$here/bench_report.py" "$top/Documentation/performance" "$top/Documentation/performance.rst" >/dev/null
	say "copied to Documentation/performance/ and updated Documentation/performance.rst"
fi
say "results in $out"
