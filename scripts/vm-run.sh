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
# the guest log shows an oops, BUG, WARNING, lockdep, KASAN or similar splat,
# and (124) when the guest did not finish within the timeout. The full guest
# log is kept (--log, default $BATCHPOKE_CACHE/logs/vm-last.log).
#
# Options:
#   --cpus N         vCPUs, as N sockets (default 4; tinyconfig has no ACPI)
#   --mem SIZE       guest memory (default 1G)
#   --timeout SECS   whole-run limit (default 600)
#   --log FILE       where to keep the guest log
#   --append ARGS    extra kernel command line
#   --extra FILE     also put FILE (e.g. a static binary) in /selftest
#   --quiet          do not echo the guest console, only the verdict
#   --interactive    a shell on the console instead of a command
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

kdir= cpus=4 mem=1G timeout_s=600 log= append= quiet=0 interactive=0
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
	--quiet) quiet=1; shift ;;
	--interactive) interactive=1; shift ;;
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

mkdir -p "$BATCHPOKE_CACHE/logs"
log=${log:-$BATCHPOKE_CACHE/logs/vm-last.log}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
	rc=0
else
	sh /guest-cmd
	rc=\$?
fi
echo "BATCHPOKE_GUEST_EXIT=\$rc"
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
# KVM only when it really works: /dev/kvm can exist on a CPU without vmx/svm.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	accel=(-accel kvm -cpu host)
else
	# One host thread for all vCPUs: multi-threaded TCG can run a stale
	# translation of patched text (seen as int3 oopses in the kernel's own
	# static-key flips at boot). Round-robin vCPUs still interleave at
	# translation-block granularity, so sites are still hit mid-patch.
	accel=(-accel tcg,thread=single -cpu max)
fi
# tsc=reliable: TCG vCPUs fail the TSC sync check, which would leave
# jiffies (4 ms) as the clocksource and make every timing meaningless.
cmdline="console=ttyS0 panic=-1 oops=panic loglevel=7 tsc=reliable $append"
qemu=(qemu-system-x86_64 "${accel[@]}" -m "$mem" -smp "$cpus,sockets=$cpus"
	-kernel "$bzimage" -initrd "$work/initramfs.cpio.gz" -append "$cmdline"
	-nographic -no-reboot -nic none)

if ((interactive)); then
	exec qemu-system-x86_64 "${accel[@]}" -m "$mem" -smp "$cpus,sockets=$cpus" \
		-kernel "$bzimage" -initrd "$work/initramfs.cpio.gz" -append "$cmdline" \
		-nographic -no-reboot -nic none
fi

say "booting $(basename "$kdir") with $cpus vCPUs (${accel[1]%%,*}); guest log: $log"
set +e
if ((quiet)); then
	timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null >"$log" 2>&1
else
	timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | tee "$log"
	(exit "${PIPESTATUS[0]}")
fi
qemu_rc=$?
set -e
tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"

# --- verdict -----------------------------------------------------------------
splat='Oops|BUG:|kernel BUG at|WARNING:|Kernel panic|general protection fault|Call Trace:|'
splat+='possible circular locking|possible recursive locking|inconsistent lock state|lockdep:|'
splat+='KASAN:|UBSAN:|soft lockup|hard LOCKUP|hung_task|blocked for more than|rcu_.*stall|'
splat+='sleeping function called from invalid context|scheduling while atomic|segfault at|'
splat+='list_add corruption|list_del corruption|kmemleak:.*new suspected'
if first=$(grep -nE "$splat" "$log" | head -n1 | cut -d: -f1) && [ -n "$first" ]; then
	say "FAIL: the guest kernel reported a problem (log: $log):"
	sed -n "$((first > 5 ? first - 5 : 1)),$((first + 40))p" "$log" | sed 's/^/    | /' >&2
	exit 1
fi
if ((qemu_rc == 124 || qemu_rc == 137)); then
	say "FAIL: the guest did not finish within ${timeout_s}s (log: $log)"
	exit 124
fi
rc=$(sed -n 's/^BATCHPOKE_GUEST_EXIT=\([0-9]*\)$/\1/p' "$log" | tail -n1)
if [ -z "$rc" ]; then
	say "FAIL: the guest stopped before its command finished (QEMU status $qemu_rc; log: $log)"
	tail -n 30 "$log" | sed 's/^/    | /' >&2
	exit 1
fi
exit "$rc"
