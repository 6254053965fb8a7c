/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batchpoke's client ABI: the one source of it.
 *
 * batchpoke's exports (rust/entry/exports.rs) and the Rust client API
 * (rust/entry/batchpoke_api/) are checked against this header when batchpoke
 * is built (rust/entry/abi.rs): every struct's size, alignment and field
 * offsets, and every function's parameter and return types.
 *
 * Versioning: BATCHPOKE_ABI_VERSION grows by one with every change a
 * client built against the previous header could notice (a field, a type,
 * a flag's meaning, a function's parameters, an input refused that was
 * accepted); additions that old clients cannot observe (a new function, a
 * new flag bit that was refused before) also bump it, so a client can
 * require what it uses.
 *
 * Every input is checked where it crosses into batchpoke, before anything
 * is allocated or changed; a refused call changes nothing (no site, no
 * key state or count, no registration). The rules, with their errors:
 *
 * - a count of keys or changes above BATCHPOKE_MAX_KEYS: -E2BIG, before
 *   the array is read (unregistering: nothing is unregistered);
 * - a NULL array with a non-zero count, a NULL @owner: -EINVAL;
 * - a key (either kind) must be a writable static of @owner: aligned and
 *   wholly inside @owner's core data (.data, .bss). A batchpoke key that
 *   is not in @owner's memory at all: -EINVAL; an ordinary static key
 *   that is not (another module's or the kernel's): -EPERM; a key of
 *   either kind in @owner's memory but not in its core writable data
 *   (``const``, ``__ro_after_init`` such as DEFINE_STATIC_KEY_FALSE_RO(),
 *   ``__initdata``, text): -EFAULT. Nothing is read through a refused
 *   pointer;
 * - a key's name: not NULL, not empty, ``[A-Za-z0-9_.-]``, and
 *   ``<module>.<name>`` at most 96 bytes: -EINVAL;
 * - a site's jump must reach its target (within rel8 for a two-byte
 *   site, as objtool only shortens a jump that does): -ERANGE;
 * - a key is registered once: the same key (by address, whatever its
 *   kind or the name given; a batchpoke key's ``raw`` counts as the key)
 *   registered already or listed twice in one call, or a name taken:
 *   -EEXIST;
 * - a transaction lists each key once (-EINVAL), only registered keys
 *   (-ENOENT), and changes at most BATCHPOKE_MAX_SITES sites (-E2BIG);
 * - a write to ``/sys/kernel/batchpoke`` that would flip a key whose
 *   owner is going away (its exit function has started): -ENODEV. The
 *   client API still flips such keys: an owner's exit, and its threads
 *   until the exit stops them, may flip its own keys.
 */
#ifndef BATCHPOKE_H
#define BATCHPOKE_H

#include <linux/compiler.h>
#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/types.h>

#define BATCHPOKE_ABI_VERSION 3

/*
 * BATCHPOKE_MAX_KEYS - most keys one call registers or unregisters, and
 * most changes one transaction holds; larger counts get -E2BIG.
 * BATCHPOKE_MAX_SITES - most sites one transaction changes (-E2BIG).
 */
#define BATCHPOKE_MAX_KEYS 65536
#define BATCHPOKE_MAX_SITES 65536

/**
 * struct batchpoke_key - a static key owned by the module that defines it,
 *                        flipped by batchpoke
 * @raw: the kernel's view of the key; the key's ``__jump_table`` entries
 *       point here, so it must stay first. The module loader's jump-label
 *       code links it to the key's sites at load; registration unlinks it
 *       (under ``jump_label_mutex``), so that the kernel's static-key API,
 *       should ``&key.raw`` reach it by mistake, patches nothing (it only
 *       moves a count batchpoke never reads). Never pass it to the
 *       kernel's API.
 * @name: the key's name within its module, ``[A-Za-z0-9_.-]``, not empty;
 *        a static string. A zero-initialised key (NULL name) is refused.
 *
 * A key is a writable static of its module: defined at file scope with
 * DEFINE_BATCHPOKE_KEY_*(), not ``const``, ``__ro_after_init`` or
 * ``__initdata`` (-EFAULT).
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
 * each relative to itself): the record rust/entry/batchpoke_api/site.rs
 * emits for Rust clients. The instruction is the one for the key's initial
 * state. Returns the key's state as the site executes it. While the key is
 * registered, batchpoke falls through with a test instruction instead of
 * the NOP (its tail is the jump's, so a flip writes one byte): the flags
 * change there, which x86 asm statements always allow (GCC and clang
 * treat "cc" as clobbered by every x86 asm).
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
 * (two sync rounds per site, three for ordinary static keys), as patching
 * worked before batching; for
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
 * Return: 0; -E2BIG for a @count above BATCHPOKE_MAX_KEYS; -EINVAL for
 * NULL @keys with a non-zero @count, a NULL @owner, a key outside
 * @owner's memory (or misaligned), a NULL, empty, too long or bad name, a
 * site outside @owner's core text (init text included) or holding
 * unexpected bytes; -ERANGE for a site whose jump cannot reach its
 * target; -EFAULT for a key in @owner's memory but not in its
 * core writable data (const, __ro_after_init, __initdata); -EEXIST for a
 * key registered already (under any name, as either kind) or listed
 * twice, or a name taken; -EXDEV for a key other modules branch on (the
 * kernel links it to their sites); -ENODEV if @owner is going away or
 * batchpoke is shutting down; -ENOMEM.
 */
int batchpoke_register_keys(struct module *owner, const struct batchpoke_key *const *keys,
			    size_t count);

/**
 * batchpoke_unregister_keys() - unregister keys of the calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count key pointers, only compared; keys not registered by @owner
 *        are ignored. May be NULL when @count is 0.
 * @count: how many, at most BATCHPOKE_MAX_KEYS
 *
 * Cannot fail. Returns once the keys' sysfs directories are gone. A
 * @count above BATCHPOKE_MAX_KEYS, or NULL @keys with a non-zero @count,
 * unregisters nothing.
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
 * All or nothing: on error no site and no key state has changed, and the
 * refusal is counted in the stats' @refused. Sleeps. A key whose owner is
 * going away can still be flipped here (by its owner's exit, say), not
 * through sysfs.
 *
 * Return: 0; -EINVAL for unknown @flags, NULL @changes with a non-zero
 * @count or a key listed twice; -E2BIG for a @count above
 * BATCHPOKE_MAX_KEYS or more than BATCHPOKE_MAX_SITES sites to change;
 * -ENOENT for a key that is not registered (as a batchpoke key); -EIO if
 * a site does not hold what batchpoke left there; -ENOMEM; -ENODEV while
 * batchpoke shuts down.
 */
int batchpoke_apply(const struct batchpoke_change *changes, size_t count, u32 flags,
		    struct batchpoke_report *report);

/**
 * struct batchpoke_static_key - an ordinary static key of the calling
 *                               module, to register with batchpoke
 * @key: the key: ``&var.key`` of DEFINE_STATIC_KEY_FALSE/TRUE(var); the
 *       module must define it (writable: not the ``_RO`` variants, not
 *       ``__initdata``) and be its only user
 * @name: its name within the module, ``[A-Za-z0-9_.-]``, not empty;
 *        copied
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
 * Return: 0; -E2BIG for a @count above BATCHPOKE_MAX_KEYS; -EPERM for a
 * key that is not in @owner's memory (another module's key, the
 * kernel's); -EFAULT for a key in @owner's memory but not in its core
 * writable data (DEFINE_STATIC_KEY_FALSE_RO() and other __ro_after_init,
 * __initdata, const); -EXDEV for a key other modules use (it has sites
 * outside @owner: the kernel links it, JUMP_TYPE_LINKED); -EBUSY for a key
 * whose count is above 1 (static_key_slow_inc() users); -EINVAL for a
 * NULL, empty, too long or bad name, a site outside @owner's core text
 * (init text included) or not holding the instruction for the key's
 * state, NULL @keys with a non-zero @count or a NULL @owner; -ERANGE for
 * a site whose jump cannot reach its target; -EEXIST for
 * a key registered already (under any name, as either kind: one
 * ``struct static_key`` has one set of sites) or listed twice, or a name
 * taken; -ENODEV if @owner is going away or batchpoke is shutting down;
 * -ENOMEM.
 */
int batchpoke_register_static_keys(struct module *owner, const struct batchpoke_static_key *keys,
				   size_t count);

/**
 * batchpoke_unregister_static_keys() - unregister ordinary static keys of
 *                                      the calling module
 * @owner: the calling module (THIS_MODULE)
 * @keys: @count key pointers, only compared; keys not registered by @owner
 *        are ignored. May be NULL when @count is 0.
 * @count: how many, at most BATCHPOKE_MAX_KEYS
 *
 * Cannot fail. The keys keep their state and stay ordinary static keys. A
 * @count above BATCHPOKE_MAX_KEYS, or NULL @keys with a non-zero @count,
 * unregisters nothing.
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
 * transaction was being planned: nothing changed, try again; -ENOENT for
 * a key not registered as an ordinary static key; otherwise as
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
