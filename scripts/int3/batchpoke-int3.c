// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke-int3: executes int3 in user mode in a loop and counts the
 * SIGTRAPs, while batchpoke patches kernel text (scripts/selftest/coexist.sh).
 *
 *   batchpoke-int3 STOP-FILE
 *
 * A user-mode int3 reaches the kernel's die-notifier chain (DIE_INT3), where
 * batchpoke's handler sits first: it must leave it alone (NOTIFY_DONE), so
 * the kernel delivers SIGTRAP. Every int3 executed must trap exactly once,
 * at the address of the int3. Runs until STOP-FILE exists (at most 300 s),
 * prints one summary line, exits 0 when the counts agree and 1 otherwise.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t traps, bad_ip;
extern const char batchpoke_int3_insn[];

static void on_trap(int sig, siginfo_t *info, void *uc)
{
	const ucontext_t *ctx = uc;

	(void)sig;
	(void)info;
	traps++;
	/* After an int3 trap, the saved ip is the byte after the int3. */
	if (ctx->uc_mcontext.gregs[REG_RIP] != (greg_t)batchpoke_int3_insn + 1)
		bad_ip++;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	long executed = 0;
	time_t end = time(NULL) + 300;

	if (argc != 2) {
		fprintf(stderr, "usage: batchpoke-int3 STOP-FILE\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, NULL)) {
		perror("sigaction");
		return 2;
	}
	while (access(argv[1], F_OK) && time(NULL) < end) {
		for (int i = 0; i < 256; i++) {
			asm volatile(".globl batchpoke_int3_insn\n"
				     "batchpoke_int3_insn: int3" ::: "memory");
			executed++;
		}
	}
	printf("# user int3: %ld executed, %ld trapped, %ld at a wrong address\n", executed,
	       (long)traps, (long)bad_ip);
	return executed > 0 && traps == executed && !bad_ip ? 0 : 1;
}
