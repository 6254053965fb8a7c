// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke-fuzz: writes random and mutated requests to every writable
 * file of /sys/kernel/batchpoke from two processes on two CPUs, and checks
 * that the kernel's view never departs from a model of what should have
 * happened.
 *
 *   batchpoke-fuzz [TOTAL_INPUTS [SEED]]
 *
 * Each writer owns two of batchpoke's demo keys and keeps their expected
 * state. It writes:
 *   - valid transactions and enabled writes over its own keys, in every
 *     accepted spelling: they must succeed and set exactly those states;
 *   - mutated valid requests (bytes flipped, inserted, deleted, truncated,
 *     repeated past a page, NUL bytes), each made certainly invalid by an
 *     inserted byte no request may contain: they must fail and change
 *     nothing;
 *   - random bytes (with such a byte) to transaction, enabled and strategy.
 * After every write it reads its keys back. Prints a summary; exits 1 on
 * any departure from the model, 4 (skip) without batchpoke.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYS "/sys/kernel/batchpoke"
#define MAX_REQ 16384

static const char *const keys[4] = {
	"batchpoke.demo_a", "batchpoke.demo_b", "batchpoke.demo_c", "batchpoke.demo_d",
};
static const char *const true_words[] = { "1", "y", "Y", "yes", "YES", "on", "On", "true", "TRUE" };
static const char *const false_words[] = { "0", "n", "N", "no", "NO", "off", "Off", "false", "FALSE" };
static const char *const spaces[] = { " ", "  ", "\t", "\n", " \t " };

static unsigned long long rng_state;

static unsigned int rnd(unsigned int n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (unsigned int)(rng_state % n) : 0;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

struct counts {
	long valid_ok, valid_failed, invalid_refused, invalid_accepted, mismatches, inputs;
};

/* write(2) of exactly @len bytes in one call; returns 0 or -errno. */
static int write_file(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int read_enabled(int key)
{
	char path[128], buf[8] = { 0 };
	int fd;

	snprintf(path, sizeof(path), SYS "/keys/%s/enabled", keys[key]);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) <= 0)
		buf[0] = '?';
	close(fd);
	return buf[0] == '1' ? 1 : buf[0] == '0' ? 0 : -1;
}

/* A valid request over the writer's keys; applies it to @next. */
static size_t valid_request(char *buf, int first, const int *state, int *next, int *to_enabled)
{
	size_t len = 0;
	int mask = 0;

	memcpy(next, state, 4 * sizeof(int));
	*to_enabled = -1;
	if (rnd(4) == 0) {
		/* One key through its enabled file. */
		int key = first + rnd(2), value = rnd(2);

		len = sprintf(buf, "%s%s%s", rnd(2) ? "" : " ",
			      value ? PICK(true_words) : PICK(false_words), rnd(2) ? "\n" : "");
		next[key] = value;
		*to_enabled = key;
		return len;
	}
	while (!mask)
		mask = rnd(4);
	for (int i = 0; i < 2; i++) {
		int key = first + i, value = rnd(2);

		if (!(mask & (1 << i)))
			continue;
		len += sprintf(buf + len, "%s%s=%s", len ? PICK(spaces) : "", keys[key],
			       value ? PICK(true_words) : PICK(false_words));
		next[key] = value;
	}
	if (rnd(2))
		buf[len++] = '\n';
	return len;
}

/* Makes @buf certainly invalid after mutating it. */
static size_t mutate(char *buf, size_t len)
{
	int rounds = 1 + rnd(4);

	for (int r = 0; r < rounds; r++) {
		switch (rnd(6)) {
		case 0: /* flip a byte */
			if (len)
				buf[rnd(len)] ^= 1 << rnd(8);
			break;
		case 1: /* insert a random byte */
			if (len < MAX_REQ - 1) {
				size_t at = rnd(len + 1);

				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (char)rnd(256);
				len++;
			}
			break;
		case 2: /* delete a byte */
			if (len) {
				size_t at = rnd(len);

				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
			break;
		case 3: /* truncate */
			len = rnd(len + 1);
			break;
		case 4: /* a NUL byte */
			if (len)
				buf[rnd(len)] = 0;
			break;
		case 5: /* repeat until past a page */
			while (len && len < 5000 && 2 * len < MAX_REQ) {
				memcpy(buf + len, buf, len);
				len *= 2;
			}
			break;
		}
	}
	/* 0x01 is neither whitespace nor a name, '=' or value character. */
	if (len < MAX_REQ - 1) {
		size_t at = rnd(len + 1);

		memmove(buf + at + 1, buf + at, len - at);
		buf[at] = 0x01;
		len++;
	} else {
		buf[rnd(len)] = 0x01;
	}
	return len;
}

static void writer(int id, long inputs, struct counts *c)
{
	static char buf[MAX_REQ];
	int first = 2 * id, state[4], next[4], to_enabled;
	char path[128];
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(id, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	rng_state ^= 0x9e3779b97f4a7c15ULL * (id + 1);
	for (int k = 0; k < 4; k++)
		state[k] = read_enabled(k);

	for (long i = 0; i < inputs; i++) {
		int kind = rnd(10), err;
		size_t len;
		const char *target = SYS "/transaction";

		if (kind < 4) {
			len = valid_request(buf, first, state, next, &to_enabled);
			if (to_enabled >= 0) {
				snprintf(path, sizeof(path), SYS "/keys/%s/enabled", keys[to_enabled]);
				target = path;
			}
			err = write_file(target, buf, len);
			if (err) {
				c->valid_failed++;
				fprintf(stderr, "writer %d: valid request %.*s refused: %s\n", id,
					(int)len, buf, strerror(-err));
			} else {
				c->valid_ok++;
				memcpy(state, next, sizeof(state));
			}
		} else {
			if (kind < 8) {
				len = valid_request(buf, first, state, next, &to_enabled);
				len = mutate(buf, len);
			} else {
				len = rnd(kind == 8 ? 64 : 9000);
				for (size_t b = 0; b < len; b++)
					buf[b] = (char)rnd(256);
				len = mutate(buf, len);
			}
			switch (rnd(4)) {
			case 0:
				snprintf(path, sizeof(path), SYS "/keys/%s/enabled", keys[first + rnd(2)]);
				target = path;
				break;
			case 1:
				target = SYS "/strategy";
				break;
			}
			err = write_file(target, buf, len);
			if (err)
				c->invalid_refused++;
			else {
				c->invalid_accepted++;
				fprintf(stderr, "writer %d: invalid request accepted by %s\n", id, target);
			}
		}
		c->inputs++;
		for (int k = first; k < first + 2; k++) {
			int now = read_enabled(k);

			if (now != state[k]) {
				c->mismatches++;
				fprintf(stderr, "writer %d: %s is %d, expected %d\n", id, keys[k], now,
					state[k]);
				state[k] = now;
			}
		}
	}
}

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 10000;
	unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed;
	struct counts sum = { 0 };
	int pipes[2][2];

	if (access(SYS "/transaction", W_OK)) {
		printf("# batchpoke-fuzz: %s not writable\n", SYS "/transaction");
		return 4;
	}
	rng_state = seed | 1;
	for (int id = 0; id < 2; id++) {
		if (pipe(pipes[id]))
			return 1;
		if (fork() == 0) {
			struct counts c = { 0 };

			writer(id, total / 2, &c);
			if (write(pipes[id][1], &c, sizeof(c)) != sizeof(c))
				_exit(1);
			_exit(0);
		}
	}
	for (int id = 0; id < 2; id++) {
		struct counts c = { 0 };

		if (read(pipes[id][0], &c, sizeof(c)) != sizeof(c))
			sum.mismatches++;
		sum.valid_ok += c.valid_ok;
		sum.valid_failed += c.valid_failed;
		sum.invalid_refused += c.invalid_refused;
		sum.invalid_accepted += c.invalid_accepted;
		sum.mismatches += c.mismatches;
		sum.inputs += c.inputs;
	}
	while (wait(NULL) > 0)
		;
	printf("# batchpoke-fuzz: %ld inputs from 2 writers: %ld valid applied, %ld valid refused, "
	       "%ld invalid refused, %ld invalid accepted, %ld state mismatches\n",
	       sum.inputs, sum.valid_ok, sum.valid_failed, sum.invalid_refused,
	       sum.invalid_accepted, sum.mismatches);
	return sum.valid_failed || sum.invalid_accepted || sum.mismatches || sum.inputs < total ? 1 : 0;
}
