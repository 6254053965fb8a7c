// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/batchpoke/, for tests:
 *
 * sites: every site of every live key with the bytes it holds, read from
 *   the text when the file is read. The lines are written by Rust
 *   (rust/entry/debugfs.rs).
 * trap: write a kernel address; the int3 handler is called as if a CPU had
 *   trapped on an int3 there (a stale fetch, say), and reading gives its
 *   verdict: "stop 0x<where the CPU continues>" or "done" (not batchpoke's),
 *   then "table <N> sites": how many sites the handler knows, and
 *   "replaced <N> times": how often its table was installed or cleared.
 *
 * The file operations are C because DEFINE_SHOW_ATTRIBUTE() and, on 7.3,
 * debugfs_create_file() are macros.
 */
#include <linux/debugfs.h>
#include <linux/irqflags.h>
#include <linux/kdebug.h>
#include <linux/notifier.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/signal.h>
#include <linux/uaccess.h>
#include <asm/ptrace.h>
#include <asm/segment.h>
#include <asm/trapnr.h>

#include "../machine/helpers.h"

/*
 * rust/entry/debugfs.rs. Called directly, never through a function pointer,
 * so no kCFI type hash has to match a Rust signature.
 */
int batchpoke_debugfs_sites(struct seq_file *m);

static int batchpoke_sites_show(struct seq_file *m, void *v)
{
	return batchpoke_debugfs_sites(m);
}
DEFINE_SHOW_ATTRIBUTE(batchpoke_sites);

/*
 * rust/machine/int3.rs: the die notifier's callback, and the number of sites in
 * the handler's table (under rcu_read_lock()), called directly.
 */
int batchpoke_int3_notify(struct notifier_block *nb, unsigned long val, void *data);
size_t batchpoke_int3_table_len(void);
size_t batchpoke_int3_table_replacements(void);

/* The last verdict of the trap file: 0 before the first write. */
static atomic_long_t trap_verdict;
#define TRAP_DONE 1UL

static ssize_t batchpoke_trap_write(struct file *file, const char __user *buf, size_t count,
				    loff_t *ppos)
{
	struct pt_regs regs = {};
	struct die_args args = {
		.regs = &regs,
		.str = "int3",
		.trapnr = X86_TRAP_BP,
		.signr = SIGTRAP,
	};
	unsigned long addr, flags;
	int ret;

	ret = kstrtoul_from_user(buf, count, 0, &addr);
	if (ret)
		return ret;
	/* What exc_int3() leaves for a kernel-mode int3 at @addr. */
	regs.ip = addr + 1;
	regs.cs = __KERNEL_CS;
	/* The die chain calls its notifiers under rcu_read_lock(), IRQs off. */
	local_irq_save(flags);
	rcu_read_lock();
	ret = batchpoke_int3_notify(NULL, DIE_INT3, &args);
	rcu_read_unlock();
	local_irq_restore(flags);
	atomic_long_set(&trap_verdict, ret == NOTIFY_STOP ? regs.ip : TRAP_DONE);
	return count;
}

static int batchpoke_trap_show(struct seq_file *m, void *v)
{
	unsigned long verdict = atomic_long_read(&trap_verdict);
	size_t listed;

	if (verdict == TRAP_DONE)
		seq_puts(m, "done\n");
	else if (verdict)
		seq_printf(m, "stop 0x%lx\n", verdict);
	else
		seq_puts(m, "none\n");
	rcu_read_lock();
	listed = batchpoke_int3_table_len();
	rcu_read_unlock();
	seq_printf(m, "table %zu sites\n", listed);
	seq_printf(m, "replaced %zu times\n", batchpoke_int3_table_replacements());
	return 0;
}

static int batchpoke_trap_open(struct inode *inode, struct file *file)
{
	return single_open(file, batchpoke_trap_show, NULL);
}

static const struct file_operations batchpoke_trap_fops = {
	.owner = THIS_MODULE,
	.open = batchpoke_trap_open,
	.read = seq_read,
	.write = batchpoke_trap_write,
	.llseek = seq_lseek,
	.release = single_release,
};

struct dentry *batchpoke_debugfs_create(void)
{
	struct dentry *dir = debugfs_create_dir("batchpoke", NULL);

	/* Root only: the lines give kernel text addresses. */
	debugfs_create_file("sites", 0400, dir, NULL, &batchpoke_sites_fops);
	debugfs_create_file("trap", 0600, dir, NULL, &batchpoke_trap_fops);
	return dir;
}

void batchpoke_debugfs_remove(struct dentry *dir)
{
	debugfs_remove(dir);
}
