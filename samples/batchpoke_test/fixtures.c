// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixtures of batchpoke_test that are C macros or inline functions in
 * the kernel: per-CPU kthreads, an hrtimer, and writing a site behind
 * batchpoke's back (the tamper test).
 */
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/hrtimer.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>
#include <asm/apic.h>
#include <asm/nmi.h>

#include "../../rust/entry/batchpoke_api/compat.h"
#include "fixtures.h"

/*
 * parallel_flips=N (scripts/selftest/parallel.sh): run only the concurrency
 * cases, N transactions each; 0, the default, runs every case.
 */
unsigned int batchpoke_test_parallel_flips;
module_param_named(parallel_flips, batchpoke_test_parallel_flips, uint, 0444);
MODULE_PARM_DESC(parallel_flips, "Run only the concurrency cases, with this many transactions each");

/*
 * Starts fn(data) in a kthread bound to each online CPU, up to @max.
 * Returns how many were started, or a negative error (none left running).
 */
int batchpoke_test_start_threads(int (*fn)(void *), void *data, struct task_struct **tasks,
				 int max)
{
	unsigned int cpu;
	int n = 0;

	for_each_online_cpu(cpu) {
		struct task_struct *t;

		if (n == max)
			break;
		t = kthread_create_on_cpu(fn, data, cpu, "bp_test/%u");
		if (IS_ERR(t)) {
			while (n--)
				kthread_stop(tasks[n]);
			return PTR_ERR(t);
		}
		tasks[n++] = t;
		wake_up_process(t);
	}
	return n;
}

/*
 * Pins the calling task to the CPU it runs on and starts fn(data) in a
 * kthread bound to another online CPU (the same one if there is no other),
 * so that the kthread runs while the caller does, not only when it sleeps.
 * Returns the kthread in *task; batchpoke_test_stop_away() stops it and
 * unpins the caller.
 */
int batchpoke_test_start_away(int (*fn)(void *), void *data, struct task_struct **task)
{
	unsigned int here, cpu;
	int ret;

	here = get_cpu();
	ret = set_cpus_allowed_ptr(current, cpumask_of(here));
	put_cpu();
	if (ret)
		return ret;
	cpu = cpumask_any_but(cpu_online_mask, here);
	if (cpu >= nr_cpu_ids)
		cpu = here;
	*task = kthread_create_on_cpu(fn, data, cpu, "bp_test_away/%u");
	if (IS_ERR(*task)) {
		set_cpus_allowed_ptr(current, cpu_possible_mask);
		return PTR_ERR(*task);
	}
	wake_up_process(*task);
	return 0;
}

void batchpoke_test_stop_away(struct task_struct *task)
{
	kthread_stop(task);
	set_cpus_allowed_ptr(current, cpu_possible_mask);
}

static struct hrtimer bp_timer;
static void (*bp_timer_fn)(void *);
static void *bp_timer_data;
static ktime_t bp_timer_period;

static enum hrtimer_restart bp_timer_cb(struct hrtimer *t)
{
	bp_timer_fn(bp_timer_data);
	hrtimer_forward_now(t, bp_timer_period);
	return HRTIMER_RESTART;
}

/* Runs fn(data) in hard-IRQ context every @period_ns until stopped. */
void batchpoke_test_hrtimer_start(void (*fn)(void *), void *data, u64 period_ns)
{
	bp_timer_fn = fn;
	bp_timer_data = data;
	bp_timer_period = ns_to_ktime(period_ns);
	batchpoke_hrtimer_setup(&bp_timer, bp_timer_cb, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	hrtimer_start(&bp_timer, bp_timer_period, HRTIMER_MODE_REL_HARD);
}

void batchpoke_test_hrtimer_stop(void)
{
	hrtimer_cancel(&bp_timer);
}

/*
 * Writes one byte of this module's text through a private alias, the way
 * something patching text behind batchpoke's back would.
 */
int batchpoke_test_write_text(unsigned long addr, u8 byte)
{
	struct page *page = vmalloc_to_page((void *)addr);
	u8 *alias;

	if (!page)
		return -EFAULT;
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	if (!alias)
		return -ENOMEM;
	WRITE_ONCE(alias[offset_in_page(addr)], byte);
	vunmap(alias);
	return 0;
}

/*
 * register_kprobe() on @sym (if non-NULL) or @addr; unregisters a probe
 * that was accepted. Returns register_kprobe()'s result.
 */
int batchpoke_test_try_kprobe(const char *sym, unsigned long addr)
{
	struct kprobe kp = {};
	int ret;

	if (sym)
		kp.symbol_name = sym;
	else
		kp.addr = (kprobe_opcode_t *)addr;
	ret = register_kprobe(&kp);
	if (ret == 0)
		unregister_kprobe(&kp);
	return ret;
}

/* A short sleep for the reader kthreads. */
void batchpoke_test_nap(void)
{
	usleep_range(20, 50);
}

static void (*bp_nmi_fn)(void *);
static void *bp_nmi_data;
static atomic_t bp_nmi_active = ATOMIC_INIT(0);

static int bp_nmi_handler(unsigned int cmd, struct pt_regs *regs)
{
	/*
	 * Only the test raises NMIs in the VM (no perf, no watchdog), so while
	 * the handler is registered every local NMI is one of ours: claiming
	 * them all keeps a late one from being reported as unknown.
	 */
	if (atomic_read(&bp_nmi_active))
		bp_nmi_fn(bp_nmi_data);
	return NMI_HANDLED;
}

/* Runs fn(data) in NMI context on each CPU that batchpoke_test_nmi_raise() hits. */
int batchpoke_test_nmi_start(void (*fn)(void *), void *data)
{
	int ret;

	bp_nmi_fn = fn;
	bp_nmi_data = data;
	ret = register_nmi_handler(NMI_LOCAL, bp_nmi_handler, 0, "batchpoke_test");
	if (!ret)
		atomic_set(&bp_nmi_active, 1);
	return ret;
}

/* Sends an NMI to every online CPU, the caller's included. */
void batchpoke_test_nmi_raise(void)
{
	__apic_send_IPI_mask(cpu_online_mask, NMI_VECTOR);
}

void batchpoke_test_nmi_stop(void)
{
	atomic_set(&bp_nmi_active, 0);
	/* NMIs already sent land while the handler still claims them. */
	msleep(20);
	/* Waits for running handlers (synchronize_rcu()). */
	unregister_nmi_handler(NMI_LOCAL, "batchpoke_test");
}
