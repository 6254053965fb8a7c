// SPDX-License-Identifier: GPL-2.0
/*
 * batchpoke-fuzz: writes near-miss requests to every writable file of
 * /sys/kernel/batchpoke and checks, after every write() call, that
 * batchpoke did exactly what the ABI says: nothing at all for a refused
 * write, exactly the requested key states for an accepted one.
 *
 *   batchpoke-fuzz [INPUTS [SEED]]     (default 10000 inputs, seed from time)
 *
 * Inputs are valid requests and valid requests with one token bent, built
 * so that the generator knows each verdict by construction (never by asking
 * a parser): `a=1x`, `a==1`, `a=`, a bad name byte, an unknown key beside
 * valid ones, a key named twice, a name in another case, 255-byte and
 * nearly page-long names, tabs/CR (separators) and \v/NUL (not), requests
 * just under a page (padded with whitespace: accepted) and at or over a page
 * (E2BIG), zero-byte writes, requests cut short (partial writes) and split
 * across two write() calls. sysfs never joins writes: each write() is a
 * request of its own and each piece gets its own verdict; writev() of
 * several buffers is one request.
 *
 * The oracle, read after every write() call:
 *   - /sys/kernel/debug/batchpoke/sites: every site's bytes, read from the
 *     text at read time (independent of batchpoke's beliefs). The demo
 *     keys are batchpoke keys, registered while batchpoke is loaded: each
 *     site jumps (jmp rel32, e9) or falls through as test eax, imm32 (a9)
 *     whose immediate is the rel32 of its jmp, never NOP5. The form
 *     (likely/unlikely) of each demo site is learned at start from its
 *     first byte and the key's state, and checked against the demo layout
 *     of rust/demo.rs, and its jmp from its four bytes after the first
 *     (the same in both forms); a site must then hold exactly that jmp or,
 *     falling through, the same bytes with a9 first, as its key's state
 *     says;
 *   - every key's `enabled`, `strategy`, every counter of `stats`.
 * A refused write must fail with the expected errno and leave the sites
 * file byte for byte, every key, strategy and every counter unchanged,
 * except refused, which must grow by exactly one. An accepted write must
 * set exactly the requested states (enabled and the bytes), and add one
 * transaction, the number of changed sites and the exact number of sync
 * rounds to the counters (refused unchanged).
 *
 * Phase 1 (4/5 of the inputs) has one writer and checks all of the above
 * after every write. Phase 2 has two writers on two CPUs, each owning two
 * keys and checking its own keys after every write; at the end the
 * counters must have grown by exactly the sums both writers expect.
 *
 * Prints `# seed N`, failures (lines not starting with '#') and a summary;
 * exits 0 when everything held, 1 on any departure, 4 (skip) without
 * batchpoke or debugfs.
 */
#include "fuzz.h"

/* --- running inputs ------------------------------------------------------------- */



void tally(struct ctx *x, const char *cls, long n)
{
	int i;

	for (i = 0; i < x->ncls && strcmp(x->cls_name[i], cls); i++)
		;
	if (i == x->ncls) {
		if (x->ncls == 64)
			return;
		x->cls_name[x->ncls++] = cls;
	}
	x->cls_count[i] += n;
}

void target_path(const struct plan *pl, char *path, size_t cap)
{
	if (pl->target == T_TXN)
		snprintf(path, cap, SYS "/transaction");
	else if (pl->target == T_STRATEGY)
		snprintf(path, cap, SYS "/strategy");
	else
		snprintf(path, cap, SYS "/keys/%s/enabled", key_names[pl->key]);
}

/* Phase 1, refused or zero-byte write: nothing may differ but refused. */
void check_unchanged(struct ctx *x, const char *cls, const char *req, size_t len,
			    int refused)
{
	const struct snap *a = x->before, *b = x->now;

	if (a->sites_len != b->sites_len || memcmp(a->sites, b->sites, a->sites_len))
		fail(cls, req, len, "the sites file changed");
	for (int k = 0; k < NKEYS; k++)
		if (a->enabled[k] != b->enabled[k])
			fail(cls, req, len, "%s/enabled changed from %d to %d", key_names[k],
			     a->enabled[k], b->enabled[k]);
	if (strcmp(a->strategy, b->strategy))
		fail(cls, req, len, "strategy changed from %.*s to %.*s", (int)strcspn(a->strategy, "\n"),
		     a->strategy, (int)strcspn(b->strategy, "\n"), b->strategy);
	if (a->nstats != b->nstats) {
		fail(cls, req, len, "stats has %d counters, had %d", b->nstats, a->nstats);
		return;
	}
	for (int i = 0; i < a->nstats; i++) {
		unsigned long long want = a->stat[i] + (refused && !strcmp(a->stat_name[i], "refused"));

		if (strcmp(a->stat_name[i], b->stat_name[i]) || b->stat[i] != want)
			fail(cls, req, len, "stats %s is %llu, expected %llu", b->stat_name[i],
			     b->stat[i], want);
	}
}

/* Phase 1, accepted write. */
void check_applied(struct ctx *x, const char *cls, const struct expect *e,
			  const char *req, size_t len)
{
	const struct snap *a = x->before, *b = x->now;
	int key_write = e->strategy < 0;
	unsigned long long changed, rounds, want_changed = 0;
	const char *strategy = x->m.serial ? "serial\n" : "batch\n";

	for (int k = 0; k < NKEYS; k++)
		if (b->enabled[k] != x->m.state[k])
			fail(cls, req, len, "%s/enabled is %d, expected %d", key_names[k],
			     b->enabled[k], x->m.state[k]);
	if (strcmp(b->strategy, strategy))
		fail(cls, req, len, "strategy is %.*s, expected %.*s", (int)strcspn(b->strategy, "\n"),
		     b->strategy, (int)strcspn(strategy, "\n"), strategy);
	check_sites(cls, b, a, &x->m, (1u << NKEYS) - 1, req, len);
	changes(a, b, (1u << NKEYS) - 1, x->m.serial, &changed, &rounds);
	for (int k = 0; k < NKEYS; k++)
		if (e->set[k] >= 0 && e->set[k] != a->enabled[k])
			want_changed += demo_sites[k];
	if (changed != want_changed)
		fail(cls, req, len, "%llu sites changed, expected %llu", changed, want_changed);
	if (!key_write) {
		/* A strategy write touches no counter. */
		for (int i = 0; i < a->nstats && i < b->nstats; i++)
			if (b->stat[i] != a->stat[i])
				fail(cls, req, len, "stats %s changed on a strategy write",
				     a->stat_name[i]);
		return;
	}
	struct {
		const char *name;
		unsigned long long delta;
	} exact[] = {
		{ "transactions", 1 },
		{ "sites_patched", want_changed },
		{ "sync_rounds", rounds },
		{ "refused", 0 },
	};
	for (size_t i = 0; i < NELEM(exact); i++) {
		unsigned long long want = stat_of(a, exact[i].name) + exact[i].delta;

		if (stat_of(b, exact[i].name) != want)
			fail(cls, req, len, "stats %s is %llu, expected %llu", exact[i].name,
			     stat_of(b, exact[i].name), want);
	}
	if (stat_of(b, "int3_hits") < stat_of(a, "int3_hits"))
		fail(cls, req, len, "int3_hits went down");
	if (stat_index(b, "max_ns") >= 0 &&
	    stat_of(b, "max_ns") != (stat_of(a, "max_ns") > stat_of(b, "last_ns") ?
					     stat_of(a, "max_ns") :
					     stat_of(b, "last_ns")))
		fail(cls, req, len, "max_ns %llu is not max(%llu, last_ns %llu)",
		     stat_of(b, "max_ns"), stat_of(a, "max_ns"), stat_of(b, "last_ns"));
}

/* Phase 2: this writer's keys after one of its writes. */
void check_own(struct ctx *x, const char *cls, const char *req, size_t len)
{
	const struct snap *b = x->now;

	for (int k = 0; k < NKEYS; k++)
		if ((x->mask & (1u << k)) && b->enabled[k] != x->m.state[k])
			fail(cls, req, len, "%s/enabled is %d, expected %d", key_names[k],
			     b->enabled[k], x->m.state[k]);
	check_sites(cls, b, NULL, &x->m, x->mask, req, len);
}

void apply_expect(struct model *m, const struct expect *e)
{
	for (int k = 0; k < NKEYS; k++)
		if (e->set[k] >= 0)
			m->state[k] = e->set[k];
	if (e->strategy >= 0)
		m->serial = e->strategy;
}

/* After a departure, follows the kernel's view so that it is reported once. */
void resync(struct ctx *x)
{
	for (int k = 0; k < NKEYS; k++)
		if (x->mask & (1u << k))
			x->m.state[k] = x->now->enabled[k];
	x->m.serial = !strcmp(x->now->strategy, "serial\n");
}

void run_plan(struct ctx *x, struct plan *pl)
{
	char path[256];
	int fd;

	target_path(pl, path, sizeof(path));
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		fail(pl->cls, NULL, 0, "open %s: %s", path, strerror(errno));
		return;
	}
	for (int p = 0; p < pl->nw; p++) {
		const struct piece *w = &pl->w[p];
		const char *req = rbuf + w->off;
		size_t len = w->len;
		struct expect e = w->e;
		long failures_before = failures;
		ssize_t n;
		int got;

		if (!len)
			expect_none(&e, 0), e.zero = 1;
		if (pl->iovs > 1) {
			struct iovec iov[4];
			size_t at = 0;
			int cnt = 0;

			for (int i = 0; i < pl->iovs && at < len; i++) {
				size_t left = len - at;
				size_t part = i == pl->iovs - 1 || left == 1 ? left : 1 + rnd(left - 1);

				iov[cnt].iov_base = (char *)req + at;
				iov[cnt++].iov_len = part;
				at += part;
			}
			n = writev(fd, iov, cnt);
		} else {
			n = write(fd, req, len);
		}
		got = n < 0 ? errno : 0;
		input_no++;
		x->c.inputs++;
		tally(x, pl->cls, 1);
		take_snap(x->now);
		if (!x->now->ok) {
			fail(pl->cls, req, len, "cannot read the kernel's view back");
			break;
		}
		if (got != e.err || (!got && (size_t)n != len)) {
			char want[32], have[32];

			snprintf(want, sizeof(want), "%s", e.err ? strerrorname_np(e.err) : "success");
			if (got)
				snprintf(have, sizeof(have), "%s", strerrorname_np(got));
			else if (n == (ssize_t)len)
				snprintf(have, sizeof(have), "success");
			else
				snprintf(have, sizeof(have), "%zd bytes written", n);
			fail(pl->cls, req, len, "%s write %d/%d: got %s, expected %s",
			     path + strlen(SYS "/"), p + 1, pl->nw, have, want);
		} else if (e.zero) {
			x->c.zero++;
			if (x->single)
				check_unchanged(x, pl->cls, req, len, 0);
			else
				check_own(x, pl->cls, req, len);
		} else if (e.err) {
			x->c.refused++;
			if (x->single)
				check_unchanged(x, pl->cls, req, len, 1);
			else
				check_own(x, pl->cls, req, len);
		} else {
			struct model old = x->m;
			unsigned long long changed, rounds;

			x->c.applied++;
			apply_expect(&x->m, &e);
			if (x->single) {
				check_applied(x, pl->cls, &e, req, len);
			} else {
				check_own(x, pl->cls, req, len);
				changes(x->before, x->now, x->mask, old.serial, &changed, &rounds);
				x->c.key_writes++;
				x->c.changed += changed;
				x->c.rounds += rounds;
			}
		}
		if (failures != failures_before)
			resync(x);
		{
			struct snap *t = x->before;

			x->before = x->now;
			x->now = t;
		}
	}
	close(fd);
}

void one_input(struct ctx *x)
{
	struct plan pl;
	size_t r = rnd(100);

	memset(&pl, 0, sizeof(pl));
	pl.target = T_TXN;
	if (!x->single && r >= 88 && r < 98)
		r = rnd(88); /* no strategy writes with two writers */
	if (r < 26)
		gen_txn_valid(&pl, x->mask, &x->m);
	else if (r < 60)
		gen_txn_bent(&pl, x->mask, &x->m);
	else if (r < 68)
		gen_txn_split(&pl, x->mask, &x->m);
	else if (r < 88)
		gen_enabled(&pl, x->mask, &x->m);
	else if (r < 98 && x->single)
		gen_strategy(&pl, &x->m);
	else if (r < 99) {
		/* zero bytes to any file: sysfs returns 0 without calling batchpoke */
		pl.cls = "zero_bytes";
		pl.target = x->single ? rnd(3) : T_TXN;
		pl.key = pick_key(x->mask, &x->m);
		pl.nw = 1;
		expect_none(&pl.w[0].e, 0);
		pl.w[0].e.zero = 1;
	} else {
		gen_txn_valid(&pl, x->mask, &x->m);
		if (!rnd(20)) {
			/* A whole MiB: sysfs passes batchpoke its first page. */
			pl.cls = "over_page_1mib";
			pl.iovs = 0;
			insert_ws(rbuf, &pl.len, pl.len, (1 << 20) - pl.len);
			one_piece(&pl, pl.len, &pl.w[0].e);
		}
	}
	run_plan(x, &pl);
}

void ctx_init(struct ctx *x, unsigned int mask, int single)
{
	memset(x, 0, sizeof(*x));
	x->mask = mask;
	x->single = single;
	x->before = &x->snaps[0];
	x->now = &x->snaps[1];
	take_snap(x->before);
	if (!x->before->ok)
		die("cannot read " SITES ", enabled, strategy or stats");
	for (int k = 0; k < NKEYS; k++)
		x->m.state[k] = x->before->enabled[k];
	x->m.serial = !strcmp(x->before->strategy, "serial\n");
}

void print_classes(const char *title, const struct ctx *x)
{
	printf("# %s:", title);
	for (int i = 0; i < x->ncls; i++)
		printf("%s %s=%ld", i % 8 ? "" : "\n#  ", x->cls_name[i], x->cls_count[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 10000, single_n, per_writer;
	unsigned long long seed;
	struct statfs fs;
	struct ctx x;
	struct counts sum = { 0 };
	int pipes[2][2];
	pid_t pids[2];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2)
		seed = strtoull(argv[2], NULL, 0);
	else
		seed = (unsigned long long)time(NULL) * 1000003ULL ^ (unsigned long long)getpid();
	printf("# seed %llu\n", seed);
	if (geteuid() != 0 || access(SYS "/transaction", W_OK)) {
		printf("# batchpoke-fuzz: %s not writable (batchpoke not loaded, or not root)\n",
		       SYS "/transaction");
		return 4;
	}
	if (statfs(DEBUGFS, &fs) || fs.f_type != DEBUGFS_MAGIC) {
		printf("# batchpoke-fuzz: debugfs is not mounted at %s\n", DEBUGFS);
		return 4;
	}
	if (access(SITES, R_OK))
		die("%s: %s", SITES, strerror(errno));
	page = sysconf(_SC_PAGESIZE);
	rbuf = malloc(MAX_REQ);
	if (!rbuf)
		die("out of memory");
	rng = seed;

	/* Phase 1: one writer, every check after every write. */
	ctx_init(&x, (1u << NKEYS) - 1, 1);
	learn(x.before);
	single_n = total - total / 5;
	per_writer = (total - single_n + 1) / 2;
	who = "";
	while (x.c.inputs < single_n)
		one_input(&x);
	printf("# batchpoke-fuzz: phase 1, one writer: %ld writes: %ld applied, %ld refused, "
	       "%ld of zero bytes; %ld departures\n",
	       x.c.inputs, x.c.applied, x.c.refused, x.c.zero, failures);
	print_classes("phase 1 writes by class", &x);

	/* Phase 2: two writers on two CPUs, two keys each, batch strategy. */
	if (x.m.serial) {
		struct plan pl = { .cls = "strategy_valid", .target = T_STRATEGY, .nw = 1 };

		pl.len = pl.w[0].len = sprintf(rbuf, "batch\n");
		expect_none(&pl.w[0].e, 0);
		pl.w[0].e.strategy = 0;
		run_plan(&x, &pl);
	}
	{
		struct snap *start = x.before;
		long phase1_failures = failures;

		fflush(stdout);
		for (int id = 0; id < 2; id++) {
			if (pipe(pipes[id]))
				die("pipe: %s", strerror(errno));
			pids[id] = fork();
			if (pids[id] < 0)
				die("fork: %s", strerror(errno));
			if (pids[id] == 0) {
				struct ctx y;
				cpu_set_t cpus;

				CPU_ZERO(&cpus);
				CPU_SET(id, &cpus);
				if (sched_setaffinity(0, sizeof(cpus), &cpus))
					printf("# writer %d: not pinned: %s\n", id, strerror(errno));
				rng = seed ^ (0x9e3779b97f4a7c15ULL * (id + 1));
				failures = 0;
				who = id ? "writer 1 " : "writer 0 ";
				ctx_init(&y, 3u << (2 * id), 0);
				while (y.c.inputs < per_writer)
					one_input(&y);
				y.c.failures = failures;
				memcpy(y.c.state, y.m.state, sizeof(y.c.state));
				if (write(pipes[id][1], &y.c, sizeof(y.c)) != sizeof(y.c))
					_exit(1);
				_exit(0);
			}
			close(pipes[id][1]);
		}
		for (int id = 0; id < 2; id++) {
			struct counts c;

			memset(&c, 0, sizeof(c));
			if (read(pipes[id][0], &c, sizeof(c)) != sizeof(c))
				fail("phase 2", NULL, 0, "writer %d died", id);
			for (int k = 2 * id; k < 2 * id + 2; k++)
				x.m.state[k] = c.state[k];
			sum.inputs += c.inputs;
			sum.applied += c.applied;
			sum.refused += c.refused;
			sum.zero += c.zero;
			sum.key_writes += c.key_writes;
			sum.changed += c.changed;
			sum.rounds += c.rounds;
			failures += c.failures;
		}
		for (int id = 0; id < 2; id++)
			waitpid(pids[id], NULL, 0);
		/* Both writers' sums must account for every counter's growth. */
		take_snap(x.now);
		if (!x.now->ok) {
			fail("phase 2", NULL, 0, "cannot read the kernel's view back");
		} else {
			struct {
				const char *name;
				unsigned long long delta;
			} exact[] = {
				{ "transactions", sum.key_writes },
				{ "sites_patched", sum.changed },
				{ "sync_rounds", sum.rounds },
				{ "refused", sum.refused },
			};

			for (size_t i = 0; i < NELEM(exact); i++) {
				unsigned long long want = stat_of(start, exact[i].name) + exact[i].delta;

				if (stat_of(x.now, exact[i].name) != want)
					fail("phase 2", NULL, 0, "stats %s is %llu, expected %llu",
					     exact[i].name, stat_of(x.now, exact[i].name), want);
			}
			for (int k = 0; k < NKEYS; k++)
				if (x.now->enabled[k] != x.m.state[k])
					fail("phase 2", NULL, 0, "%s/enabled is %d, expected %d",
					     key_names[k], x.now->enabled[k], x.m.state[k]);
			check_sites("phase 2", x.now, NULL, &x.m, (1u << NKEYS) - 1, NULL, 0);
		}
		printf("# batchpoke-fuzz: phase 2, two writers: %ld writes: %ld applied, %ld refused, "
		       "%ld of zero bytes; %ld departures\n",
		       sum.inputs, sum.applied, sum.refused, sum.zero, failures - phase1_failures);
	}
	printf("# batchpoke-fuzz: %ld inputs (seed %llu), %ld departures from the ABI\n",
	       x.c.inputs + sum.inputs, seed, failures);
	return failures || x.c.inputs + sum.inputs < total ? 1 : 0;
}
