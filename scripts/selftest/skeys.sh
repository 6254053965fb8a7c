# SPDX-License-Identifier: GPL-2.0
# Ordinary static keys of a C module (samples/batchpoke_skeys), flipped by
# batchpoke in batches and by the kernel's static-key API in between;
# sourced by batchpoke.sh, which calls skeys_cases with batchpoke loaded
# and counts SKEYS_CASES in its plan (uses its KEYS, MODDIR, snapshot,
# klog_clear, ktap.sh and measure.sh; leaves both samples unloaded), and
# by parallel.sh, which calls skeys_race.
#
# Two oracles that are not batchpoke's: reading the sample's `state` runs
# every site (what the patched instructions do), and prints the kernel's
# static_key_enabled() of every key. If batchpoke left a key's count wrong,
# the kernel's own static_key_disable()/enable() afterwards would leave the
# sites alone or, finding bytes it did not expect, BUG.
SKEYS_CASES=17
SK=/sys/kernel/batchpoke_skeys

# A 65-char key string: the 64 keys all $1, skshared $2.
sk_all() {
	s= i=0
	while [ $i -lt 64 ]; do s="$s$1" i=$((i + 1)); done
	printf '%s%s' "$s" "$2"
}
# skeys_expect STRING: `state` when every site and static_key_enabled()
# agree with the 65 chars STRING.
skeys_expect() { printf 'sites %s\nenabled %s\n' "$1" "$1"; }
# sk_set STRING POS CHAR: STRING with its POS-th char (0-based) set to CHAR.
sk_set() { echo "$1" | sed "s/./$3/$(($2 + 1))"; }

# skeys_race NAME FLIPS: the kernel's static_key_enable()/disable() on two
# keys in a loop while batchpoke flips all 64 on and off FLIPS times. Both
# patch under jump_label_mutex, so every flip either happens or is refused
# with EAGAIN (a key's state changed between planning and locking), and
# the kernel never finds bytes it does not expect (it would BUG). After,
# every key's sites agree with static_key_enabled(). One case.
skeys_race() {
	klog_clear
	(
		i=0
		while [ $i -lt $(($2 * 4)) ]; do
			for op in "enable 1" "enable 2" "disable 1" "disable 2"; do echo "$op" >"$SK/kernel"; done
			i=$((i + 1))
		done
	) &
	racer=$!
	applied=0 refused= j=0
	while [ $j -lt "$2" ]; do
		for v in 1 0; do
			e=$(errno_of "$( { echo "$(sk_all $v -)" >"$SK/apply"; } 2>&1)")
			case $e in OK) applied=$((applied + 1)) ;; *) refused="$refused $e" ;; esac
		done
		j=$((j + 1))
	done
	wait $racer
	state=$(cat "$SK/state")
	sites_line=$(echo "$state" | sed -n 's/^sites //p')
	enabled_line=$(echo "$state" | sed -n 's/^enabled //p')
	ktap_diag "$1: $applied of $(($2 * 2)) transactions applied, refused:${refused:- none}"
	if [ "$sites_line" = "$enabled_line" ] && [ $applied -gt 0 ] &&
		[ -z "$(echo "$refused" | tr ' ' '\n' | grep -v '^EAGAIN$' | grep .)" ] &&
		! dmesg | grep -qE 'BUG|WARNING|Oops'; then
		ktap_ok "$1"
	else
		ktap_fail "$1" "$state; $(dmesg | grep -E 'BUG|WARNING' | head -n 2)"
	fi
}

# skeys_kernel_race NAME MODE CYCLES: the sample's in-kernel race (race.c):
# batchpoke's transactions of 8 keys and the kernel's own patching of the
# same sites (MODE incdec: static_key_slow_dec()/inc() right after each
# batch; enable: static_key_enable()/disable() from another thread), with
# a reader on every CPU executing them. Before transactions of static
# keys ended with a sync round this died in "Oops: int3". After, every
# key's sites agree with static_key_enabled(). One case.
skeys_kernel_race() {
	klog_clear
	err=$( { echo "$2 $3" >"$SK/race"; } 2>&1)
	state=$(cat "$SK/state")
	ktap_diag "$1: $(cat "$SK/race")"
	if [ -z "$err" ] && [ "$(cat "$SK/race")" != "cycles 0 applied 0 refused 0" ] &&
		[ "$(echo "$state" | sed -n 's/^sites //p')" = "$(echo "$state" | sed -n 's/^enabled //p')" ] &&
		! dmesg | grep -qE 'BUG|WARNING|Oops'; then
		ktap_ok "$1"
	else
		ktap_fail "$1" "err=$err $(echo "$state" | tr '\n' ' ') $(dmesg | grep -E 'BUG|WARNING|Oops' | head -n 2)"
	fi
}

skeys_cases() {
	ktap_insmod batchpoke_skeys skeys_loads $SKEYS_CASES || return
	n=$(ls "$KEYS" | grep -c '^batchpoke_skeys\.')
	sites=$(cat "$KEYS"/batchpoke_skeys.sk*/sites | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
	if [ "$n" = 65 ] && [ "$sites" = " 1 1  64 4 " ]; then
		ktap_ok skeys_65_keys_registered_256_plus_1_sites
	else
		ktap_fail skeys_65_keys_registered_256_plus_1_sites "$n keys, site counts:$sites"
	fi
	# objtool shortens most sites to two bytes; the long paths keep five.
	widths=$(grep '^batchpoke_skeys\.' "$SITES_FILE" | awk '{ w[NF - 2]++ } END { printf "%d %d", w[2], w[5] }')
	if [ "${widths% *}" -gt 0 ] && [ "${widths#* }" -gt 0 ]; then
		ktap_ok skeys_sites_of_2_and_5_bytes
	else
		ktap_fail skeys_sites_of_2_and_5_bytes "2-byte, 5-byte sites: $widths"
	fi

	# All 64 keys in one call: 256 sites, 3 rounds (ordinary static keys
	# end with the final sync: the kernel may re-arm their sites once the
	# locks drop), and each other CPU interrupted once per round (the
	# writer pinned to CPU0, as cal_check).
	taskset -p 1 $$ >/dev/null
	b=$(cal_per_cpu) r0=$(stat_of sync_rounds) t0=$(stat_of transactions)
	err=$( { echo "$(sk_all 1 -)" >"$SK/apply"; } 2>&1)
	a=$(cal_per_cpu) r1=$(stat_of sync_rounds) t1=$(stat_of transactions)
	taskset -p ffffffff $$ >/dev/null
	rounds=$((r1 - r0)) got= low= min=
	for x in $(cal_deltas "$b" "$a"); do
		d=${x#*=} got="$got $x"
		[ "$d" -ge "$rounds" ] || low=1
		[ -n "$min" ] && [ "$min" -le "$d" ] || min=$d
	done
	if [ -z "$err" ] && [ "$(cat "$SK/report")" = "256 3" ] && [ $rounds = 3 ] &&
		[ $((t1 - t0)) = 1 ] && [ -z "$low" ] && [ -n "$min" ] && [ "$min" -le $((rounds + 2)) ]; then
		ktap_ok skeys_64_keys_256_sites_one_call_3_rounds
	else
		ktap_fail skeys_64_keys_256_sites_one_call_3_rounds "err=$err report=$(cat "$SK/report") rounds +$rounds transactions +$((t1 - t0)) IPIs:$got"
	fi
	ones=$(sk_all 1 0)
	if [ "$(cat "$SK/state")" = "$(skeys_expect "$ones")" ]; then
		ktap_ok skeys_sites_and_static_key_enabled_agree
	else
		ktap_fail skeys_sites_and_static_key_enabled_agree "$(cat "$SK/state" | tr '\n' ' ')"
	fi

	# The kernel's API on a key batchpoke flipped, then batchpoke again.
	klog_clear
	echo "disable 3" >"$SK/kernel"
	if [ "$(cat "$SK/state")" = "$(skeys_expect "$(sk_set "$ones" 3 0)")" ] &&
		! dmesg | grep -qE 'BUG|WARNING|Oops'; then
		ktap_ok skeys_static_key_disable_after_batch
	else
		ktap_fail skeys_static_key_disable_after_batch "$(cat "$SK/state" | tr '\n' ' ') $(dmesg | grep -E 'BUG|WARNING' | head -n 2)"
	fi
	err=$( { echo "$(sk_all 0 -)" >"$SK/apply"; } 2>&1)
	zeros=$(sk_all 0 0)
	if [ -z "$err" ] && [ "$(cat "$SK/report")" = "252 3" ] &&
		[ "$(cat "$SK/state")" = "$(skeys_expect "$zeros")" ]; then
		ktap_ok skeys_batch_after_static_key_disable
	else
		ktap_fail skeys_batch_after_static_key_disable "err=$err report=$(cat "$SK/report") $(cat "$SK/state" | tr '\n' ' ')"
	fi
	echo "enable 7" >"$SK/kernel"
	err=$( { echo "$(sk_all 1 -)" >"$SK/apply"; } 2>&1)
	if [ -z "$err" ] && [ "$(cat "$SK/report")" = "252 3" ] &&
		[ "$(cat "$SK/state")" = "$(skeys_expect "$ones")" ]; then
		ktap_ok skeys_batch_after_static_key_enable
	else
		ktap_fail skeys_batch_after_static_key_enable "err=$err report=$(cat "$SK/report") $(cat "$SK/state" | tr '\n' ' ')"
	fi
	echo "$(sk_all 0 -)" >"$SK/apply"

	# Refusals: distinct errors, nothing changed (site bytes, every key's
	# state, the counters), and the kernel still owns the keys after.
	echo "inc 5" >"$SK/kernel"
	echo "inc 5" >"$SK/kernel"
	before=$(snapshot) state=$(cat "$SK/state")
	e=$(errno_of "$( { echo "$(sk_all 1 -)" >"$SK/apply"; } 2>&1)")
	if [ "$e" = EBUSY ] && [ "$(snapshot)" = "$before" ] && [ "$(cat "$SK/state")" = "$state" ] &&
		[ "$state" = "$(skeys_expect "$(sk_set "$zeros" 5 1)")" ]; then
		ktap_ok skeys_count_above_1_ebusy_changes_nothing
	else
		ktap_fail skeys_count_above_1_ebusy_changes_nothing "errno=$e $(cat "$SK/state" | tr '\n' ' ')"
	fi
	echo "dec 5" >"$SK/kernel"
	echo "dec 5" >"$SK/kernel"
	if insmod "$MODDIR/batchpoke_skeys_user.ko"; then
		before=$(snapshot) state=$(cat "$SK/state")
		e=$(errno_of "$( { echo "$(sk_all - 1)" >"$SK/apply"; } 2>&1)")
		if [ "$e" = EXDEV ] && [ "$(snapshot)" = "$before" ] && [ "$(cat "$SK/state")" = "$state" ] &&
			[ "$state" = "$(skeys_expect "$zeros")" ]; then
			ktap_ok skeys_key_used_by_other_module_exdev_changes_nothing
		else
			ktap_fail skeys_key_used_by_other_module_exdev_changes_nothing "errno=$e $(cat "$SK/state" | tr '\n' ' ')"
		fi
		# batchpoke_register_static_keys() of another module's key: -EPERM (1).
		if [ "$(cat /sys/module/batchpoke_skeys_user/parameters/foreign_ret)" = -1 ]; then
			ktap_ok skeys_other_modules_key_eperm
		else
			ktap_fail skeys_other_modules_key_eperm "returned $(cat /sys/module/batchpoke_skeys_user/parameters/foreign_ret)"
		fi
		# Registering a key counted up twice: -EBUSY (16).
		p=/sys/module/batchpoke_skeys_user/parameters
		if [ "$(cat $p/counted_ret)" = -16 ] && [ "$(cat $p/counted_ran)" = 1 ]; then
			ktap_ok skeys_registering_counted_key_ebusy
		else
			ktap_fail skeys_registering_counted_key_ebusy "returned $(cat $p/counted_ret), site ran $(cat $p/counted_ran)"
		fi
		rmmod batchpoke_skeys_user
	else
		ktap_fail skeys_key_used_by_other_module_exdev_changes_nothing "batchpoke_skeys_user did not load"
		ktap_fail skeys_other_modules_key_eperm "batchpoke_skeys_user did not load"
		ktap_fail skeys_registering_counted_key_ebusy "batchpoke_skeys_user did not load"
	fi

	# batchpoke's sysfs flips a registered static key too (sk11 is key 9).
	echo 1 >"$KEYS/batchpoke_skeys.sk11/enabled"
	if [ "$(cat "$KEYS/batchpoke_skeys.sk11/enabled")" = 1 ] &&
		[ "$(cat "$SK/state")" = "$(skeys_expect "$(sk_set "$zeros" 9 1)")" ]; then
		ktap_ok skeys_key_flips_through_sysfs
	else
		ktap_fail skeys_key_flips_through_sysfs "$(cat "$SK/state" | tr '\n' ' ')"
	fi

	skeys_race skeys_races_with_static_key_enable_disable 40
	skeys_kernel_race skeys_kernel_incdec_after_each_batch_readers_on_every_cpu incdec "${SKEYS_RACE_CYCLES:-40}"
	skeys_kernel_race skeys_kernel_enable_disable_during_batches_readers_on_every_cpu enable "${SKEYS_RACE_CYCLES:-40}"

	klog_clear
	if rmmod batchpoke_skeys && [ -z "$(ls "$KEYS" | grep '^batchpoke_skeys\.')" ] &&
		! dmesg | grep -q 'went away with'; then
		ktap_ok skeys_unloads_and_unregisters
	else
		ktap_fail skeys_unloads_and_unregisters "$(ls "$KEYS" | grep skeys | head -n 3 | tr '\n' ' ')"
	fi
}
