// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_canary's parameters (module_param works on every kernel the
 * project supports, unlike the Rust module! params) and its misbehaviour,
 * which is plain C: WARN() is a macro that Rust cannot call.
 */
#include <linux/bug.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/sched.h>

bool batchpoke_canary_crash;
module_param_named(crash, batchpoke_canary_crash, bool, 0444);
MODULE_PARM_DESC(crash, "Hit BUG() while loading");

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "Emit a WARNING while loading");

/*
 * A storm: thousands of WARNINGs are what the engine's per-site check would
 * print on a bad transaction, and what once slipped past the harness.
 */
static unsigned int warns;
module_param(warns, uint, 0444);
MODULE_PARM_DESC(warns, "Emit this many WARNINGs while loading");

/*
 * Lines that the harness must count as problems too, logged before any
 * WARNING so that the WARNING comes after many KiB of earlier matches (a
 * verdict that stops reading after the first 4 KiB write of grep, or after
 * the first match, would miss it).
 */
static unsigned int fake_bugs;
module_param(fake_bugs, uint, 0444);
MODULE_PARM_DESC(fake_bugs, "First log this many lines that look like BUG reports");

void batchpoke_canary_misbehave(void);
void batchpoke_canary_misbehave(void)
{
	unsigned int i, n = warns + warn;

	for (i = 0; i < fake_bugs; i++)
		pr_err("BUG: batchpoke_canary: fake report %u of %u, one of many lines before a real warning\n",
		       i + 1, fake_bugs);
	for (i = 0; i < n; i++) {
		WARN(1, "batchpoke_canary: warning %u of %u requested\n", i + 1, n);
		/* A long storm must not also stall RCU on a non-preemptible kernel. */
		cond_resched();
	}
}
