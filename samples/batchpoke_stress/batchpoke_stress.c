// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke_stress: the kernel's own text patchers, run beside batchpoke by
 * scripts/selftest/coexist.sh. Each part is a kthread started by a module
 * parameter; the shell loads the module, flips batchpoke keys, unloads it
 * and checks the counters (debugfs batchpoke_stress/counters while loaded,
 * the kernel log at unload).
 *
 * probe=A[,B]      a kthread per address registers and unregisters a
 *                  kprobe there in a loop. With the address above every
 *                  site of a module, kprobes decode all of that module's
 *                  jump-label sites (jump_label_text_reserved()) on each
 *                  registration, under jump_label_mutex alone.
 * key=K[,L]        the struct static_key of a batchpoke key (its Key.raw)
 * table=T[,U]      and the __jump_table of the module owning it
 *                  (/sys/module/<module>/sections/__jump_table): between
 *                  registrations the kthread of the same index tries
 *                  kprobes on the key's sites, which kprobes must refuse
 *                  with -EINVAL.
 * static_keys=1    flip this module's own static keys with
 *                  static_branch_enable()/disable() and check their sites.
 * hit_probe=1      a kprobe on a function of this module that a kthread
 *                  calls in a loop, checking its result.
 *
 * A test fixture: never load it outside a test machine.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jump_label.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define STORMS 2

static unsigned long probe[STORMS];
static int nr_probe;
module_param_array(probe, ulong, &nr_probe, 0444);
MODULE_PARM_DESC(probe, "Addresses to register/unregister a kprobe at in a loop");

static unsigned long key[STORMS];
static int nr_key;
module_param_array(key, ulong, &nr_key, 0444);
MODULE_PARM_DESC(key, "struct static_key whose sites kprobes must refuse, one per probe");

static unsigned long table[STORMS];
static int nr_table;
module_param_array(table, ulong, &nr_table, 0444);
MODULE_PARM_DESC(table, "__jump_table of the module owning each key");

static bool static_keys;
module_param(static_keys, bool, 0444);
MODULE_PARM_DESC(static_keys, "Flip this module's static keys in a loop");

static bool hit_probe;
module_param(hit_probe, bool, 0444);
MODULE_PARM_DESC(hit_probe, "Keep hitting a kprobe on a function of this module");

/* No key has more sites than this; it bounds the walk of the jump table. */
#define MAX_SITES 65536

/* Each counter is written by one kthread only and read by anyone. */
struct storm {
	unsigned long probe;
	unsigned long *sites;
	unsigned long nr_sites, max_site;
	unsigned long registered, reg_failed, site_tries, site_einval, site_accepted, site_other;
	long last_reg_err, last_site_err;
};
static struct storm storms[STORMS];

static struct {
	unsigned long key_flips, key_mismatches;
	unsigned long calls, bad_results, hits, post_hits;
} cnt;

#define BUMP(var) WRITE_ONCE(var, (var) + 1)

/*
 * The sites of the key at @addr, from the jump table at @table of the
 * module that owns it. The loader sorts a module's table by key, so the
 * key's entries follow one another; batchpoke unlinks the key from them
 * at registration, so they are found by walking the table rather than
 * through the key. The table's end is not known here: entries are copied
 * without trusting the mapping, and the walk is bounded.
 */
static int find_sites(struct storm *s, unsigned long addr, unsigned long table)
{
	struct jump_entry *e = (struct jump_entry *)table;
	struct jump_entry copy;
	unsigned long n;

	s->sites = kvmalloc_array(MAX_SITES, sizeof(*s->sites), GFP_KERNEL);
	if (!s->sites)
		return -ENOMEM;
	for (n = 0; n < 4 * MAX_SITES && s->nr_sites < MAX_SITES; n++, e++) {
		unsigned long code;

		if (copy_from_kernel_nofault(&copy, e, sizeof(copy)))
			break;
		if ((unsigned long)&e->key + (copy.key & ~3L) != addr) {
			if (s->nr_sites)
				break;
			continue;
		}
		code = (unsigned long)&e->code + copy.code;
		s->sites[s->nr_sites++] = code;
		s->max_site = max(s->max_site, code);
	}
	return s->nr_sites ? 0 : -ENOENT;
}

static int try_probe(unsigned long addr)
{
	struct kprobe kp = { .addr = (kprobe_opcode_t *)addr };
	int ret = register_kprobe(&kp);

	if (!ret)
		unregister_kprobe(&kp);
	return ret;
}

static int storm_fn(void *data)
{
	struct storm *s = data;
	unsigned long i = 0;
	int ret;

	while (!kthread_should_stop()) {
		if (s->probe) {
			ret = try_probe(s->probe);
			if (!ret) {
				BUMP(s->registered);
			} else {
				BUMP(s->reg_failed);
				WRITE_ONCE(s->last_reg_err, ret);
			}
		}
		/*
		 * A refused probe costs no grace period: several tries per
		 * registration keep a decode of the sites in flight most of
		 * the time.
		 */
		for (int j = 0; s->nr_sites && j < 8; j++, i++) {
			ret = try_probe(s->sites[i % s->nr_sites]);
			if (ret == -EINVAL) {
				BUMP(s->site_einval);
			} else if (!ret) {
				BUMP(s->site_accepted);
			} else {
				BUMP(s->site_other);
				WRITE_ONCE(s->last_site_err, ret);
			}
			BUMP(s->site_tries);
		}
		cond_resched();
	}
	return 0;
}

static DEFINE_STATIC_KEY_FALSE(stress_off);
static DEFINE_STATIC_KEY_TRUE(stress_on);

/* How many of this function's eight sites say true: 4 per key that is set. */
static noinline int run_key_sites(void)
{
	int yes = 0;

	yes += static_branch_unlikely(&stress_off);
	yes += static_branch_likely(&stress_on);
	barrier();
	yes += static_branch_unlikely(&stress_off);
	yes += static_branch_likely(&stress_on);
	barrier();
	yes += static_branch_unlikely(&stress_off);
	yes += static_branch_likely(&stress_on);
	barrier();
	yes += static_branch_unlikely(&stress_off);
	yes += static_branch_likely(&stress_on);
	return yes;
}

static int keys_fn(void *unused)
{
	unsigned long i = 0;

	while (!kthread_should_stop()) {
		bool off = i & 1, on = !(i & 2);

		if (off)
			static_branch_enable(&stress_off);
		else
			static_branch_disable(&stress_off);
		if (on)
			static_branch_enable(&stress_on);
		else
			static_branch_disable(&stress_on);
		BUMP(cnt.key_flips);
		if (run_key_sites() != 4 * off + 4 * on)
			BUMP(cnt.key_mismatches);
		i++;
		/* Often enough to overlap batches, without starving them. */
		usleep_range(500, 1000);
	}
	static_branch_disable(&stress_off);
	static_branch_enable(&stress_on);
	return 0;
}

noinline unsigned long batchpoke_stress_probed(unsigned long x);
noinline unsigned long batchpoke_stress_probed(unsigned long x)
{
	barrier();
	return x * 7 + 3;
}

static int hit_pre(struct kprobe *p, struct pt_regs *regs)
{
	BUMP(cnt.hits);
	return 0;
}

/* A post handler keeps the probe an int3 one: such probes are never optimized. */
static void hit_post(struct kprobe *p, struct pt_regs *regs, unsigned long flags)
{
	BUMP(cnt.post_hits);
}

static struct kprobe hit_kp = {
	.pre_handler = hit_pre,
	.post_handler = hit_post,
};
static bool hit_kp_registered;

static int caller_fn(void *unused)
{
	unsigned long x = 0;

	while (!kthread_should_stop()) {
		if (batchpoke_stress_probed(x) != x * 7 + 3)
			BUMP(cnt.bad_results);
		BUMP(cnt.calls);
		if (!(++x % 64))
			usleep_range(50, 100);
	}
	return 0;
}

/* One line per counter, "name value"; a storm's counters are "stormN.name". */
static int counters_show(struct seq_file *m, void *unused)
{
	for (int i = 0; i < STORMS; i++) {
		struct storm *s = &storms[i];

#define SHOW(field) seq_printf(m, "storm%d." #field " %ld\n", i, (long)READ_ONCE(s->field))
		SHOW(registered);
		SHOW(reg_failed);
		SHOW(last_reg_err);
		SHOW(site_tries);
		SHOW(site_einval);
		SHOW(site_accepted);
		SHOW(site_other);
		SHOW(last_site_err);
		SHOW(nr_sites);
#undef SHOW
		seq_printf(m, "storm%d.probe 0x%lx\nstorm%d.max_site 0x%lx\n", i, s->probe, i,
			   s->max_site);
	}
#define SHOW(field) seq_printf(m, #field " %ld\n", (long)READ_ONCE(cnt.field))
	SHOW(key_flips);
	SHOW(key_mismatches);
	SHOW(calls);
	SHOW(bad_results);
	SHOW(hits);
	SHOW(post_hits);
#undef SHOW
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(counters);

enum { CALLER, KEYS, STORM0 };
static struct task_struct *threads[STORM0 + STORMS];
static struct dentry *dir;

static void stop_all(void)
{
	for (int i = 0; i < ARRAY_SIZE(threads); i++) {
		if (threads[i])
			kthread_stop(threads[i]);
		threads[i] = NULL;
	}
	if (hit_kp_registered)
		unregister_kprobe(&hit_kp);
	hit_kp_registered = false;
	debugfs_remove(dir);
	for (int i = 0; i < STORMS; i++)
		kvfree(storms[i].sites);
}

static int start(int i, int (*fn)(void *), void *data, const char *name)
{
	struct task_struct *t = kthread_run(fn, data, "bp_stress/%s", name);

	if (IS_ERR(t))
		return PTR_ERR(t);
	threads[i] = t;
	return 0;
}

static int __init stress_init(void)
{
	int ret;

	for (int i = 0; i < STORMS; i++) {
		struct storm *s = &storms[i];

		if (i < nr_key && key[i]) {
			ret = i < nr_table ? find_sites(s, key[i], table[i]) : -EINVAL;
			if (ret)
				goto fail;
		}
		/* A probe that cannot be registered at all makes the load fail. */
		if (i < nr_probe && probe[i]) {
			s->probe = probe[i];
			ret = try_probe(s->probe);
			if (ret) {
				pr_err("batchpoke_stress: no kprobe at %pS: %d\n", (void *)s->probe,
				       ret);
				goto fail;
			}
		}
	}
	dir = debugfs_create_dir("batchpoke_stress", NULL);
	debugfs_create_file("counters", 0444, dir, NULL, &counters_fops);
	if (hit_probe) {
		hit_kp.addr = (kprobe_opcode_t *)batchpoke_stress_probed;
		ret = register_kprobe(&hit_kp);
		if (ret)
			goto fail;
		hit_kp_registered = true;
		ret = start(CALLER, caller_fn, NULL, "caller");
		if (ret)
			goto fail;
	}
	if (static_keys) {
		ret = start(KEYS, keys_fn, NULL, "keys");
		if (ret)
			goto fail;
	}
	for (int i = 0; i < STORMS; i++) {
		if (storms[i].probe || storms[i].nr_sites) {
			ret = start(STORM0 + i, storm_fn, &storms[i], "kprobes");
			if (ret)
				goto fail;
		}
	}
	return 0;
fail:
	stop_all();
	return ret;
}

static void __exit stress_exit(void)
{
	stop_all();
	/* The final counts, for the shell to check after the threads stopped. */
	for (int i = 0; i < STORMS; i++) {
		struct storm *s = &storms[i];

		if (s->probe || s->nr_sites)
			pr_info("batchpoke_stress: storm%d registered=%lu reg_failed=%lu last_reg_err=%ld site_tries=%lu site_einval=%lu site_accepted=%lu site_other=%lu last_site_err=%ld\n",
				i, s->registered, s->reg_failed, s->last_reg_err, s->site_tries,
				s->site_einval, s->site_accepted, s->site_other, s->last_site_err);
	}
	pr_info("batchpoke_stress: patchers key_flips=%lu key_mismatches=%lu calls=%lu bad_results=%lu hits=%lu post_hits=%lu\n",
		cnt.key_flips, cnt.key_mismatches, cnt.calls, cnt.bad_results, cnt.hits,
		cnt.post_hits);
}

module_init(stress_init);
module_exit(stress_exit);
MODULE_DESCRIPTION("batchpoke selftest: the kernel's text patchers beside batchpoke");
MODULE_LICENSE("GPL");
