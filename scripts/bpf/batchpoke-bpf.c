// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke-bpf: BPF programs attached and detached in a loop, for
 * scripts/selftest/patchers.sh (a static binary in the guest; the guest
 * has no bpftool or libbpf).
 *
 *   batchpoke-bpf FUNCTION TRACEPOINT STOPFILE COUNTFILE
 *
 * Each cycle loads two programs (the BPF JIT writes each into executable
 * memory through text_poke_copy()), attaches one to a kprobe on FUNCTION
 * (a kprobe at a function's entry rides on ftrace: its fentry call is
 * rewritten) and one to TRACEPOINT ("group/name": its static key is
 * enabled, every site of it patched by the kernel's jump-label code),
 * lets them fire for 20 ms, and detaches and unloads both. It runs until
 * STOPFILE exists and keeps the count of completed cycles in COUNTFILE;
 * it exits 0 if every cycle succeeded and at least one program ran, 1 and
 * says why on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "batchpoke-bpf: %s: %s\n", what, strerror(errno));
	return -1;
}

static long read_number(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/*
 * A program that counts its runs in an array map: r0 = 0; *(u32 *)(fp - 4)
 * = r0; r1 = map; r2 = fp - 4; r0 = bpf_map_lookup_elem(); if r0 == 0 goto
 * out; lock *(u64 *)(r0 + 0) += 1; out: r0 = 0; exit.
 */
static int load_program(int map_fd, __u32 type)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = 10, .src_reg = 0, .off = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD,
		  .imm = map_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 2, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = 0, .src_reg = 1, .imm = BPF_ADD },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static char log[4096];
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = type;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = (uintptr_t)"GPL";
	attr.log_buf = (uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	fd = syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0) {
		fprintf(stderr, "batchpoke-bpf: verifier says:\n%s\n", log);
		return fail("BPF_PROG_LOAD");
	}
	return fd;
}

static int create_counter(void)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 1;
	fd = syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	return fd < 0 ? fail("BPF_MAP_CREATE") : fd;
}

static long long read_counter(int map_fd)
{
	union bpf_attr attr;
	__u32 key = 0;
	__u64 value = 0;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map_fd;
	attr.key = (uintptr_t)&key;
	attr.value = (uintptr_t)&value;
	if (syscall(__NR_bpf, BPF_MAP_LOOKUP_ELEM, &attr, sizeof(attr)))
		return fail("BPF_MAP_LOOKUP_ELEM");
	return value;
}

/* A perf event with the program attached and enabled. */
static int attach(struct perf_event_attr *pe, int prog_fd, const char *what)
{
	int fd = syscall(__NR_perf_event_open, pe, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return fail(what);
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		fail("PERF_EVENT_IOC_SET_BPF/ENABLE");
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct perf_event_attr kp = { 0 }, tp = { 0 };
	long kprobe_type, tp_id;
	char path[256];
	long long runs = 0;
	long cycles = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: %s FUNCTION TRACEPOINT STOPFILE COUNTFILE\n", argv[0]);
		return 2;
	}
	kprobe_type = read_number("/sys/bus/event_source/devices/kprobe/type");
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", argv[2]);
	tp_id = read_number(path);
	if (kprobe_type < 0 || tp_id < 0) {
		fprintf(stderr, "batchpoke-bpf: no kprobe PMU or no %s\n", path);
		return 1;
	}
	kp.size = tp.size = sizeof(kp);
	kp.type = kprobe_type;
	kp.config1 = (uintptr_t)argv[1];	/* kprobe_func */
	tp.type = PERF_TYPE_TRACEPOINT;
	tp.config = tp_id;
	kp.sample_period = tp.sample_period = 1;
	kp.disabled = tp.disabled = 1;

	while (access(argv[3], F_OK)) {
		struct timespec hold = { .tv_nsec = 20 * 1000 * 1000 };
		int map = create_counter(), kprog = -1, tprog = -1, kfd = -1, tfd = -1;
		long long n = -1;
		FILE *f;

		if (map >= 0)
			kprog = load_program(map, BPF_PROG_TYPE_KPROBE);
		if (kprog >= 0)
			tprog = load_program(map, BPF_PROG_TYPE_TRACEPOINT);
		if (tprog >= 0)
			kfd = attach(&kp, kprog, "perf_event_open(kprobe)");
		if (kfd >= 0)
			tfd = attach(&tp, tprog, "perf_event_open(tracepoint)");
		if (tfd >= 0) {
			nanosleep(&hold, NULL);
			n = read_counter(map);
		}
		/* Detach before unloading: the events go first. */
		if (tfd >= 0)
			close(tfd);
		if (kfd >= 0)
			close(kfd);
		if (tprog >= 0)
			close(tprog);
		if (kprog >= 0)
			close(kprog);
		if (map >= 0)
			close(map);
		if (n < 0)
			return 1;
		runs += n;
		cycles++;
		f = fopen(argv[4], "w");
		if (f) {
			fprintf(f, "%ld %lld\n", cycles, runs);
			fclose(f);
		}
	}
	printf("batchpoke-bpf: %ld cycles, the programs ran %lld times\n", cycles, runs);
	if (!runs) {
		fprintf(stderr, "batchpoke-bpf: no program ran: %s or %s never fired\n", argv[1], argv[2]);
		return 1;
	}
	return 0;
}
