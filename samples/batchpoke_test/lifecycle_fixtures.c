// SPDX-License-Identifier: GPL-2.0
/*
 * A kernel static key (not a batchpoke key) whose only branch site is in
 * init text, for lifecycle_cases.rs: batchpoke must judge a registering
 * module by the sites of the keys it registers, not by every entry of its
 * jump table. Nothing calls the function; being global keeps it (and its
 * __jump_table entry) in the module, and being unreferenced keeps modpost
 * from seeing a reference from core text to init text.
 */
#include <linux/init.h>
#include <linux/jump_label.h>

static DEFINE_STATIC_KEY_FALSE(batchpoke_test_init_only);

int __init batchpoke_test_c_init_site(void);
int __init batchpoke_test_c_init_site(void)
{
	return static_branch_unlikely(&batchpoke_test_init_only) ? 1 : 0;
}
