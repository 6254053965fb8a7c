// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's own path for batchpoke_bench: the same layout of branch
 * sites as the bench's batchpoke keys (64 keys with 1, 16 and 256 sites
 * each), on ordinary static keys flipped with static_key_enable() and
 * static_key_disable(), i.e. the kernel's batched smp_text_poke machinery.
 */
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/jump_label.h>

#include "bench.h"

DEFINE_STATIC_KEY_ARRAY_FALSE(bench_g1, 64);
DEFINE_STATIC_KEY_ARRAY_FALSE(bench_g16, 64);
DEFINE_STATIC_KEY_ARRAY_FALSE(bench_g256, 64);

#define SITE(arr, i) n += static_branch_unlikely(&arr[i]);
#define X1(s) s
#define X16(s) s s s s s s s s s s s s s s s s
#define X256(s) X16(X16(s))

#define RUNNER(arr, rep, i) \
	static noinline int run_##arr##_##i(void) { int n = 0; rep(SITE(arr, i)) return n; }
#define ENTRY(arr, rep, i) run_##arr##_##i,

#define FOR_64(M, arr, rep) \
	M(arr, rep, 0) \
	M(arr, rep, 1) \
	M(arr, rep, 2) \
	M(arr, rep, 3) \
	M(arr, rep, 4) \
	M(arr, rep, 5) \
	M(arr, rep, 6) \
	M(arr, rep, 7) \
	M(arr, rep, 8) \
	M(arr, rep, 9) \
	M(arr, rep, 10) \
	M(arr, rep, 11) \
	M(arr, rep, 12) \
	M(arr, rep, 13) \
	M(arr, rep, 14) \
	M(arr, rep, 15) \
	M(arr, rep, 16) \
	M(arr, rep, 17) \
	M(arr, rep, 18) \
	M(arr, rep, 19) \
	M(arr, rep, 20) \
	M(arr, rep, 21) \
	M(arr, rep, 22) \
	M(arr, rep, 23) \
	M(arr, rep, 24) \
	M(arr, rep, 25) \
	M(arr, rep, 26) \
	M(arr, rep, 27) \
	M(arr, rep, 28) \
	M(arr, rep, 29) \
	M(arr, rep, 30) \
	M(arr, rep, 31) \
	M(arr, rep, 32) \
	M(arr, rep, 33) \
	M(arr, rep, 34) \
	M(arr, rep, 35) \
	M(arr, rep, 36) \
	M(arr, rep, 37) \
	M(arr, rep, 38) \
	M(arr, rep, 39) \
	M(arr, rep, 40) \
	M(arr, rep, 41) \
	M(arr, rep, 42) \
	M(arr, rep, 43) \
	M(arr, rep, 44) \
	M(arr, rep, 45) \
	M(arr, rep, 46) \
	M(arr, rep, 47) \
	M(arr, rep, 48) \
	M(arr, rep, 49) \
	M(arr, rep, 50) \
	M(arr, rep, 51) \
	M(arr, rep, 52) \
	M(arr, rep, 53) \
	M(arr, rep, 54) \
	M(arr, rep, 55) \
	M(arr, rep, 56) \
	M(arr, rep, 57) \
	M(arr, rep, 58) \
	M(arr, rep, 59) \
	M(arr, rep, 60) \
	M(arr, rep, 61) \
	M(arr, rep, 62) \
	M(arr, rep, 63)

FOR_64(RUNNER, bench_g1, X1)
FOR_64(RUNNER, bench_g16, X16)
FOR_64(RUNNER, bench_g256, X256)

static int (*const runners[3][64])(void) = {
	{ FOR_64(ENTRY, bench_g1, X1) },
	{ FOR_64(ENTRY, bench_g16, X16) },
	{ FOR_64(ENTRY, bench_g256, X256) },
};

struct static_key_false *batchpoke_bench_kernel_keys(int group)
{
	switch (group) {
	case 0: return bench_g1;
	case 1: return bench_g16;
	case 2: return bench_g256;
	}
	return NULL;
}

int batchpoke_bench_kernel_set(int group, int key, bool enable)
{
	struct static_key_false *keys = batchpoke_bench_kernel_keys(group);

	if (!keys || key < 0 || key >= 64)
		return -EINVAL;
	if (enable)
		static_key_enable(&keys[key].key);
	else
		static_key_disable(&keys[key].key);
	return 0;
}

int batchpoke_bench_kernel_run(int group, int key)
{
	if (group < 0 || group >= 3 || key < 0 || key >= 64)
		return -EINVAL;
	return runners[group][key]();
}
