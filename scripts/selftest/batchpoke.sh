#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# batchpoke selftest, kselftest conventions: KTAP on stdout, exit 0 when all
# cases pass, 1 when one fails, 4 (skip) when not root or the modules are
# missing. Runs inside the VM (make check) or on any machine with the
# modules built: MODDIR=<dir with the .ko files> ./batchpoke.sh
MODDIR=${MODDIR:-/lib/batchpoke}
here=$(dirname "$0")
. "$here/ktap.sh"

if [ "$(id -u)" != 0 ]; then echo "# batchpoke selftest: must be root"; exit 4; fi
if [ ! -f "$MODDIR/batchpoke.ko" ]; then echo "# batchpoke selftest: $MODDIR/batchpoke.ko missing"; exit 4; fi
if grep -q '^batchpoke ' /proc/modules; then echo "# batchpoke is already loaded; unload it first"; exit 4; fi

ktap_plan 6

online=$(grep -c ^processor /proc/cpuinfo)
if [ "$online" -ge 2 ]; then ktap_ok "smp_cpus_online_$online"; else ktap_fail "smp_cpus_online" "only $online CPU"; fi

dmesg -c >/dev/null
ktap_check load insmod "$MODDIR/batchpoke.ko"
if dmesg | grep -qE "batchpoke [0-9]+\.[0-9]+\.[0-9]+ loaded on Linux $(uname -r)\$"; then
	ktap_ok load_message_names_versions
else
	ktap_fail load_message_names_versions "$(dmesg | grep batchpoke | tail -n 2)"
fi
ktap_check unload rmmod batchpoke
if dmesg | grep -q 'batchpoke .* unloaded$'; then ktap_ok unload_message; else ktap_fail unload_message; fi

reload_ok=1
for i in 1 2 3 4 5; do
	insmod "$MODDIR/batchpoke.ko" && rmmod batchpoke || { reload_ok=0; break; }
done
if [ $reload_ok = 1 ] && ! grep -q '^batchpoke ' /proc/modules; then ktap_ok reload_5_times; else ktap_fail reload_5_times; fi

ktap_finish
