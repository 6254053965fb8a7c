// SPDX-License-Identifier: GPL-2.0
/*
 * Plumbing for batchpoke_bench: /sys/kernel/batchpoke_bench/{run,result}
 * and the spinner kthread that runs a site of the flipped keys while they
 * are being flipped.
 */
#include <linux/cpumask.h>
#include <linux/err.h>
#include <linux/kobject.h>
#include <linux/kthread.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>

#include "bench.h"

static struct kobject *bench_kobj;
static struct task_struct *spinner;

u64 batchpoke_bench_now_ns(void)
{
	return ktime_get_ns();
}

static int spin_fn(void *unused)
{
	u64 last = 0;

	while (!kthread_should_stop())
		last = batchpoke_bench_spin_once(last);
	return 0;
}

/* Starts the spinner on @cpu, or on the last online CPU for -1. */
int batchpoke_bench_spinner_start(int cpu)
{
	if (cpu < 0)
		cpu = cpumask_last(cpu_online_mask);
	spinner = kthread_create_on_cpu(spin_fn, NULL, cpu, "bp_bench_spin/%u");
	if (IS_ERR(spinner)) {
		int ret = PTR_ERR(spinner);

		spinner = NULL;
		return ret;
	}
	wake_up_process(spinner);
	return 0;
}

void batchpoke_bench_spinner_stop(void)
{
	if (spinner)
		kthread_stop(spinner);
	spinner = NULL;
}

static ssize_t run_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			 size_t count)
{
	return batchpoke_bench_run_store(buf, count);
}

static ssize_t result_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return batchpoke_bench_result_show(buf);
}

static struct kobj_attribute run_attr = __ATTR_WO(run);
static struct kobj_attribute result_attr = __ATTR_RO(result);
static struct attribute *bench_attrs[] = { &run_attr.attr, &result_attr.attr, NULL };
static const struct attribute_group bench_group = { .attrs = bench_attrs };

int batchpoke_bench_glue_start(void)
{
	int ret;

	bench_kobj = kobject_create_and_add("batchpoke_bench", kernel_kobj);
	if (!bench_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(bench_kobj, &bench_group);
	if (ret)
		kobject_put(bench_kobj);
	return ret;
}

void batchpoke_bench_glue_stop(void)
{
	kobject_put(bench_kobj);
}
