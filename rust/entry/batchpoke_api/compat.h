/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of rust/entry/batchpoke_api/compat.rs: kernel API differences
 * between the kernels batchpoke supports (Linux 7.3 and 6.12 LTS), for
 * the C helpers of the samples.
 */
#ifndef BATCHPOKE_COMPAT_H
#define BATCHPOKE_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/version.h>

/* hrtimer_setup() arrived in 6.13. */
#define BATCHPOKE_HAVE_HRTIMER_SETUP (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0))

#if !BATCHPOKE_HAVE_HRTIMER_SETUP
static inline void batchpoke_hrtimer_setup(struct hrtimer *timer,
					   enum hrtimer_restart (*function)(struct hrtimer *),
					   clockid_t clock_id, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
}
#else
#define batchpoke_hrtimer_setup hrtimer_setup
#endif

#endif
