/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel declarations batchpoke binds to that `kernel::bindings` does not
 * provide. Processed by scripts/gen-bindings.sh with the target kernel's
 * own bindgen flags.
 */
#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/jump_label.h>
#include <linux/kdebug.h>
#include <linux/kobject.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/seq_file.h>
#include <linux/smp.h>
#include <linux/sysfs.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>

#include "../entry/batchpoke_api/batchpoke.h"
#include "helpers.h"
