// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_late_int3: hold a CPU that trapped on an int3 the kernel's own
 * text-poke handler did not claim, before batchpoke's die notifier sees it.
 *
 * The unclaimed-int3 race (samples/batchpoke_skeys/race.c) needs a reader
 * delayed at exactly that point: it trapped on batchpoke's int3, the
 * kernel's handler found no kernel batch, and batchpoke's handler has not
 * yet read the site. In the field the delay is an NMI, an SMI or a
 * preempted vCPU; under single-threaded TCG a vCPU is rarely switched out
 * in that window. This module makes the window wide, so the race runs
 * the same on every emulator and on every kernel.
 *
 * Load it before batchpoke.ko: die notifiers of equal priority run in the
 * order they were registered, and both use the highest priority, so this
 * one runs first. It never claims a trap. Every DIE_INT3 from kernel mode
 * spins @delay_us microseconds with interrupts off, as the trap left
 * them; @delayed counts the traps held.
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/limits.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/ptrace.h>

static unsigned int delay_us = 2000;
module_param(delay_us, uint, 0644);
MODULE_PARM_DESC(delay_us, "how long to hold a CPU on an unclaimed kernel int3 (us)");

static atomic_t delayed = ATOMIC_INIT(0);

static int delayed_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&delayed));
}

static const struct kernel_param_ops delayed_ops = { .get = delayed_get };
module_param_cb(delayed, &delayed_ops, NULL, 0444);
MODULE_PARM_DESC(delayed, "traps held so far");

static int late_int3_notify(struct notifier_block *nb, unsigned long val, void *data)
{
	struct die_args *args = data;
	unsigned int left = READ_ONCE(delay_us);

	if (val != DIE_INT3 || user_mode(args->regs) || !left)
		return NOTIFY_DONE;
	atomic_inc(&delayed);
	/* udelay() is only good for short waits; a millisecond at a time. */
	for (; left >= 1000; left -= 1000)
		udelay(1000);
	udelay(left);
	return NOTIFY_DONE;
}
NOKPROBE_SYMBOL(late_int3_notify);

static struct notifier_block late_int3_nb = {
	.notifier_call = late_int3_notify,
	.priority = INT_MAX,
};

static int __init late_int3_init(void)
{
	return register_die_notifier(&late_int3_nb);
}

static void __exit late_int3_exit(void)
{
	unregister_die_notifier(&late_int3_nb);
}

module_init(late_int3_init);
module_exit(late_int3_exit);
MODULE_DESCRIPTION("batchpoke test: hold CPUs on unclaimed int3 traps before batchpoke sees them");
MODULE_LICENSE("GPL");
