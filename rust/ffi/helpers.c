// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for kernel macros and inline functions that have no symbol to
 * bind to, in the manner of the kernel's rust/helpers/.
 */
#include <linux/utsname.h>

#include "helpers.h"

const char *batchpoke_helper_uts_release(void)
{
	return utsname()->release;
}
