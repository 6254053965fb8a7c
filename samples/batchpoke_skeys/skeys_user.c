// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_skeys_user: another module branching on batchpoke_skeys's
 * exported key skshared, which makes it a key batchpoke must refuse to
 * flip (the kernel links it to this module's site). At load it also tries
 * to register skshared as its own, and its own key `counted` while two
 * static_key_slow_inc() users hold it: `foreign_ret` and `counted_ret`
 * (read-only parameters) hold what batchpoke_register_static_keys()
 * returned.
 */
#include <linux/jump_label.h>
#include <linux/module.h>

#include <batchpoke.h>

#include "skeys.h"

static int foreign_ret = 1;
module_param(foreign_ret, int, 0444);
MODULE_PARM_DESC(foreign_ret, "what registering batchpoke_skeys's key returned");

static int shared_ran = -1;
module_param(shared_ran, int, 0444);
MODULE_PARM_DESC(shared_ran, "what this module's skshared site executed at load");

static int counted_ret = 1;
module_param(counted_ret, int, 0444);
MODULE_PARM_DESC(counted_ret, "what registering a key counted up twice returned");

static DEFINE_STATIC_KEY_FALSE(counted);

static int counted_ran = -1;
module_param(counted_ran, int, 0444);
MODULE_PARM_DESC(counted_ran, "what the counted key's site executed while counted up");

static noinline int probe_counted(void)
{
	return static_branch_unlikely(&counted);
}

static noinline int probe_shared(void)
{
	return static_branch_unlikely(&skshared);
}

static int __init skeys_user_init(void)
{
	const struct batchpoke_static_key foreign = BATCHPOKE_STATIC_KEY(skshared);
	const struct batchpoke_static_key mine = BATCHPOKE_STATIC_KEY(counted);

	shared_ran = probe_shared();
	foreign_ret = batchpoke_register_static_keys(THIS_MODULE, &foreign, 1);
	if (!foreign_ret)
		batchpoke_unregister_static_keys(THIS_MODULE, &foreign.key, 1);

	static_key_slow_inc(&counted.key);
	static_key_slow_inc(&counted.key);
	counted_ran = probe_counted();
	counted_ret = batchpoke_register_static_keys(THIS_MODULE, &mine, 1);
	if (!counted_ret)
		batchpoke_unregister_static_keys(THIS_MODULE, &mine.key, 1);
	static_key_slow_dec(&counted.key);
	static_key_slow_dec(&counted.key);
	return 0;
}

static void __exit skeys_user_exit(void)
{
}

module_init(skeys_user_init);
module_exit(skeys_user_exit);
MODULE_DESCRIPTION("batchpoke sample: another module using batchpoke_skeys's static key");
MODULE_LICENSE("GPL");
