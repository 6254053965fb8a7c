// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke's client API, implemented in Rust (rust/entry/exports.rs) and
 * declared in batchpoke_api/batchpoke.h, the ABI client modules link
 * against.
 */
#include <linux/export.h>

#include "batchpoke_api/batchpoke.h"

EXPORT_SYMBOL_GPL(batchpoke_register_keys);
EXPORT_SYMBOL_GPL(batchpoke_unregister_keys);
EXPORT_SYMBOL_GPL(batchpoke_apply);
EXPORT_SYMBOL_GPL(batchpoke_read_stats);
EXPORT_SYMBOL_GPL(batchpoke_register_static_keys);
EXPORT_SYMBOL_GPL(batchpoke_unregister_static_keys);
EXPORT_SYMBOL_GPL(batchpoke_apply_static);
