# SPDX-License-Identifier: GPL-2.0
# The benchmark sample (samples/batchpoke_bench), sourced by batchpoke.sh,
# which calls benchmod_cases with batchpoke loaded and counts
# BENCHMOD_CASES in its plan: its keys and workloads exist with the sites
# `make bench` reports on, and every variant runs, at the rounds that
# must hold exactly (the IPI figures are `make bench`'s). Leaves the bench
# unloaded.
BENCHMOD_CASES=5
BB=/sys/kernel/batchpoke_bench

# bench_run VARIANT K S REPS: one run; prints "flips rounds" of its result.
bench_run() {
	echo "$*" >"$BB/run" || return 1
	set -- $(cat "$BB/result")
	echo "$4 $7"
}

benchmod_cases() {
	ktap_insmod batchpoke_bench bench_loads $BENCHMOD_CASES || return
	# 3 x 64 grid keys, 1900 + 1 + 1 workload keys, and as many ordinary
	# static keys (the kernel path's, registered for the `static` variant).
	n=$(ls "$KEYS" | grep -c '^batchpoke_bench\.')
	layout=
	for k in g1_0 g16_63 g256_7 dd_0 dd_1899 bpf_stats_enabled sched_schedstats \
		k1_0 k16_63 k256_7 kdd_0 kdd_1899 kbpf_stats_enabled ksched_schedstats; do
		layout="$layout$k:$(cat "$KEYS/batchpoke_bench.$k/sites" 2>/dev/null) "
	done
	want="g1_0:1 g16_63:16 g256_7:256 dd_0:1 dd_1899:1 bpf_stats_enabled:164 sched_schedstats:56 "
	want="${want}k1_0:1 k16_63:16 k256_7:256 kdd_0:1 kdd_1899:1 kbpf_stats_enabled:164 ksched_schedstats:56 "
	if [ "$n" = 4188 ] && [ "$layout" = "$want" ]; then
		ktap_ok bench_keys_registered_with_their_sites
	else
		ktap_fail bench_keys_registered_with_their_sites "$n keys; $layout"
	fi
	# Dynamic debug's "+p": 1900 keys, one transaction per flip, 1 round.
	t0=$(stat_of transactions)
	got=$(bench_run batch 1900 1 1)
	if [ "$got" = "2 2" ] && [ $(($(stat_of transactions) - t0)) = 2 ]; then
		ktap_ok bench_1900_keys_one_transaction_of_1_round_per_flip
	else
		ktap_fail bench_1900_keys_one_transaction_of_1_round_per_flip "flips rounds: $got, transactions +$(($(stat_of transactions) - t0))"
	fi
	# The other variants on sched_schedstats' 56 sites: serial 2 rounds per
	# site, the kernel path and idle none of batchpoke's.
	got="$(bench_run serial 1 56 1), $(bench_run kernel 1 56 1), $(bench_run idle 1 56 1)"
	if [ "$got" = "2 224, 2 0, 2 0" ]; then
		ktap_ok bench_serial_kernel_idle_variants_run
	else
		ktap_fail bench_serial_kernel_idle_variants_run "flips rounds: $got"
	fi
	# The same 1900 keys as ordinary static keys, flipped through batchpoke:
	# one transaction, 3 rounds per flip (the final sync of static keys);
	# the kernel's own path still works
	# on them after (the `kernel` variant flips them with
	# static_key_enable()/disable()).
	t0=$(stat_of transactions)
	got="$(bench_run static 1900 1 1), $(bench_run kernel 1 164 1), $(bench_run static 1 164 1)"
	if [ "$got" = "2 6, 2 0, 2 6" ] && [ $(($(stat_of transactions) - t0)) = 4 ]; then
		ktap_ok bench_static_keys_one_transaction_of_3_rounds_per_flip
	else
		ktap_fail bench_static_keys_one_transaction_of_3_rounds_per_flip "flips rounds: $got, transactions +$(($(stat_of transactions) - t0))"
	fi
	rmmod batchpoke_bench
}
