/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a fuzz client (client_a.c, client_b.c: one body, client_body.h)
 * hands the API fuzzer (batchpoke_fuzz) when it loads: its keys, the keys
 * that must be refused, and its calls into batchpoke, which pass the
 * client's own THIS_MODULE as the owner whatever keys the fuzzer hands in.
 */
#ifndef BATCHPOKE_FUZZ_CLIENT_H
#define BATCHPOKE_FUZZ_CLIENT_H

#include <linux/jump_label.h>
#include <linux/module.h>

#include <batchpoke.h>

/* Batchpoke keys: bp0 (2 sites), bp1 (2, initially enabled), bp2 (2), bp3 (none). */
#define FUZZ_BP_KEYS 4
/* Ordinary static keys: sk0 (2 sites), sk1 (2, initially enabled), sk2 (1). */
#define FUZZ_SK_KEYS 3
#define FUZZ_BAD_PROBE FUZZ_BP_KEYS

/* Batchpoke keys that every registration must refuse, and why. */
enum fuzz_bad_bp {
	FUZZ_BAD_NULL_NAME,	/* zero-initialised: EINVAL */
	FUZZ_BAD_EMPTY_NAME,	/* "": EINVAL */
	FUZZ_BAD_CHARS,		/* "bad name/": EINVAL */
	FUZZ_BAD_LONG_NAME,	/* <module>.<name> over 96 bytes: EINVAL */
	FUZZ_BAD_RO_AFTER_INIT,	/* __ro_after_init: EFAULT */
	FUZZ_BAD_CONST,		/* const: EFAULT */
	FUZZ_BAD_FAR_TARGET,	/* a short site whose target no rel8 reaches: ERANGE */
	FUZZ_BAD_BP_COUNT,
};

struct fuzz_client {
	struct module *owner;
	struct batchpoke_key *bp[FUZZ_BP_KEYS];
	struct static_key *sk[FUZZ_SK_KEYS];
	/* The names the client gives its static keys ("sk0"...). */
	const char *sk_name[FUZZ_SK_KEYS];
	const struct batchpoke_key *bad_bp[FUZZ_BAD_BP_COUNT];
	/* DEFINE_STATIC_KEY_FALSE_RO(): EFAULT. */
	struct static_key *ro_sk;
	/* A short site whose target no rel8 reaches: ERANGE. */
	struct static_key *far_sk;

	int (*register_keys)(const struct batchpoke_key *const *keys, size_t count);
	void (*unregister_keys)(const struct batchpoke_key *const *keys, size_t count);
	int (*register_static)(const struct batchpoke_static_key *keys, size_t count);
	void (*unregister_static)(struct static_key *const *keys, size_t count);
	/*
	 * Run the sites of a key: bit 0 what the unlikely-form site executed,
	 * bit 1 the likely-form one (sk2 has only the first: 3 or 0; bp3
	 * has none: its state, 3 or 0). probe_bp(FUZZ_BAD_PROBE) ORs the
	 * sites of the refused keys, which never change: 0.
	 */
	unsigned int (*probe_bp)(unsigned int key);
	unsigned int (*probe_sk)(unsigned int key);
};

/* From the client's init, before it returns; 0 or the fuzzer's error. */
int batchpoke_fuzz_attach(struct fuzz_client *client);
/* From the client's exit, first: the fuzzer forgets the client. */
void batchpoke_fuzz_detach(struct fuzz_client *client);

#endif /* BATCHPOKE_FUZZ_CLIENT_H */
