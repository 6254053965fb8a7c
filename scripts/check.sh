#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh KDIR: everything `make check` runs, in order, with one verdict.
#
#   1. host unit tests of the pure logic (cargo test), rustfmt and clippy
#   2. the in-VM selftest (scripts/selftest/batchpoke.sh, KTAP) on 4 vCPUs,
#      then its concurrency cases with true parallelism
#      (scripts/selftest/parallel.sh: QEMU 10, multi-threaded TCG, 2 vCPUs)
#      and the static-key race on 4 such vCPUs (scripts/selftest/race.sh)
#   3. the VM harness's own self-test (default flavor only: it tests the
#      harness, not the kernel's config): a guest that BUGs or WARNs on
#      purpose (once, with the console log level lowered, 2000 times, or
#      after 100 KiB of BUG lines), or whose clock is jiffies, must make the
#      run fail; a clean one must pass
#
# Ends with the line `N passed, N failed`; exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
kdir=${1:?usage: check.sh KDIR}
cpus=${CHECK_CPUS:-4}

passed=0 failed=0 skipped=0
failures=()
pass() { passed=$((passed + 1)); }
skip() { skipped=$((skipped + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAILED: $1"; }
# Each stage says when it starts: where a run's time goes is in its log.
stage() { say "$* (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"; }

# --- 1. host unit tests -------------------------------------------------------
stage "host unit tests (cargo test)"
host_log=$(mktemp)
# The target directory lives in the cache: a KDIR change cleans every .o
# under the repository, cargo's included.
(cd "$top/rust" && CARGO_TARGET_DIR=$BATCHPOKE_WORK/cargo-target cargo test --quiet --no-fail-fast 2>&1) | tee "$host_log"
host_rc=${PIPESTATUS[0]}
read -r hp hf < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
	END { print p + 0, f + 0 }' "$host_log")
passed=$((passed + hp)); failed=$((failed + hf))
while read -r _ name _; do failures+=("host $name"); done < <(grep -E '^test .* FAILED$' "$host_log")
if ((host_rc != 0 && hf == 0)); then fail "host: cargo test exited $host_rc"; fi
rm -f "$host_log"

# --- style ----------------------------------------------------------------------
stage "style: rustfmt and clippy"
while IFS= read -r line; do
	case $line in
	"not ok "*) fail "style: ${line#not ok }" ;;
	"ok "*) pass ;;
	esac
	echo "$line"
done < <("$here/style.sh" "$kdir")

# --- 2. in-VM selftest ----------------------------------------------------------
stage "in-VM selftest on $cpus vCPUs"
# The sysfs fuzzer is a static binary for the guest.
fuzz=$BATCHPOKE_WORK/build/batchpoke-fuzz
mkdir -p "${fuzz%/*}"
gcc -static -O2 -Wall -Wextra -Werror -o "$fuzz" "$top"/scripts/fuzz/*.c ||
	fail "build: scripts/fuzz/*.c"
# So is the user-mode int3 loop (scripts/selftest/coexist.sh).
int3=$BATCHPOKE_WORK/build/batchpoke-int3
gcc -static -O2 -Wall -Wextra -Werror -o "$int3" "$top/scripts/int3/batchpoke-int3.c" ||
	fail "build: scripts/int3/batchpoke-int3.c"
# And the PERF_RECORD_TEXT_POKE reader (scripts/selftest/textpoke.sh).
textpoke=$BATCHPOKE_WORK/build/batchpoke-text-poke
gcc -static -O2 -Wall -Wextra -Werror -o "$textpoke" "$top/scripts/perf/batchpoke-text-poke.c" ||
	fail "build: scripts/perf/batchpoke-text-poke.c"
# And the BPF loader (scripts/selftest/patchers.sh, distro flavor).
bpf=$BATCHPOKE_WORK/build/batchpoke-bpf
gcc -static -O2 -Wall -Wextra -Werror -o "$bpf" "$top/scripts/bpf/batchpoke-bpf.c" ||
	fail "build: scripts/bpf/batchpoke-bpf.c"
# The selftest takes about 6 minutes of guest time on the default flavor
# and 18-30 on the debug flavor (KASAN and kCFI under TCG), more beside a
# tree being built or the other lane of .ci/run; the limit only bounds a
# hang.
vm_args=(--timeout 3600)
# The other flavors turn every WARN into a panic, so none can go unseen.
[ "$KERNEL_FLAVOR" = default ] || vm_args+=(--append panic_on_warn=1)
# Cycles of the static-key race (skeys.sh, race.sh): 40 oopsed 4 runs of 4
# before transactions of static keys ended with a sync; KASAN under TCG is
# about ten times slower, so the debug flavor runs fewer.
race_cycles=40
[ "$KERNEL_FLAVOR" = debug ] && race_cycles=10
# The debug selftest is the longest stage of .ci/run (28 minutes alone
# here, more beside a tree being built). KASAN checks every access of a
# path each time it runs, so there it spends its repetitions on the race
# written for it, batchpoke unloaded while modules come and go (200 cycles
# there, 100 elsewhere: lifecycle.sh), and runs the general load/unload
# stress for 60 cycles (3 batchpoke reloads) and the API fuzzer for 10 runs
# of 500 steps (the rarest documented refusals, ERANGE and EPERM, came 7
# and 11 times in such a run); the other flavors run 200 cycles and 20 runs.
selftest_env="SKEYS_RACE_CYCLES=$race_cycles"
[ "$KERNEL_FLAVOR" = debug ] && selftest_env="$selftest_env LIFECYCLES=60 API_FUZZ_ROUNDS=10"
# ktap_vm NAME VM-RUN-ARGS... -- GUEST-COMMAND: one VM run whose guest
# prints KTAP; every result line counts, a failed run without a failed case
# is one failure. Guest-script KTAP lines are the unprefixed ones (kernel
# lines carry a timestamp); subtests are indented.
ktap_vm() {
	local name=$1 log=$BATCHPOKE_LOGS/$1.log rc line why
	shift
	# The verdict's reasons go to the terminal and to NAME.verdict: the
	# failure line quotes them, so a CI log cut to its end still says why.
	local verdict=${log%.log}.verdict
	mkdir -p "$BATCHPOKE_LOGS"
	"$here/vm-run.sh" --kdir "$kdir" --quiet --log "$log" "$@" 2> >(tee "$verdict" >&2)
	rc=$?
	wait $! 2>/dev/null || true
	grep -E '^ *(KTAP|1\.\.|ok |not ok |# )' "$log" | grep -v '^# totals' || true
	while IFS= read -r line; do
		line=${line#"${line%%[! ]*}"}
		case $line in
		"not ok "*) fail "vm: ${line#not ok }" ;;
		"ok "*"# SKIP"*) skip ;;
		"ok "*) pass ;;
		esac
	done < <(grep -E '^ *(not )?ok [0-9]+ ' "$log")
	if ((rc != 0)) && ! grep -qE '^ *not ok ' "$log"; then
		why=$(grep -m1 'FAIL:' "$verdict" | sed 's/^\[batchpoke\] //')
		fail "vm: $name run failed (status $rc, log $log): ${why:-no verdict}"
		# What matched, for the record at the end of the output.
		sed -n '/what matched, how often:/,/the first one/p' "$verdict" | head -n 12
	fi
}
ktap_vm selftest --cpus "$cpus" --extra "$fuzz" --extra "$int3" --extra "$textpoke" "${vm_args[@]}" -- "$selftest_env ./batchpoke.sh"

# --- 2b. true parallelism ----------------------------------------------------------
# The concurrency cases again, on 2 vCPUs that really run at the same time
# (QEMU 10, multi-threaded TCG; the host has 2 cores): readers on every
# vCPU execute sites while the other writes them, and a vCPU can run an
# int3 fetched before a batch ended after it ended.
# Multi-threaded TCG does not give every guarantee a CPU does: the test
# module reports, not asserts, readers seeing the old state after a first
# sync round there (Documentation/batchpoke.rst, "Building and testing").
stage "concurrency with true parallelism (QEMU 10, multi-threaded TCG, 2 vCPUs)"
ktap_vm parallel --parallel --cpus 2 "${vm_args[@]}" -- './parallel.sh'
# The kernel's own batches right after batchpoke's on a static key's sites,
# readers on every vCPU, each held 2 ms on an int3 the kernel did not claim
# (scripts/selftest/race.sh): on 4 vCPUs, under both kinds of TCG, the code
# before transactions of static keys ended with a sync oopsed in every run.
ktap_vm race --parallel --cpus 4 "${vm_args[@]}" -- "SKEYS_RACE_CYCLES=$race_cycles ./race.sh"
ktap_vm race-single-threaded --cpus 4 "${vm_args[@]}" -- "SKEYS_RACE_CYCLES=$race_cycles ./race.sh"
# The kernel's real text patchers (ftrace, preemption switches' static
# calls, optprobes, its own static keys, BPF, livepatch) looping while the
# concurrency cases run: only the distro flavor builds them in. Under
# single-threaded TCG: under multi-threaded TCG the kernel's own batches
# oops on stale int3s at their own sites, batchpoke loaded or not
# (Documentation/batchpoke.rst, "Beside the kernel's own patchers").
if [ "$KERNEL_FLAVOR" = distro ]; then
	stage "the kernel's text patchers beside batchpoke (2 vCPUs)"
	ktap_vm patchers --cpus 2 --extra "$bpf" "${vm_args[@]}" -- './patchers.sh'
fi

# --- 3. harness self-test ---------------------------------------------------------
# Each case is one VM run. A run expected to fail must fail with its
# pattern in vm-run.sh's verdict (kept in harness-NAME.verdict), which
# counts what matched in the whole log: a storm of WARNINGs or a WARNING
# after kilobytes of other reports must still be counted in full.
canary=/lib/batchpoke/batchpoke_canary.ko
expect_vm() { # NAME EXPECT(pass|fail) VERDICT-PATTERN GUEST-COMMAND [KERNEL-COMMAND-LINE]
	local name=$1 expect=$2 pattern=$3 cmd=$4 log=$BATCHPOKE_LOGS/harness-$1.log rc
	local verdict=${log%.log}.verdict append=()
	[ -n "${5:-}" ] && append=(--append "$5")
	mkdir -p "$BATCHPOKE_LOGS"
	"$here/vm-run.sh" --kdir "$kdir" --cpus 2 --quiet --log "$log" "${append[@]}" -- "$cmd" 2>"$verdict"
	rc=$?
	if [ "$expect" = pass ] && ((rc == 0)); then
		pass; echo "ok harness_$name"
	elif [ "$expect" = fail ] && ((rc != 0)) && grep -qE "$pattern" "$verdict"; then
		pass; echo "ok harness_$name (guest failure detected as expected)"
	else
		fail "harness_$name: expected the run to $expect${pattern:+ with /$pattern/ in the verdict} (status $rc, verdict $verdict, log $log)"
	fi
}
# The harness and its verdict are the same whatever the kernel's config:
# the default flavor of each kernel (7.3, 6.12: their reports' formats)
# proves them; the other flavors skip the stage.
if [ "$KERNEL_FLAVOR" = default ]; then
stage "VM harness self-test"
expect_vm clean_guest_passes pass '' "insmod $canary && rmmod batchpoke_canary"
expect_vm bug_fails_the_run fail 'kernel BUG at' "insmod $canary crash=1"
# A WARNING's lines can be counted twice (the console may replay a line cut
# short), so counts are lower bounds. The old verdict missed the last two
# below: matches past grep's first 4 KiB write were lost to SIGPIPE.
expect_vm warn_fails_the_run fail ' [1-9][0-9]* x WARNING:' "insmod $canary warn=1 && rmmod batchpoke_canary"
expect_vm warn_under_dmesg_n_1_fails_the_run fail ' [1-9][0-9]* x WARNING:' \
	"dmesg -n 1 && insmod $canary warn=1 && rmmod batchpoke_canary"
expect_vm warn_storm_fails_the_run fail ' [2-9][0-9]{3} x WARNING:' \
	"insmod $canary warns=2000 && rmmod batchpoke_canary"
expect_vm warn_after_100k_of_bug_lines_fails_the_run fail ' [1-9][0-9]* x WARNING:' \
	"insmod $canary fake_bugs=1000 warn=1 && rmmod batchpoke_canary"
expect_vm guest_status_propagates fail 'exited with status 3' "exit 3"
# A guest whose clock is jiffies reports every time in 4 ms steps: the run
# fails even though its command succeeded.
expect_vm jiffies_clock_fails_the_run fail "clocksource was 'jiffies'" \
	"insmod $canary && rmmod batchpoke_canary" clocksource=jiffies
else
	say "VM harness self-test: run by the default flavor (KERNEL_FLAVOR=default), skipped on $KERNEL_FLAVOR"
fi

stage "done"
echo
if ((failed)); then
	echo "failed cases:"
	printf '  %s\n' "${failures[@]}"
fi
if ((skipped)); then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
((failed == 0))
