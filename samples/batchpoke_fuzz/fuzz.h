/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The API fuzzer's model: what batchpoke must have done after every step.
 * fuzz_main.c drives runs and holds the clients, fuzz_ops.c draws a step
 * and predicts its outcome, fuzz_check.c compares the machine with the
 * model.
 */
#ifndef BATCHPOKE_FUZZ_H
#define BATCHPOKE_FUZZ_H

#include <linux/types.h>

#include "fuzz_client.h"

#define FUZZ_SLOTS 2

/* One key as batchpoke and the kernel must see it. */
struct fuzz_key {
	bool registered;	/* with batchpoke, as its kind */
	bool state;		/* what every site executes */
	int count;		/* ordinary static keys: static_key_count() */
	unsigned int sites;	/* its __jump_table entries */
};

/* A loaded client and its keys. */
struct fuzz_slot {
	struct fuzz_client *client;
	struct fuzz_key bp[FUZZ_BP_KEYS];
	struct fuzz_key sk[FUZZ_SK_KEYS];
};

/* A key of a slot: a batchpoke key or (sk) an ordinary static key. */
struct fuzz_ref {
	u8 slot;
	bool sk;
	u8 index;
};

struct fuzz_run {
	u64 rng;
	u64 step;
	/* The counters batchpoke must show after the step. */
	u64 transactions, sites_patched, refused;
	/* What the steps returned, by errno (0: success). */
	u64 returned[64];
	/* The first mismatch, for the result file. */
	char failure[256];
};

extern struct fuzz_slot fuzz_slots[FUZZ_SLOTS];

u64 fuzz_rand(struct fuzz_run *run);
static inline u32 fuzz_below(struct fuzz_run *run, u32 n)
{
	return n ? (u32)(fuzz_rand(run) % n) : 0;
}

static inline struct fuzz_key *fuzz_key_of(struct fuzz_ref ref)
{
	struct fuzz_slot *slot = &fuzz_slots[ref.slot];

	return ref.sk ? &slot->sk[ref.index] : &slot->bp[ref.index];
}

/* "<module>.<key>" of @ref into @buf. */
int fuzz_full_name(struct fuzz_ref ref, char *buf, size_t size);

/* fuzz_ops.c: one random step, checked against what the model predicts. */
int fuzz_step(struct fuzz_run *run);

/* fuzz_check.c: every key, site, sysfs entry and counter against the model. */
int fuzz_check(struct fuzz_run *run);
/* Counts a key's __jump_table entries. */
unsigned int fuzz_count_sites(struct fuzz_client *client, const void *key);

__printf(2, 3) int fuzz_fail(struct fuzz_run *run, const char *fmt, ...);

#endif /* BATCHPOKE_FUZZ_H */
