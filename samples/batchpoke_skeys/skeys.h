/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BATCHPOKE_SKEYS_H
#define BATCHPOKE_SKEYS_H

#include <linux/jump_label.h>

/* Defined and registered by batchpoke_skeys, used by batchpoke_skeys_user too. */
DECLARE_STATIC_KEY_FALSE(skshared);

#endif
