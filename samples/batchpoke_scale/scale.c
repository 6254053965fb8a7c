// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_scale: what registering, flipping and unregistering many keys
 * in one call costs, and how long other users of batchpoke wait meanwhile.
 *
 * At load, registers keys=N batchpoke keys (default 65536, the most one
 * call may pass) in one batchpoke_register_keys() call, enables them all
 * in one batchpoke_apply(), disables them all in another and unregisters
 * them in one call, timing each. Meanwhile a kthread flips a key of its
 * own (registered first) with batchpoke_apply() in a loop: every call
 * takes batchpoke's registry mutex, so the longest of them bounds from
 * above how long a big call holds it. Prints one line per call and the
 * waiter's longest call, then stays loaded doing nothing.
 *
 * Times come from ktime_get_ns(): on a guest whose clocksource is
 * jiffies they are multiples of the tick.
 */
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <batchpoke.h>

#define MAX_SCALE_KEYS BATCHPOKE_MAX_KEYS

static unsigned int keys = MAX_SCALE_KEYS;
module_param(keys, uint, 0444);
MODULE_PARM_DESC(keys, "How many keys to register in one call (at most 65536)");

static bool contend = true;
module_param(contend, bool, 0444);
MODULE_PARM_DESC(contend, "Run the kthread that flips a key meanwhile (default)");

static struct batchpoke_key scale_keys[MAX_SCALE_KEYS];
static char scale_names[MAX_SCALE_KEYS][8];
DEFINE_BATCHPOKE_KEY_FALSE(waiter_key, "waiter");

static u64 waiter_max_ns, waiter_calls;

static int waiter(void *unused)
{
	struct batchpoke_change change = { .key = &waiter_key };

	while (!kthread_should_stop()) {
		u64 start = ktime_get_ns(), took;

		change.enable = !change.enable;
		if (batchpoke_apply(&change, 1, 0, NULL))
			break;
		took = ktime_get_ns() - start;
		waiter_max_ns = max(waiter_max_ns, took);
		waiter_calls++;
		cond_resched();
	}
	return 0;
}

static void report(const char *what, u64 start, int ret)
{
	pr_info("batchpoke_scale: %s %u keys: %d, %llu ms\n", what, keys, ret,
		(ktime_get_ns() - start) / NSEC_PER_MSEC);
}

static int __init scale_init(void)
{
	const struct batchpoke_key *const waiter_keys[] = { &waiter_key };
	struct batchpoke_change *changes;
	const struct batchpoke_key **list;
	struct task_struct *task;
	unsigned int i;
	u64 start;
	int ret;

	if (!keys || keys > MAX_SCALE_KEYS)
		return -EINVAL;
	list = kvmalloc_array(keys, sizeof(*list), GFP_KERNEL);
	changes = kvmalloc_array(keys, sizeof(*changes), GFP_KERNEL);
	if (!list || !changes) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < keys; i++) {
		snprintf(scale_names[i], sizeof(scale_names[i]), "k%05x", i & 0xfffff); /* < MAX_SCALE_KEYS; the mask tells gcc */
		scale_keys[i].name = scale_names[i];
		list[i] = &scale_keys[i];
		changes[i].key = &scale_keys[i];
	}
	ret = batchpoke_register_keys(THIS_MODULE, waiter_keys, 1);
	if (ret)
		goto out;
	task = contend ? kthread_run(waiter, NULL, "batchpoke_scale") : NULL;
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto out;
	}
	start = ktime_get_ns();
	ret = batchpoke_register_keys(THIS_MODULE, list, keys);
	report("register", start, ret);
	if (!ret) {
		for (i = 0; i < keys; i++)
			changes[i].enable = true;
		start = ktime_get_ns();
		report("enable", start, batchpoke_apply(changes, keys, 0, NULL));
		for (i = 0; i < keys; i++)
			changes[i].enable = false;
		start = ktime_get_ns();
		report("disable", start, batchpoke_apply(changes, keys, 0, NULL));
		start = ktime_get_ns();
		batchpoke_unregister_keys(THIS_MODULE, list, keys);
		report("unregister", start, 0);
	}
	if (task)
		kthread_stop(task);
	pr_info("batchpoke_scale: meanwhile %llu one-key applies, the longest %llu ms\n",
		waiter_calls, waiter_max_ns / NSEC_PER_MSEC);
	ret = 0;
out:
	kvfree(changes);
	kvfree(list);
	return ret;
}

static void __exit scale_exit(void)
{
}

module_init(scale_init);
module_exit(scale_exit);
MODULE_DESCRIPTION("batchpoke: the cost of 65536 keys in one call");
MODULE_LICENSE("GPL");
