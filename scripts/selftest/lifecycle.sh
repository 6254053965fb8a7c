# SPDX-License-Identifier: GPL-2.0
# Lifecycle and teardown cases (issue 10), sourced by batchpoke.sh, which
# calls lifecycle_cases with batchpoke loaded and no client module loaded,
# and counts LIFECYCLE_CASES in its plan. Uses batchpoke.sh's SYS, KEYS and
# MODDIR, ktap.sh and measure.sh. Leaves batchpoke freshly loaded.
#
#   no cost        an unrelated module's load and unload replace no table
#                  and run no sync round;
#   unload races   rmmod batchpoke while an unrelated module loads and
#                  unloads in a loop and a writer keeps a serial 512-site
#                  transaction in flight;
#   client gone    a client unloads with its keys enabled and registered
#                  (batchpoke_demo forget=1): the module notifier drops them;
#   in flight      rmmod batchpoke, and a client's unload, during a long
#                  transaction: waited for, never a splat.
#
# The number of cases is fixed whatever happens: LIFECYCLE_CASES.
LIFECYCLE_CASES=15

# A use-after-free in these races shows only under KASAN (the debug flavor):
# there the unload race runs longest; the slab check, which KASAN's
# quarantine defeats, needs the most client cycles elsewhere.
if grep -q ' __asan_load8$' /proc/kallsyms 2>/dev/null; then
	LC_KASAN=1
	UNLOAD_RACES=${UNLOAD_RACES:-200}
	CLIENT_GONE_CYCLES=${CLIENT_GONE_CYCLES:-50}
else
	LC_KASAN=0
	UNLOAD_RACES=${UNLOAD_RACES:-100}
	CLIENT_GONE_CYCLES=${CLIENT_GONE_CYCLES:-310}
fi
INFLIGHT_ROUNDS=${INFLIGHT_ROUNDS:-5}

LC_SPLAT='Oops|BUG:|WARNING:|Call Trace|lockdep|KASAN|UBSAN|possible circular|inconsistent lock|general protection|refcount_t:|list_(add|del) corruption'
LC_DEMO_D=/sys/kernel/batchpoke/keys/batchpoke.demo_d/enabled

# The splat lines of the kernel log since the last call, which clears it.
lc_splats() { dmesg -c | grep -E "$LC_SPLAT" | head -n 3; }
# lc_writer_clean FILE: the errors a writer logged in FILE are only those of
# files going away under it. "Permission denied" is one of them: the shell
# opens with O_CREAT, and between the removal of a key's files and of its
# directory that is a create in sysfs, which refuses it (seen on 6.12).
lc_writer_clean() {
	! grep -vE "No such file or directory|No such device|nonexistent directory|can't create $LC_DEMO_D: Permission denied|^\$" "$1" | grep -q .
}
# Waits (up to ~5 s) until batchpoke has begun a transaction since $1
# sync rounds, so that what comes next finds one in flight.
lc_wait_rounds() {
	n=0
	while [ "$(stat_of sync_rounds)" -le "$1" ] && [ $n -lt 500 ]; do usleep 10000; n=$((n + 1)); done
}
lc_reload() { grep -q '^batchpoke ' /proc/modules || insmod "$MODDIR/batchpoke.ko"; }

lc_unload_races() {
	if [ ! -f "$MODDIR/batchpoke_canary.ko" ]; then
		for c in rmmod_batchpoke_while_unrelated_modules_cycle unrelated_module_cycled_no_keys_dropped \
			registry_consistent_after_unload_races unload_races_kernel_log_clean; do
			ktap_skip "$c" "batchpoke_canary.ko missing"
		done
		return
	fi
	lc_splats >/dev/null
	rm -f /tmp/lc-stop /tmp/lc-canary
	# An unrelated module (it depends on nothing) comes and goes: each
	# unload runs batchpoke's module notifier, which must never touch
	# batchpoke's state once that is being freed.
	(
		c=0
		while [ ! -e /tmp/lc-stop ]; do
			insmod "$MODDIR/batchpoke_canary.ko" && rmmod batchpoke_canary && c=$((c + 1))
			echo $c >/tmp/lc-canary
		done
	) >/dev/null 2>&1 &
	canary=$!
	# A serial flip of the 512-site key holds the registry lock for tens of
	# milliseconds: teardown and notifier calls queue behind it.
	(
		while [ ! -e /tmp/lc-stop ]; do
			if echo serial >"$SYS/strategy"; then
				echo 1 >"$LC_DEMO_D"
				echo 0 >"$LC_DEMO_D"
			else
				usleep 2000
			fi
		done
	) >/dev/null 2>&1 &
	writer=$!
	ok=1 msg= i=0
	while [ $i -lt "$UNLOAD_RACES" ]; do
		i=$((i + 1))
		rmmod batchpoke || { ok=0; msg="rmmod batchpoke #$i"; break; }
		insmod "$MODDIR/batchpoke.ko" || { ok=0; msg="insmod batchpoke #$i"; break; }
	done
	touch /tmp/lc-stop
	wait $canary $writer
	rm -f /tmp/lc-stop
	lc_reload
	cycles=$(cat /tmp/lc-canary 2>/dev/null)
	ktap_diag "unload races: $i batchpoke unload/load cycles while batchpoke_canary cycled ${cycles:-0} times"
	if [ $ok = 1 ]; then
		ktap_ok rmmod_batchpoke_while_unrelated_modules_cycle
	else
		ktap_fail rmmod_batchpoke_while_unrelated_modules_cycle "$msg"
	fi
	log=$(dmesg)
	if [ "${cycles:-0}" -ge 10 ] && ! echo "$log" | grep -q 'went away with'; then
		ktap_ok unrelated_module_cycled_no_keys_dropped
	else
		ktap_fail unrelated_module_cycled_no_keys_dropped "canary cycles ${cycles:-0}; $(echo "$log" | grep 'went away with' | head -n 1)"
	fi
	echo batch >"$SYS/strategy"
	layout=$(for k in "$KEYS"/*; do printf '%s:%s ' "${k##*/}" "$(cat "$k/sites")"; done)
	if [ "$layout" = "batchpoke.demo_a:1 batchpoke.demo_b:8 batchpoke.demo_c:64 batchpoke.demo_d:512 " ] &&
		echo 'batchpoke.demo_d=1' >"$SYS/transaction" && echo 'batchpoke.demo_d=0' >"$SYS/transaction"; then
		ktap_ok registry_consistent_after_unload_races
	else
		ktap_fail registry_consistent_after_unload_races "$layout"
	fi
	bad=$(lc_splats)
	if [ -z "$bad" ]; then ktap_ok unload_races_kernel_log_clean; else ktap_fail unload_races_kernel_log_clean "$bad"; fi
}

# Slab in use, in kB, once objects freed through kfree_rcu() are gone: it
# batches frees for up to 5 s (KFREE_DRAIN_JIFFIES), which is most of the
# noise between two readings.
lc_slab_kb() {
	sleep 6
	sync
	echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
	sed -n 's/^Slab: *\([0-9]*\) kB/\1/p' /proc/meminfo
}

# One cycle: a client that forgets its registration loads, its keys are
# flipped away from their initial states, it unloads.
lc_forget_cycle() {
	insmod "$MODDIR/batchpoke_demo.ko" forget=1 || { echo "insmod demo forget=1"; return; }
	echo 'batchpoke_demo.accounting=1 batchpoke_demo.fast_path=0' >"$SYS/transaction" ||
		echo "flipping its keys"
	[ "$(cat "$KEYS/batchpoke_demo.accounting/enabled" 2>/dev/null)" = 1 ] || echo "accounting not on"
	rmmod batchpoke_demo || echo "rmmod demo"
}

lc_client_gone() {
	lc_splats >/dev/null
	# The first cycles fill caches that later ones reuse: slab is measured
	# from the end of the tenth, then after every third of the rest. A leak
	# grows in every third, by 16 kB or more if it loses 160 bytes a cycle
	# (one small allocation per key); the system's own growth does not: on
	# 6.12, freed vmalloc areas (module memory, batchpoke's aliases) wait
	# for a lazy purge, seen as 8-20 kB in a third, up to 60 kB in one and
	# nothing in the next.
	ok=1 dirs_ok=1 msg_ok=1 msg= dirs_msg= msg_msg= i=0 slabs= growths= grew_each=1 last=
	third=$(((CLIENT_GONE_CYCLES - 10) / 3))
	[ $third -ge 1 ] || third=1
	while [ $i -lt "$CLIENT_GONE_CYCLES" ]; do
		i=$((i + 1))
		err=$(lc_forget_cycle)
		[ -z "$err" ] || { ok=0; msg="cycle $i: $err"; }
		if [ -n "$(ls "$KEYS" | grep '^batchpoke_demo\.')" ]; then
			dirs_ok=0
			dirs_msg="cycle $i: $(ls "$KEYS" | grep '^batchpoke_demo\.' | tr '\n' ' ')"
		fi
		log=$(dmesg -c)
		if [ "$(echo "$log" | grep -c 'a module went away with 2 keys still registered')" != 1 ]; then
			msg_ok=0
			msg_msg="cycle $i: $(echo "$log" | grep batchpoke | tail -n 2 | tr '\n' ' ')"
		fi
		bad=$(echo "$log" | grep -E "$LC_SPLAT" | head -n 3)
		[ -z "$bad" ] || { ok=0; msg="cycle $i: $bad"; }
		[ $ok = 1 ] && [ $dirs_ok = 1 ] && [ $msg_ok = 1 ] || break
		if [ $LC_KASAN = 0 ] && [ $i -ge 10 ] && [ $(((i - 10) % third)) = 0 ]; then
			kb=$(lc_slab_kb)
			slabs="$slabs cycle $i: $kb kB;"
			if [ -n "$last" ]; then
				growths="$growths $((kb - last))"
				[ $((kb - last)) -ge 16 ] || grew_each=0
			fi
			last=$kb
		fi
	done
	ktap_diag "client gone: $i cycles of insmod batchpoke_demo forget=1, keys on, rmmod; slab after${slabs:- ?}"
	if [ $ok = 1 ] && [ "$i" = "$CLIENT_GONE_CYCLES" ]; then
		ktap_ok client_gone_forgetful_client_cycles
	else
		ktap_fail client_gone_forgetful_client_cycles "${msg:-stopped at cycle $i}"
	fi
	if [ $dirs_ok = 1 ]; then ktap_ok client_gone_key_dirs_removed; else ktap_fail client_gone_key_dirs_removed "$dirs_msg"; fi
	if [ $msg_ok = 1 ]; then
		ktap_ok client_gone_notifier_dropped_2_keys_each_time
	else
		ktap_fail client_gone_notifier_dropped_2_keys_each_time "$msg_msg"
	fi
	if [ $LC_KASAN = 1 ]; then
		# KASAN keeps freed objects in quarantine: slab figures say nothing.
		ktap_skip client_gone_slab_not_growing_in_every_third "KASAN quarantine holds freed memory"
	elif [ "$i" = "$CLIENT_GONE_CYCLES" ] && [ "$(echo $growths | wc -w)" = 3 ] && [ $grew_each = 0 ]; then
		ktap_ok client_gone_slab_not_growing_in_every_third
	else
		ktap_fail client_gone_slab_not_growing_in_every_third "kB per third of the cycles:${growths:- none measured}"
	fi
	# batchpoke itself is unharmed.
	if echo 'batchpoke.demo_c=1' >"$SYS/transaction" && echo 'batchpoke.demo_c=0' >"$SYS/transaction" &&
		[ "$(cat "$KEYS/batchpoke.demo_c/enabled")" = 0 ]; then
		ktap_ok client_gone_batchpoke_still_flips
	else
		ktap_fail client_gone_batchpoke_still_flips
	fi
}

# rmmod batchpoke while a serial flip of demo_d is in flight, INFLIGHT_ROUNDS
# times. The writer counts its successful writes; a write that completes
# after the transaction count read just before rmmod began was in flight
# (or started) as rmmod began, and completed, module text and all.
lc_inflight_batchpoke() {
	ok=1 msg= late=0 r=0
	while [ $r -lt "$INFLIGHT_ROUNDS" ]; do
		r=$((r + 1))
		lc_reload
		echo serial >"$SYS/strategy"
		t0=$(stat_of transactions) r0=$(stat_of sync_rounds)
		rm -f /tmp/lc-writes /tmp/lc-writer.err
		(
			n=0
			while echo 1 >"$LC_DEMO_D"; do
				n=$((n + 1))
				echo 0 >"$LC_DEMO_D" || break
				n=$((n + 1))
			done
			echo $n >/tmp/lc-writes
		) 2>/tmp/lc-writer.err &
		writer=$!
		lc_wait_rounds "$r0"
		t1=$(stat_of transactions)
		# The writer stops when its file goes; if it did not, stop it.
		rmmod batchpoke || { ok=0; msg="round $r: rmmod batchpoke failed"; kill $writer; }
		wait $writer
		n=$(cat /tmp/lc-writes 2>/dev/null)
		if grep -q '^batchpoke ' /proc/modules || [ -e "$SYS" ]; then ok=0; msg="round $r: batchpoke still there"; fi
		lc_writer_clean /tmp/lc-writer.err || { ok=0; msg="round $r: writer: $(head -n 2 /tmp/lc-writer.err)"; }
		# Writes completed after the count read before rmmod.
		after=$((${n:-0} - (t1 - t0)))
		[ "$after" -lt 0 ] && { ok=0; msg="round $r: $n writes succeeded, batchpoke counted $((t1 - t0)) before rmmod"; }
		[ "$after" -gt 0 ] && late=$((late + 1))
		ktap_diag "in flight: round $r: $((t1 - t0)) transactions before rmmod, ${n:-?} writes succeeded"
	done
	lc_reload
	if [ $ok = 1 ]; then ktap_ok inflight_rmmod_batchpoke_waits_serial_512_sites; else ktap_fail inflight_rmmod_batchpoke_waits_serial_512_sites "$msg"; fi
	if [ $late -gt 0 ]; then
		ktap_ok inflight_rmmod_batchpoke_found_transaction_in_flight
	else
		ktap_fail inflight_rmmod_batchpoke_found_transaction_in_flight "no write completed after rmmod began, in $r rounds"
	fi
}

# rmmod batchpoke_demo while (a) a serial sysfs transaction on its key is in
# flight, (b) its own kthread is inside batchpoke_api::apply_serial.
lc_inflight_client() {
	ok=1 msg= r=0
	while [ $r -lt "$INFLIGHT_ROUNDS" ]; do
		r=$((r + 1))
		insmod "$MODDIR/batchpoke_demo.ko" || { ok=0; msg="round $r: insmod demo"; break; }
		echo serial >"$SYS/strategy"
		r0=$(stat_of sync_rounds)
		rm -f /tmp/lc-writer.err
		(
			while echo 'batchpoke_demo.accounting=1 batchpoke.demo_d=1' >"$SYS/transaction" &&
				echo 'batchpoke_demo.accounting=0 batchpoke.demo_d=0' >"$SYS/transaction"; do :; done
		) 2>/tmp/lc-writer.err &
		writer=$!
		lc_wait_rounds "$r0"
		rmmod batchpoke_demo || { ok=0; msg="round $r: rmmod demo failed"; kill $writer; }
		# Once rmmod has returned, no transaction on the demo's key may be
		# in flight: every later one is refused (ENOENT), none completes.
		t1=$(stat_of transactions)
		wait $writer
		t2=$(stat_of transactions)
		[ "$t2" = "$t1" ] || { ok=0; msg="round $r: $((t2 - t1)) transactions completed after rmmod returned"; }
		lc_writer_clean /tmp/lc-writer.err || { ok=0; msg="round $r: writer: $(head -n 2 /tmp/lc-writer.err)"; }
		[ -z "$(ls "$KEYS" | grep '^batchpoke_demo\.')" ] || { ok=0; msg="round $r: demo key dirs left"; }
		echo batch >"$SYS/strategy"
		echo 'batchpoke.demo_d=0' >"$SYS/transaction"
	done
	if [ $ok = 1 ]; then ktap_ok inflight_rmmod_client_during_serial_sysfs_transaction; else ktap_fail inflight_rmmod_client_during_serial_sysfs_transaction "$msg"; fi

	ok=1 msg= r=0
	dmesg -c | grep -E "$LC_SPLAT" >>/tmp/lc-splat
	while [ $r -lt "$INFLIGHT_ROUNDS" ]; do
		r=$((r + 1))
		# Every other round the client also forgets its registration.
		forget=$((r % 2))
		insmod "$MODDIR/batchpoke_demo.ko" serial_loop=1 forget=$forget || { ok=0; msg="round $r: insmod demo"; break; }
		n=0
		while [ "$(sed -n 's/^serial_flips //p' /sys/kernel/batchpoke_demo/counters)" -lt 5 ] && [ $n -lt 500 ]; do
			usleep 10000
			n=$((n + 1))
		done
		flips=$(sed -n 's/^serial_flips //p' /sys/kernel/batchpoke_demo/counters)
		rmmod batchpoke_demo || { ok=0; msg="round $r: rmmod demo failed"; }
		[ "$flips" -ge 5 ] || { ok=0; msg="round $r: the kthread made only $flips serial flips"; }
		[ -z "$(ls "$KEYS" | grep '^batchpoke_demo\.')" ] || { ok=0; msg="round $r: demo key dirs left"; }
	done
	log=$(dmesg -c)
	if echo "$log" | grep -q 'serial transaction failed'; then
		ok=0
		msg="$(echo "$log" | grep 'serial transaction failed' | head -n 1)"
	fi
	if [ $ok = 1 ]; then ktap_ok inflight_rmmod_client_while_its_kthread_applies; else ktap_fail inflight_rmmod_client_while_its_kthread_applies "$msg"; fi
	echo "$log" | grep -E "$LC_SPLAT" >>/tmp/lc-splat
}

# A module without keys costs batchpoke nothing when it loads or unloads
# (issue 20): no rebuild of the int3 handler's table (whose replacement
# waits for an RCU grace period) and no sync round, with batchpoke's own
# keys registered (so there is a table to rebuild).
lc_unrelated_costs_nothing() {
	name=unrelated_module_load_unload_replaces_no_table_and_syncs_nothing
	if [ ! -f "$MODDIR/batchpoke_canary.ko" ]; then ktap_skip $name "batchpoke_canary.ko missing"; return; fi
	trap_file=/sys/kernel/debug/batchpoke/trap
	replaced_before=$(sed -n 's/^replaced \([0-9]*\) times$/\1/p' $trap_file)
	sites=$(sed -n 's/^table \([0-9]*\) sites$/\1/p' $trap_file)
	rounds_before=$(stat_of sync_rounds)
	i=0 msg=
	while [ $i -lt 20 ]; do
		insmod "$MODDIR/batchpoke_canary.ko" && rmmod batchpoke_canary || { msg="cycle $i: insmod/rmmod canary"; break; }
		i=$((i + 1))
	done
	replaced_after=$(sed -n 's/^replaced \([0-9]*\) times$/\1/p' $trap_file)
	rounds_after=$(stat_of sync_rounds)
	ktap_diag "$i canary cycles: table of ${sites:-?} sites replaced ${replaced_before:-?} -> ${replaced_after:-?} times, sync rounds $rounds_before -> $rounds_after"
	if [ -z "$msg" ] && [ "${sites:-0}" -gt 0 ] && [ -n "$replaced_before" ] &&
		[ "$replaced_after" = "$replaced_before" ] && [ "$rounds_after" = "$rounds_before" ]; then
		ktap_ok $name
	else
		ktap_fail $name "${msg:-table replaced or sync rounds run by a module without keys}"
	fi
}

lifecycle_cases() {
	lc_reload
	lc_unrelated_costs_nothing
	lc_unload_races
	lc_client_gone
	lc_splats >/tmp/lc-splat
	lc_inflight_batchpoke
	lc_inflight_client
	lc_splats >>/tmp/lc-splat
	echo batch >"$SYS/strategy"
	if [ ! -s /tmp/lc-splat ]; then
		ktap_ok lifecycle_kernel_log_clean
	else
		ktap_fail lifecycle_kernel_log_clean "$(head -n 3 /tmp/lc-splat | tr '\n' ' ')"
	fi
	# Fresh, as batchpoke.sh found it.
	rmmod batchpoke && insmod "$MODDIR/batchpoke.ko"
}
