# SPDX-License-Identifier: GPL-2.0
# What the guest scripts measure (busybox sh; sourced).

# Function-call IPIs received by all CPUs so far: the CAL line of
# /proc/interrupts, summed over CPUs. A sync round adds one per other CPU.
cal_total() { irq_total CAL; }

# irq_total NAME: a line of /proc/interrupts summed over CPUs (TLB: TLB
# shootdowns received, which arrive as function-call IPIs and so are also
# counted by CAL).
irq_total() {
	awk -v name="$1:" '$1 == name { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i } END { print s + 0 }' /proc/interrupts
}

# The CAL count of each online CPU: "CPUn=COUNT ..." (/proc/interrupts has
# a column per online CPU).
cal_per_cpu() {
	awk 'NR == 1 { for (i = 1; i <= NF; i++) cpu[i] = $i }
		/CAL:/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) printf "%s=%s ", cpu[i - 1], $i }' /proc/interrupts
}

# cal_deltas BEFORE AFTER: "CPUn=D ..." for every CPU but CPU0 in AFTER (two
# cal_per_cpu outputs): the function-call IPIs it received in between.
cal_deltas() {
	for x in $2; do
		c=${x%%=*}
		[ "$c" = CPU0 ] && continue
		v0=$(echo " $1" | sed -n "s/.* $c=\([0-9]*\) .*/\1/p")
		printf '%s=%s ' "$c" $((${x#*=} - ${v0:-0}))
	done
}

# One counter of /sys/kernel/batchpoke/stats.
stat_of() { sed -n "s/^$1 //p" /sys/kernel/batchpoke/stats; }
