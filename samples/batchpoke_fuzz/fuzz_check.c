// SPDX-License-Identifier: GPL-2.0
/*
 * After every step, the machine against the model: each key's state (and
 * count, for ordinary static keys), what its sites execute, each site's
 * bytes, each key's sysfs directory and enabled file (present exactly
 * while registered; no directory for a name batchpoke must refuse), and
 * batchpoke's counters.
 *
 * A site's bytes: its jump (e9 rel32 / eb rel8 to its jump-table target)
 * when it jumps; when it falls through, the kernel's NOP (NOP5 / NOP2),
 * except at a registered batchpoke key's site, which batchpoke holds as a
 * test of the jump's displacement (a9 rel32 / a8 rel8), so that a flip
 * writes its first byte only.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/namei.h>
#include <linux/string.h>

#include "fuzz.h"

#define KEYS_DIR "/sys/kernel/batchpoke/keys/"

static const u8 nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const u8 nop2[] = { 0x66, 0x90 };

unsigned int fuzz_count_sites(struct fuzz_client *client, const void *key)
{
	struct jump_entry *entry = client->owner->jump_entries;
	struct jump_entry *end = entry + client->owner->num_jump_entries;
	unsigned int sites = 0;

	for (; entry < end; entry++)
		sites += jump_entry_key(entry) == key;
	return sites;
}

/*
 * The state the model gives the key of @entry (false for an unknown key),
 * and in *@tail whether its sites fall through as the tail-constant test:
 * true for a registered batchpoke key only. Ordinary static keys keep the
 * kernel's NOP, and so do batchpoke keys while not registered (never yet,
 * refused, or unregistered: batchpoke converts their sites back; a
 * conversion back that failed would leave the test, but that is not the
 * normal case, and the model knows of no such failure).
 */
static bool model_state(struct fuzz_slot *slot, const struct static_key *key, bool *known,
			bool *tail)
{
	struct fuzz_client *client = slot->client;
	unsigned int i;

	*known = true;
	*tail = false;
	for (i = 0; i < FUZZ_BP_KEYS; i++)
		if (key == &client->bp[i]->raw) {
			*tail = slot->bp[i].registered;
			return slot->bp[i].state;
		}
	for (i = 0; i < FUZZ_SK_KEYS; i++)
		if (key == client->sk[i])
			return slot->sk[i].state;
	/* The refused keys keep the state they were compiled for: disabled. */
	for (i = 0; i < FUZZ_BAD_BP_COUNT; i++)
		if (key == &client->bad_bp[i]->raw)
			return false;
	if (key == client->ro_sk || key == client->far_sk)
		return false;
	*known = false;
	return false;
}

/*
 * The bytes a site of @len bytes at @code must hold: its jump to @target,
 * or, falling through, the tail-constant test (the jump with a9/a8 for
 * e9/eb: test eax, imm32 / test al, imm8, whose immediate is the jump's
 * displacement) or the kernel's NOP. False when @target is out of the
 * jump's reach: no such site of @len bytes.
 */
static bool expected_site(u8 *want, int len, unsigned long code, unsigned long target,
			  bool jump, bool tail)
{
	long rel = (long)(target - (code + len));

	if (!jump && !tail) {
		memcpy(want, len == 5 ? nop5 : nop2, len);
		return true;
	}
	if (len == 5) {
		s32 rel32 = rel;

		if (rel32 != rel)
			return false;
		want[0] = jump ? 0xe9 : 0xa9;
		memcpy(want + 1, &rel32, sizeof(rel32));
	} else {
		if ((s8)rel != rel)
			return false;
		want[0] = jump ? 0xeb : 0xa8;
		want[1] = (u8)rel;
	}
	return true;
}

static int check_sites(struct fuzz_run *run, struct fuzz_slot *slot)
{
	struct module *owner = slot->client->owner;
	struct jump_entry *entry = owner->jump_entries;
	struct jump_entry *end = entry + owner->num_jump_entries;

	for (; entry < end; entry++) {
		const u8 *code = (const u8 *)jump_entry_code(entry);
		unsigned long target = jump_entry_target(entry);
		bool known, tail, state = model_state(slot, jump_entry_key(entry), &known, &tail);
		bool jump = state ^ jump_entry_is_branch(entry);
		int len;
		u8 want[5];

		if (!known)
			return fuzz_fail(run, "%s: site %pS of an unknown key", owner->name, code);
		/*
		 * The site's length from its first byte alone, and only that
		 * many bytes read: a 2-byte site may end the module's text.
		 * Any first byte of either length is taken here; the bytes
		 * the model expects then say whether it was the right one.
		 */
		switch (code[0]) {
		case 0xe9:
		case 0xa9:
		case 0x0f:
			len = 5;
			break;
		case 0xeb:
		case 0xa8:
		case 0x66:
			len = 2;
			break;
		default:
			return fuzz_fail(run, "%s: site %pS starts %02x: no site's instruction",
					 owner->name, code, code[0]);
		}
		if (!expected_site(want, len, (unsigned long)code, target, jump, tail))
			return fuzz_fail(run,
					 "%s: site %pS holds %*ph, %d bytes that cannot reach its target %pS",
					 owner->name, code, len, code, len, (void *)target);
		if (memcmp(code, want, len))
			return fuzz_fail(run, "%s: site %pS holds %*ph, the model says %*ph (%s)",
					 owner->name, code, len, code, len, want,
					 jump ? "jump to its target" :
					 tail ? "fall through: registered batchpoke key's test" :
						"fall through: NOP");
	}
	return 0;
}

static bool sysfs_exists(const char *name)
{
	char path[192];
	struct path found;

	snprintf(path, sizeof(path), KEYS_DIR "%s", name);
	if (kern_path(path, LOOKUP_FOLLOW, &found))
		return false;
	path_put(&found);
	return true;
}

/* The key's enabled file: 0 or 1, or a negative errno. */
static int sysfs_enabled(const char *name)
{
	char path[192], value[4] = {};
	struct file *file;
	loff_t pos = 0;
	ssize_t len;

	snprintf(path, sizeof(path), KEYS_DIR "%s/enabled", name);
	file = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	len = kernel_read(file, value, sizeof(value) - 1, &pos);
	fput(file);
	if (len < 0)
		return len;
	if (!strcmp(value, "1\n"))
		return 1;
	if (!strcmp(value, "0\n"))
		return 0;
	return -EILSEQ;
}

static int check_key(struct fuzz_run *run, struct fuzz_ref ref)
{
	struct fuzz_client *client = fuzz_slots[ref.slot].client;
	struct fuzz_key *key = fuzz_key_of(ref);
	unsigned int want = key->state ? 3 : 0, executed;
	char name[128];
	int enabled;

	fuzz_full_name(ref, name, sizeof(name));
	if (ref.sk) {
		struct static_key *sk = client->sk[ref.index];

		if (static_key_count(sk) != key->count || static_key_enabled(sk) != key->state)
			return fuzz_fail(run, "%s: count %d enabled %d, the model says %d and %d", name,
					 static_key_count(sk), static_key_enabled(sk), key->count,
					 key->state);
		executed = client->probe_sk(ref.index);
	} else {
		if (READ_ONCE(client->bp[ref.index]->enabled) != key->state)
			return fuzz_fail(run, "%s: enabled %d, the model says %d", name,
					 READ_ONCE(client->bp[ref.index]->enabled), key->state);
		executed = client->probe_bp(ref.index);
	}
	if (executed != want)
		return fuzz_fail(run, "%s: sites execute %#x, the model says %#x", name, executed, want);
	if (sysfs_exists(name) != key->registered)
		return fuzz_fail(run, "%s: sysfs directory %s, the model says %s", name,
				 key->registered ? "missing" : "present",
				 key->registered ? "registered" : "not registered");
	if (!key->registered)
		return 0;
	enabled = sysfs_enabled(name);
	if (enabled != key->state)
		return fuzz_fail(run, "%s: enabled file reads %d, the model says %d", name, enabled,
				 key->state);
	return 0;
}

/* Names that a refused registration would have created. */
static int check_refused_names(struct fuzz_run *run, struct fuzz_slot *slot)
{
	static const char *const names[] = {
		"", "ro_bp", "const_bp", "ro_sk", "bad name", "alias_sk0", "alias_sk1",
		"alias_sk2", "raw_bp0", "raw_bp1", "raw_bp2", "raw_bp3",
	};
	char name[128];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(name, sizeof(name), "%s.%s", slot->client->owner->name, names[i]);
		if (sysfs_exists(name))
			return fuzz_fail(run, "sysfs has %s, which batchpoke must have refused", name);
	}
	return 0;
}

int fuzz_check(struct fuzz_run *run)
{
	struct batchpoke_stats stats;
	struct fuzz_ref ref;
	int ret;

	for (ref.slot = 0; ref.slot < FUZZ_SLOTS; ref.slot++) {
		struct fuzz_slot *slot = &fuzz_slots[ref.slot];

		if (!slot->client)
			continue;
		if (slot->client->probe_bp(FUZZ_BAD_PROBE))
			return fuzz_fail(run, "%s: a refused key's site executes its enabled branch",
					 slot->client->owner->name);
		for (ref.sk = false, ref.index = 0; ref.index < FUZZ_BP_KEYS; ref.index++) {
			ret = check_key(run, ref);
			if (ret)
				return ret;
		}
		for (ref.sk = true, ref.index = 0; ref.index < FUZZ_SK_KEYS; ref.index++) {
			ret = check_key(run, ref);
			if (ret)
				return ret;
		}
		ret = check_sites(run, slot);
		if (!ret)
			ret = check_refused_names(run, slot);
		if (ret)
			return ret;
	}
	batchpoke_read_stats(&stats);
	if (stats.transactions != run->transactions || stats.sites_patched != run->sites_patched ||
	    stats.refused != run->refused)
		return fuzz_fail(run,
				 "stats: transactions %llu sites_patched %llu refused %llu, the model says %llu %llu %llu",
				 stats.transactions, stats.sites_patched, stats.refused,
				 run->transactions, run->sites_patched, run->refused);
	return 0;
}
