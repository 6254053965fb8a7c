// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/batchpoke/sites, for tests: every site of every live
 * key with the bytes it holds, read from the text when the file is read.
 * The file operations are C because DEFINE_SHOW_ATTRIBUTE() and, on 7.3,
 * debugfs_create_file() are macros; the lines are written by Rust
 * (rust/sys/debugfs.rs).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "helpers.h"

/*
 * rust/sys/debugfs.rs. Called directly, never through a function pointer,
 * so no kCFI type hash has to match a Rust signature.
 */
int batchpoke_debugfs_sites(struct seq_file *m);

static int batchpoke_sites_show(struct seq_file *m, void *v)
{
	return batchpoke_debugfs_sites(m);
}
DEFINE_SHOW_ATTRIBUTE(batchpoke_sites);

struct dentry *batchpoke_debugfs_create(void)
{
	struct dentry *dir = debugfs_create_dir("batchpoke", NULL);

	/* Root only: the lines give kernel text addresses. */
	debugfs_create_file("sites", 0400, dir, NULL, &batchpoke_sites_fops);
	return dir;
}

void batchpoke_debugfs_remove(struct dentry *dir)
{
	debugfs_remove(dir);
}
