#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vm-run.sh --kdir TREE [options] [-- 'GUEST SHELL COMMANDS']
#
# Boots TREE's bzImage in QEMU with an initramfs made by the tree's own
# gen_init_cpio: busybox, every batchpoke .ko (in /lib/batchpoke) and
# scripts/selftest (in /selftest). The guest runs the shell commands given
# after `--` (busybox sh, in /selftest), or a shell with --interactive, then
# powers off.
#
# The exit status is the guest command's, except that the run fails (1) when
# the guest log shows an oops, BUG, WARNING, lockdep, KASAN or similar splat
# (anywhere in the log, however many), or when the end of the kernel log
# never reached the console, and (124) when the guest did not finish within
# the timeout. Every kernel message reaches the console whatever the guest
# does to the log level (ignore_loglevel), so a WARNING cannot be hidden.
#
# The guest command's stdout and stderr go both to the console (in order
# with the kernel's messages, for the log) and alone to a second serial port
# (for people and parsers: no kernel line can be interleaved with them).
# Kept on the host: the full guest log (--log, default
# $BATCHPOKE_LOGS/vm-last.log) and the command's output (the same
# name with .out for .log).
#
# Options:
#   --cpus N         vCPUs, as N sockets (default 4; tinyconfig has no ACPI)
#   --mem SIZE       guest memory (default 1G)
#   --timeout SECS   whole-run limit (default 600)
#   --log FILE       where to keep the guest log
#   --append ARGS    extra kernel command line
#   --extra FILE     also put FILE (e.g. a static binary) in /selftest
#   --console        show the whole console live (default: only the guest
#                    command's output; the log is shown on failure)
#   --quiet          show nothing live, only the verdict
#   --interactive    a shell on the console instead of a command
#   --parallel       true parallelism: QEMU 10 (scripts/fetch-qemu.sh) with
#                    multi-threaded TCG, one host thread per vCPU
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

kdir= cpus=4 mem=1G timeout_s=600 log= append= show=output interactive=0 parallel=0
extras=()
while (($#)); do
	case $1 in
	--kdir) kdir=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--extra) extras+=("$2"); shift 2 ;;
	--console) show=console; shift ;;
	--quiet) show=none; shift ;;
	--interactive) interactive=1; shift ;;
	--parallel) parallel=1; shift ;;
	--) shift; break ;;
	*) die "vm-run.sh: unknown option $1" ;;
	esac
done
[ -n "$kdir" ] || die "vm-run.sh: --kdir is required"
((cpus >= 1)) || die "vm-run.sh: --cpus must be >= 1"
guest_cmd="$*"
((interactive)) || [ -n "$guest_cmd" ] || die "vm-run.sh: give a guest command or --interactive"

bzimage=$kdir/arch/x86/boot/bzImage
gen_cpio=$kdir/usr/gen_init_cpio
[ -f "$bzimage" ] || die "no $bzimage: build the kernel first (make kernel)"
[ -x "$gen_cpio" ] || die "no $gen_cpio in $kdir (CONFIG_BLK_DEV_INITRD)"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox (static) not found: install busybox-static"

mkdir -p "$BATCHPOKE_LOGS"
log=${log:-$BATCHPOKE_LOGS/vm-last.log}
mkdir -p "$(dirname "$log")"
out=${log%.log}.out
work=$(mktemp -d)
qemu_pid=
# A background QEMU ignores the terminal's ^C: stop it with the script.
trap '[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# --- initramfs -------------------------------------------------------------
cat >"$work/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
echo "batchpoke-vm: \$(grep -c ^processor /proc/cpuinfo) CPUs online, Linux \$(uname -r)"
cd /selftest
if [ "$interactive" = 1 ]; then
	echo "batchpoke-vm: modules are in /lib/batchpoke; exit the shell to power off"
	setsid cttyhack sh
	reboot -f
fi
# The command's output: to the console through tee's stdout, and to
# ttyS1 (the host's .out file) alone.
mkfifo /tmp/.guest-out
tee /dev/ttyS1 </tmp/.guest-out 2>/dev/console &
tee_pid=\$!
exec 3>&1 >/tmp/.guest-out 2>&1
sh /guest-cmd
rc=\$?
exec >&3 2>&3 3>&-
# tee ends when the last writer closes the fifo; a process the command
# left running may hold it open, so do not wait for ever.
(sleep 5; kill \$tee_pid) 2>/dev/null &
wait \$tee_pid
# The status goes to ttyS1, which only this script writes, so it arrives
# whole; on the console a kernel message may cut into it.
echo "BATCHPOKE_CLOCKSOURCE=\$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)" >/dev/ttyS1
echo "BATCHPOKE_GUEST_EXIT=\$rc" >/dev/ttyS1
echo "BATCHPOKE_GUEST_EXIT=\$rc"
# The last kernel message: the console prints messages in order, so seeing
# it on the host proves no earlier message was still waiting to be printed
# (shutdown flushes the console before the reset).
echo BATCHPOKE_KMSG_END >/dev/kmsg
reboot -f
INIT

printf '%s\n' "$guest_cmd" >"$work/guest-cmd"
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	for d in /bin /sbin /proc /sys /tmp /lib /lib/batchpoke /selftest; do echo "dir $d 0755 0 0"; done
	echo "file /bin/busybox $busybox 0755 0 0"
	echo "file /init $work/init 0755 0 0"
	echo "file /guest-cmd $work/guest-cmd 0644 0 0"
	while IFS= read -r ko; do
		echo "file /lib/batchpoke/$(basename "$ko") $ko 0644 0 0"
	done < <(find "$top/rust" "$top/samples" -name '*.ko' | sort)
	for f in "$top"/scripts/selftest/* "${extras[@]}"; do
		[ -f "$f" ] && echo "file /selftest/$(basename "$f") $f 0755 0 0"
	done
} >"$work/initramfs.list"
"$gen_cpio" "$work/initramfs.list" | gzip -1 >"$work/initramfs.cpio.gz"

# --- QEMU --------------------------------------------------------------------
qemu_bin=qemu-system-x86_64 qemu_dirs=()
# KVM only when it really works: /dev/kvm can exist on a CPU without vmx/svm.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	accel=(-accel kvm -cpu host)
elif ((parallel)); then
	# vCPUs really run at the same time, each on its own host thread.
	# QEMU 7.2's multi-threaded TCG ran stale translations of patched text
	# (the kernel's own static keys oopsed at boot); 10.0 is the one used.
	qemu_bin=$("$here/fetch-qemu.sh")
	qemu_root=${qemu_bin%/usr/bin/*}
	qemu_dirs=(-L "$qemu_root/usr/share/qemu" -L /usr/share/seabios)
	# Its own loadable modules, not the system QEMU's (7.2's fail to load).
	export QEMU_MODULE_DIR=$qemu_root/usr/lib/x86_64-linux-gnu/qemu
	accel=(-accel tcg,thread=multi -cpu max)
else
	# One host thread for all vCPUs: multi-threaded TCG can run a stale
	# translation of patched text (seen as int3 oopses in the kernel's own
	# static-key flips at boot). Round-robin vCPUs still interleave at
	# translation-block granularity, so sites are still hit mid-patch.
	accel=(-accel tcg,thread=single -cpu max)
fi
# tsc=reliable: TCG vCPUs fail the TSC sync check, which would leave
# jiffies (4 ms) as the clocksource and make every timing meaningless.
# tsc_early_khz: under TCG the guest's TSC is the host's, but the guest
# cannot calibrate it (its PIT runs at emulated speed, and there is no
# HPET or PM timer without ACPI) and falls back to jiffies; the host's
# rate, measured here, gives it the TSC (scripts/tsc/tsc-khz.c). Only on
# a host whose TSC runs at a constant rate; the verdict fails a run
# whose guest ended on jiffies anyway.
if [ "${accel[1]}" != kvm ] && grep -qw constant_tsc /proc/cpuinfo && grep -qw nonstop_tsc /proc/cpuinfo; then
	tsc_khz_bin=$BATCHPOKE_WORK/build/tsc-khz
	if [ ! -x "$tsc_khz_bin" ] || [ "$here/tsc/tsc-khz.c" -nt "$tsc_khz_bin" ]; then
		mkdir -p "${tsc_khz_bin%/*}"
		gcc -O2 -Wall -Werror -o "$tsc_khz_bin" "$here/tsc/tsc-khz.c" || die "vm-run.sh: cannot build scripts/tsc/tsc-khz.c"
	fi
	append="tsc_early_khz=$("$tsc_khz_bin") $append"
fi
# no5lvl on a KASAN kernel: `-cpu max` offers LA57, and Linux 7.3's
# identify_cpu() zeroes boot_cpu_data's capabilities with interrupts on,
# before alternatives are applied. An interrupt in that window sees
# pgtable_l5_enabled() false, and KASAN reports the 5-level direct map
# address of an irq_desc lock as a wild-memory-access (seen once, at 1.0 s
# of boot, "Not tainted", RIP identify_cpu, multi-threaded TCG). With
# 4-level paging the answer does not change in the window.
if grep -qx 'CONFIG_KASAN=y' "$kdir/.config" 2>/dev/null; then
	append="no5lvl $append"
fi
# ignore_loglevel: every message reaches the console (and the verdict),
# even when a guest script lowers the log level with dmesg -n.
cmdline="console=ttyS0 panic=-1 oops=panic loglevel=7 ignore_loglevel tsc=reliable $append"
qemu=("$qemu_bin" "${qemu_dirs[@]}" "${accel[@]}" -m "$mem" -smp "$cpus,sockets=$cpus"
	-kernel "$bzimage" -initrd "$work/initramfs.cpio.gz" -append "$cmdline"
	-nographic -no-reboot -nic none)

if ((interactive)); then
	exec "${qemu[@]}"
fi

say "booting $(basename "$kdir") with $cpus vCPUs (${accel[1]}); full guest log: $log"
# ttyS0, the console, is the log; ttyS1 carries the guest command's output.
: >"$log"
: >"$out"
timeout -k 10 "$timeout_s" "${qemu[@]}" -monitor none -serial "file:$log" -serial "file:$out" \
	</dev/null >"$work/qemu.err" 2>&1 &
qemu_pid=$!
case $show in
console) live=$log ;;
output) live=$out ;;
*) live= ;;
esac
live_pid=
if [ -n "$live" ]; then
	# Ends when QEMU does, after printing what is left. In the background,
	# so that a signal is handled at once (wait returns, a foreground job
	# would not).
	tail -n +1 -s 0.2 -f --pid="$qemu_pid" "$live" | sed -u 's/\r$//' &
	live_pid=$!
fi
set +e
wait "$qemu_pid"
qemu_rc=$?
set -e
qemu_pid=
[ -z "$live_pid" ] || wait "$live_pid" || true
cat "$work/qemu.err" >>"$log"
for f in "$log" "$out"; do tr -d '\r' <"$f" >"$f.tmp" && mv "$f.tmp" "$f"; done

# --- verdict -----------------------------------------------------------------
# What a kernel prints when something went wrong, in any of the configs
# (scripts/kconfig) and kernels the project runs. Every pattern must be one
# no clean boot prints; `Call Trace:` catches any other stack dump.
splats=(
	'Oops' 'BUG:' 'kernel BUG at' 'WARNING:' 'Kernel panic' 'general protection fault'
	'Call Trace:' 'CFI failure' 'panicked at' 'UBSAN:' 'KASAN:' 'kmemleak:.*new suspected'
	# SLUB's own object checks: "BUG <cache> (Not tainted): <what>"
	'BUG [^ ]+ \((Not tainted|Tainted: [^)]*)\): '
	# lockdep (most of its reports are also WARNING: lines)
	'possible circular locking' 'possible recursive locking' 'inconsistent lock state'
	'lockdep:'
	'sleeping function called from invalid context' 'scheduling while atomic'
	'list_(add|del) corruption' 'list_add double add'
	# RCU stalls, hung tasks, lockups, unknown NMIs
	'INFO: [a-z_]+ (self-)?detected (expedited )?stall' 'blocked for more than'
	'soft lockup' 'hard LOCKUP' 'NMI received for unknown reason'
	'segfault at'
	# The console fell behind and lost messages: one of them may have been a splat.
	'printk messages dropped'
)
splat=$(IFS='|'; echo "${splats[*]}")
# quote FILE FROM TO: lines FROM..TO of FILE, indented, on stderr.
quote() { sed -n "$2,$3p" "$1" | sed 's/^/    | /' >&2; }
# Nothing below may stop reading early (head, grep -q in a pipe): under
# pipefail the writer dies of SIGPIPE and a large match turns into a miss.
nsplat=$(grep -cE "$splat" "$log" || true)
if ((nsplat > 0)); then
	first=$(grep -m1 -nE "$splat" "$log")
	first=${first%%:*}
	say "FAIL: the guest kernel reported a problem: $nsplat matching lines (log: $log)"
	say "what matched, how often:"
	grep -oE "$splat" "$log" | sort | uniq -c | sort -rn |
		sed -n 's/^ *\([0-9]*\) \(.*\)/    | \1 x \2/p' >&2
	say "the first one, at line $first:"
	quote "$log" $((first > 5 ? first - 5 : 1)) $((first + 40))
	exit 1
fi
lines=$(wc -l <"$log")
tail_start=$((lines > 30 ? lines - 29 : 1))
if ((qemu_rc == 124 || qemu_rc == 137)); then
	say "FAIL: the guest did not finish within ${timeout_s}s (log: $log); its end:"
	quote "$log" "$tail_start" '$'
	exit 124
fi
rc=$(sed -n 's/^BATCHPOKE_GUEST_EXIT=\([0-9]*\)$/\1/p' "$out" 2>/dev/null | tail -n1)
if [ -z "$rc" ]; then
	say "FAIL: the guest stopped before its command finished (QEMU status $qemu_rc; log: $log); its end:"
	quote "$log" "$tail_start" '$'
	exit 1
fi
if ! grep -q 'BATCHPOKE_KMSG_END' "$log"; then
	say "FAIL: the end of the kernel log never reached the console: messages may be missing (log: $log)"
	quote "$log" "$tail_start" '$'
	exit 1
fi
# Every time a guest reports (make run, the bench, stats, the selftest's
# diagnostics) comes from its clocksource: jiffies would quantize them all
# to the 4 ms tick.
clocksource=$(sed -n 's/^BATCHPOKE_CLOCKSOURCE=\(.*\)$/\1/p' "$out" | tail -n1)
case $clocksource in
*jiffies*|"")
	say "FAIL: the guest's clocksource was '${clocksource:-unknown}', not the TSC: every time it reported is a multiple of the 4 ms tick (log: $log)"
	grep -E 'tsc:|clocksource:' "$log" | sed 's/^/    | /' >&2
	exit 1
	;;
esac
if ((rc != 0)); then
	say "FAIL: the guest command exited with status $rc (log: $log); the log's end:"
	quote "$log" "$tail_start" '$'
	exit "$rc"
fi
say "PASS: the guest command succeeded and the kernel reported no problem ($lines lines of log, clocksource $clocksource)"
