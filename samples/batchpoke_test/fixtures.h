/* SPDX-License-Identifier: GPL-2.0 */
/* Test fixtures of batchpoke_test (fixtures.c), called from test_main.rs. */
#ifndef BATCHPOKE_TEST_FIXTURES_H
#define BATCHPOKE_TEST_FIXTURES_H

#include <linux/types.h>

struct task_struct;

int batchpoke_test_start_threads(int (*fn)(void *), void *data, struct task_struct **tasks,
				 int max);
void batchpoke_test_hrtimer_start(void (*fn)(void *), void *data, u64 period_ns);
void batchpoke_test_hrtimer_stop(void);
int batchpoke_test_write_text(unsigned long addr, u8 byte);
int batchpoke_test_try_kprobe(const char *sym, unsigned long addr);
void batchpoke_test_nap(void);
int batchpoke_test_start_away(int (*fn)(void *), void *data, struct task_struct **task);
void batchpoke_test_stop_away(struct task_struct *task);

/* What batchpoke_test_decode() found. */
enum {
	BATCHPOKE_TEST_OTHER = 0,
	BATCHPOKE_TEST_NOP5 = 1,
	BATCHPOKE_TEST_JMP32 = 2,
	/* test eax, imm32: a batchpoke key's registered fall-through form. */
	BATCHPOKE_TEST_TEST32 = 3,
};
int batchpoke_test_decode(unsigned long addr, unsigned long *target);

/* The parallel_flips module parameter. */
extern unsigned int batchpoke_test_parallel_flips;

int batchpoke_test_nmi_start(void (*fn)(void *), void *data);
void batchpoke_test_nmi_raise(void);
void batchpoke_test_nmi_stop(void);

#endif
