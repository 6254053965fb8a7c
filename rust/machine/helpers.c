// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for kernel macros and inline functions that have no symbol to
 * bind to, in the manner of the kernel's rust/helpers/.
 */
#include <linux/atomic.h>
#include <linux/bug.h>
#include <linux/jump_label.h>
#include <linux/kallsyms.h>
#include <linux/preempt.h>
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

void batchpoke_helper_preempt_disable(void)
{
	preempt_disable();
}

void batchpoke_helper_preempt_enable(void)
{
	preempt_enable();
}

void batchpoke_helper_flush_local(void *base, size_t pages)
{
	unsigned long addr = (unsigned long)base;
	size_t i;

	/*
	 * What flush_tlb_one_kernel() does for a vmalloc address (it is not
	 * exported): INVLPG drops the entry, global or of the current PCID;
	 * with PTI the user page tables never map vmalloc space.
	 */
	for (i = 0; i < pages; i++, addr += PAGE_SIZE)
		asm volatile("invlpg (%0)" : : "r"(addr) : "memory");
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

int batchpoke_helper_static_key_count(struct static_key *key)
{
	return atomic_read(&key->enabled);
}

bool batchpoke_helper_static_key_linked(struct static_key *key)
{
	return key->type & JUMP_TYPE_LINKED;
}

void batchpoke_helper_static_key_detach(struct static_key *key)
{
	/* The entries pointer shares the word with the type bits. */
	key->type &= JUMP_TYPE_TRUE;
}

bool batchpoke_helper_static_key_cmpxchg(struct static_key *key, int old, int new)
{
	return atomic_cmpxchg(&key->enabled, old, new) == old;
}

void batchpoke_helper_static_key_set(struct static_key *key, int count)
{
	atomic_set_release(&key->enabled, count);
}

void batchpoke_helper_cond_resched(void)
{
	cond_resched();
}
