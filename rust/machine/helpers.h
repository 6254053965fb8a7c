/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for kernel macros and inline functions that have no symbol to
 * bind to, in the manner of the kernel's rust/helpers/.
 */
#ifndef BATCHPOKE_HELPERS_H
#define BATCHPOKE_HELPERS_H

#include <linux/types.h>

struct page;

/* The running kernel's release string (utsname()->release). */
const char *batchpoke_helper_uts_release(void);

/*
 * One sync round: every online CPU, the caller included, executes a
 * serializing instruction; returns when all have (text_poke_sync()).
 */
void batchpoke_helper_sync_each_cpu(void);

/* Preemption off and on again, around the writes of one phase. */
void batchpoke_helper_preempt_disable(void);
void batchpoke_helper_preempt_enable(void);

/* Drops this CPU's TLB entries for the @pages pages mapped at @base. */
void batchpoke_helper_flush_local(void *base, size_t pages);

/* A writable kernel mapping of @count pages (vmap with PAGE_KERNEL). */
void *batchpoke_helper_vmap_writable(struct page **pages, unsigned int count);

/* WARNs that the site at @addr does not hold what was just written. */
void batchpoke_helper_warn_bad_site(unsigned long addr);

/*
 * An ordinary static key's count (key->enabled), whether other modules
 * use it (JUMP_TYPE_LINKED; stable under jump_label_mutex only), a
 * compare-and-exchange of its count, and a release store of it.
 */
struct static_key;
int batchpoke_helper_static_key_count(struct static_key *key);
bool batchpoke_helper_static_key_linked(struct static_key *key);
void batchpoke_helper_static_key_detach(struct static_key *key);
bool batchpoke_helper_static_key_cmpxchg(struct static_key *key, int old, int new);
void batchpoke_helper_static_key_set(struct static_key *key, int count);

/* KSYM_SYMBOL_LEN: the buffer size sprint_symbol() needs. */
size_t batchpoke_helper_ksym_symbol_len(void);

/*
 * Creates debugfs batchpoke/sites (debugfs.c); returns the directory, or an
 * error pointer that batchpoke_debugfs_remove() accepts too.
 */
struct dentry;
struct dentry *batchpoke_debugfs_create(void);

/* Removes the directory and its file; returns once no reader runs. */
void batchpoke_debugfs_remove(struct dentry *dir);

/* The attribute groups of /sys/kernel/batchpoke and of each key (sysfs_attrs.c). */
struct attribute_group;
extern const struct attribute_group batchpoke_root_group;
extern const struct attribute_group batchpoke_key_group;

/* cond_resched(): long loops over keys and jump entries yield. */
void batchpoke_helper_cond_resched(void);

#endif
