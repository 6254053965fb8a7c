// SPDX-License-Identifier: GPL-2.0
/*
 * The `static` variant of batchpoke_bench: the kernel path's ordinary
 * static keys (the twins in kernel_keys.c and workloads.c), registered
 * with batchpoke (batchpoke_register_static_keys()) and flipped through it,
 * all K keys of a flip in one batchpoke_apply_static() call. The `kernel`
 * variant flips the same keys with static_key_enable()/disable(); both
 * work on them, which is the point.
 *
 * Groups are numbered as bench_main.rs encodes them: 0-2 the grid's
 * 64-key groups (1, 16, 256 sites per key), 3-5 the workloads.
 */
#include <linux/errno.h>
#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sprintf.h>

#include <batchpoke.h>

#include "bench.h"

#define GRID_GROUPS 3
#define GROUPS (GRID_GROUPS + 3)
#define NAME_LEN sizeof("kbpf_stats_enabled")

static const char *const prefixes[GROUPS] = { "k1_", "k16_", "k256_", "kdd_", NULL, NULL };
static const char *const single_names[GROUPS] = {
	NULL, NULL, NULL, NULL, "kbpf_stats_enabled", "ksched_schedstats",
};

/* The ordinary static keys of group @code and how many there are. */
static struct static_key_false *twins(int code, unsigned int *count)
{
	if (code >= 0 && code < GRID_GROUPS) {
		*count = 64;
		return batchpoke_bench_kernel_keys(code);
	}
	return batchpoke_bench_workload_kernel_keys(code - GRID_GROUPS, count);
}

static size_t twins_total(void)
{
	unsigned int count;
	size_t total = 0;
	int code;

	for (code = 0; code < GROUPS; code++)
		if (twins(code, &count))
			total += count;
	return total;
}

static void for_each_twin(void (*f)(struct static_key *key, const char *name, void *data),
			  void *data)
{
	char name[NAME_LEN];
	unsigned int count, i;
	struct static_key_false *keys;
	int code;

	for (code = 0; code < GROUPS; code++) {
		keys = twins(code, &count);
		for (i = 0; keys && i < count; i++) {
			if (prefixes[code])
				snprintf(name, sizeof(name), "%s%u", prefixes[code], i);
			else
				strscpy(name, single_names[code], sizeof(name));
			f(&keys[i].key, name, data);
		}
	}
}

struct collect {
	struct batchpoke_static_key *descs;
	char (*names)[NAME_LEN];
	struct static_key **keys;
	size_t n;
};

static void collect_one(struct static_key *key, const char *name, void *data)
{
	struct collect *c = data;

	if (c->descs) {
		strscpy(c->names[c->n], name, NAME_LEN);
		c->descs[c->n] = (struct batchpoke_static_key){ .key = key, .name = c->names[c->n] };
	}
	if (c->keys)
		c->keys[c->n] = key;
	c->n++;
}

int batchpoke_bench_twins_register(struct module *owner)
{
	size_t total = twins_total();
	struct collect c = {
		.descs = kvcalloc(total, sizeof(*c.descs), GFP_KERNEL),
		.names = kvcalloc(total, NAME_LEN, GFP_KERNEL),
	};
	int ret = -ENOMEM;

	if (c.descs && c.names) {
		for_each_twin(collect_one, &c);
		/* batchpoke copies the names. */
		ret = batchpoke_register_static_keys(owner, c.descs, c.n);
	}
	kvfree(c.descs);
	kvfree(c.names);
	return ret;
}

void batchpoke_bench_twins_unregister(struct module *owner)
{
	struct collect c = {
		.keys = kvcalloc(twins_total(), sizeof(*c.keys), GFP_KERNEL),
	};

	/* Without memory, batchpoke's module notifier unregisters them at unload. */
	if (!c.keys)
		return;
	for_each_twin(collect_one, &c);
	batchpoke_unregister_static_keys(owner, c.keys, c.n);
	kvfree(c.keys);
}

int batchpoke_bench_twins_apply(int code, int keys, bool enable)
{
	struct batchpoke_static_change *changes;
	struct static_key_false *twin;
	unsigned int count;
	int i, ret;

	twin = twins(code, &count);
	if (!twin || keys < 1 || keys > count)
		return -EINVAL;
	changes = kvcalloc(keys, sizeof(*changes), GFP_KERNEL);
	if (!changes)
		return -ENOMEM;
	for (i = 0; i < keys; i++)
		changes[i] = (struct batchpoke_static_change){ .key = &twin[i].key, .enable = enable };
	ret = batchpoke_apply_static(changes, keys, 0, NULL);
	kvfree(changes);
	return ret;
}
