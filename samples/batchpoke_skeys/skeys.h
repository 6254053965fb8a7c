/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BATCHPOKE_SKEYS_H
#define BATCHPOKE_SKEYS_H

#include <linux/jump_label.h>
#include <linux/kobject.h>
#include <linux/types.h>

/* Defined and registered by batchpoke_skeys, used by batchpoke_skeys_user too. */
DECLARE_STATIC_KEY_FALSE(skshared);

/* Within batchpoke_skeys: key @n (0..63) and a run of its four sites. */
struct static_key *skeys_key(unsigned int n);
void skeys_probe(unsigned int n, u8 *sites);
/* The race file (race.c). */
extern struct kobj_attribute skeys_race_attr;

#endif
