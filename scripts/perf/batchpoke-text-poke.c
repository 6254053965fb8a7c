// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke-text-poke: run a command with a PERF_RECORD_TEXT_POKE event
 * open on every online CPU (as `perf record -a` opens them: the kernel
 * emits these side-band records on the CPU that patches), then print each
 * record, one per line:
 *
 *   0x<addr> <old bytes> > <new bytes>
 *
 * bytes as two hex digits each, separated by spaces. Exit status: the
 * command's, or 2 when the events cannot be opened or a buffer overran.
 *
 * Usage: batchpoke-text-poke COMMAND...   (run by the guest's selftest)
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA_PAGES 64 /* 256 KiB a CPU: 512 sites' records fit many times */
#define MAX_CPUS 64

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	unsigned char *data;
	uint64_t size;
};

static int open_ring(struct ring *r, int cpu, long page)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_DUMMY;
	attr.text_poke = 1;
	r->fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, 0);
	if (r->fd < 0)
		return -errno;
	r->meta = mmap(NULL, (1 + DATA_PAGES) * page, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->meta == MAP_FAILED)
		return -errno;
	r->data = (unsigned char *)r->meta + page;
	r->size = DATA_PAGES * page;
	return 0;
}

/* The byte at ring offset @off, wrapping. */
static unsigned char at(const struct ring *r, uint64_t off)
{
	return r->data[off % r->size];
}

static void copy_out(const struct ring *r, uint64_t off, void *to, size_t len)
{
	unsigned char *out = to;
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = at(r, off + i);
}

static void print_bytes(const struct ring *r, uint64_t off, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		printf("%s%02x", i ? " " : "", at(r, off + i));
}

/* Prints @r's text-poke records; -1 if it lost any. */
static int drain(struct ring *r)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	int lost = 0;

	while (tail < head) {
		struct perf_event_header h;

		copy_out(r, tail, &h, sizeof(h));
		if (h.size < sizeof(h))
			return -1;
		if (h.type == PERF_RECORD_TEXT_POKE) {
			uint64_t addr;
			uint16_t lens[2];
			uint64_t body = tail + sizeof(h);

			copy_out(r, body, &addr, sizeof(addr));
			copy_out(r, body + 8, lens, sizeof(lens));
			printf("0x%llx ", (unsigned long long)addr);
			print_bytes(r, body + 12, lens[0]);
			printf(" > ");
			print_bytes(r, body + 12 + lens[0], lens[1]);
			printf("\n");
		} else if (h.type == PERF_RECORD_LOST) {
			lost = -1;
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
	return lost;
}

int main(int argc, char **argv)
{
	struct ring rings[MAX_CPUS];
	long page = sysconf(_SC_PAGESIZE);
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	int n = 0, cpu, status, failed = 0;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s COMMAND...\n", argv[0]);
		return 2;
	}
	for (cpu = 0; cpu < ncpus && cpu < MAX_CPUS; cpu++) {
		int err = open_ring(&rings[n], cpu, page);

		if (err == -ENODEV)
			continue; /* offline */
		if (err) {
			fprintf(stderr, "perf_event_open(text_poke) on CPU %d: %s\n", cpu, strerror(-err));
			return 2;
		}
		n++;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return 2;
	for (cpu = 0; cpu < n; cpu++)
		if (drain(&rings[cpu]))
			failed = 1;
	fflush(stdout);
	if (failed) {
		fprintf(stderr, "a ring buffer lost records\n");
		return 2;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
