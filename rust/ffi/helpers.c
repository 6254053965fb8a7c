// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for kernel macros and inline functions that have no symbol to
 * bind to, in the manner of the kernel's rust/helpers/.
 */
#include <linux/bug.h>
#include <linux/kallsyms.h>
#include <linux/smp.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>
#include <asm/sync_core.h>

#include "helpers.h"

const char *batchpoke_helper_uts_release(void)
{
	return utsname()->release;
}

static void batchpoke_do_sync_core(void *info)
{
	/*
	 * Explicit, not implied by the IPI: a CPU polling in idle runs this
	 * callback without taking an interrupt, so nothing else serializes it.
	 */
	sync_core();
}

void batchpoke_helper_sync_each_cpu(void)
{
	on_each_cpu(batchpoke_do_sync_core, NULL, 1);
}

void *batchpoke_helper_vmap_writable(struct page **pages, unsigned int count)
{
	return vmap(pages, count, VM_MAP, PAGE_KERNEL);
}

size_t batchpoke_helper_ksym_symbol_len(void)
{
	return KSYM_SYMBOL_LEN;
}

void batchpoke_helper_warn_bad_site(unsigned long addr)
{
	WARN(1, "batchpoke: site %#lx does not hold what was written\n", addr);
}
