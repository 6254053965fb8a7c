// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_mistakes: a C client (batchpoke.h alone) that makes, on
 * request, the mistakes real client code makes, so that the selftest
 * (scripts/selftest/mistakes.sh) can check that batchpoke refuses each one
 * with its documented error and changes nothing.
 *
 * At load it registers three keys it keeps: the batchpoke keys "going"
 * and "shared_bp" and the ordinary static key "going_sk" (one site each),
 * and tries to register, from init, keys that must be refused; what each
 * call returned is a read-only parameter (/sys/module/batchpoke_mistakes/parameters/;
 * misplace=0 skips these calls):
 *
 *   ro_sk_ret      DEFINE_STATIC_KEY_FALSE_RO() (__ro_after_init)
 *   ro_bp_ret      a batchpoke key in __ro_after_init
 *   initdata_sk_ret  an ordinary static key in __initdata
 *   initdata_bp_ret  a batchpoke key in __initdata
 *
 * /sys/kernel/batchpoke_mistakes/:
 *
 *   mistake    write a case name to make that mistake (see `cases` below);
 *              the write succeeds whatever batchpoke returned
 *   result     "<case> <return value>" of the last case
 *   hold_exit  write 1: the module's exit function waits (at most 30 s)
 *              for a write to `release` before it does anything, so that
 *              the selftest can act while the module is going away
 *   release    write anything: let a held exit function go on
 *
 * The exit function, once released, flips "going" itself with
 * batchpoke_apply() (an owner's own flip while it is going away is
 * allowed) and logs "batchpoke_mistakes: exit apply <ret>", then
 * unregisters its keys.
 */
#include <linux/completion.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include <batchpoke.h>

/* A count no call may pass: 2^19, far above BATCHPOKE_MAX_KEYS. */
#define HUGE_COUNT (1U << 19)

/* --- the keys this module keeps registered ---------------------------- */
DEFINE_BATCHPOKE_KEY_FALSE(going, "going");
static DEFINE_STATIC_KEY_FALSE(going_sk);

static noinline int probe_going(void)
{
	return batchpoke_branch_unlikely(going) + 2 * static_branch_unlikely(&going_sk);
}

/*
 * One site with two __jump_table records: one of the batchpoke key
 * shared_bp, as batchpoke_branch_unlikely() emits it, and one of the
 * ordinary static key shared_sk. shared_bp is registered at load, so the
 * site holds batchpoke's test form, which no ordinary static key's site
 * may hold: registering shared_sk must be refused (case
 * static_on_batchpoke_site).
 */
DEFINE_BATCHPOKE_KEY_FALSE(shared_bp, "shared_bp");
static DEFINE_STATIC_KEY_FALSE(shared_sk);

static noinline int probe_shared(void)
{
	asm goto("1:\n\t"
		 ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
		 ".pushsection __jump_table, \"aw\"\n\t"
		 ".balign 8\n\t"
		 ".long 1b - .\n\t"
		 ".long %l[l_yes] - .\n\t"
		 ".quad %c0 - .\n\t"
		 ".long 1b - .\n\t"
		 ".long %l[l_yes] - .\n\t"
		 ".quad %c1 - .\n\t"
		 ".popsection\n\t"
		 : : "i" (&shared_bp), "i" (&shared_sk) : : l_yes);
	return 0;
l_yes:
	return 1;
}

/*
 * Two short sites (66 90, the two-byte NOP objtool leaves where a jump
 * reaches in a rel8) whose records give a jump target 200 bytes on, which
 * no rel8 reaches: neither could ever be flipped, and the kernel's own
 * static_key_enable() would BUG building the jump. One is far_bp's, one
 * far_sk's; registering either must be refused (cases
 * short_site_far_target and static_short_site_far_target). The target is
 * the end of the padding: the sites are never patched to jump.
 */
DEFINE_BATCHPOKE_KEY_FALSE(far_bp, "far_bp");
static DEFINE_STATIC_KEY_FALSE(far_sk);

static noinline int probe_far(void)
{
	asm volatile("1:\n\t"
		     ".byte 0x66, 0x90\n\t"
		     "2:\n\t"
		     ".byte 0x66, 0x90\n\t"
		     ".skip 200, 0x90\n\t"
		     "3:\n\t"
		     ".pushsection __jump_table, \"aw\"\n\t"
		     ".balign 8\n\t"
		     ".long 1b - .\n\t"
		     ".long 3b - .\n\t"
		     ".quad %c0 - .\n\t"
		     ".long 2b - .\n\t"
		     ".long 3b - .\n\t"
		     ".quad %c1 - .\n\t"
		     ".popsection\n\t"
		     : : "i" (&far_bp), "i" (&far_sk));
	return 0;
}

/* --- keys in the wrong memory, registered from init ------------------- */
static DEFINE_STATIC_KEY_FALSE_RO(ro_sk);
static struct batchpoke_key ro_bp __ro_after_init = { .name = "ro_bp" };
static struct static_key_false initdata_sk __initdata = STATIC_KEY_FALSE_INIT;
static struct batchpoke_key initdata_bp __initdata = { .name = "initdata_bp" };

/* A site of ro_sk in core text, as real users of _RO keys have. */
static noinline int probe_ro(void)
{
	return static_branch_unlikely(&ro_sk);
}

static bool misplace = true;
module_param(misplace, bool, 0444);
MODULE_PARM_DESC(misplace, "register keys in the wrong memory from init (default)");

static int ro_sk_ret = 1;
module_param(ro_sk_ret, int, 0444);
MODULE_PARM_DESC(ro_sk_ret, "registering a __ro_after_init static key from init returned");
static int ro_bp_ret = 1;
module_param(ro_bp_ret, int, 0444);
MODULE_PARM_DESC(ro_bp_ret, "registering a __ro_after_init batchpoke key from init returned");
static int initdata_sk_ret = 1;
module_param(initdata_sk_ret, int, 0444);
MODULE_PARM_DESC(initdata_sk_ret, "registering an __initdata static key from init returned");
static int initdata_bp_ret = 1;
module_param(initdata_bp_ret, int, 0444);
MODULE_PARM_DESC(initdata_bp_ret, "registering an __initdata batchpoke key from init returned");

/* --- keys for the cases ------------------------------------------------- */
static struct batchpoke_key null_name_key;		/* zero-initialised: name NULL */
DEFINE_BATCHPOKE_KEY_FALSE(empty_name_key, "");
static const struct batchpoke_key const_key = { .name = "const_key" };
DEFINE_BATCHPOKE_KEY_FALSE(raw_key, "raw_key");
static DEFINE_STATIC_KEY_FALSE(sk_a);
static DEFINE_STATIC_KEY_FALSE(sk_b);

static int register_bp(const struct batchpoke_key *key)
{
	const struct batchpoke_key *const keys[] = { key };

	return batchpoke_register_keys(THIS_MODULE, keys, 1);
}

static void unregister_bp(const struct batchpoke_key *key)
{
	const struct batchpoke_key *const keys[] = { key };

	batchpoke_unregister_keys(THIS_MODULE, keys, 1);
}

static int register_sk(struct static_key *key, const char *name)
{
	const struct batchpoke_static_key keys[] = { { .key = key, .name = name } };

	return batchpoke_register_static_keys(THIS_MODULE, keys, 1);
}

static void unregister_sk(struct static_key *key)
{
	struct static_key *const keys[] = { key };

	batchpoke_unregister_static_keys(THIS_MODULE, keys, 1);
}

/*
 * Each case returns what batchpoke returned for the mistake. A call that
 * should have been refused but was not is undone, so that nothing stays
 * registered; a setup call that fails returns 1000 + its error.
 */
static int case_null_name(void)
{
	int ret = register_bp(&null_name_key);

	if (!ret)
		unregister_bp(&null_name_key);
	return ret;
}

static int case_static_null_name(void)
{
	int ret = register_sk(&sk_a.key, NULL);

	if (!ret)
		unregister_sk(&sk_a.key);
	return ret;
}

static int case_empty_name(void)
{
	int ret = register_bp(&empty_name_key);

	if (!ret)
		unregister_bp(&empty_name_key);
	return ret;
}

static int case_static_empty_name(void)
{
	int ret = register_sk(&sk_a.key, "");

	if (!ret)
		unregister_sk(&sk_a.key);
	return ret;
}

static int case_const_key(void)
{
	int ret = register_bp(&const_key);

	if (!ret)
		unregister_bp(&const_key);
	return ret;
}

/* One struct static_key under two names in one call. */
static int case_static_twice(void)
{
	const struct batchpoke_static_key keys[] = {
		{ .key = &sk_a.key, .name = "sk_a" },
		{ .key = &sk_a.key, .name = "sk_a_alias" },
	};
	int ret = batchpoke_register_static_keys(THIS_MODULE, keys, 2);

	if (!ret)
		unregister_sk(&sk_a.key);
	return ret;
}

/* One struct static_key registered again, under another name, later. */
static int case_static_again(void)
{
	int ret = register_sk(&sk_b.key, "sk_b");

	if (ret)
		return 1000 - ret;
	ret = register_sk(&sk_b.key, "sk_b_again");
	/* Either way, one call unregisters every entry of the key. */
	unregister_sk(&sk_b.key);
	return ret;
}

/* The same batchpoke key twice in one call, and again in a second call. */
static int case_bp_twice(void)
{
	const struct batchpoke_key *const keys[] = { &raw_key, &raw_key };
	int ret = batchpoke_register_keys(THIS_MODULE, keys, 2);

	if (!ret)
		unregister_bp(&raw_key);
	return ret;
}

static int case_bp_again(void)
{
	int ret = register_bp(&raw_key);

	if (ret)
		return 1000 - ret;
	ret = register_bp(&raw_key);
	unregister_bp(&raw_key);
	return ret;
}

/* A batchpoke key's raw static_key registered as an ordinary static key. */
static int case_raw_as_static(void)
{
	int ret = register_bp(&raw_key);

	if (ret)
		return 1000 - ret;
	ret = register_sk(&raw_key.raw, "raw_key_raw");
	if (!ret)
		unregister_sk(&raw_key.raw);
	unregister_bp(&raw_key);
	return ret;
}

/* Counts of 2^19 with valid arrays: refused before anything is allocated. */
static int case_huge_register(void)
{
	const struct batchpoke_key **keys;
	unsigned int i;
	int ret;

	keys = kvmalloc_array(HUGE_COUNT, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return 1000 + ENOMEM;
	for (i = 0; i < HUGE_COUNT; i++)
		keys[i] = &raw_key;
	ret = batchpoke_register_keys(THIS_MODULE, keys, HUGE_COUNT);
	if (!ret)
		unregister_bp(&raw_key);
	kvfree(keys);
	return ret;
}

static int case_huge_register_static(void)
{
	struct batchpoke_static_key *keys;
	unsigned int i;
	int ret;

	keys = kvmalloc_array(HUGE_COUNT, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return 1000 + ENOMEM;
	for (i = 0; i < HUGE_COUNT; i++)
		keys[i] = (struct batchpoke_static_key){ .key = &sk_a.key, .name = "sk_a" };
	ret = batchpoke_register_static_keys(THIS_MODULE, keys, HUGE_COUNT);
	if (!ret)
		unregister_sk(&sk_a.key);
	kvfree(keys);
	return ret;
}

static int case_huge_apply(void)
{
	struct batchpoke_change *changes;
	unsigned int i;
	int ret;

	changes = kvmalloc_array(HUGE_COUNT, sizeof(*changes), GFP_KERNEL);
	if (!changes)
		return 1000 + ENOMEM;
	for (i = 0; i < HUGE_COUNT; i++)
		changes[i] = (struct batchpoke_change){ .key = &going, .enable = false };
	ret = batchpoke_apply(changes, HUGE_COUNT, 0, NULL);
	kvfree(changes);
	return ret;
}

static int case_huge_apply_static(void)
{
	struct batchpoke_static_change *changes;
	unsigned int i;
	int ret;

	changes = kvmalloc_array(HUGE_COUNT, sizeof(*changes), GFP_KERNEL);
	if (!changes)
		return 1000 + ENOMEM;
	for (i = 0; i < HUGE_COUNT; i++)
		changes[i] = (struct batchpoke_static_change){ .key = &going_sk.key, .enable = false };
	ret = batchpoke_apply_static(changes, HUGE_COUNT, 0, NULL);
	kvfree(changes);
	return ret;
}

static int case_short_site_far_target(void)
{
	int ret = register_bp(&far_bp);

	if (!ret)
		unregister_bp(&far_bp);
	return ret;
}

static int case_static_short_site_far_target(void)
{
	int ret = register_sk(&far_sk.key, "far_sk");

	if (!ret)
		unregister_sk(&far_sk.key);
	return ret;
}

static int case_static_on_batchpoke_site(void)
{
	int ret = register_sk(&shared_sk.key, "shared_sk");

	if (!ret)
		unregister_sk(&shared_sk.key);
	return ret;
}

static const struct {
	const char *name;
	int (*run)(void);
} cases[] = {
	{ "null_name", case_null_name },
	{ "static_null_name", case_static_null_name },
	{ "empty_name", case_empty_name },
	{ "static_empty_name", case_static_empty_name },
	{ "const_key", case_const_key },
	{ "static_twice", case_static_twice },
	{ "static_again", case_static_again },
	{ "bp_twice", case_bp_twice },
	{ "bp_again", case_bp_again },
	{ "raw_as_static", case_raw_as_static },
	{ "static_on_batchpoke_site", case_static_on_batchpoke_site },
	{ "short_site_far_target", case_short_site_far_target },
	{ "static_short_site_far_target", case_static_short_site_far_target },
	{ "huge_register", case_huge_register },
	{ "huge_register_static", case_huge_register_static },
	{ "huge_apply", case_huge_apply },
	{ "huge_apply_static", case_huge_apply_static },
};

static DEFINE_MUTEX(result_lock);
static char result[64] = "none 0\n";

static ssize_t mistake_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			size_t count)
{
	char name[32];
	size_t i;
	int ret;

	if (sscanf(buf, "%31s", name) != 1)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (strcmp(name, cases[i].name))
			continue;
		mutex_lock(&result_lock);
		ret = cases[i].run();
		snprintf(result, sizeof(result), "%s %d\n", name, ret);
		mutex_unlock(&result_lock);
		return count;
	}
	return -EINVAL;
}

static ssize_t result_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	ssize_t len;

	mutex_lock(&result_lock);
	len = sysfs_emit(buf, "%s", result);
	mutex_unlock(&result_lock);
	return len;
}

static bool hold_exit;
static DECLARE_COMPLETION(released);

static ssize_t hold_exit_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(hold_exit));
}

static ssize_t hold_exit_store(struct kobject *kobj, struct kobj_attribute *attr,
			       const char *buf, size_t count)
{
	bool hold;
	int ret = kstrtobool(buf, &hold);

	if (ret)
		return ret;
	WRITE_ONCE(hold_exit, hold);
	return count;
}

static ssize_t release_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			     size_t count)
{
	complete(&released);
	return count;
}

static ssize_t probe_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d %d %d %d\n", probe_going(), probe_ro(), probe_shared(),
			  probe_far());
}

static struct kobj_attribute mistake_attr = __ATTR_WO(mistake);
static struct kobj_attribute result_attr = __ATTR_RO(result);
static struct kobj_attribute hold_exit_attr = __ATTR_RW(hold_exit);
static struct kobj_attribute release_attr = __ATTR_WO(release);
static struct kobj_attribute probe_attr = __ATTR_RO(probe);

static struct attribute *mistakes_attrs[] = {
	&mistake_attr.attr, &result_attr.attr, &hold_exit_attr.attr, &release_attr.attr,
	&probe_attr.attr, NULL,
};

static const struct attribute_group mistakes_group = {
	.attrs = mistakes_attrs,
};

static struct kobject *mistakes_kobj;

static const struct batchpoke_key *const kept_keys[] = { &going, &shared_bp };
static struct static_key *const kept_static_keys[] = { &going_sk.key };

/* Registers a key in the wrong memory; undoes a registration that was not refused. */
static void __init register_misplaced(void)
{
	const struct batchpoke_static_key ro[] = { { .key = &ro_sk.key, .name = "ro_sk" } };
	const struct batchpoke_static_key initdata[] = {
		{ .key = &initdata_sk.key, .name = "initdata_sk" },
	};

	ro_sk_ret = batchpoke_register_static_keys(THIS_MODULE, ro, 1);
	if (!ro_sk_ret)
		unregister_sk(&ro_sk.key);
	ro_bp_ret = register_bp(&ro_bp);
	if (!ro_bp_ret)
		unregister_bp(&ro_bp);
	initdata_sk_ret = batchpoke_register_static_keys(THIS_MODULE, initdata, 1);
	initdata_bp_ret = register_bp(&initdata_bp);
	/*
	 * An __initdata key that was accepted is left registered on purpose:
	 * the selftest must see it (and, with the fix, never does).
	 */
}

static int __init mistakes_init(void)
{
	const struct batchpoke_static_key kept_static[] = {
		{ .key = &going_sk.key, .name = "going_sk" },
	};
	int ret;

	ret = batchpoke_register_keys(THIS_MODULE, kept_keys, ARRAY_SIZE(kept_keys));
	if (ret)
		return ret;
	ret = batchpoke_register_static_keys(THIS_MODULE, kept_static, ARRAY_SIZE(kept_static));
	if (ret)
		goto unregister;
	if (misplace)
		register_misplaced();
	mistakes_kobj = kobject_create_and_add("batchpoke_mistakes", kernel_kobj);
	if (!mistakes_kobj) {
		ret = -ENOMEM;
		goto unregister_static;
	}
	ret = sysfs_create_group(mistakes_kobj, &mistakes_group);
	if (ret)
		goto put;
	return 0;
put:
	kobject_put(mistakes_kobj);
unregister_static:
	batchpoke_unregister_static_keys(THIS_MODULE, kept_static_keys,
					 ARRAY_SIZE(kept_static_keys));
unregister:
	batchpoke_unregister_keys(THIS_MODULE, kept_keys, ARRAY_SIZE(kept_keys));
	return ret;
}

static void __exit mistakes_exit(void)
{
	const struct batchpoke_change change = { .key = &going, .enable = true };

	if (READ_ONCE(hold_exit) && !wait_for_completion_timeout(&released, 30 * HZ))
		pr_warn("batchpoke_mistakes: exit: not released within 30 s\n");
	/* The owner's own flip while it is going away: allowed. */
	pr_info("batchpoke_mistakes: exit apply %d\n", batchpoke_apply(&change, 1, 0, NULL));
	/* Removing the files waits for running callbacks. */
	kobject_put(mistakes_kobj);
	batchpoke_unregister_static_keys(THIS_MODULE, kept_static_keys,
					 ARRAY_SIZE(kept_static_keys));
	batchpoke_unregister_keys(THIS_MODULE, kept_keys, ARRAY_SIZE(kept_keys));
}

module_init(mistakes_init);
module_exit(mistakes_exit);
MODULE_DESCRIPTION("batchpoke sample: the mistakes client code makes, each refused");
MODULE_LICENSE("GPL");
