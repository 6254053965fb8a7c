/* SPDX-License-Identifier: GPL-2.0 */
/* The C half of batchpoke_bench: kernel static keys, spinner, sysfs. */
#ifndef BATCHPOKE_BENCH_H
#define BATCHPOKE_BENCH_H

#include <linux/types.h>

/* kernel_keys.c */
int batchpoke_bench_kernel_set(int group, int key, bool enable);
int batchpoke_bench_kernel_run(int group, int key);
struct static_key_false;
struct static_key_false *batchpoke_bench_kernel_keys(int group);

/* workloads.c */
struct batchpoke_key;
void batchpoke_bench_workloads_init(void);
struct batchpoke_key *batchpoke_bench_workload_keys(int w, size_t *count);
int batchpoke_bench_workload_run(int w, bool kernel);
int batchpoke_bench_workload_kernel_set(int w, int key, bool enable);
struct static_key_false *batchpoke_bench_workload_kernel_keys(int w, unsigned int *count);

/* static_twins.c */
struct module;
int batchpoke_bench_twins_register(struct module *owner);
void batchpoke_bench_twins_unregister(struct module *owner);
int batchpoke_bench_twins_apply(int code, int keys, bool enable);

/* bench_glue.c */
int batchpoke_bench_glue_start(void);
void batchpoke_bench_glue_stop(void);
int batchpoke_bench_spinner_start(int cpu);
void batchpoke_bench_spinner_stop(void);
u64 batchpoke_bench_now_ns(void);

/* bench_main.rs */
u64 batchpoke_bench_spin_once(u64 last);
ssize_t batchpoke_bench_run_store(const char *buf, size_t count);
ssize_t batchpoke_bench_result_show(char *buf);

#endif
