/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The body of a fuzz client (client_a.c, client_b.c): a C client of
 * batchpoke (batchpoke.h alone) whose keys the API fuzzer registers,
 * flips and unregisters through it. Built twice, so that the fuzzer has
 * two owners whose keys it can mix up.
 *
 * forget=1: the exit function leaves its keys registered, as a careless
 * client does; batchpoke's module notifier removes them.
 */
#include <linux/cache.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "fuzz_client.h"

DEFINE_BATCHPOKE_KEY_FALSE(bp0, "bp0");
DEFINE_BATCHPOKE_KEY_TRUE(bp1, "bp1");
DEFINE_BATCHPOKE_KEY_FALSE(bp2, "bp2");
DEFINE_BATCHPOKE_KEY_FALSE(bp3, "bp3");
static DEFINE_STATIC_KEY_FALSE(sk0);
static DEFINE_STATIC_KEY_TRUE(sk1);
static DEFINE_STATIC_KEY_FALSE(sk2);

/* Mistakes: each has a site, so that only the rule it breaks refuses it. */
enum { __batchpoke_initially_null_name = 0 };
static struct batchpoke_key null_name;
DEFINE_BATCHPOKE_KEY_FALSE(nameless, ""); /* not empty_name: dcache.h has one */
DEFINE_BATCHPOKE_KEY_FALSE(bad_chars, "bad name/");
DEFINE_BATCHPOKE_KEY_FALSE(long_name,
	"a_name_long_enough_that_module_dot_name_is_longer_than_the_96_bytes_a_sysfs_name_may_have_");
static struct batchpoke_key ro_bp __ro_after_init = { .name = "ro_bp" };
static const struct batchpoke_key const_bp = { .name = "const_bp" };
static DEFINE_STATIC_KEY_FALSE_RO(ro_sk);
DEFINE_BATCHPOKE_KEY_FALSE(far_bp, "far_bp");
static DEFINE_STATIC_KEY_FALSE(far_sk);

/*
 * One short site (66 90) of far_bp and one of far_sk, each recorded with
 * a jump target 200 bytes on, which no rel8 reaches: neither key could
 * ever be flipped, so registering either is refused. Runs as two NOPs
 * and the padding.
 */
static noinline unsigned int probe_far(void)
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

static bool forget;
module_param(forget, bool, 0444);
MODULE_PARM_DESC(forget, "leave the keys registered at exit");

static noinline unsigned int probe_bp(unsigned int key)
{
	switch (key) {
	case 0:
		return batchpoke_branch_unlikely(bp0) | batchpoke_branch_likely(bp0) << 1;
	case 1:
		return batchpoke_branch_unlikely(bp1) | batchpoke_branch_likely(bp1) << 1;
	case 2:
		return batchpoke_branch_unlikely(bp2) | batchpoke_branch_likely(bp2) << 1;
	case 3:
		return READ_ONCE(bp3.enabled) ? 3 : 0;
	case FUZZ_BAD_PROBE:
		return batchpoke_branch_unlikely(null_name) +
		       batchpoke_branch_unlikely(nameless) +
		       batchpoke_branch_unlikely(bad_chars) +
		       batchpoke_branch_unlikely(long_name) +
		       static_branch_unlikely(&ro_sk) +
		       probe_far();
	}
	return ~0U;
}

static noinline unsigned int probe_sk(unsigned int key)
{
	switch (key) {
	case 0:
		return static_branch_unlikely(&sk0) | static_branch_likely(&sk0) << 1;
	case 1:
		return static_branch_unlikely(&sk1) | static_branch_likely(&sk1) << 1;
	case 2:
		return static_branch_unlikely(&sk2) ? 3 : 0;
	}
	return ~0U;
}

static int register_keys(const struct batchpoke_key *const *keys, size_t count)
{
	return batchpoke_register_keys(THIS_MODULE, keys, count);
}

static void unregister_keys(const struct batchpoke_key *const *keys, size_t count)
{
	batchpoke_unregister_keys(THIS_MODULE, keys, count);
}

static int register_static(const struct batchpoke_static_key *keys, size_t count)
{
	return batchpoke_register_static_keys(THIS_MODULE, keys, count);
}

static void unregister_static(struct static_key *const *keys, size_t count)
{
	batchpoke_unregister_static_keys(THIS_MODULE, keys, count);
}

static struct fuzz_client client = {
	.owner = THIS_MODULE,
	.bp = { &bp0, &bp1, &bp2, &bp3 },
	.sk = { &sk0.key, &sk1.key, &sk2.key },
	.sk_name = { "sk0", "sk1", "sk2" },
	.bad_bp = {
		[FUZZ_BAD_NULL_NAME] = &null_name,
		[FUZZ_BAD_EMPTY_NAME] = &nameless,
		[FUZZ_BAD_CHARS] = &bad_chars,
		[FUZZ_BAD_LONG_NAME] = &long_name,
		[FUZZ_BAD_RO_AFTER_INIT] = &ro_bp,
		[FUZZ_BAD_CONST] = &const_bp,
		[FUZZ_BAD_FAR_TARGET] = &far_bp,
	},
	.ro_sk = &ro_sk.key,
	.far_sk = &far_sk.key,
	.register_keys = register_keys,
	.unregister_keys = unregister_keys,
	.register_static = register_static,
	.unregister_static = unregister_static,
	.probe_bp = probe_bp,
	.probe_sk = probe_sk,
};

static int __init client_init(void)
{
	return batchpoke_fuzz_attach(&client);
}

static void __exit client_exit(void)
{
	const struct batchpoke_key *const bp[] = { &bp0, &bp1, &bp2, &bp3 };
	struct static_key *const sk[] = { &sk0.key, &sk1.key, &sk2.key };

	batchpoke_fuzz_detach(&client);
	if (forget)
		return;
	batchpoke_unregister_keys(THIS_MODULE, bp, ARRAY_SIZE(bp));
	batchpoke_unregister_static_keys(THIS_MODULE, sk, ARRAY_SIZE(sk));
}

module_init(client_init);
module_exit(client_exit);
MODULE_DESCRIPTION("batchpoke API fuzzer: a client whose keys the fuzzer drives");
MODULE_LICENSE("GPL");
