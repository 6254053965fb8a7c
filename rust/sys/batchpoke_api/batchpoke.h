/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batchpoke's client ABI: the one source of it.
 *
 * batchpoke's exports (rust/sys/exports.rs) and the Rust client API
 * (rust/sys/batchpoke_api/) are checked against this header when batchpoke
 * is built (rust/sys/abi.rs): every struct's size, alignment and field
 * offsets, and every function's parameter and return types.
 *
 * Versioning: BATCHPOKE_ABI_VERSION grows by one with every change a
 * client built against the previous header could notice (a field, a type,
 * a flag's meaning, a function's parameters); additions that old clients
 * cannot observe (a new function, a new flag bit that was refused before)
 * also bump it, so a client can require what it uses.
 */
#ifndef BATCHPOKE_H
#define BATCHPOKE_H

#include <linux/compiler.h>
#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/types.h>

#define BATCHPOKE_ABI_VERSION 2

/**
 * struct batchpoke_key - a static key owned by the module that defines it,
 *                        flipped by batchpoke
 * @raw: the kernel's view of the key, written by the module loader's
 *       jump-label code at load; the key's ``__jump_table`` entries point
 *       here, so it must stay first. Its count and type stay zero: the
 *       kernel never patches the sites of a key that lives in the module
 *       owning them.
 * @name: the key's name within its module, ``[A-Za-z0-9_.-]``; static.
 * @initially: the state the key's sites were compiled for.
 * @enabled: the state the sites hold or are being patched to; read it with
 *           READ_ONCE(), never write it (batchpoke does, under its lock).
 */
struct batchpoke_key {
	struct static_key raw;
	const char *name;
	bool initially;
	bool enabled;
};

/**
 * DEFINE_BATCHPOKE_KEY_FALSE() - define a key, initially disabled
 * @var: the variable (a ``static struct batchpoke_key``)
 * @keyname: its name within the module, a string literal of
 *           ``[A-Za-z0-9_.-]``; sysfs shows ``<module>.<keyname>``
 *
 * Also defines the compile-time constant the branch macros read the
 * initial state from, so the branch macros must be used in the file that
 * defines the key.
 */
#define DEFINE_BATCHPOKE_KEY_FALSE(var, keyname) __DEFINE_BATCHPOKE_KEY(var, keyname, 0)

/**
 * DEFINE_BATCHPOKE_KEY_TRUE() - define a key, initially enabled
 * @var: the variable (a ``static struct batchpoke_key``)
 * @keyname: its name within the module, as for DEFINE_BATCHPOKE_KEY_FALSE()
 */
#define DEFINE_BATCHPOKE_KEY_TRUE(var, keyname) __DEFINE_BATCHPOKE_KEY(var, keyname, 1)

#define __DEFINE_BATCHPOKE_KEY(var, keyname, init)				\
	enum { __batchpoke_initially_##var = (init) };				\
	static struct batchpoke_key var = {					\
		.name = (keyname), .initially = (init), .enabled = (init),	\
	}

/*
 * One site: a 5-byte instruction, NOP5 or JMP rel32 to l_yes, written as
 * bytes so that the assembler cannot pick a 2-byte form, and a
 * __jump_table record in the kernel's format (code, target, key + likely,
 * each relative to itself): the record rust/sys/batchpoke_api/site.rs
 * emits for Rust clients. The instruction is the one for the key's initial
 * state. Returns the key's state as the site executes it.
 */
static __always_inline bool __batchpoke_branch(struct batchpoke_key *key, const bool likely,
					       const bool jump)
{
	asm goto("1:\n\t"
		 ".if %c2\n\t"
		 ".byte 0xe9\n\t"
		 ".long %l[l_yes] - 1b - 5\n\t"
		 ".else\n\t"
		 ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
		 ".endif\n\t"
		 ".pushsection __jump_table, \"aw\"\n\t"
		 ".balign 8\n\t"
		 ".long 1b - .\n\t"
		 ".long %l[l_yes] - .\n\t"
		 ".quad %c0 + %c1 - .\n\t"
		 ".popsection\n\t"
		 : : "i" (key), "i" (likely), "i" (jump) : : l_yes);
	return likely;
l_yes:
	return !likely;
}

/**
 * batchpoke_branch_unlikely() - branch on a key, laid out for "disabled"
 * @var: a key defined in this file with DEFINE_BATCHPOKE_KEY_*()
 *
 * Return: the key's state, as the site's instruction says; the enabled
 * path is out of line.
 */
#define batchpoke_branch_unlikely(var)						\
	__batchpoke_branch(&(var), false, __batchpoke_initially_##var != 0)

/**
 * batchpoke_branch_likely() - branch on a key, laid out for "enabled"
 * @var: a key defined in this file with DEFINE_BATCHPOKE_KEY_*()
 *
 * Return: the key's state, as the site's instruction says; the disabled
 * path is out of line.
 */
#define batchpoke_branch_likely(var)						\
	__batchpoke_branch(&(var), true, __batchpoke_initially_##var != 1)

/**
 * batchpoke_key_enabled() - the state a key's sites hold or are being
 *                           patched to
 * @key: the key
 */
static inline bool batchpoke_key_enabled(const struct batchpoke_key *key)
{
	return READ_ONCE(key->enabled);
}

/**
 * struct batchpoke_change - one key change of a transaction
 * @key: a key registered by the module that owns it
 * @enable: the state to set
 */
struct batchpoke_change {
	const struct batchpoke_key *key;
	bool enable;
};

/**
 * BATCHPOKE_APPLY_SERIAL - batchpoke_apply() flag: patch one site at a time
 * (three sync rounds per site), as patching worked before batching; for
 * comparisons. Any other bit is refused with -EINVAL.
 */
#define BATCHPOKE_APPLY_SERIAL 1U

/**
 * struct batchpoke_report - what one transaction did
 * @sites: sites whose bytes changed
 * @rounds: cross-CPU sync rounds it took
 */
struct batchpoke_report {
	u64 sites;
	u64 rounds;
};

/**
 * struct batchpoke_stats - batchpoke's counters since it was loaded, as
 *                          /sys/kernel/batchpoke/stats shows them
 * @transactions: transactions applied
 * @sites_patched: sites changed
 * @sync_rounds: sync rounds run
 * @int3_hits: traps on a site resolved by the int3 handler
 * @refused: requests refused (nothing changed)
 * @last_ns: duration of the last transaction, ns
 * @max_ns: longest transaction, ns
 */
struct batchpoke_stats {
	u64 transactions;
	u64 sites_patched;
	u64 sync_rounds;
	u64 int3_hits;
	u64 refused;
	u64 last_ns;
	u64 max_ns;
};

/**
 * batchpoke_register_keys() - register keys of the calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count pointers to keys that are statics of @owner; may be NULL
 *        when @count is 0
 * @count: how many
 *
 * Checks every key and every one of its ``__jump_table`` sites, creates
 * ``/sys/kernel/batchpoke/keys/<module>.<key>/`` for each, and makes them
 * usable; all or nothing. Keys stay registered until
 * batchpoke_unregister_keys() or until @owner goes away.
 *
 * Return: 0; -EINVAL for a key outside @owner's memory, a bad name, a
 * site outside @owner's core text (init text included) or holding
 * unexpected bytes, or NULL @keys with a non-zero @count; -EEXIST for a
 * name registered already; -ENODEV if @owner is going away or batchpoke is
 * shutting down; -ENOMEM.
 */
int batchpoke_register_keys(struct module *owner, const struct batchpoke_key *const *keys,
			    size_t count);

/**
 * batchpoke_unregister_keys() - unregister keys of the calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count key pointers, only compared; keys not registered by @owner
 *        are ignored. May be NULL when @count is 0.
 * @count: how many
 *
 * Cannot fail. Returns once the keys' sysfs directories are gone.
 */
void batchpoke_unregister_keys(struct module *owner, const struct batchpoke_key *const *keys,
			       size_t count);

/**
 * batchpoke_apply() - set keys' states in one transaction
 * @changes: @count changes; may be NULL when @count is 0
 * @count: how many
 * @flags: 0 or BATCHPOKE_APPLY_SERIAL
 * @report: if not NULL, receives what the transaction did
 *
 * All or nothing: on error no site and no key state has changed. Sleeps.
 *
 * Return: 0; -ENOENT for a key that is not registered; -EINVAL for a key
 * listed twice, unknown @flags or NULL @changes with a non-zero @count;
 * -E2BIG for more than 65536 sites to change; -EIO if a site does not hold
 * what batchpoke left there; -ERANGE for a jump target out of rel32 range;
 * -ENOMEM; -ENODEV while batchpoke shuts down.
 */
int batchpoke_apply(const struct batchpoke_change *changes, size_t count, u32 flags,
		    struct batchpoke_report *report);

/**
 * struct batchpoke_static_key - an ordinary static key of the calling
 *                               module, to register with batchpoke
 * @key: the key: ``&var.key`` of DEFINE_STATIC_KEY_FALSE/TRUE(var); the
 *       module must define it and be its only user
 * @name: its name within the module, ``[A-Za-z0-9_.-]``; copied
 *
 * Use BATCHPOKE_STATIC_KEY() to fill one in.
 */
struct batchpoke_static_key {
	struct static_key *key;
	const char *name;
};

/**
 * BATCHPOKE_STATIC_KEY() - a struct batchpoke_static_key initializer
 * @var: a key defined with DEFINE_STATIC_KEY_FALSE() or
 *       DEFINE_STATIC_KEY_TRUE() in the calling module; sysfs shows it as
 *       ``<module>.<var>``
 */
#define BATCHPOKE_STATIC_KEY(var) { .key = &(var).key, .name = #var }

/**
 * struct batchpoke_static_change - one change of a transaction of ordinary
 *                                  static keys
 * @key: a key registered with batchpoke_register_static_keys()
 * @enable: the state to set
 */
struct batchpoke_static_change {
	struct static_key *key;
	bool enable;
};

/**
 * batchpoke_register_static_keys() - register ordinary static keys of the
 *                                    calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count keys; may be NULL when @count is 0
 * @count: how many
 *
 * Lets batchpoke flip them, many in one transaction
 * (batchpoke_apply_static() or ``/sys/kernel/batchpoke/keys/``). The
 * kernel's API keeps working on them: static_key_enable(),
 * static_key_disable(), static_key_enabled() and static_branch_*() see and
 * make the same state, because batchpoke updates the key's count the way
 * the kernel does, under the kernel's ``jump_label_mutex``. Sites may be
 * 2 or 5 bytes. Checks every key and site under that mutex, creates
 * ``/sys/kernel/batchpoke/keys/<module>.<name>/`` for each; all or
 * nothing. Keys stay registered until batchpoke_unregister_static_keys()
 * or until @owner goes away.
 *
 * Return: 0; -EPERM for a key that is not in @owner's memory (another
 * module's key); -EXDEV for a key other modules use (it has sites outside
 * @owner: the kernel links it, JUMP_TYPE_LINKED); -EBUSY for a key whose
 * count is above 1 (static_key_slow_inc() users); -EINVAL for a bad name,
 * a site outside @owner's core text (init text included) or not holding
 * the instruction for the key's state, or NULL @keys with a non-zero
 * @count; -EEXIST for a name registered already; -ENODEV if @owner is
 * going away or batchpoke is shutting down; -ENOMEM.
 */
int batchpoke_register_static_keys(struct module *owner, const struct batchpoke_static_key *keys,
				   size_t count);

/**
 * batchpoke_unregister_static_keys() - unregister ordinary static keys of
 *                                      the calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count key pointers, only compared; keys not registered by @owner
 *        are ignored. May be NULL when @count is 0.
 * @count: how many
 *
 * Cannot fail. The keys keep their state and stay ordinary static keys.
 */
void batchpoke_unregister_static_keys(struct module *owner, struct static_key *const *keys,
				      size_t count);

/**
 * batchpoke_apply_static() - set ordinary static keys' states in one
 *                            transaction
 * @changes: @count changes; may be NULL when @count is 0
 * @count: how many
 * @flags: 0 or BATCHPOKE_APPLY_SERIAL
 * @report: if not NULL, receives what the transaction did
 *
 * All or nothing, under ``jump_label_mutex``: on error no site and no
 * key's count has changed. An enabled key's count becomes 1 and a
 * disabled one's 0, as static_key_enable() and static_key_disable() leave
 * them. Sleeps.
 *
 * Return: 0; -EXDEV for a key another module has started to use since it
 * was registered; -EBUSY for a key whose count is above 1; -EAGAIN for a
 * key whose state changed (static_key_enable() or the like) while the
 * transaction was being planned: nothing changed, try again; otherwise as
 * batchpoke_apply().
 */
int batchpoke_apply_static(const struct batchpoke_static_change *changes, size_t count, u32 flags,
			   struct batchpoke_report *report);

/**
 * batchpoke_read_stats() - copy batchpoke's counters
 * @stats: receives them; NULL is ignored
 */
void batchpoke_read_stats(struct batchpoke_stats *stats);

#endif /* BATCHPOKE_H */
