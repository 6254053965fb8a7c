// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_skeys: ordinary static keys of a C module, flipped in batches
 * by batchpoke (batchpoke.h alone) and by the kernel's own API alike.
 *
 * 64 keys sk00..sk77 (DEFINE_STATIC_KEY_FALSE; two octal digits, so key
 * 9 is sk11), four sites each: two in
 * the unlikely form, two in the likely form, one of them behind a long
 * fall-through path so that its jump needs five bytes where the others
 * fit in two. A 65th key, skshared, is exported: batchpoke_skeys_user
 * branches on it too, which makes it a key other modules use.
 * /sys/kernel/batchpoke_skeys/:
 *
 *   state   "sites <65 chars>" and "enabled <65 chars>", one char per key
 *           (sk00..sk77, skshared): what the key's sites execute when the
 *           file is read ('0', '1', or 'x' if they disagree), and
 *           static_key_enabled(). The executed code is the oracle.
 *   apply   up to 65 chars of '0', '1' or '-' (leave the key out), one
 *           per key as above, set in one batchpoke_apply_static() call;
 *           "serial " first for BATCHPOKE_APPLY_SERIAL. The write fails
 *           with batchpoke's error.
 *   report  "<sites> <rounds>" of the last successful apply.
 *   kernel  "enable N", "disable N", "inc N" or "dec N": the kernel's
 *           static_key_enable(), static_key_disable(), static_key_slow_inc()
 *           or static_key_slow_dec() on key N (64: skshared).
 *   race    batchpoke's batches and the kernel's patching of the same
 *           sites with a reader on every CPU (race.c).
 */
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include <batchpoke.h>

#include "skeys.h"

#define NKEYS 64
#define NALL (NKEYS + 1)

DEFINE_STATIC_KEY_FALSE(skshared);
EXPORT_SYMBOL_GPL(skshared);

/* A fall-through path too long for a 2-byte jump over it. */
#define LONG_PATH() asm volatile(".skip 160, 0x90")

#define DEFINE_SKEY(n)								\
	static DEFINE_STATIC_KEY_FALSE(sk##n);					\
	static noinline void probe_sk##n(u8 *sites)				\
	{									\
		sites[0] = static_branch_unlikely(&sk##n);			\
		if (static_branch_unlikely(&sk##n)) {				\
			sites[1] = 1;						\
		} else {							\
			LONG_PATH();						\
			sites[1] = 0;						\
		}								\
		sites[2] = static_branch_likely(&sk##n);			\
		sites[3] = static_branch_likely(&sk##n);			\
	}

#define DEFINE_SKEY8(h)								\
	DEFINE_SKEY(h##0) DEFINE_SKEY(h##1) DEFINE_SKEY(h##2) DEFINE_SKEY(h##3)	\
	DEFINE_SKEY(h##4) DEFINE_SKEY(h##5) DEFINE_SKEY(h##6) DEFINE_SKEY(h##7)
DEFINE_SKEY8(0)
DEFINE_SKEY8(1)
DEFINE_SKEY8(2)
DEFINE_SKEY8(3)
DEFINE_SKEY8(4)
DEFINE_SKEY8(5)
DEFINE_SKEY8(6)
DEFINE_SKEY8(7)

static noinline void probe_skshared(u8 *sites)
{
	sites[0] = static_branch_unlikely(&skshared);
	sites[1] = sites[0];
	sites[2] = sites[0];
	sites[3] = sites[0];
}

struct skey {
	struct static_key *key;
	void (*probe)(u8 *sites);
};

#define SKEY(n) { &sk##n.key, probe_sk##n }
#define SKEY8(h) SKEY(h##0), SKEY(h##1), SKEY(h##2), SKEY(h##3),		\
		 SKEY(h##4), SKEY(h##5), SKEY(h##6), SKEY(h##7)
static const struct skey skeys[NALL] = {
	SKEY8(0), SKEY8(1), SKEY8(2), SKEY8(3), SKEY8(4), SKEY8(5), SKEY8(6), SKEY8(7),
	{ &skshared.key, probe_skshared },
};

#define REG(n) BATCHPOKE_STATIC_KEY(sk##n)
#define REG8(h) REG(h##0), REG(h##1), REG(h##2), REG(h##3),			\
		REG(h##4), REG(h##5), REG(h##6), REG(h##7)
static const struct batchpoke_static_key registration[NALL] = {
	REG8(0), REG8(1), REG8(2), REG8(3), REG8(4), REG8(5), REG8(6), REG8(7),
	BATCHPOKE_STATIC_KEY(skshared),
};

struct static_key *skeys_key(unsigned int n)
{
	return skeys[n].key;
}

void skeys_probe(unsigned int n, u8 *sites)
{
	skeys[n].probe(sites);
}

static struct batchpoke_report last_report;

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	char sites[NALL + 1], enabled[NALL + 1];
	u8 ran[4];
	int i;

	for (i = 0; i < NALL; i++) {
		skeys[i].probe(ran);
		if (ran[0] == ran[1] && ran[1] == ran[2] && ran[2] == ran[3])
			sites[i] = ran[0] ? '1' : '0';
		else
			sites[i] = 'x';
		enabled[i] = static_key_enabled(skeys[i].key) ? '1' : '0';
	}
	sites[NALL] = '\0';
	enabled[NALL] = '\0';
	return sysfs_emit(buf, "sites %s\nenabled %s\n", sites, enabled);
}

static ssize_t apply_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			   size_t count)
{
	struct batchpoke_static_change *changes;
	struct batchpoke_report report;
	const char *chars = strim((char *)buf);
	size_t i, n = 0;
	u32 flags = 0;
	int ret;

	if (str_has_prefix(chars, "serial")) {
		flags = BATCHPOKE_APPLY_SERIAL;
		chars = skip_spaces(chars + strlen("serial"));
	}
	if (strlen(chars) > NALL)
		return -EINVAL;
	/* 65 changes are too big for the stack. */
	changes = kcalloc(NALL, sizeof(*changes), GFP_KERNEL);
	if (!changes)
		return -ENOMEM;
	for (i = 0; chars[i]; i++) {
		if (chars[i] == '-')
			continue;
		if (chars[i] != '0' && chars[i] != '1') {
			kfree(changes);
			return -EINVAL;
		}
		changes[n++] = (struct batchpoke_static_change){
			.key = skeys[i].key, .enable = chars[i] == '1',
		};
	}
	ret = batchpoke_apply_static(changes, n, flags, &report);
	kfree(changes);
	if (ret)
		return ret;
	last_report = report;
	return count;
}

static ssize_t report_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu %llu\n", last_report.sites, last_report.rounds);
}

static ssize_t kernel_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			    size_t count)
{
	char op[8];
	unsigned int n;
	struct static_key *key;

	if (sscanf(buf, "%7s %u", op, &n) != 2 || n >= NALL)
		return -EINVAL;
	key = skeys[n].key;
	if (!strcmp(op, "enable"))
		static_key_enable(key);
	else if (!strcmp(op, "disable"))
		static_key_disable(key);
	else if (!strcmp(op, "inc"))
		static_key_slow_inc(key);
	else if (!strcmp(op, "dec"))
		static_key_slow_dec(key);
	else
		return -EINVAL;
	return count;
}

static struct kobj_attribute state_attr = __ATTR_RO(state);
static struct kobj_attribute apply_attr = __ATTR_WO(apply);
static struct kobj_attribute report_attr = __ATTR_RO(report);
static struct kobj_attribute kernel_attr = __ATTR_WO(kernel);

static struct attribute *skeys_attrs[] = {
	&state_attr.attr, &apply_attr.attr, &report_attr.attr, &kernel_attr.attr,
	&skeys_race_attr.attr, NULL,
};

static const struct attribute_group skeys_group = {
	.attrs = skeys_attrs,
};

static struct kobject *skeys_kobj;

static void skeys_unregister(void)
{
	struct static_key *keys[NALL];
	int i;

	for (i = 0; i < NALL; i++)
		keys[i] = skeys[i].key;
	batchpoke_unregister_static_keys(THIS_MODULE, keys, NALL);
}

static int __init skeys_init(void)
{
	int ret;

	ret = batchpoke_register_static_keys(THIS_MODULE, registration, NALL);
	if (ret)
		return ret;
	skeys_kobj = kobject_create_and_add("batchpoke_skeys", kernel_kobj);
	if (!skeys_kobj) {
		ret = -ENOMEM;
		goto unregister;
	}
	ret = sysfs_create_group(skeys_kobj, &skeys_group);
	if (ret)
		goto put;
	return 0;
put:
	kobject_put(skeys_kobj);
unregister:
	skeys_unregister();
	return ret;
}

static void __exit skeys_exit(void)
{
	/* Removing the files waits for running callbacks. */
	kobject_put(skeys_kobj);
	skeys_unregister();
}

module_init(skeys_init);
module_exit(skeys_exit);
MODULE_DESCRIPTION("batchpoke sample: ordinary static keys of a C module, flipped in batches");
MODULE_LICENSE("GPL");
