#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What `make run` shows inside the guest: load batchpoke, flip keys one by
# one, in one transaction and serially, with the sync rounds each took and
# the function-call IPIs the CPUs received, then the demo client and the C
# client at work.
set -e
. "$(dirname "$0")/measure.sh"
S=/sys/kernel/batchpoke
klog() { dmesg -c | sed -n 's/^\[[^]]*\] \(batchpoke.*\)/  kernel: \1/p' | grep -v taints || true; }
# ipis_of COMMAND: function-call IPIs during COMMAND (run in this shell: a
# forked one would add IPIs of its own), less those of measuring nothing.
overhead=0
ipis_of() {
	c0=$(cal_total)
	eval "$1"
	c1=$(cal_total)
	echo $((c1 - c0 - overhead))
}
# measured DESCRIPTION COMMAND: runs COMMAND, prints its cost.
measured() {
	r0=$(stat_of sync_rounds) s0=$(stat_of sites_patched)
	ipis=$(ipis_of "$2")
	r1=$(stat_of sync_rounds) s1=$(stat_of sites_patched)
	printf '  %-44s %5d sites %5d sync rounds %6d IPIs %8d us\n' "$1" $((s1 - s0)) $((r1 - r0)) "$ipis" \
		$(($(stat_of last_ns) / 1000))
}
# The console log level stays as booted: the harness reads every kernel
# message from the console, and people see only this script's output, with
# batchpoke's kernel lines through klog.
cpus=$(grep -c ^processor /proc/cpuinfo)
echo "== guest: $cpus CPUs online, Linux $(uname -r)"
dmesg -c >/dev/null
echo "== insmod batchpoke.ko"
insmod /lib/batchpoke/batchpoke.ko
klog
echo "== keys"
for k in "$S"/keys/*; do
	printf '  %-22s sites %4s  enabled %s  owner %s\n' "${k##*/}" "$(cat "$k/sites")" "$(cat "$k/enabled")" "$(cat "$k/owner")"
done
# The measurement's own processes cost a few IPIs: take the least of a few
# empty measurements as the baseline.
least=1000000
for i in 1 2 3 4 5; do o=$(ipis_of ":"); [ "$o" -lt "$least" ] && least=$o; done
overhead=$least
echo "== flips (each sync round interrupts the $((cpus - 1)) other CPUs once; IPIs net of $overhead for measuring)"
measured "demo_d on (512 sites)" "echo 1 > $S/keys/batchpoke.demo_d/enabled"
measured "demo_d off" "echo 0 > $S/keys/batchpoke.demo_d/enabled"
measured "transaction: all four keys (585 sites)" \
	"echo 'batchpoke.demo_a=1 batchpoke.demo_b=0 batchpoke.demo_c=1 batchpoke.demo_d=1' > $S/transaction"
measured "transaction: back" \
	"echo 'batchpoke.demo_a=0 batchpoke.demo_b=1 batchpoke.demo_c=0 batchpoke.demo_d=0' > $S/transaction"
echo serial >"$S/strategy"
measured "serial strategy: demo_c on (64 sites)" "echo 1 > $S/keys/batchpoke.demo_c/enabled"
echo batch >"$S/strategy"
measured "batch strategy: demo_c off (64 sites)" "echo 0 > $S/keys/batchpoke.demo_c/enabled"
if echo 'batchpoke.demo_a=1 batchpoke.nope=1' >"$S/transaction" 2>/dev/null; then :; else
	echo "  a transaction naming an unknown key is refused; demo_a stays $(cat "$S/keys/batchpoke.demo_a/enabled")"
fi
echo "== stats"
sed 's/^/  /' "$S/stats"
echo "== demo client: a timer and a kthread with batchpoke branches"
insmod /lib/batchpoke/batchpoke_demo.ko
klog
sleep 1
echo "  accounting off:  $(grep accounted /sys/kernel/batchpoke_demo/counters | tr '\n' ' ')"
echo 1 >"$S/keys/batchpoke_demo.accounting/enabled"
sleep 1
echo "  accounting on:   $(grep accounted /sys/kernel/batchpoke_demo/counters | tr '\n' ' ')"
rmmod batchpoke_demo
echo "== C client (samples/batchpoke_cclient, batchpoke.h only): 9 keys, 80 sites"
insmod /lib/batchpoke/batchpoke_cclient.ko
C=/sys/kernel/batchpoke_cclient
measured "batchpoke_apply(): all 9 keys flipped" "echo 101010101 > $C/apply"
set -- $(cat "$C/report")
echo "  its report: $1 sites, $2 sync rounds; what the sites now execute (key state unlikely likely):"
sed -n 's/^\(c[0-3] .*\)/    \1/p' "$C/sites"
rmmod batchpoke_cclient
echo "== rmmod batchpoke"
rmmod batchpoke
klog
