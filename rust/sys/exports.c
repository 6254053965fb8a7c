// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke's client API, implemented in Rust (rust/sys/exports.rs). The
 * C declarations document the ABI client modules link against.
 */
#include <linux/export.h>
#include <linux/module.h>
#include <linux/types.h>

struct batchpoke_key;

struct batchpoke_change {
	const struct batchpoke_key *key;
	bool enable;
};

struct batchpoke_report {
	u64 sites;
	u64 rounds;
};

struct batchpoke_stats {
	u64 transactions, sites_patched, sync_rounds, int3_hits, refused, last_ns, max_ns;
};

int batchpoke_register_keys(struct module *owner, const struct batchpoke_key *const *keys,
			    size_t count);
void batchpoke_unregister_keys(struct module *owner, const struct batchpoke_key *const *keys,
			       size_t count);
int batchpoke_apply(const struct batchpoke_change *changes, size_t count, u32 flags,
		    struct batchpoke_report *report);
void batchpoke_read_stats(struct batchpoke_stats *stats);

EXPORT_SYMBOL_GPL(batchpoke_register_keys);
EXPORT_SYMBOL_GPL(batchpoke_unregister_keys);
EXPORT_SYMBOL_GPL(batchpoke_apply);
EXPORT_SYMBOL_GPL(batchpoke_read_stats);
