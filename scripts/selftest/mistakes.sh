# SPDX-License-Identifier: GPL-2.0
# Client mistakes (samples/batchpoke_mistakes, a C client using only
# batchpoke.h): each input rule of the client ABI (batchpoke.h, "Every
# input is checked where it crosses into batchpoke") broken on purpose,
# each refused with its documented error, with nothing changed (site
# bytes, key states, counters: batchpoke.sh's snapshot) and no BUG,
# WARNING or Oops in the kernel log. Sourced by batchpoke.sh, which calls
# mistakes_cases with batchpoke loaded and counts MISTAKES_CASES in its
# plan (uses its SYS, KEYS, MODDIR, snapshot, klog_clear, errno_of,
# ktap.sh and measure.sh). Leaves the sample unloaded.
MISTAKES_CASES=20
MK=/sys/kernel/batchpoke_mistakes
MK_PARAMS=/sys/module/batchpoke_mistakes/parameters
MK_SPLAT='Oops|BUG|WARNING|Call Trace|page allocation failure|KASAN|general protection'

# The errno name of a return value (-22: EINVAL); anything else as is.
mk_errno() {
	case $1 in
	0) echo OK ;;
	-1) echo EPERM ;;
	-2) echo ENOENT ;;
	-7) echo E2BIG ;;
	-12) echo ENOMEM ;;
	-14) echo EFAULT ;;
	-17) echo EEXIST ;;
	-19) echo ENODEV ;;
	-22) echo EINVAL ;;
	-34) echo ERANGE ;;
	*) echo "ret($1)" ;;
	esac
}

# The errno name of a failed write, from the shell's message.
mk_errno_of() {
	case $1 in
	*"No such device"*) echo ENODEV ;;
	*) errno_of "$1" ;;
	esac
}

# mk_expect NAME WANT REFUSED CASE...: each CASE, written to the sample's
# `mistake`, returns WANT; nothing changes (the snapshot: site bytes, every
# key and its state, strategy, counters) but `refused`, which grows by
# REFUSED; the kernel log has no splat.
mk_expect() {
	name=$1 want=$2 refused=$3
	shift 3
	klog_clear
	before=$(snapshot) r0=$(stat_of refused) got= expected=
	for c in "$@"; do
		echo "$c" >"$MK/mistake"
		got="$got $c=$(mk_errno "$(cut -d' ' -f2 "$MK/result")")"
		expected="$expected $c=$want"
	done
	after=$(snapshot) r=$(($(stat_of refused) - r0))
	splat=$(dmesg | grep -E "$MK_SPLAT" | head -n 1)
	if [ "$got" != "$expected" ]; then
		ktap_fail "$name" "got$got, expected$expected"
	elif [ "$before" != "$after" ]; then
		ktap_fail "$name" "state changed: '$before' -> '$after'"
	elif [ "$r" != "$refused" ]; then
		ktap_fail "$name" "refused grew by $r, expected $refused"
	elif [ -n "$splat" ]; then
		ktap_fail "$name" "$splat"
	else
		ktap_ok "$name"
	fi
}

# mk_init_refused NAME PARAM KEY: registering KEY from the sample's init
# returned EFAULT (PARAM) and KEY is not registered.
mk_init_refused() {
	got=$(mk_errno "$(cat "$MK_PARAMS/$2")")
	splat=$(dmesg | grep -E "$MK_SPLAT" | head -n 1)
	if [ "$got" = EFAULT ] && [ ! -e "$KEYS/batchpoke_mistakes.$3" ] && [ -z "$splat" ]; then
		ktap_ok "$1"
	else
		ktap_fail "$1" "got $got, keys: $(ls "$KEYS" | grep '^batchpoke_mistakes\.' | tr '\n' ' ')$splat"
	fi
}

# A flip from sysfs while the owner is going away (its exit function runs,
# held until `release`): ENODEV, nothing changed. The module's own
# batchpoke_apply() from its exit is still allowed. Two cases; unloads the
# sample.
mk_going() {
	klog_clear
	echo 1 >"$MK/hold_exit"
	before=$(snapshot) r0=$(stat_of refused) probe0=$(cat "$MK/probe")
	rmmod batchpoke_mistakes 2>/tmp/mk-rmmod.err &
	rm_pid=$!
	n=0
	while [ "$(cat /sys/module/batchpoke_mistakes/initstate 2>/dev/null)" != going ] && [ $n -lt 500 ]; do
		usleep 10000
		n=$((n + 1))
	done
	state=$(cat /sys/module/batchpoke_mistakes/initstate 2>/dev/null)
	e1=$(mk_errno_of "$( { echo 1 >"$KEYS/batchpoke_mistakes.going/enabled"; } 2>&1)")
	e2=$(mk_errno_of "$( { echo 0 >"$KEYS/batchpoke_mistakes.going/enabled"; } 2>&1)")
	e3=$(mk_errno_of "$( { echo 'batchpoke.demo_a=1 batchpoke_mistakes.going_sk=1' >"$SYS/transaction"; } 2>&1)")
	after=$(snapshot) r=$(($(stat_of refused) - r0)) probe1=$(cat "$MK/probe" 2>&1)
	echo 1 >"$MK/release"
	wait $rm_pid
	rc=$?
	if [ "$state" = going ] && [ "$e1 $e2 $e3" = "ENODEV ENODEV ENODEV" ] && [ "$before" = "$after" ] &&
		[ "$r" = 3 ] && [ "$probe0" = "0 0 0 0" ] && [ "$probe1" = "0 0 0 0" ]; then
		ktap_ok going_owner_sysfs_flip_enodev
	else
		ktap_fail going_owner_sysfs_flip_enodev "state=$state errnos: $e1 $e2 $e3, refused +$r, probe $probe0 -> $probe1, changed: $([ "$before" = "$after" ] && echo no || echo "'$before' -> '$after'")"
	fi
	if [ $rc = 0 ] && dmesg | grep -q 'batchpoke_mistakes: exit apply 0$' &&
		[ -z "$(ls "$KEYS" | grep '^batchpoke_mistakes\.')" ] && ! dmesg | grep -q 'went away with'; then
		ktap_ok going_owner_own_apply_allowed_then_unregistered
	else
		ktap_fail going_owner_own_apply_allowed_then_unregistered "rmmod rc=$rc $(cat /tmp/mk-rmmod.err) $(dmesg | grep 'exit apply') keys: $(ls "$KEYS" | grep '^batchpoke_mistakes\.' | tr '\n' ' ')"
	fi
}

mistakes_cases() {
	klog_clear
	ktap_insmod batchpoke_mistakes mistakes_loads $MISTAKES_CASES || return
	# Only the three keys it keeps; none of those it got wrong at init.
	layout=$(ls "$KEYS" | grep '^batchpoke_mistakes\.' | tr '\n' ' ')
	if [ "$layout" = "batchpoke_mistakes.going batchpoke_mistakes.going_sk batchpoke_mistakes.shared_bp " ] &&
		[ "$(cat "$KEYS/batchpoke_mistakes.going/sites")" = 1 ] &&
		[ "$(cat "$KEYS/batchpoke_mistakes.going_sk/sites")" = 1 ] &&
		[ "$(cat "$KEYS/batchpoke_mistakes.shared_bp/sites")" = 1 ]; then
		ktap_ok mistakes_keeps_only_its_valid_keys
	else
		ktap_fail mistakes_keeps_only_its_valid_keys "$layout"
	fi

	# Keys outside the module's core writable data, registered from init:
	# EFAULT, not registered (a __ro_after_init key would fault when
	# flipped after init, with every text lock held; __initdata is freed).
	mk_init_refused init_ro_after_init_static_key_efault ro_sk_ret ro_sk
	mk_init_refused init_ro_after_init_batchpoke_key_efault ro_bp_ret ro_bp
	mk_init_refused init_initdata_static_key_efault initdata_sk_ret initdata_sk
	mk_init_refused init_initdata_batchpoke_key_efault initdata_bp_ret initdata_bp

	mk_expect null_name_einval EINVAL 0 null_name static_null_name
	mk_expect empty_name_einval EINVAL 0 empty_name static_empty_name
	mk_expect const_batchpoke_key_efault EFAULT 0 const_key
	# One struct static_key has one list of sites: a second name for it
	# would own none (and a flip through it would leave the kernel's
	# static_key_disable() to BUG on the bytes it finds).
	mk_expect static_key_twice_in_one_call_eexist EEXIST 0 static_twice
	mk_expect static_key_again_in_second_call_eexist EEXIST 0 static_again
	mk_expect batchpoke_key_twice_eexist EEXIST 0 bp_twice bp_again
	mk_expect batchpoke_key_raw_as_static_key_eexist EEXIST 0 raw_as_static
	# A static key's record at a registered batchpoke key's site: the
	# site holds batchpoke's test form (a9 rel32), which the kernel's
	# static_key_enable() would neither expect nor restore.
	mk_expect static_key_at_a_batchpoke_site_einval EINVAL 0 static_on_batchpoke_site
	# A short site whose recorded jump target no rel8 reaches: it could
	# never be flipped (the kernel's static_key_enable() would BUG).
	mk_expect short_site_far_target_erange ERANGE 0 short_site_far_target static_short_site_far_target
	# Counts of 2^19 with valid arrays: E2BIG before anything is
	# allocated (no page allocator WARNING); a refused apply is counted.
	mk_expect count_2_19_register_e2big_no_warning E2BIG 0 huge_register huge_register_static
	mk_expect count_2_19_apply_e2big_no_warning E2BIG 2 huge_apply huge_apply_static

	mk_going
	splat=$(dmesg | grep -E "$MK_SPLAT" | head -n 1)
	if [ -z "$splat" ]; then ktap_ok mistakes_kernel_log_clean; else ktap_fail mistakes_kernel_log_clean "$splat"; fi
}
