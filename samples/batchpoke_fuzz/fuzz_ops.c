// SPDX-License-Identifier: GPL-2.0
/*
 * One random step and what it must return. Each call is valid or makes one
 * mistake from the catalogue below; the model predicts the set of errors
 * batchpoke may return (several when a call breaks several rules: their
 * order is not part of the ABI) and, for a call it must accept, the new
 * states, counts and counters. A refused call must change nothing.
 *
 * The catalogue (batchpoke.h, "Every input is checked where it crosses"):
 * NULL, empty, bad and too long names (EINVAL); __ro_after_init and const
 * keys (EFAULT); a short site whose jump target no rel8 reaches, of
 * either kind of key (ERANGE); another module's ordinary static key
 * (EPERM) or batchpoke key (EINVAL); a key listed twice or registered
 * already, under another name or as the other kind, and a name taken
 * (EEXIST); counts of 2^19 (E2BIG) and NULL arrays (EINVAL); unknown
 * flags (EINVAL); keys not registered, or as the other kind (ENOENT); a
 * key twice in a transaction (EINVAL); counted static keys (EBUSY);
 * malformed sysfs requests (EINVAL).
 */
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include "fuzz.h"

#define MAX_LISTED 5
#define HUGE_COUNT (1U << 19)
#define ERR(e) (1ULL << (e))

enum fuzz_op {
	OP_APPLY, OP_APPLY_STATIC, OP_REGISTER, OP_REGISTER_STATIC, OP_UNREGISTER,
	OP_UNREGISTER_STATIC, OP_TRANSACTION, OP_ENABLED_FILE, OP_KERNEL, OP_COUNT,
};
/* How often each step is drawn, out of their sum. */
static const u8 op_weights[OP_COUNT] = { 18, 14, 14, 14, 7, 7, 12, 7, 10 };

/* A random attached slot, or -1. */
static int pick_slot(struct fuzz_run *run)
{
	unsigned int start = fuzz_below(run, FUZZ_SLOTS), i;

	for (i = 0; i < FUZZ_SLOTS; i++)
		if (fuzz_slots[(start + i) % FUZZ_SLOTS].client)
			return (start + i) % FUZZ_SLOTS;
	return -1;
}

/* An attached slot other than @not, or -1. */
static int other_slot(int not)
{
	unsigned int i;

	for (i = 0; i < FUZZ_SLOTS; i++)
		if (i != not && fuzz_slots[i].client)
			return i;
	return -1;
}

static struct fuzz_ref pick_key(struct fuzz_run *run, int slot, bool sk)
{
	struct fuzz_ref ref = { .slot = slot, .sk = sk };

	ref.index = fuzz_below(run, sk ? FUZZ_SK_KEYS : FUZZ_BP_KEYS);
	return ref;
}

static bool same_ref(struct fuzz_ref a, struct fuzz_ref b)
{
	return a.slot == b.slot && a.sk == b.sk && a.index == b.index;
}

static bool listed_twice(const struct fuzz_ref *refs, unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (same_ref(refs[i], refs[j]))
				return true;
	return false;
}

/* The errors a transaction of @refs (of @kind only, unless mixed) must give. */
static u64 transaction_errors(const struct fuzz_ref *refs, unsigned int n, int kind)
{
	u64 errors = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct fuzz_key *key = fuzz_key_of(refs[i]);

		if (!key->registered || (kind >= 0 && refs[i].sk != kind))
			errors |= ERR(ENOENT);
		else if (refs[i].sk && key->count > 1)
			errors |= ERR(EBUSY);
	}
	if (listed_twice(refs, n))
		errors |= ERR(EINVAL);
	return errors;
}

/* An accepted transaction: the new states, and the sites it changed. */
static u64 transaction_applied(struct fuzz_run *run, const struct fuzz_ref *refs,
			       const bool *enable, unsigned int n)
{
	u64 sites = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct fuzz_key *key = fuzz_key_of(refs[i]);

		if (key->state != enable[i])
			sites += key->sites;
		key->state = enable[i];
		if (refs[i].sk)
			key->count = enable[i];
	}
	run->transactions++;
	run->sites_patched += sites;
	return sites;
}

static int verdict(struct fuzz_run *run, const char *what, int ret, u64 errors)
{
	if (ret <= 0 && ret > -64)
		run->returned[-ret]++;
	if (!errors && ret)
		return fuzz_fail(run, "%s returned %d, the model says 0", what, ret);
	if (errors && (ret >= 0 || ret <= -64 || !(errors & ERR(-ret))))
		return fuzz_fail(run, "%s returned %d, the model says one of %#llx (bits: errno)",
				 what, ret, errors);
	return 0;
}

/* An apply call: valid, or with one mistake at the boundary. */
struct apply_call {
	size_t count;
	u32 flags;
	bool null;
	u64 errors;
};

/*
 * Draws the flags of an apply call listing @n changes and perhaps a
 * boundary mistake (unknown flags, a count of 2^19, a NULL array), which
 * replaces the @errors of its changes.
 */
static struct apply_call draw_apply_call(struct fuzz_run *run, unsigned int n, u64 errors)
{
	unsigned int mistake = fuzz_below(run, 20);
	struct apply_call call = {
		.count = n,
		.flags = mistake < 4 ? BATCHPOKE_APPLY_SERIAL : 0,
		.errors = errors,
	};

	if (mistake == 4) {
		call.flags = 2;
		call.errors = ERR(EINVAL);
	} else if (mistake == 5) {
		call.count = HUGE_COUNT;
		call.errors = ERR(E2BIG);
	} else if (mistake == 6 && n) {
		call.null = true;
		call.errors = ERR(EINVAL);
	}
	return call;
}

/*
 * batchpoke_apply() or (@sk) batchpoke_apply_static() on 0-4 keys of any
 * client, one in ten of the other kind (ENOENT).
 */
static int step_apply(struct fuzz_run *run, bool sk)
{
	struct batchpoke_static_change sk_changes[MAX_LISTED];
	struct batchpoke_change bp_changes[MAX_LISTED];
	struct batchpoke_report report = {};
	struct fuzz_ref refs[MAX_LISTED];
	bool enable[MAX_LISTED];
	unsigned int n = fuzz_below(run, MAX_LISTED), i;
	const char *what = sk ? "apply_static" : "apply";
	struct apply_call call;
	int slot = pick_slot(run), ret;

	if (slot < 0)
		n = 0;
	for (i = 0; i < n; i++) {
		struct fuzz_client *client;

		slot = pick_slot(run);
		client = fuzz_slots[slot].client;
		refs[i] = pick_key(run, slot, fuzz_below(run, 10) ? sk : !sk);
		enable[i] = fuzz_below(run, 2);
		sk_changes[i].enable = enable[i];
		bp_changes[i].enable = enable[i];
		/* A batchpoke key's raw is at its address: one pointer serves both calls. */
		sk_changes[i].key = refs[i].sk ? client->sk[refs[i].index] :
			&client->bp[refs[i].index]->raw;
		bp_changes[i].key = (const struct batchpoke_key *)sk_changes[i].key;
	}
	call = draw_apply_call(run, n, transaction_errors(refs, n, sk));
	if (sk)
		ret = batchpoke_apply_static(call.null ? NULL : sk_changes, call.count, call.flags,
					     &report);
	else
		ret = batchpoke_apply(call.null ? NULL : bp_changes, call.count, call.flags, &report);
	if (verdict(run, what, ret, call.errors))
		return -EINVAL;
	if (ret) {
		run->refused++;
		return 0;
	}
	if (report.sites != transaction_applied(run, refs, enable, n))
		return fuzz_fail(run, "%s reported %llu sites changed", what, report.sites);
	return 0;
}

/* What registering the refused batchpoke key @bad returns. */
static u64 bad_bp_error(int bad)
{
	switch (bad) {
	case FUZZ_BAD_RO_AFTER_INIT:
	case FUZZ_BAD_CONST:
		return ERR(EFAULT);
	case FUZZ_BAD_FAR_TARGET:
		return ERR(ERANGE);
	}
	return ERR(EINVAL);
}

/* Registers 1-3 of a client's batchpoke keys, perhaps with one mistake. */
static int step_register(struct fuzz_run *run, int slot)
{
	struct fuzz_client *client = fuzz_slots[slot].client;
	const struct batchpoke_key *keys[MAX_LISTED + 1];
	struct fuzz_ref refs[MAX_LISTED];
	unsigned int n = 1 + fuzz_below(run, 3), i, mistake = fuzz_below(run, 12);
	size_t count;
	u64 errors = 0;
	int other = other_slot(slot), bad, ret;

	for (i = 0; i < n; i++) {
		refs[i] = pick_key(run, slot, false);
		keys[i] = client->bp[refs[i].index];
		if (fuzz_key_of(refs[i])->registered)
			errors |= ERR(EEXIST);
	}
	if (listed_twice(refs, n))
		errors |= ERR(EEXIST);
	count = n;
	if (mistake == 0) {
		bad = fuzz_below(run, FUZZ_BAD_BP_COUNT);
		keys[count++] = client->bad_bp[bad];
		errors |= bad_bp_error(bad);
	} else if (mistake == 1 && other >= 0) {
		keys[count++] = fuzz_slots[other].client->bp[fuzz_below(run, FUZZ_BP_KEYS)];
		errors |= ERR(EINVAL);
	} else if (mistake == 2) {
		count = HUGE_COUNT;
		errors = ERR(E2BIG);
	} else if (mistake == 3) {
		errors = ERR(EINVAL);
	}
	ret = client->register_keys(mistake == 3 ? NULL : keys, count);
	if (verdict(run, "register", ret, errors))
		return -EINVAL;
	if (ret)
		return 0;
	for (i = 0; i < n; i++)
		fuzz_key_of(refs[i])->registered = true;
	return 0;
}

/* Registers 1-3 of a client's ordinary static keys, perhaps with one mistake. */
static int step_register_static(struct fuzz_run *run, int slot)
{
	struct fuzz_client *client = fuzz_slots[slot].client;
	struct batchpoke_static_key keys[MAX_LISTED + 1];
	struct fuzz_ref refs[MAX_LISTED];
	unsigned int n = 1 + fuzz_below(run, 3), i, mistake = fuzz_below(run, 16), j;
	static const char *const alias[] = { "alias_sk0", "alias_sk1", "alias_sk2" };
	static const char *const raw[] = { "raw_bp0", "raw_bp1", "raw_bp2", "raw_bp3" };
	size_t count;
	u64 errors = 0;
	int other = other_slot(slot), ret;

	for (i = 0; i < n; i++) {
		refs[i] = pick_key(run, slot, true);
		keys[i].key = client->sk[refs[i].index];
		keys[i].name = client->sk_name[refs[i].index];
		if (fuzz_key_of(refs[i])->registered)
			errors |= ERR(EEXIST);
		if (fuzz_key_of(refs[i])->count > 1)
			errors |= ERR(EBUSY);
	}
	if (listed_twice(refs, n))
		errors |= ERR(EEXIST);
	count = n;
	j = fuzz_below(run, FUZZ_BP_KEYS);
	switch (mistake) {
	case 0:
		keys[count++] = (struct batchpoke_static_key){ client->ro_sk, "ro_sk" };
		errors |= ERR(EFAULT);
		break;
	case 1:
		if (other < 0)
			break;
		keys[count++] = (struct batchpoke_static_key){
			fuzz_slots[other].client->sk[refs[0].index], "other_sk" };
		errors |= ERR(EPERM);
		break;
	case 2:
		keys[0].name = NULL;
		errors |= ERR(EINVAL);
		break;
	case 3:
		keys[0].name = "";
		errors |= ERR(EINVAL);
		break;
	case 4:
		keys[0].name = "bad name/";
		errors |= ERR(EINVAL);
		break;
	case 5:
		/* One struct static_key under a second name. */
		keys[count++] = (struct batchpoke_static_key){ keys[0].key, alias[refs[0].index] };
		errors |= ERR(EEXIST);
		break;
	case 6:
		/* A name a registered batchpoke key has. */
		if (!fuzz_slots[slot].bp[j].registered)
			break;
		keys[0].name = client->bp[j]->name;
		errors |= ERR(EEXIST);
		break;
	case 7:
		/* A registered batchpoke key's raw, as an ordinary static key. */
		if (!fuzz_slots[slot].bp[j].registered)
			break;
		keys[count++] = (struct batchpoke_static_key){ &client->bp[j]->raw, raw[j] };
		errors |= ERR(EEXIST);
		break;
	case 8:
		count = HUGE_COUNT;
		errors = ERR(E2BIG);
		break;
	case 9:
		errors = ERR(EINVAL);
		break;
	case 10:
		keys[count++] = (struct batchpoke_static_key){ client->far_sk, "far_sk" };
		errors |= ERR(ERANGE);
		break;
	}
	ret = client->register_static(mistake == 9 ? NULL : keys, count);
	if (verdict(run, "register_static", ret, errors))
		return -EINVAL;
	if (ret)
		return 0;
	for (i = 0; i < n; i++)
		fuzz_key_of(refs[i])->registered = true;
	return 0;
}

/*
 * Unregisters keys of any client through one client: only that client's
 * keys of that kind go. A count of 2^19 or a NULL array: nothing goes.
 */
static int step_unregister(struct fuzz_run *run, int slot, bool sk)
{
	struct fuzz_client *client = fuzz_slots[slot].client;
	const struct batchpoke_key *bp[MAX_LISTED];
	struct static_key *keys[MAX_LISTED];
	struct fuzz_ref refs[MAX_LISTED];
	unsigned int n = fuzz_below(run, MAX_LISTED), i, mistake = fuzz_below(run, 10);
	size_t count = mistake == 0 ? HUGE_COUNT : n;
	bool null = mistake == 1 && n;

	for (i = 0; i < n; i++) {
		int from = pick_slot(run);
		struct fuzz_client *owner = fuzz_slots[from].client;

		/* Now and then the other kind's pointer: never unregistered here. */
		refs[i] = pick_key(run, from, fuzz_below(run, 8) ? sk : !sk);
		if (refs[i].sk)
			keys[i] = owner->sk[refs[i].index];
		else
			keys[i] = &owner->bp[refs[i].index]->raw;
		bp[i] = (const struct batchpoke_key *)keys[i];
	}
	if (sk)
		client->unregister_static(null ? NULL : keys, count);
	else
		client->unregister_keys(null ? NULL : bp, count);
	run->returned[0]++;
	if (count != n || null)
		return 0;
	for (i = 0; i < n; i++)
		if (refs[i].slot == slot && refs[i].sk == sk)
			fuzz_key_of(refs[i])->registered = false;
	return 0;
}

/* Writes @request to batchpoke's sysfs file @file (under /sys/kernel/batchpoke). */
static int sysfs_write(const char *file, const char *request)
{
	char path[192];
	struct file *filp;
	loff_t pos = 0;
	ssize_t ret;

	snprintf(path, sizeof(path), "/sys/kernel/batchpoke/%s", file);
	filp = filp_open(path, O_WRONLY, 0);
	if (IS_ERR(filp))
		return PTR_ERR(filp);
	ret = kernel_write(filp, request, strlen(request), &pos);
	fput(filp);
	return ret < 0 ? ret : 0;
}

static int step_transaction(struct fuzz_run *run)
{
	static const char *const words[] = { "0", "1", "n", "y", "off", "on", "false", "True",
					     "NO", "yes" };
	struct fuzz_ref refs[MAX_LISTED];
	bool enable[MAX_LISTED];
	unsigned int n = 1 + fuzz_below(run, MAX_LISTED - 1), i, mistake = fuzz_below(run, 16);
	char request[512] = "", name[128];
	size_t len = 0;
	u64 errors;
	int slot = pick_slot(run), ret;

	if (slot < 0)
		n = 0;
	for (i = 0; i < n; i++) {
		unsigned int word = fuzz_below(run, ARRAY_SIZE(words));

		refs[i] = pick_key(run, pick_slot(run), fuzz_below(run, 2));
		enable[i] = word % 2;
		fuzz_full_name(refs[i], name, sizeof(name));
		len += scnprintf(request + len, sizeof(request) - len, "%s%s=%s", i ? " " : "",
				 name, words[word]);
	}
	errors = transaction_errors(refs, n, -1);
	if (mistake == 0) {
		len += scnprintf(request + len, sizeof(request) - len, " %s", "no_value");
		errors |= ERR(EINVAL);
	} else if (mistake == 1) {
		len += scnprintf(request + len, sizeof(request) - len, " fuzz.x=maybe");
		errors |= ERR(EINVAL);
	} else if (mistake == 2) {
		len += scnprintf(request + len, sizeof(request) - len, " batchpoke_fuzz_a.nokey=1");
		errors |= ERR(ENOENT);
	} else if (mistake == 3 || !n) {
		scnprintf(request, sizeof(request), " \t");
		errors = ERR(EINVAL);
		n = 0;
	}
	scnprintf(request + len, sizeof(request) - len, "\n");
	ret = sysfs_write("transaction", request);
	if (verdict(run, "transaction", ret, errors))
		return -EINVAL;
	if (ret)
		run->refused++;
	else
		transaction_applied(run, refs, enable, n);
	return 0;
}

static int step_enabled_file(struct fuzz_run *run)
{
	struct fuzz_ref ref;
	unsigned int tries;
	char file[160];
	bool enable = fuzz_below(run, 2), bad = fuzz_below(run, 10) == 0;
	int slot = pick_slot(run), ret;

	if (slot < 0)
		return step_apply(run, false);
	for (tries = 0; tries < 8; tries++) {
		ref = pick_key(run, pick_slot(run), fuzz_below(run, 2));
		if (fuzz_key_of(ref)->registered)
			break;
	}
	if (!fuzz_key_of(ref)->registered)
		return step_apply(run, false);
	ret = scnprintf(file, sizeof(file), "keys/");
	ret += fuzz_full_name(ref, file + ret, sizeof(file) - ret);
	scnprintf(file + ret, sizeof(file) - ret, "/enabled");
	ret = sysfs_write(file, bad ? "2\n" : enable ? "1\n" : "0\n");
	if (verdict(run, "enabled", ret,
		    bad ? ERR(EINVAL) : transaction_errors(&ref, 1, -1)))
		return -EINVAL;
	if (ret)
		run->refused++;
	else
		transaction_applied(run, &ref, &enable, 1);
	return 0;
}

/* The kernel's static-key API on a client's ordinary static key. */
static int step_kernel(struct fuzz_run *run, int slot)
{
	struct fuzz_ref ref = pick_key(run, slot, true);
	struct fuzz_key *key = fuzz_key_of(ref);
	struct static_key *sk = fuzz_slots[slot].client->sk[ref.index];

	/* enable and disable WARN on a count above 1: never asked then. */
	switch (fuzz_below(run, 4)) {
	case 0:
		if (key->count > 1)
			break;
		static_key_enable(sk);
		key->count = 1;
		break;
	case 1:
		if (key->count > 1)
			break;
		static_key_disable(sk);
		key->count = 0;
		break;
	case 2:
		if (key->count > 1)
			break;
		static_key_slow_inc(sk);
		key->count++;
		break;
	case 3:
		if (!key->count)
			break;
		static_key_slow_dec(sk);
		key->count--;
		break;
	}
	key->state = key->count > 0;
	run->returned[0]++;
	return 0;
}

int fuzz_step(struct fuzz_run *run)
{
	unsigned int total = 0, draw, op;
	int slot = pick_slot(run);

	for (op = 0; op < OP_COUNT; op++)
		total += op_weights[op];
	draw = fuzz_below(run, total);
	for (op = 0; draw >= op_weights[op]; op++)
		draw -= op_weights[op];
	if (slot < 0 && op != OP_TRANSACTION)
		op = OP_APPLY;
	switch (op) {
	case OP_APPLY:
		return step_apply(run, false);
	case OP_APPLY_STATIC:
		return step_apply(run, true);
	case OP_REGISTER:
		return step_register(run, slot);
	case OP_REGISTER_STATIC:
		return step_register_static(run, slot);
	case OP_UNREGISTER:
		return step_unregister(run, slot, false);
	case OP_UNREGISTER_STATIC:
		return step_unregister(run, slot, true);
	case OP_TRANSACTION:
		return step_transaction(run);
	case OP_ENABLED_FILE:
		return step_enabled_file(run);
	default:
		return step_kernel(run, slot);
	}
}
