# SPDX-License-Identifier: GPL-2.0
# Minimal KTAP version 1 producer for batchpoke's guest-side selftests
# (busybox sh). Source it, call ktap_plan N, then ktap_ok/ktap_fail/ktap_skip
# per case and ktap_finish at the end.

KTAP_NUM=0
KTAP_FAILED=0

KTAP_PLAN=0
ktap_plan() { KTAP_PLAN=$1; echo "KTAP version 1"; echo "1..$1"; }
ktap_ok() { KTAP_NUM=$((KTAP_NUM + 1)); echo "ok $KTAP_NUM $1"; }
ktap_fail() {
	KTAP_NUM=$((KTAP_NUM + 1)); KTAP_FAILED=$((KTAP_FAILED + 1))
	echo "not ok $KTAP_NUM $1"
	[ -n "${2:-}" ] && echo "# $1: $2"
	return 0
}
ktap_skip() { KTAP_NUM=$((KTAP_NUM + 1)); echo "ok $KTAP_NUM $1 # SKIP ${2:-}"; }
ktap_diag() { echo "# $*"; }

# ktap_insmod MODULE CASE CASES: loads $MODDIR/MODULE.ko as case CASE, the
# first of a group of CASES; if it does not load, fails CASE, skips the
# group's other cases and returns 1.
ktap_insmod() {
	if insmod "$MODDIR/$1.ko"; then
		ktap_ok "$2"
		return 0
	fi
	ktap_fail "$2"
	i=1
	while [ $i -lt "$3" ]; do ktap_skip "$2" "$1 did not load"; i=$((i + 1)); done
	return 1
}

# ktap_check NAME COMMAND...: one case that passes when COMMAND succeeds.
ktap_check() {
	name=$1; shift
	if out=$("$@" 2>&1); then ktap_ok "$name"; else ktap_fail "$name" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
}

# The errno name of a failed write, from the shell's message.
errno_of() {
	case $1 in
	*"Invalid argument"*) echo EINVAL ;;
	*"No such file or directory"*) echo ENOENT ;;
	*"Argument list too long"*) echo E2BIG ;;
	*"Permission denied"*) echo EACCES ;;
	*"Input/output error"*) echo EIO ;;
	*"Device or resource busy"*) echo EBUSY ;;
	*"Invalid cross-device link"*) echo EXDEV ;;
	*"Resource temporarily unavailable"*) echo EAGAIN ;;
	*"Cannot allocate memory"*|*"Out of memory"*) echo ENOMEM ;;
	"") echo OK ;;
	*) echo "other($1)" ;;
	esac
}

# Exit status as kselftest expects: 0 all passed, 1 a case failed (or the
# number of cases run differs from the plan).
ktap_finish() {
	echo "# totals: $((KTAP_NUM - KTAP_FAILED)) passed, $KTAP_FAILED failed"
	if [ "$KTAP_NUM" != "$KTAP_PLAN" ]; then
		echo "# plan was 1..$KTAP_PLAN but $KTAP_NUM cases ran"
		return 1
	fi
	[ "$KTAP_FAILED" = 0 ]
}
