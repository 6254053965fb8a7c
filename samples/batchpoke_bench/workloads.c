// SPDX-License-Identifier: GPL-2.0
/*
 * Workloads people have, beside the bench's grid, each twice: as
 * batchpoke keys (struct batchpoke_key from batchpoke.h) and, with the
 * same layout of sites, as ordinary static keys.
 *
 *   ddebug  1900 keys x 1 site    dynamic debug's "+p" over every callsite
 *                                 (the March 2026 RFC that batched it)
 *   bpf        1 key x 164 sites  bpf_stats_enabled_key
 *   sched      1 key x 56 sites   sched_schedstats (the seed's example)
 *
 * Sites of array elements cannot go through batchpoke_branch_unlikely(),
 * which names one variable, so they use the header's site primitive
 * directly with the element's address.
 */
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/sprintf.h>

#include <batchpoke.h>

#include "bench.h"

#define DDEBUG_KEYS 1900

static struct batchpoke_key ddebug[DDEBUG_KEYS];
static char ddebug_names[DDEBUG_KEYS][sizeof("dd_1899")];
static struct batchpoke_key bpf_stats[1];
static struct batchpoke_key schedstats[1];

DEFINE_STATIC_KEY_ARRAY_FALSE(kernel_ddebug, DDEBUG_KEYS);
DEFINE_STATIC_KEY_ARRAY_FALSE(kernel_bpf_stats, 1);
DEFINE_STATIC_KEY_ARRAY_FALSE(kernel_schedstats, 1);

#define BP_SITE(arr, i) n += __batchpoke_branch(&arr[i], false, false);
#define K_SITE(arr, i) n += static_branch_unlikely(&arr[i]);

/* S(arr, i) for every i in [b, b + 10), [b, b + 100). */
#define REP10(S, arr, b)                                                        \
	S(arr, (b) + 0) S(arr, (b) + 1) S(arr, (b) + 2) S(arr, (b) + 3)         \
	S(arr, (b) + 4) S(arr, (b) + 5) S(arr, (b) + 6) S(arr, (b) + 7)         \
	S(arr, (b) + 8) S(arr, (b) + 9)
#define REP100(S, arr, b)                                                       \
	REP10(S, arr, (b) + 0) REP10(S, arr, (b) + 10) REP10(S, arr, (b) + 20)  \
	REP10(S, arr, (b) + 30) REP10(S, arr, (b) + 40) REP10(S, arr, (b) + 50) \
	REP10(S, arr, (b) + 60) REP10(S, arr, (b) + 70) REP10(S, arr, (b) + 80) \
	REP10(S, arr, (b) + 90)
/*
 * The 1,900 sites of a ddebug workload, as 19 functions of 100: one function
 * of 1,900 has a stack frame of 7.6 KiB under clang's KASAN and kCFI builds.
 */
#define PART100(fn, S, arr, b)                                                  \
	static noinline int fn##_##b(void) { int n = 0; REP100(S, arr, b) return n; }
#define PARTS1900(fn, S, arr)                                                   \
	PART100(fn, S, arr, 0) PART100(fn, S, arr, 100) PART100(fn, S, arr, 200) \
	PART100(fn, S, arr, 300) PART100(fn, S, arr, 400)                       \
	PART100(fn, S, arr, 500) PART100(fn, S, arr, 600)                       \
	PART100(fn, S, arr, 700) PART100(fn, S, arr, 800)                       \
	PART100(fn, S, arr, 900) PART100(fn, S, arr, 1000)                      \
	PART100(fn, S, arr, 1100) PART100(fn, S, arr, 1200)                     \
	PART100(fn, S, arr, 1300) PART100(fn, S, arr, 1400)                     \
	PART100(fn, S, arr, 1500) PART100(fn, S, arr, 1600)                     \
	PART100(fn, S, arr, 1700) PART100(fn, S, arr, 1800)                     \
	static noinline int fn(void)                                            \
	{                                                                       \
		return fn##_0() + fn##_100() + fn##_200() + fn##_300() +        \
		       fn##_400() + fn##_500() + fn##_600() + fn##_700() +      \
		       fn##_800() + fn##_900() + fn##_1000() + fn##_1100() +    \
		       fn##_1200() + fn##_1300() + fn##_1400() + fn##_1500() +  \
		       fn##_1600() + fn##_1700() + fn##_1800();                 \
	}

/* S(arr, 0) 4, 8, 16, 56 or 164 times. */
#define TIMES4(S, arr) S(arr, 0) S(arr, 0) S(arr, 0) S(arr, 0)
#define TIMES8(S, arr) TIMES4(S, arr) TIMES4(S, arr)
#define TIMES16(S, arr) TIMES8(S, arr) TIMES8(S, arr)
#define TIMES56(S, arr) TIMES16(S, arr) TIMES16(S, arr) TIMES16(S, arr) TIMES8(S, arr)
#define TIMES164(S, arr)                                                        \
	TIMES16(S, arr) TIMES16(S, arr) TIMES16(S, arr) TIMES16(S, arr)         \
	TIMES16(S, arr) TIMES16(S, arr) TIMES16(S, arr) TIMES16(S, arr)         \
	TIMES16(S, arr) TIMES16(S, arr) TIMES4(S, arr)

/* Every site of a workload, in one function the spinner runs. */
PARTS1900(bp_ddebug, BP_SITE, ddebug)
PARTS1900(k_ddebug, K_SITE, kernel_ddebug)
static noinline int bp_bpf(void) { int n = 0; TIMES164(BP_SITE, bpf_stats) return n; }
static noinline int k_bpf(void) { int n = 0; TIMES164(K_SITE, kernel_bpf_stats) return n; }
static noinline int bp_sched(void) { int n = 0; TIMES56(BP_SITE, schedstats) return n; }
static noinline int k_sched(void) { int n = 0; TIMES56(K_SITE, kernel_schedstats) return n; }

struct workload {
	struct batchpoke_key *keys;
	struct static_key_false *kernel_keys;
	unsigned int count;
	int (*run)(void);
	int (*kernel_run)(void);
};

static const struct workload workloads[] = {
	{ ddebug, kernel_ddebug, DDEBUG_KEYS, bp_ddebug, k_ddebug },
	{ bpf_stats, kernel_bpf_stats, 1, bp_bpf, k_bpf },
	{ schedstats, kernel_schedstats, 1, bp_sched, k_sched },
};

static const struct workload *workload(int w)
{
	return w >= 0 && w < ARRAY_SIZE(workloads) ? &workloads[w] : NULL;
}

void batchpoke_bench_workloads_init(void)
{
	unsigned int i;

	for (i = 0; i < DDEBUG_KEYS; i++) {
		snprintf(ddebug_names[i], sizeof(ddebug_names[i]), "dd_%u", i);
		ddebug[i].name = ddebug_names[i];
	}
	bpf_stats[0].name = "bpf_stats_enabled";
	schedstats[0].name = "sched_schedstats";
}

struct batchpoke_key *batchpoke_bench_workload_keys(int w, size_t *count)
{
	const struct workload *wl = workload(w);

	*count = wl ? wl->count : 0;
	return wl ? wl->keys : NULL;
}

int batchpoke_bench_workload_run(int w, bool kernel)
{
	const struct workload *wl = workload(w);

	if (!wl)
		return -EINVAL;
	return kernel ? wl->kernel_run() : wl->run();
}

struct static_key_false *batchpoke_bench_workload_kernel_keys(int w, unsigned int *count)
{
	const struct workload *wl = workload(w);

	*count = wl ? wl->count : 0;
	return wl ? wl->kernel_keys : NULL;
}

int batchpoke_bench_workload_kernel_set(int w, int key, bool enable)
{
	const struct workload *wl = workload(w);

	if (!wl || key < 0 || key >= wl->count)
		return -EINVAL;
	if (enable)
		static_key_enable(&wl->kernel_keys[key].key);
	else
		static_key_disable(&wl->kernel_keys[key].key);
	return 0;
}
