// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_cclient: a client of batchpoke written in C against its header
 * (batchpoke.h) alone.
 *
 * Eight keys c0..c7 (even ones initially disabled, odd ones enabled), each
 * with an unlikely-form and a likely-form site, and a key "wide" with 64
 * sites. /sys/kernel/batchpoke_cclient/:
 *
 *   sites   one line per key: "<key> <state> <what its sites execute>";
 *           c0..c7 show their two sites (unlikely, likely) as 0/1, "wide"
 *           how many of its 64 sites execute "enabled". The sites run when
 *           the file is read: the executed code is the oracle.
 *   apply   write nine 0/1 digits (c0..c7, wide) to set every key in one
 *           batchpoke_apply() call, "serial" + digits for
 *           BATCHPOKE_APPLY_SERIAL, or "dup" to name c0 twice (refused);
 *           the write fails with batchpoke's error.
 *   report  "<sites> <rounds>" of the last successful apply.
 *   stats   batchpoke_read_stats()'s "transactions sync_rounds".
 *   kernel  "enable N", "disable N", "inc N" or "dec N": a client mistake,
 *           the kernel's static_key_enable(), static_key_disable(),
 *           static_key_slow_inc() or static_key_slow_dec() on the
 *           struct static_key inside key N (0..8); batchpoke makes them
 *           patch nothing.
 */
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include <batchpoke.h>

DEFINE_BATCHPOKE_KEY_FALSE(c0, "c0");
DEFINE_BATCHPOKE_KEY_TRUE(c1, "c1");
DEFINE_BATCHPOKE_KEY_FALSE(c2, "c2");
DEFINE_BATCHPOKE_KEY_TRUE(c3, "c3");
DEFINE_BATCHPOKE_KEY_FALSE(c4, "c4");
DEFINE_BATCHPOKE_KEY_TRUE(c5, "c5");
DEFINE_BATCHPOKE_KEY_FALSE(c6, "c6");
DEFINE_BATCHPOKE_KEY_TRUE(c7, "c7");
DEFINE_BATCHPOKE_KEY_FALSE(wide, "wide");

#define NKEYS 9

static struct batchpoke_key *const keys[NKEYS] = { &c0, &c1, &c2, &c3, &c4, &c5, &c6, &c7, &wide };

/* Each probe runs the sites of one key and says what they executed. */
#define DEFINE_PROBE(var)						\
	static noinline void probe_##var(bool *unlikely, bool *likely)	\
	{								\
		*unlikely = batchpoke_branch_unlikely(var);		\
		*likely = batchpoke_branch_likely(var);			\
	}
DEFINE_PROBE(c0)
DEFINE_PROBE(c1)
DEFINE_PROBE(c2)
DEFINE_PROBE(c3)
DEFINE_PROBE(c4)
DEFINE_PROBE(c5)
DEFINE_PROBE(c6)
DEFINE_PROBE(c7)

static void (*const probes[NKEYS - 1])(bool *, bool *) = {
	probe_c0, probe_c1, probe_c2, probe_c3, probe_c4, probe_c5, probe_c6, probe_c7,
};

#define WIDE1 (n += batchpoke_branch_unlikely(wide))
#define WIDE4 do { WIDE1; WIDE1; WIDE1; WIDE1; } while (0)
#define WIDE16 do { WIDE4; WIDE4; WIDE4; WIDE4; } while (0)

/* How many of the 64 sites of "wide" execute "enabled". */
static noinline unsigned int probe_wide(void)
{
	unsigned int n = 0;

	WIDE16;
	WIDE16;
	WIDE16;
	WIDE16;
	return n;
}

static struct batchpoke_report last_report;

static ssize_t sites_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	ssize_t len = 0;
	bool unlikely, likely;
	int i;

	for (i = 0; i < NKEYS - 1; i++) {
		probes[i](&unlikely, &likely);
		len += sysfs_emit_at(buf, len, "%s %d %d %d\n", keys[i]->name,
				     batchpoke_key_enabled(keys[i]), unlikely, likely);
	}
	len += sysfs_emit_at(buf, len, "%s %d %u\n", wide.name, batchpoke_key_enabled(&wide),
			     probe_wide());
	return len;
}

static ssize_t apply_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			   size_t count)
{
	struct batchpoke_change changes[NKEYS];
	struct batchpoke_report report;
	const char *digits = strim((char *)buf);
	u32 flags = 0;
	int i, ret;

	if (!strcmp(digits, "dup")) {
		changes[0] = (struct batchpoke_change){ .key = &c0, .enable = true };
		changes[1] = (struct batchpoke_change){ .key = &c0, .enable = false };
		ret = batchpoke_apply(changes, 2, 0, NULL);
		return ret ? ret : -EPROTO;
	}
	if (str_has_prefix(digits, "serial")) {
		flags = BATCHPOKE_APPLY_SERIAL;
		digits = skip_spaces(digits + strlen("serial"));
	}
	if (strlen(digits) != NKEYS)
		return -EINVAL;
	for (i = 0; i < NKEYS; i++) {
		if (digits[i] != '0' && digits[i] != '1')
			return -EINVAL;
		changes[i] = (struct batchpoke_change){ .key = keys[i], .enable = digits[i] == '1' };
	}
	ret = batchpoke_apply(changes, NKEYS, flags, &report);
	if (ret)
		return ret;
	last_report = report;
	return count;
}

static ssize_t report_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu %llu\n", last_report.sites, last_report.rounds);
}

static ssize_t stats_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct batchpoke_stats stats = {};

	batchpoke_read_stats(&stats);
	return sysfs_emit(buf, "%llu %llu\n", stats.transactions, stats.sync_rounds);
}

static ssize_t kernel_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			    size_t count)
{
	struct static_key *raw;
	unsigned int n;
	char op[8];

	if (sscanf(buf, "%7s %u", op, &n) != 2 || n >= NKEYS)
		return -EINVAL;
	raw = &keys[n]->raw;
	if (!strcmp(op, "enable"))
		static_key_enable(raw);
	else if (!strcmp(op, "disable"))
		static_key_disable(raw);
	else if (!strcmp(op, "inc"))
		static_key_slow_inc(raw);
	else if (!strcmp(op, "dec"))
		static_key_slow_dec(raw);
	else
		return -EINVAL;
	return count;
}

static struct kobj_attribute sites_attr = __ATTR_RO(sites);
static struct kobj_attribute apply_attr = __ATTR_WO(apply);
static struct kobj_attribute report_attr = __ATTR_RO(report);
static struct kobj_attribute stats_attr = __ATTR_RO(stats);
static struct kobj_attribute kernel_attr = __ATTR_WO(kernel);

static struct attribute *cclient_attrs[] = {
	&sites_attr.attr, &apply_attr.attr, &report_attr.attr, &stats_attr.attr,
	&kernel_attr.attr, NULL,
};

static const struct attribute_group cclient_group = {
	.attrs = cclient_attrs,
};

static struct kobject *cclient_kobj;

static int __init cclient_init(void)
{
	int ret;

	ret = batchpoke_register_keys(THIS_MODULE, (const struct batchpoke_key *const *)keys,
				      NKEYS);
	if (ret)
		return ret;
	cclient_kobj = kobject_create_and_add("batchpoke_cclient", kernel_kobj);
	if (!cclient_kobj) {
		ret = -ENOMEM;
		goto unregister;
	}
	ret = sysfs_create_group(cclient_kobj, &cclient_group);
	if (ret)
		goto put;
	return 0;
put:
	kobject_put(cclient_kobj);
unregister:
	batchpoke_unregister_keys(THIS_MODULE, (const struct batchpoke_key *const *)keys, NKEYS);
	return ret;
}

static void __exit cclient_exit(void)
{
	/* Removing the files waits for running callbacks. */
	kobject_put(cclient_kobj);
	batchpoke_unregister_keys(THIS_MODULE, (const struct batchpoke_key *const *)keys, NKEYS);
}

module_init(cclient_init);
module_exit(cclient_exit);
MODULE_DESCRIPTION("batchpoke sample: a C client using only batchpoke.h");
MODULE_LICENSE("GPL");
