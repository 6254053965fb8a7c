# SPDX-License-Identifier: GPL-2.0
# batchpoke beside the kernel's other text patchers (busybox sh; sourced by
# batchpoke.sh, which provides MODDIR, SYS, KEYS, here, online and the KTAP
# and measure.sh helpers).
#
# coexist_cases, with batchpoke and batchpoke_test loaded:
#   - a kprobe storm: batchpoke_stress registers and unregisters kprobes
#     above every site of batchpoke.ko and of batchpoke_test (kprobes decode
#     all the module's jump-label sites each time, under jump_label_mutex)
#     and tries kprobes on the sites themselves, during 1000 transactions of
#     demo_d (512 sites) and s1024 (1024 sites);
#   - the kernel's own patchers at once: static_branch_enable()/disable()
#     of ordinary static keys, a kprobe hit in a loop, and a user-mode int3
#     (SIGTRAP) in a loop, during transactions.
# coexist_hotplug_cases, with batchpoke loaded and no client: batchpoke
# loaded with a CPU offline (a CPU mask kept from load would miss it once it
# is back), the IPIs each online CPU receives per round with 4, 3 and 1 CPUs
# online, and CPUs taken offline and online in a loop while transactions
# run; batchpoke checks its demo sites as it unloads at the end.
#
# Each function always emits the same number of cases; COEXIST_CASES is
# their sum.
COEXIST_CLIENT_CASES=8
COEXIST_HOTPLUG_CASES=5
COEXIST_CASES=$((COEXIST_CLIENT_CASES + COEXIST_HOTPLUG_CASES))

COEXIST_TRANSACTIONS=${COEXIST_TRANSACTIONS:-1000}
STRESS_COUNTERS=/sys/kernel/debug/batchpoke_stress/counters

# A counter of batchpoke_stress while it is loaded.
stress_of() { sed -n "s/^$1 //p" "$STRESS_COUNTERS" 2>/dev/null; }
# A final count of batchpoke_stress, from the kernel log line TAG it wrote
# as it unloaded (its threads had stopped).
stress_final() { dmesg | sed -n "s/.*batchpoke_stress: $1\(.*\) $2=\(-\{0,1\}[0-9]*\).*/\2/p" | tail -n 1; }

# The address of MOD's symbol whose name ends with SUFFIX (a Rust key's
# mangled path, e.g. 4demo6DEMO_D).
ksym_of() { sed -n "s/^\([0-9a-f]*\) [dDbB] [^ 	]*$2	\[$1\]\$/\1/p" /proc/kallsyms | head -n 1; }

# MOD's text symbols, highest address first, without those kprobes refuse
# by name (the blacklist, CFI preambles): "ADDRESS NAME" lines.
text_syms_desc() {
	sed -n "s/^\([0-9a-f]*\) [tT] \([^ 	]*\)	\[$1\]\$/\1 \2/p" /proc/kallsyms | sort -r |
		while read -r a n; do
			case $n in __cfi_* | __pfx_*) continue ;; esac
			grep -q "	$n \[$1\]\$" /sys/kernel/debug/kprobes/blacklist 2>/dev/null && continue
			echo "$a $n"
		done
}

# The highest text symbol of MOD where a kprobe can be registered: the
# first of the candidates that batchpoke_stress accepts ("ADDRESS NAME").
# The very last function of the module's text is skipped: on 6.12,
# registering a kprobe there oopses in the kernel itself (the optprobe
# check can_optimize() decodes the function's last instruction with
# insn_decode_kernel(), which reads up to 15 bytes past the end of the
# module's text into the unmapped page after it).
kprobe_target() {
	text_syms_desc "$1" | sed 1d | head -n 5 | while read -r a n; do
		if insmod "$MODDIR/batchpoke_stress.ko" probe=0x"$a" 2>/dev/null; then
			rmmod batchpoke_stress
			echo "$a $n"
			break
		fi
	done
}

# flips N SPEC-ON SPEC-OFF: N transactions alternating the two specs; sets
# flips_failed (writes refused) and flips_rounds (sync rounds they cost).
flips() {
	n=$1 i=0 flips_failed=0
	r0=$(stat_of sync_rounds)
	while [ $i -lt "$n" ]; do
		if [ $((i % 2)) = 0 ]; then spec=$2; else spec=$3; fi
		echo "$spec" >"$SYS/transaction" 2>/dev/null || flips_failed=$((flips_failed + 1))
		i=$((i + 1))
	done
	flips_rounds=$(($(stat_of sync_rounds) - r0))
}

coexist_cases() {
	# Its failure is reported by its own case; these would only repeat it.
	if ! grep -q '^batchpoke_test ' /proc/modules; then
		for c in coexist_kprobes_above_every_site coexist_kprobe_storm_transactions_1_round_each \
			coexist_kprobe_storm_registrations_succeed coexist_kprobes_on_sites_refused_einval \
			coexist_transactions_beside_kernel_patchers_1_round_each \
			coexist_static_keys_flip_and_hold_meanwhile coexist_kprobe_hit_meanwhile_every_call \
			coexist_user_int3_sigtrap_each; do
			ktap_skip $c "batchpoke_test is not loaded"
		done
		return
	fi
	dmesg -c >/dev/null
	# --- the kprobe storm -------------------------------------------------------
	# Kprobes above every site: each registration decodes all the sites of
	# the module below the probe (jump_label_text_reserved()), which would
	# BUG() on a site that holds batchpoke's int3 unless batchpoke holds
	# jump_label_mutex while it patches.
	tb=$(kprobe_target batchpoke) tt=$(kprobe_target batchpoke_test)
	kb=$(ksym_of batchpoke 4demo6DEMO_D) kt=$(ksym_of batchpoke_test 4keys5S1024)
	jb=$(cat /sys/module/batchpoke/sections/__jump_table 2>/dev/null)
	jt=$(cat /sys/module/batchpoke_test/sections/__jump_table 2>/dev/null)
	ktap_diag "kprobe storm targets: ${tb:-none} in batchpoke, ${tt:-none} in batchpoke_test"
	loaded=0
	if [ -n "$tb" ] && [ -n "$tt" ] && [ -n "$kb" ] && [ -n "$kt" ] && [ -n "$jb" ] && [ -n "$jt" ] &&
		insmod "$MODDIR/batchpoke_stress.ko" probe=0x"${tb%% *}",0x"${tt%% *}" key=0x"$kb",0x"$kt" table="$jb,$jt"; then
		loaded=1
	fi
	# The probes lie above every site of the keys flipped (as the sites
	# file shows them too, when batchpoke has one).
	above=1 why=
	for s in 0:512:batchpoke.demo_d 1:1024:batchpoke_test.s1024; do
		i=${s%%:*} want=${s#*:} want=${want%%:*} name=${s##*:}
		p=$(stress_of storm$i.probe) m=$(stress_of storm$i.max_site) n=$(stress_of storm$i.nr_sites)
		p=${p:-0} m=${m:-0}
		if [ "$loaded" != 1 ] || [ "$n" != "$want" ] || [ $((m < p)) != 1 ]; then
			above=0 why="$why $name: $n sites, highest $m, probe ${p:-none};"
		fi
		if [ -r /sys/kernel/debug/batchpoke/sites ]; then
			top=$(sed -n "s/^$name 0x\([0-9a-f]*\) .*/\1/p" /sys/kernel/debug/batchpoke/sites | sort | tail -n 1)
			[ -n "$top" ] && [ $((0x$top < p)) = 1 ] || above=0 why="$why $name: sites file says highest 0x$top;"
		fi
	done
	if [ $above = 1 ]; then ktap_ok coexist_kprobes_above_every_site; else ktap_fail coexist_kprobes_above_every_site "$why"; fi

	t0=$(stat_of transactions)
	flips "$COEXIST_TRANSACTIONS" 'batchpoke.demo_d=1 batchpoke_test.s1024=1' 'batchpoke.demo_d=0 batchpoke_test.s1024=0'
	t=$(($(stat_of transactions) - t0))
	[ $loaded = 1 ] && rmmod batchpoke_stress
	ktap_diag "kprobe storm: $t transactions of 1536 sites, $flips_rounds sync rounds"
	if [ $loaded = 1 ] && [ $flips_failed = 0 ] && [ "$t" = "$COEXIST_TRANSACTIONS" ] &&
		[ "$flips_rounds" = "$COEXIST_TRANSACTIONS" ]; then
		ktap_ok "coexist_kprobe_storm_${COEXIST_TRANSACTIONS}_transactions_1_round_each"
	else
		ktap_fail coexist_kprobe_storm_transactions_1_round_each "$flips_failed refused, $t done, $flips_rounds rounds"
	fi
	ok=$loaded msg=
	for i in 0 1; do
		r=$(stress_final storm$i registered) f=$(stress_final storm$i reg_failed)
		msg="$msg storm$i: $r registered, $f failed ($(stress_final storm$i last_reg_err));"
		[ "${r:-0}" -gt 0 ] && [ "$f" = 0 ] || ok=0
	done
	ktap_diag "kprobe registrations:$msg"
	if [ $ok = 1 ]; then ktap_ok coexist_kprobe_storm_registrations_succeed; else ktap_fail coexist_kprobe_storm_registrations_succeed "$msg"; fi
	ok=$loaded msg=
	for i in 0 1; do
		n=$(stress_final storm$i site_tries) e=$(stress_final storm$i site_einval)
		msg="$msg storm$i: $n tries, $e EINVAL, $(stress_final storm$i site_accepted) accepted, $(stress_final storm$i site_other) other ($(stress_final storm$i last_site_err));"
		[ "${n:-0}" -gt 0 ] && [ "$e" = "$n" ] || ok=0
	done
	ktap_diag "kprobes on sites:$msg"
	if [ $ok = 1 ]; then ktap_ok coexist_kprobes_on_sites_refused_einval; else ktap_fail coexist_kprobes_on_sites_refused_einval "$msg"; fi

	# --- the kernel's own patchers at the same time --------------------------------
	dmesg -c >/dev/null
	loaded=0
	insmod "$MODDIR/batchpoke_stress.ko" static_keys=1 hit_probe=1 && loaded=1
	int3=$here/batchpoke-int3
	rm -f /tmp/stop-int3 /tmp/int3.out
	if [ -x "$int3" ]; then
		"$int3" /tmp/stop-int3 >/tmp/int3.out 2>&1 &
		int3_pid=$!
	fi
	h0=$(stress_of hits) f0=$(stress_of key_flips) t0=$(stat_of transactions)
	n=$((COEXIST_TRANSACTIONS / 4))
	flips $n 'batchpoke.demo_d=1 batchpoke_test.s1024=1' 'batchpoke.demo_d=0 batchpoke_test.s1024=0'
	h1=$(stress_of hits) f1=$(stress_of key_flips) t=$(($(stat_of transactions) - t0))
	if [ -x "$int3" ]; then
		touch /tmp/stop-int3
		wait "$int3_pid"
		int3_rc=$?
	fi
	[ $loaded = 1 ] && rmmod batchpoke_stress
	ktap_diag "beside the kernel's patchers: $t transactions, $flips_rounds sync rounds; $((${f1:-0} - ${f0:-0})) static key flips and $((${h1:-0} - ${h0:-0})) kprobe hits meanwhile"
	if [ $loaded = 1 ] && [ $flips_failed = 0 ] && [ "$t" = $n ] && [ "$flips_rounds" = "$n" ]; then
		ktap_ok coexist_transactions_beside_kernel_patchers_1_round_each
	else
		ktap_fail coexist_transactions_beside_kernel_patchers_1_round_each "$flips_failed refused, $t done, $flips_rounds rounds"
	fi
	kf=$(stress_final patchers key_flips) km=$(stress_final patchers key_mismatches)
	if [ $loaded = 1 ] && [ $((${f1:-0} - ${f0:-0})) -gt 0 ] && [ "$km" = 0 ]; then
		ktap_ok coexist_static_keys_flip_and_hold_meanwhile
	else
		ktap_fail coexist_static_keys_flip_and_hold_meanwhile "$kf flips, $km sites wrong"
	fi
	c=$(stress_final patchers calls) h=$(stress_final patchers hits) b=$(stress_final patchers bad_results)
	if [ $loaded = 1 ] && [ $((${h1:-0} - ${h0:-0})) -gt 0 ] && [ "$h" = "$c" ] && [ "$b" = 0 ]; then
		ktap_ok coexist_kprobe_hit_meanwhile_every_call
	else
		ktap_fail coexist_kprobe_hit_meanwhile_every_call "$c calls, $h hits ($((${h1:-0} - ${h0:-0})) during the transactions), $b wrong results"
	fi
	if [ ! -x "$int3" ]; then
		ktap_skip coexist_user_int3_sigtrap_each "batchpoke-int3 not in $here"
	else
		cat /tmp/int3.out
		if [ "$int3_rc" = 0 ]; then
			ktap_ok coexist_user_int3_sigtrap_each
		else
			ktap_fail coexist_user_int3_sigtrap_each "status $int3_rc: $(cat /tmp/int3.out)"
		fi
	fi
}

# CPUs that can go offline (cpu0 cannot).
hotplug_cpus() {
	for f in /sys/devices/system/cpu/cpu[1-9]*/online; do
		[ -w "$f" ] && { c=${f%/online}; echo "${c##*/cpu}"; }
	done
}
cpu_set() { echo "$2" >"/sys/devices/system/cpu/cpu$1/online"; }

# cal_at_least NAME N: N transactions of demo_d from CPU 0 with the online
# set as it is; every other CPU online must receive an IPI per round.
cal_at_least() {
	on=$(grep -c ^processor /proc/cpuinfo)
	taskset -p 1 $$ >/dev/null
	b=$(cal_per_cpu)
	flips "$2" batchpoke.demo_d=1 batchpoke.demo_d=0
	a=$(cal_per_cpu)
	taskset -p ffffffff $$ >/dev/null
	got= short=
	for x in $(cal_deltas "$b" "$a"); do
		c=${x%%=*} d=${x#*=}
		got="$got $c +$d"
		[ "$d" -ge "$flips_rounds" ] || short="$short $c"
	done
	cal_msg="$cal_msg $1: $on online, $flips_rounds rounds from CPU0, IPIs:${got:- none};"
	[ $flips_failed = 0 ] && [ -z "$short" ] && [ "$flips_rounds" = "$2" ]
}

coexist_hotplug_cases() {
	cpus=$(hotplug_cpus)
	last=$(echo "$cpus" | tail -n 1)
	if [ -z "$cpus" ]; then
		for c in hotplug_reload_with_a_cpu_offline hotplug_cal_covers_cpus_online \
			hotplug_transactions_1_round_each hotplug_offline_online_cycles \
			hotplug_demo_sites_hold_state; do
			ktap_skip $c "no CPU can go offline"
		done
		return
	fi
	dmesg -c >/dev/null
	# Loaded with a CPU offline, batchpoke must still reach it once it is
	# back: a CPU mask taken at load would miss it.
	if cpu_set "$last" 0 && rmmod batchpoke && insmod "$MODDIR/batchpoke.ko" && cpu_set "$last" 1; then
		ktap_ok hotplug_reload_with_a_cpu_offline
	else
		ktap_fail hotplug_reload_with_a_cpu_offline
		cpu_set "$last" 1 2>/dev/null
		grep -q '^batchpoke ' /proc/modules || insmod "$MODDIR/batchpoke.ko"
	fi

	cal_ok=1 cal_msg=
	cal_at_least all 10 || cal_ok=0
	cpu_set "$last" 0
	cal_at_least "cpu$last-off" 10 || cal_ok=0
	for c in $cpus; do cpu_set "$c" 0; done
	cal_at_least "cpu0-only" 2 || cal_ok=0
	for c in $cpus; do cpu_set "$c" 1; done
	ktap_diag "CAL per online set:$cal_msg"
	if [ $cal_ok = 1 ]; then ktap_ok hotplug_cal_covers_cpus_online; else ktap_fail hotplug_cal_covers_cpus_online "$cal_msg"; fi

	# Every CPU that can, offline and online again, over and over, while
	# transactions run back to back; each must cost exactly 1 round.
	HOTPLUG_CYCLES=${HOTPLUG_CYCLES:-25}
	rm -f /tmp/hotplug-done /tmp/hotplug-errors
	(
		i=0
		while [ $i -lt "$HOTPLUG_CYCLES" ]; do
			for c in $cpus; do
				cpu_set "$c" 0 || echo "cpu$c offline #$i" >>/tmp/hotplug-errors
				cpu_set "$c" 1 || echo "cpu$c online #$i" >>/tmp/hotplug-errors
			done
			i=$((i + 1))
		done
		touch /tmp/hotplug-done
	) 2>/dev/null &
	hp=$!
	n=0 bad=0 refused=0
	while [ ! -e /tmp/hotplug-done ]; do
		if [ $((n % 2)) = 0 ]; then spec='batchpoke.demo_c=1 batchpoke.demo_d=1'; else spec='batchpoke.demo_c=0 batchpoke.demo_d=0'; fi
		r0=$(stat_of sync_rounds)
		echo "$spec" >"$SYS/transaction" 2>/dev/null || refused=$((refused + 1))
		[ $(($(stat_of sync_rounds) - r0)) = 1 ] || bad=$((bad + 1))
		n=$((n + 1))
	done
	wait $hp
	ktap_diag "hotplug: $HOTPLUG_CYCLES offline/online cycles of CPUs $(echo $cpus) during $n transactions"
	if [ $n -gt 0 ] && [ $refused = 0 ] && [ $bad = 0 ]; then
		ktap_ok hotplug_transactions_1_round_each
	else
		ktap_fail hotplug_transactions_1_round_each "$n transactions: $refused refused, $bad not 1 round"
	fi
	if [ ! -e /tmp/hotplug-errors ] && [ "$(grep -c ^processor /proc/cpuinfo)" = "$online" ]; then
		ktap_ok hotplug_offline_online_cycles
	else
		ktap_fail hotplug_offline_online_cycles "$(cat /tmp/hotplug-errors 2>/dev/null | head -n 3 | tr '\n' ' ')$(cat /sys/devices/system/cpu/online) online"
	fi
	for c in $cpus; do cpu_set "$c" 1 2>/dev/null; done

	# The last transaction set demo_c and demo_d to this; batchpoke checks
	# every demo site as it unloads (WARN and "demo key" errors otherwise).
	want=$(((n - 1) % 2 == 0))
	dmesg -c >/dev/null
	st="$(cat "$KEYS/batchpoke.demo_c/enabled")$(cat "$KEYS/batchpoke.demo_d/enabled")"
	if [ "$st" = "$want$want" ] && rmmod batchpoke && ! dmesg | grep -q 'demo key' &&
		insmod "$MODDIR/batchpoke.ko"; then
		ktap_ok hotplug_demo_sites_hold_state
	else
		ktap_fail hotplug_demo_sites_hold_state "enabled $st, expected $want$want; $(dmesg | grep 'demo key' | head -n 1)"
		grep -q '^batchpoke ' /proc/modules || insmod "$MODDIR/batchpoke.ko"
	fi
}
