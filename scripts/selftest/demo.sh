#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What `make run` shows inside the guest.
set -e
klog() { dmesg -c | sed -n 's/^\[[^]]*\] \(batchpoke.*\)/  kernel: \1/p' | grep -v taints || true; }
dmesg -n 1 # kernel lines are shown by klog, not twice
echo "== guest: $(grep -c ^processor /proc/cpuinfo) CPUs online, Linux $(uname -r)"
dmesg -c >/dev/null
echo "== insmod batchpoke.ko"
insmod /lib/batchpoke/batchpoke.ko
klog
echo "== rmmod batchpoke"
rmmod batchpoke
klog
