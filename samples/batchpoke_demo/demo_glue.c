// SPDX-License-Identifier: GPL-2.0
/*
 * Plumbing for batchpoke_demo: a periodic timer and a worker kthread that
 * call into the Rust half, where the batchpoke branch sites are, and
 * /sys/kernel/batchpoke_demo/counters to watch what they do.
 */
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/hrtimer.h>
#include <linux/kobject.h>
#include <linux/kthread.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sysfs.h>

#include "../../rust/entry/batchpoke_api/compat.h"
#include "demo_glue.h"

#define TICK_NS (10 * NSEC_PER_MSEC)

/*
 * Test-only behaviours for batchpoke's lifecycle selftests; a real client
 * has neither. module_param works on every supported kernel, unlike the
 * Rust module! params.
 */
bool batchpoke_demo_forget;
module_param_named(forget, batchpoke_demo_forget, bool, 0444);
MODULE_PARM_DESC(forget, "Test only: never unregister the keys, so batchpoke's module notifier must drop them");

bool batchpoke_demo_serial_loop;
module_param_named(serial_loop, batchpoke_demo_serial_loop, bool, 0444);
MODULE_PARM_DESC(serial_loop, "Test only: the kthread flips the keys in serial transactions, back to back");

static struct hrtimer tick_timer;
static struct task_struct *worker;
static struct kobject *demo_kobj;

static enum hrtimer_restart tick(struct hrtimer *t)
{
	batchpoke_demo_timer_tick();
	hrtimer_forward_now(t, ns_to_ktime(TICK_NS));
	return HRTIMER_RESTART;
}

static int worker_fn(void *unused)
{
	while (!kthread_should_stop()) {
		batchpoke_demo_worker_step();
		/* Back to back, so that an unload finds a transaction in flight. */
		if (batchpoke_demo_serial_loop)
			cond_resched();
		else
			msleep(5);
	}
	return 0;
}

static ssize_t counters_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return batchpoke_demo_show_counters(buf);
}

static struct kobj_attribute counters_attr = __ATTR_RO(counters);

int batchpoke_demo_glue_start(void)
{
	int ret;

	demo_kobj = kobject_create_and_add("batchpoke_demo", kernel_kobj);
	if (!demo_kobj)
		return -ENOMEM;
	ret = sysfs_create_file(demo_kobj, &counters_attr.attr);
	if (ret)
		goto put;
	worker = kthread_run(worker_fn, NULL, "batchpoke_demo");
	if (IS_ERR(worker)) {
		ret = PTR_ERR(worker);
		goto put;
	}
	batchpoke_hrtimer_setup(&tick_timer, tick, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	hrtimer_start(&tick_timer, ns_to_ktime(TICK_NS), HRTIMER_MODE_REL);
	return 0;
put:
	kobject_put(demo_kobj);
	return ret;
}

void batchpoke_demo_glue_stop(void)
{
	hrtimer_cancel(&tick_timer);
	kthread_stop(worker);
	kobject_put(demo_kobj);
}
