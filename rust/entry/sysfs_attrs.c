// SPDX-License-Identifier: GPL-2.0
/*
 * The sysfs attribute tables of /sys/kernel/batchpoke. The tables are C
 * because __ATTR() hides how struct kobj_attribute differs between kernel
 * versions; every show/store callback is Rust (rust/entry/sysfs_callbacks.rs).
 */
#include <linux/kobject.h>
#include <linux/sysfs.h>

#include "../machine/helpers.h"

#define BATCHPOKE_SHOW(name) \
	ssize_t batchpoke_##name##_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
#define BATCHPOKE_STORE(name) \
	ssize_t batchpoke_##name##_store(struct kobject *kobj, struct kobj_attribute *attr, \
					 const char *buf, size_t count)

BATCHPOKE_SHOW(stats);
BATCHPOKE_SHOW(strategy);
BATCHPOKE_STORE(strategy);
BATCHPOKE_STORE(transaction);
BATCHPOKE_SHOW(enabled);
BATCHPOKE_STORE(enabled);
BATCHPOKE_SHOW(sites);
BATCHPOKE_SHOW(owner);

static struct kobj_attribute stats_attr = __ATTR(stats, 0444, batchpoke_stats_show, NULL);
static struct kobj_attribute strategy_attr =
	__ATTR(strategy, 0644, batchpoke_strategy_show, batchpoke_strategy_store);
static struct kobj_attribute transaction_attr =
	__ATTR(transaction, 0200, NULL, batchpoke_transaction_store);

static struct attribute *root_attrs[] = {
	&stats_attr.attr,
	&strategy_attr.attr,
	&transaction_attr.attr,
	NULL,
};

const struct attribute_group batchpoke_root_group = {
	.attrs = root_attrs,
};

static struct kobj_attribute enabled_attr =
	__ATTR(enabled, 0644, batchpoke_enabled_show, batchpoke_enabled_store);
static struct kobj_attribute sites_attr = __ATTR(sites, 0444, batchpoke_sites_show, NULL);
static struct kobj_attribute owner_attr = __ATTR(owner, 0444, batchpoke_owner_show, NULL);

static struct attribute *key_attrs[] = {
	&enabled_attr.attr,
	&sites_attr.attr,
	&owner_attr.attr,
	NULL,
};

const struct attribute_group batchpoke_key_group = {
	.attrs = key_attrs,
};
