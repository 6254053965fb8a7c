# SPDX-License-Identifier: GPL-2.0
# The model-based API fuzzer (samples/batchpoke_fuzz): API_FUZZ_ROUNDS runs of
# API_FUZZ_STEPS random steps each (register, unregister, apply, apply_static,
# sysfs transactions and enabled writes, the kernel's static-key API on
# registered keys, valid calls and the mistakes of a catalogue), every
# step checked against the fuzzer's model; between runs the two fuzz
# clients are loaded and unloaded at random, half the time without
# unregistering (forget=1). Sourced by batchpoke.sh, which calls fuzz_cases
# with batchpoke loaded and counts FUZZ_CASES in its plan (uses its KEYS,
# MODDIR, klog_clear and ktap.sh).
#
# One seed (API_FUZZ_SEED, else the clock) draws every step and every load and
# unload; it is printed, and API_FUZZ_SEED=<seed> replays the run.
FUZZ_CASES=4
API_FUZZ_ROUNDS=${API_FUZZ_ROUNDS:-20}
API_FUZZ_STEPS=${API_FUZZ_STEPS:-500}
FZ=/sys/kernel/debug/batchpoke_fuzz
FZ_SPLAT='Oops|BUG|WARNING|Call Trace|page allocation failure|KASAN|general protection|UBSAN'

# The next draw of the run's generator (a 31-bit LCG), in fz_draw.
fz_next() { FZ_STATE=$(((FZ_STATE * 1103515245 + 12345) % 2147483648)); fz_draw=$((FZ_STATE / 65536)); }

fz_loaded() { grep -q "^$1 " /proc/modules; }

# The fuzz clients' keys sysfs shows, and those the model says it must.
fz_listing() { ls "$KEYS" | grep '^batchpoke_fuzz_' | sort | tr '\n' ' '; }
fz_expected() { sort "$FZ/expected" | tr '\n' ' '; }

fuzz_cases() {
	seed=${API_FUZZ_SEED:-$(date +%s)}
	FZ_STATE=$((seed % 2147483648))
	klog_clear
	if ! insmod "$MODDIR/batchpoke_fuzz.ko"; then
		ktap_fail fuzz_api_steps_match_the_model "batchpoke_fuzz did not load"
		i=1
		while [ $i -lt $FUZZ_CASES ]; do ktap_skip fuzz "batchpoke_fuzz did not load"; i=$((i + 1)); done
		return
	fi
	ktap_diag "fuzz: seed $seed, $API_FUZZ_ROUNDS runs of $API_FUZZ_STEPS steps (replay: API_FUZZ_SEED=$seed)"
	round=0 steps=0 model_msg= list_msg= returned= loads=2 forgets=0
	# Both clients first, so that the steps that mix owners' keys run.
	insmod "$MODDIR/batchpoke_fuzz_a.ko" && insmod "$MODDIR/batchpoke_fuzz_b.ko" forget=1 ||
		model_msg="insmod batchpoke_fuzz_a/b failed"
	forgets=1
	while [ -z "$model_msg" ] && [ $round -lt "$API_FUZZ_ROUNDS" ]; do
		# Load or unload a client (or neither), then one run.
		fz_next
		client=batchpoke_fuzz_$(echo a b | cut -d' ' -f$((fz_draw % 2 + 1)))
		fz_next
		if [ $((fz_draw % 3)) != 0 ]; then
			if fz_loaded "$client"; then
				rmmod "$client" || { model_msg="rmmod $client failed"; break; }
			else
				fz_next
				forget=$((fz_draw % 2))
				insmod "$MODDIR/$client.ko" forget=$forget || { model_msg="insmod $client failed"; break; }
				loads=$((loads + 1)) forgets=$((forgets + forget))
			fi
			# An unloaded client's keys are gone, registered or not.
			if [ -z "$list_msg" ] && [ "$(fz_listing)" != "$(fz_expected)" ]; then
				list_msg="after $client came or went: sysfs '$(fz_listing)', model '$(fz_expected)'"
			fi
		fi
		echo "$((seed + round)) $API_FUZZ_STEPS" >"$FZ/run"
		result=$(head -n 1 "$FZ/result")
		returned="$returned $(sed -n 's/^returned //p' "$FZ/result")"
		steps=$((steps + $(echo "$result" | sed 's|.* steps \([0-9]*\)/.*|\1|')))
		case $result in
		*" ok") ;;
		*) model_msg="run $round (seed $((seed + round)), clients: $(grep -o '^batchpoke_fuzz_[ab]' /proc/modules | tr '\n' ' ')): $result"; break ;;
		esac
		if [ -z "$list_msg" ] && [ "$(fz_listing)" != "$(fz_expected)" ]; then
			list_msg="after run $round: sysfs '$(fz_listing)', model '$(fz_expected)'"
		fi
		round=$((round + 1))
	done
	for client in batchpoke_fuzz_a batchpoke_fuzz_b; do
		fz_loaded $client && rmmod $client
	done
	rmmod batchpoke_fuzz
	if [ -z "$list_msg" ] && [ -n "$(fz_listing)" ]; then
		list_msg="with every client unloaded, sysfs still has $(fz_listing)"
	fi
	ktap_diag "fuzz: $steps steps, $loads client loads ($forgets forgetting to unregister); returned (errno:count): $(echo "$returned" | tr ' ' '\n' | grep : |
		awk -F: '{ n[$1] += $2 } END { for (e in n) printf "%s:%d ", e, n[e] }')"
	if [ -z "$model_msg" ] && [ $steps = $((API_FUZZ_ROUNDS * API_FUZZ_STEPS)) ]; then
		ktap_ok fuzz_api_${steps}_steps_match_the_model
	else
		ktap_fail fuzz_api_steps_match_the_model "${model_msg:-$steps steps run}"
	fi
	if [ -z "$list_msg" ]; then ktap_ok fuzz_sysfs_listing_matches_the_model; else ktap_fail fuzz_sysfs_listing_matches_the_model "$list_msg"; fi
	# Each refusal the catalogue draws was seen: EPERM ENOENT E2BIG
	# EFAULT EBUSY EEXIST EINVAL ERANGE, and successes.
	missing=
	for e in 0 1 2 7 14 16 17 22 34; do
		echo "$returned" | tr ' ' '\n' | grep -q "^$e:" || missing="$missing $e"
	done
	if [ -z "$missing" ]; then
		ktap_ok fuzz_draws_every_documented_refusal
	else
		ktap_fail fuzz_draws_every_documented_refusal "never returned (errno):$missing"
	fi
	splat=$(dmesg | grep -E "$FZ_SPLAT" | head -n 1)
	if [ -z "$splat" ]; then ktap_ok fuzz_kernel_log_clean; else ktap_fail fuzz_kernel_log_clean "$splat"; fi
}
