/* SPDX-License-Identifier: GPL-2.0 */
/* The C half of batchpoke_demo: timer, kthread and sysfs plumbing. */
#ifndef BATCHPOKE_DEMO_GLUE_H
#define BATCHPOKE_DEMO_GLUE_H

#include <linux/types.h>

/* Implemented in Rust (demo_main.rs). */
void batchpoke_demo_timer_tick(void);
void batchpoke_demo_worker_step(void);
/* Writes "name value\n" lines for every counter into @buf (PAGE_SIZE). */
ssize_t batchpoke_demo_show_counters(char *buf);

/* Implemented in C (demo_glue.c). */
extern bool batchpoke_demo_forget;
extern bool batchpoke_demo_serial_loop;
int batchpoke_demo_glue_start(void);
void batchpoke_demo_glue_stop(void);

#endif
