/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for kernel macros and inline functions that have no symbol to
 * bind to, in the manner of the kernel's rust/helpers/.
 */
#ifndef BATCHPOKE_HELPERS_H
#define BATCHPOKE_HELPERS_H

#include <linux/types.h>

/* The running kernel's release string (utsname()->release). */
const char *batchpoke_helper_uts_release(void);

#endif
