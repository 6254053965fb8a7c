// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_livepatch: a livepatch of a batchpoke client, for
 * scripts/selftest/patchers.sh (built only where CONFIG_LIVEPATCH is).
 *
 * It replaces probe_wide() of batchpoke_cclient, the function that holds
 * the 64 sites of the key "wide", with one that returns DIVERTED. While
 * the patch is applied the function's fentry call is redirected by
 * ftrace (livepatch's IPMODIFY ftrace ops) and its body is not run; batchpoke
 * keeps patching the sites in that body, and they must be at their key's
 * state once the patch is disabled and the original runs again.
 *
 * Enabled by insmod; disabled with
 * echo 0 >/sys/kernel/livepatch/batchpoke_livepatch/enabled, then removed.
 */
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>

/*
 * More than the 64 sites probe_wide() counts, so the client's "sites" file
 * shows which function ran.
 */
#define DIVERTED 65

static unsigned int livepatch_probe_wide(void)
{
	return DIVERTED;
}

static struct klp_func funcs[] = {
	{
		.old_name = "probe_wide",
		.new_func = livepatch_probe_wide,
	},
	{}
};

static struct klp_object objs[] = {
	{
		.name = "batchpoke_cclient",
		.funcs = funcs,
	},
	{}
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int __init livepatch_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit livepatch_exit(void)
{
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_DESCRIPTION("batchpoke sample: a livepatch of a function of batchpoke_cclient");
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
