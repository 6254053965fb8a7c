// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_fuzz: a model-based fuzzer of batchpoke's client API.
 *
 * Fuzz clients (batchpoke_fuzz_a, batchpoke_fuzz_b; C, batchpoke.h alone)
 * attach when they load and detach when they unload. A run draws random
 * steps (register, unregister, apply, apply_static, sysfs transactions and
 * enabled writes, the kernel's static_key_enable/disable/slow_inc/slow_dec
 * on the clients' ordinary static keys), valid ones and the mistakes of a
 * catalogue (fuzz_ops.c), predicts each step's outcome from a model and,
 * after each step, compares every key's state and count, every site's
 * bytes and what it executes, the sysfs entries and batchpoke's counters
 * with the model (fuzz_check.c). A run stops at the first mismatch.
 * Loading and unloading clients (forget=1: without unregistering) is the
 * selftest's part (scripts/selftest/fuzz.sh), between runs.
 *
 * /sys/kernel/debug/batchpoke_fuzz/ (debugfs: a run writes batchpoke's
 * sysfs files, which a write to a sysfs file of its own could not do
 * without nesting sysfs's sb_writers):
 *
 *   run       write "<seed> <steps>": one run, with the clients loaded now;
 *             the same seed with the same clients replays the same steps
 *   result    the last run: "seed S steps N/M ok" or "... FAIL <why>",
 *             then "returned <errno>:<count> ..." (0: success)
 *   expected  the keys the model says are registered, one
 *             "<module>.<key>" per line
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "fuzz.h"

struct fuzz_slot fuzz_slots[FUZZ_SLOTS];
/* Held by a run and by attach and detach: a client never leaves mid-step. */
static DEFINE_MUTEX(fuzz_lock);
/*
 * What the debugfs files show, written under fuzz_lock and copied out
 * under report_lock alone: a reader (under seq_file's lock) never waits
 * for fuzz_lock, which a run holds while it reads batchpoke's sysfs files
 * (under theirs).
 */
static DEFINE_MUTEX(report_lock);
static char fuzz_result[1024] = "no run\n";
static char fuzz_expected[FUZZ_SLOTS * (FUZZ_BP_KEYS + FUZZ_SK_KEYS) * 64];

/* The keys the model says are registered, for `expected`; fuzz_lock held. */
static void fuzz_publish_expected(void)
{
	struct fuzz_ref ref;
	unsigned int key;
	char name[64];
	size_t len = 0;

	mutex_lock(&report_lock);
	fuzz_expected[0] = 0;
	for (ref.slot = 0; ref.slot < FUZZ_SLOTS; ref.slot++) {
		if (!fuzz_slots[ref.slot].client)
			continue;
		for (key = 0; key < FUZZ_BP_KEYS + FUZZ_SK_KEYS; key++) {
			ref.sk = key >= FUZZ_BP_KEYS;
			ref.index = ref.sk ? key - FUZZ_BP_KEYS : key;
			if (fuzz_key_of(ref)->registered && fuzz_full_name(ref, name, sizeof(name)) > 0)
				len += scnprintf(fuzz_expected + len, sizeof(fuzz_expected) - len,
						 "%s\n", name);
		}
	}
	mutex_unlock(&report_lock);
}

/* splitmix64: every step's draw follows from the seed alone. */
u64 fuzz_rand(struct fuzz_run *run)
{
	u64 z = (run->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int fuzz_full_name(struct fuzz_ref ref, char *buf, size_t size)
{
	struct fuzz_client *client = fuzz_slots[ref.slot].client;

	if (ref.sk)
		return snprintf(buf, size, "%s.%s", client->owner->name,
				client->sk_name[ref.index]);
	return snprintf(buf, size, "%s.%s", client->owner->name,
			client->bp[ref.index]->name);
}

int fuzz_fail(struct fuzz_run *run, const char *fmt, ...)
{
	va_list args;

	if (!run->failure[0]) {
		va_start(args, fmt);
		vsnprintf(run->failure, sizeof(run->failure), fmt, args);
		va_end(args);
		pr_err("batchpoke_fuzz: step %llu: %s\n", run->step, run->failure);
	}
	return -EINVAL;
}

int batchpoke_fuzz_attach(struct fuzz_client *client)
{
	struct fuzz_slot *slot;
	unsigned int i;
	int ret = -EBUSY;

	mutex_lock(&fuzz_lock);
	for (slot = fuzz_slots; slot < fuzz_slots + FUZZ_SLOTS; slot++) {
		if (slot->client)
			continue;
		memset(slot, 0, sizeof(*slot));
		slot->client = client;
		for (i = 0; i < FUZZ_BP_KEYS; i++) {
			slot->bp[i].state = READ_ONCE(client->bp[i]->enabled);
			slot->bp[i].sites = fuzz_count_sites(client, client->bp[i]);
		}
		for (i = 0; i < FUZZ_SK_KEYS; i++) {
			slot->sk[i].state = static_key_enabled(client->sk[i]);
			slot->sk[i].count = static_key_count(client->sk[i]);
			slot->sk[i].sites = fuzz_count_sites(client, client->sk[i]);
		}
		ret = 0;
		break;
	}
	fuzz_publish_expected();
	mutex_unlock(&fuzz_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(batchpoke_fuzz_attach);

void batchpoke_fuzz_detach(struct fuzz_client *client)
{
	struct fuzz_slot *slot;

	mutex_lock(&fuzz_lock);
	for (slot = fuzz_slots; slot < fuzz_slots + FUZZ_SLOTS; slot++)
		if (slot->client == client)
			slot->client = NULL;
	fuzz_publish_expected();
	mutex_unlock(&fuzz_lock);
}
EXPORT_SYMBOL_GPL(batchpoke_fuzz_detach);

static void fuzz_report(struct fuzz_run *run, u64 seed, u64 steps)
{
	size_t len;
	unsigned int e;

	len = scnprintf(fuzz_result, sizeof(fuzz_result), "seed %llu steps %llu/%llu %s%s\nreturned",
			seed, run->step, steps, run->failure[0] ? "FAIL " : "ok", run->failure);
	for (e = 0; e < ARRAY_SIZE(run->returned); e++)
		if (run->returned[e])
			len += scnprintf(fuzz_result + len, sizeof(fuzz_result) - len, " %u:%llu",
					 e, run->returned[e]);
	scnprintf(fuzz_result + len, sizeof(fuzz_result) - len, "\n");
}

static int fuzz_run(u64 seed, u64 steps)
{
	struct batchpoke_stats stats;
	struct fuzz_run *run;

	run = kzalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	run->rng = seed;
	mutex_lock(&fuzz_lock);
	batchpoke_read_stats(&stats);
	run->transactions = stats.transactions;
	run->sites_patched = stats.sites_patched;
	run->refused = stats.refused;
	if (!fuzz_check(run)) {
		while (run->step < steps) {
			run->step++;
			if (fuzz_step(run) || fuzz_check(run))
				break;
			cond_resched();
		}
	}
	mutex_lock(&report_lock);
	fuzz_report(run, seed, steps);
	mutex_unlock(&report_lock);
	fuzz_publish_expected();
	mutex_unlock(&fuzz_lock);
	kfree(run);
	return 0;
}

static ssize_t run_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char buf[64] = {};
	u64 seed, steps;
	int ret;

	if (count >= sizeof(buf))
		return -E2BIG;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	if (sscanf(buf, "%llu %llu", &seed, &steps) != 2)
		return -EINVAL;
	ret = fuzz_run(seed, steps);
	return ret ? ret : count;
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.write = run_write,
};

static int result_show(struct seq_file *m, void *unused)
{
	mutex_lock(&report_lock);
	seq_puts(m, fuzz_result);
	mutex_unlock(&report_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(result);

static int expected_show(struct seq_file *m, void *unused)
{
	mutex_lock(&report_lock);
	seq_puts(m, fuzz_expected);
	mutex_unlock(&report_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(expected);

static struct dentry *fuzz_dir;

static int __init fuzz_init(void)
{
	fuzz_dir = debugfs_create_dir("batchpoke_fuzz", NULL);
	debugfs_create_file("run", 0200, fuzz_dir, NULL, &run_fops);
	debugfs_create_file("result", 0400, fuzz_dir, NULL, &result_fops);
	debugfs_create_file("expected", 0400, fuzz_dir, NULL, &expected_fops);
	return 0;
}

static void __exit fuzz_exit(void)
{
	debugfs_remove(fuzz_dir);
}

module_init(fuzz_init);
module_exit(fuzz_exit);
MODULE_DESCRIPTION("batchpoke: model-based fuzzer of the client API");
MODULE_LICENSE("GPL");
