// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_canary's parameters (module_param works on every kernel the
 * project supports, unlike the Rust module! params) and its WARN.
 */
#include <linux/bug.h>
#include <linux/moduleparam.h>

bool batchpoke_canary_crash;
module_param_named(crash, batchpoke_canary_crash, bool, 0444);
MODULE_PARM_DESC(crash, "Hit BUG() while loading");

bool batchpoke_canary_warn;
module_param_named(warn, batchpoke_canary_warn, bool, 0444);
MODULE_PARM_DESC(warn, "Emit a WARNING while loading");

void batchpoke_canary_warn_now(void);
void batchpoke_canary_warn_now(void)
{
	WARN(1, "batchpoke_canary: warning requested\n");
}
