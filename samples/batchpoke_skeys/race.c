// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_skeys' race: batchpoke's batches and the kernel's own
 * jump-label patching on the same sites, back to back or at once, while a
 * reader on every CPU executes them.
 *
 * The crash this reproduces: a reader traps on batchpoke's int3, passes
 * the kernel's int3 handler (no kernel batch yet) and is delayed before
 * batchpoke's; batchpoke's batch ends and drops the locks; the kernel's
 * batch puts its own int3 on the site and waits in its first sync for
 * the delayed reader, whose batchpoke handler then finds an int3 no
 * batchpoke batch accounts for ("Oops: int3"). A transaction of static
 * keys therefore ends with a sync round before it unlocks.
 *
 * /sys/kernel/batchpoke_skeys/race: write "<mode> <cycles>"; the write
 * returns when the race is over, with batchpoke's error if a transaction
 * failed in a way the mode does not allow. Read: "cycles C applied A
 * refused R" of the last race.
 *
 *   incdec  one thread, each cycle: batchpoke enables the first RACE_KEYS
 *           keys in one transaction (every 8th serial), the kernel's
 *           static_key_slow_dec() disables each (count 1 -> 0: the kernel
 *           patches right after batchpoke's batch), static_key_slow_inc()
 *           enables each again (held 200 us every other cycle), batchpoke
 *           disables them all. The counts stay balanced, so every
 *           transaction must be applied.
 *   enable  a kthread loops static_key_enable()/static_key_disable() on
 *           the same keys while this thread loops batchpoke transactions
 *           enabling and disabling them all; a transaction may be refused
 *           with -EAGAIN (a key changed state while it was planned), never
 *           otherwise.
 */
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/jump_label.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include <batchpoke.h>

#include "skeys.h"

#define RACE_KEYS 8

static struct {
	unsigned long cycles, applied, refused;
} last_race;

static int race_reader(void *unused)
{
	u8 ran[4];
	int i;

	while (!kthread_should_stop()) {
		for (i = 0; i < RACE_KEYS; i++)
			skeys_probe(i, ran);
		cond_resched();
	}
	return 0;
}

static int race_kernel_enable_disable(void *unused)
{
	unsigned long n = 0;
	int i;

	while (!kthread_should_stop()) {
		for (i = 0; i < RACE_KEYS; i++) {
			if (n & 1)
				static_key_disable(skeys_key(i));
			else
				static_key_enable(skeys_key(i));
		}
		if (n++ & 2)
			udelay(200);
		cond_resched();
	}
	return 0;
}

/* One batchpoke transaction setting the race's keys to @enable. */
static int race_apply(bool enable, unsigned long cycle)
{
	struct batchpoke_static_change changes[RACE_KEYS];
	int i;

	for (i = 0; i < RACE_KEYS; i++)
		changes[i] = (struct batchpoke_static_change){ .key = skeys_key(i), .enable = enable };
	return batchpoke_apply_static(changes, RACE_KEYS,
				      cycle % 8 == 7 ? BATCHPOKE_APPLY_SERIAL : 0, NULL);
}

static int race_incdec_cycle(unsigned long cycle)
{
	int i, err;

	err = race_apply(true, cycle);
	if (err)
		return err;
	last_race.applied++;
	for (i = 0; i < RACE_KEYS; i++)
		static_key_slow_dec(skeys_key(i));
	if (cycle & 1)
		udelay(200);
	for (i = 0; i < RACE_KEYS; i++)
		static_key_slow_inc(skeys_key(i));
	err = race_apply(false, cycle);
	if (err)
		return err;
	last_race.applied++;
	return 0;
}

static int race_enable_cycle(unsigned long cycle)
{
	int i, err;

	for (i = 0; i < 2; i++) {
		err = race_apply(i == 0, cycle);
		if (err == -EAGAIN)
			last_race.refused++;
		else if (err)
			return err;
		else
			last_race.applied++;
	}
	return 0;
}

static int race_run(bool incdec, unsigned long cycles)
{
	struct task_struct **readers, *kernel_side = NULL;
	unsigned int cpu, nreaders = 0;
	unsigned long n;
	int err = 0;

	readers = kcalloc(nr_cpu_ids, sizeof(*readers), GFP_KERNEL);
	if (!readers)
		return -ENOMEM;
	last_race.cycles = last_race.applied = last_race.refused = 0;
	for_each_online_cpu(cpu) {
		struct task_struct *t = kthread_create(race_reader, NULL, "skeys_reader/%u", cpu);

		if (IS_ERR(t)) {
			err = PTR_ERR(t);
			goto stop;
		}
		kthread_bind(t, cpu);
		wake_up_process(t);
		readers[nreaders++] = t;
	}
	if (!incdec) {
		kernel_side = kthread_run(race_kernel_enable_disable, NULL, "skeys_kernel");
		if (IS_ERR(kernel_side)) {
			err = PTR_ERR(kernel_side);
			kernel_side = NULL;
			goto stop;
		}
	}
	for (n = 0; n < cycles && !err; n++) {
		err = incdec ? race_incdec_cycle(n) : race_enable_cycle(n);
		last_race.cycles++;
		cond_resched();
	}
stop:
	if (kernel_side)
		kthread_stop(kernel_side);
	while (nreaders)
		kthread_stop(readers[--nreaders]);
	kfree(readers);
	pr_info("batchpoke_skeys: race %s: %lu cycles, %lu transactions applied, %lu refused, error %d\n",
		incdec ? "incdec" : "enable", last_race.cycles, last_race.applied,
		last_race.refused, err);
	return err;
}

static ssize_t race_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			  size_t count)
{
	char mode[8];
	unsigned long cycles;
	int err;

	if (sscanf(buf, "%7s %lu", mode, &cycles) != 2)
		return -EINVAL;
	if (!strcmp(mode, "incdec"))
		err = race_run(true, cycles);
	else if (!strcmp(mode, "enable"))
		err = race_run(false, cycles);
	else
		return -EINVAL;
	return err ? err : count;
}

static ssize_t race_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "cycles %lu applied %lu refused %lu\n", last_race.cycles,
			  last_race.applied, last_race.refused);
}

struct kobj_attribute skeys_race_attr = __ATTR_RW(race);
