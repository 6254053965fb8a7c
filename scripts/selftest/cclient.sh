# SPDX-License-Identifier: GPL-2.0
# The C client (samples/batchpoke_cclient, which uses only batchpoke.h),
# sourced by batchpoke.sh, which calls cclient_cases with batchpoke loaded
# and counts CCLIENT_CASES in its plan. Uses batchpoke.sh's SYS, KEYS,
# MODDIR, snapshot, errno_of, ktap.sh and measure.sh. Leaves the client
# unloaded.
#
# The oracle is the client's own code: reading its `sites` file executes
# every site, so what it shows is what the patched instructions do.
CCLIENT_CASES=12
CC=/sys/kernel/batchpoke_cclient

# `sites` as expected when c0..c7 and wide are the nine digits $1: every
# site of a key executes the key's state.
cclient_expect() {
	i=0
	for k in c0 c1 c2 c3 c4 c5 c6 c7; do
		d=$(echo "$1" | cut -c$((i + 1)))
		echo "$k $d $d $d"
		i=$((i + 1))
	done
	d=$(echo "$1" | cut -c9)
	echo "wide $d $((d * 64))"
}

cclient_cases() {
	ktap_insmod batchpoke_cclient cclient_loads $CCLIENT_CASES || return
	layout=
	for k in c0 c1 c2 c3 c4 c5 c6 c7 wide; do
		layout="$layout$k:$(cat "$KEYS/batchpoke_cclient.$k/sites" 2>/dev/null):$(cat "$KEYS/batchpoke_cclient.$k/owner" 2>/dev/null) "
	done
	want="c0:2:batchpoke_cclient c1:2:batchpoke_cclient c2:2:batchpoke_cclient c3:2:batchpoke_cclient c4:2:batchpoke_cclient c5:2:batchpoke_cclient c6:2:batchpoke_cclient c7:2:batchpoke_cclient wide:64:batchpoke_cclient "
	if [ "$layout" = "$want" ]; then ktap_ok cclient_keys_registered_with_their_sites; else ktap_fail cclient_keys_registered_with_their_sites "$layout"; fi
	if [ "$(cat "$CC/sites")" = "$(cclient_expect 010101010)" ]; then
		ktap_ok cclient_sites_start_in_initial_states
	else
		ktap_fail cclient_sites_start_in_initial_states "$(cat "$CC/sites" | tr '\n' ' ')"
	fi

	# Every key changes: 8 x 2 + 64 = 80 sites, in one transaction.
	t0=$(stat_of transactions) r0=$(stat_of sync_rounds)
	err=$( { echo 101010101 >"$CC/apply"; } 2>&1)
	if [ -z "$err" ] && [ "$(cat "$CC/report")" = "80 1" ] &&
		[ $(($(stat_of transactions) - t0)) = 1 ] && [ $(($(stat_of sync_rounds) - r0)) = 1 ]; then
		ktap_ok cclient_apply_80_sites_one_transaction_1_round
	else
		ktap_fail cclient_apply_80_sites_one_transaction_1_round "err=$err report=$(cat "$CC/report") transactions +$(($(stat_of transactions) - t0)) rounds +$(($(stat_of sync_rounds) - r0))"
	fi
	if [ "$(cat "$CC/sites")" = "$(cclient_expect 101010101)" ]; then
		ktap_ok cclient_sites_execute_applied_states
	else
		ktap_fail cclient_sites_execute_applied_states "$(cat "$CC/sites" | tr '\n' ' ')"
	fi
	# Only some keys change: only their sites count.
	err=$( { echo 'serial 001010100' >"$CC/apply"; } 2>&1)
	if [ -z "$err" ] && [ "$(cat "$CC/report")" = "66 132" ] &&
		[ "$(cat "$CC/sites")" = "$(cclient_expect 001010100)" ]; then
		ktap_ok cclient_serial_apply_2_rounds_per_site
	else
		ktap_fail cclient_serial_apply_2_rounds_per_site "err=$err report=$(cat "$CC/report")"
	fi
	echo 1 >"$KEYS/batchpoke_cclient.c1/enabled"
	if [ "$(cat "$CC/sites")" = "$(cclient_expect 011010100)" ]; then
		ktap_ok cclient_key_flips_through_sysfs
	else
		ktap_fail cclient_key_flips_through_sysfs "$(cat "$CC/sites" | tr '\n' ' ')"
	fi

	# Refusals cross the C boundary as the header documents, changing nothing.
	before=$(snapshot) sites_before=$(cat "$CC/sites") refused0=$(stat_of refused)
	e1=$(errno_of "$( { echo dup >"$CC/apply"; } 2>&1)")
	if [ "$e1" = EINVAL ] && [ "$(cat "$CC/sites")" = "$sites_before" ] && [ "$(snapshot)" = "$before" ] &&
		[ $(($(stat_of refused) - refused0)) = 1 ]; then
		ktap_ok cclient_duplicate_key_einval_changes_nothing
	else
		ktap_fail cclient_duplicate_key_einval_changes_nothing "errno=$e1 refused +$(($(stat_of refused) - refused0))"
	fi
	# The kernel's static-key API on the static_key inside batchpoke keys (a
	# client mistake): registration unlinked it from the sites, so nothing
	# is patched (on c4, enabled by batchpoke, static_key_enable() would
	# otherwise find a jump where it expects a NOP and BUG), and batchpoke
	# still flips the keys in 1 round.
	klog_clear
	sites_before=$(cat "$CC/sites") before=$(snapshot)
	for op in "enable 4" "disable 4" "enable 0" "inc 1" "dec 1" "dec 0" "inc 8" "dec 8"; do
		echo "$op" >"$CC/kernel"
	done
	sites_after=$(cat "$CC/sites") after=$(snapshot)
	err=$( { echo 110010101 >"$CC/apply"; } 2>&1)
	if [ "$sites_after" = "$sites_before" ] && [ "$after" = "$before" ] && [ -z "$err" ] &&
		[ "$(cat "$CC/report")" = "68 1" ] && [ "$(cat "$CC/sites")" = "$(cclient_expect 110010101)" ] &&
		! dmesg | grep -qE 'BUG|WARNING|Oops'; then
		ktap_ok cclient_kernel_static_key_api_on_batchpoke_keys_patches_nothing
	else
		ktap_fail cclient_kernel_static_key_api_on_batchpoke_keys_patches_nothing "err=$err report=$(cat "$CC/report") $(cat "$CC/sites" | tr '\n' ' ')"
	fi
	if [ "$(cat "$CC/stats")" = "$(stat_of transactions) $(stat_of sync_rounds)" ]; then
		ktap_ok cclient_read_stats_matches_sysfs
	else
		ktap_fail cclient_read_stats_matches_sysfs "$(cat "$CC/stats") vs $(stat_of transactions) $(stat_of sync_rounds)"
	fi

	klog_clear
	if rmmod batchpoke_cclient; then ktap_ok cclient_unloads; else ktap_fail cclient_unloads; fi
	if [ -z "$(ls "$KEYS" | grep '^batchpoke_cclient\.')" ] && ! dmesg | grep -q 'went away with'; then
		ktap_ok cclient_unregistered_its_keys
	else
		ktap_fail cclient_unregistered_its_keys "$(ls "$KEYS" | tr '\n' ' ')"
	fi
}
