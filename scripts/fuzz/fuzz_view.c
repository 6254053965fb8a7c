// SPDX-License-Identifier: GPL-2.0
/* batchpoke-fuzz: reading the kernel's view, and what the fuzzer knows. */
#include "fuzz.h"

/* --- reading the kernel's view ------------------------------------------------ */

/* Reads all of @path into *@buf (grown as needed); returns the length or -errno. */
long read_all(const char *path, char **buf, size_t *cap)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (len + 4096 > *cap) {
			*cap = *cap ? 2 * *cap : 65536;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				die("out of memory");
		}
		n = read(fd, *buf + len, *cap - len - 1);
		if (n < 0) {
			int err = errno;

			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	(*buf)[len] = 0;
	return (long)len;
}

long read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}



int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Parses the sites file of @s into lines: "<name> 0x<hex> xx xx xx xx xx\n",
 * lower-case hex, nothing else. Returns 0 or -1 (malformed).
 */
int parse_sites(struct snap *s)
{
	const char *p = s->sites, *end = s->sites + s->sites_len;

	s->nlines = 0;
	while (p < end) {
		const char *sp = memchr(p, ' ', end - p);
		struct line *l;
		int digits = 0;

		if (s->nlines == s->lines_cap) {
			s->lines_cap = s->lines_cap ? 2 * s->lines_cap : 1024;
			s->lines = realloc(s->lines, s->lines_cap * sizeof(*s->lines));
			if (!s->lines)
				die("out of memory");
		}
		l = &s->lines[s->nlines];
		if (!sp || sp == p || end - sp < 4 || memcmp(sp, " 0x", 3))
			return -1;
		l->name = p;
		l->name_len = sp - p;
		l->addr = 0;
		for (p = sp + 3; p < end && hex_digit(*p) >= 0; p++, digits++)
			l->addr = l->addr << 4 | hex_digit(*p);
		if (!digits || digits > 16 || end - p < 16)
			return -1;
		for (int i = 0; i < 5; i++, p += 3) {
			int hi = hex_digit(p[1]), lo = hex_digit(p[2]);

			if (p[0] != ' ' || hi < 0 || lo < 0)
				return -1;
			l->b[i] = (unsigned char)(hi << 4 | lo);
		}
		if (*p++ != '\n')
			return -1;
		s->nlines++;
	}
	return 0;
}

int read_enabled(int key)
{
	char path[256], buf[16];

	snprintf(path, sizeof(path), SYS "/keys/%s/enabled", key_names[key]);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return !strcmp(buf, "1\n") ? 1 : !strcmp(buf, "0\n") ? 0 : -1;
}

int read_stats(struct snap *s)
{
	char buf[2048], *line, *save = NULL;

	s->nstats = 0;
	if (read_small(SYS "/stats", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (s->nstats == MAX_STATS ||
		    sscanf(line, "%31s %llu", s->stat_name[s->nstats], &s->stat[s->nstats]) != 2)
			return -1;
		s->nstats++;
	}
	return 0;
}

int stat_index(const struct snap *s, const char *name)
{
	for (int i = 0; i < s->nstats; i++)
		if (!strcmp(s->stat_name[i], name))
			return i;
	return -1;
}

unsigned long long stat_of(const struct snap *s, const char *name)
{
	int i = stat_index(s, name);

	return i < 0 ? 0 : s->stat[i];
}

/* Reads everything the oracle looks at; s->ok says whether it all parsed. */
void take_snap(struct snap *s)
{
	s->ok = 1;
	s->sites_len = read_all(SITES, &s->sites, &s->sites_cap);
	if (s->sites_len < 0 || parse_sites(s) < 0)
		s->ok = 0;
	for (int k = 0; k < NKEYS; k++)
		if ((s->enabled[k] = read_enabled(k)) < 0)
			s->ok = 0;
	if (read_small(SYS "/strategy", s->strategy, sizeof(s->strategy)) < 0)
		s->ok = 0;
	if (read_stats(s) < 0 || stat_index(s, "refused") < 0 || stat_index(s, "transactions") < 0 ||
	    stat_index(s, "sync_rounds") < 0 || stat_index(s, "sites_patched") < 0)
		s->ok = 0;
}

/* --- what the fuzzer knows ----------------------------------------------------- */


struct site *sites;
int nsites;
char registered[MAX_REGISTERED][128];
int nregistered;


int is_registered(const char *name, size_t len)
{
	for (int i = 0; i < nregistered; i++)
		if (strlen(registered[i]) == len && !memcmp(registered[i], name, len))
			return 1;
	return 0;
}

int demo_key(const char *name, size_t len)
{
	for (int k = 0; k < NKEYS; k++)
		if (strlen(key_names[k]) == len && !memcmp(key_names[k], name, len))
			return k;
	return -1;
}

/* Learns every site and each demo site's form from @s and the key states. */
void learn(const struct snap *s)
{
	int count[NKEYS] = { 0 }, likely[NKEYS] = { 0 };
	DIR *dir = opendir(SYS "/keys");
	struct dirent *de;

	if (!dir)
		die("cannot list " SYS "/keys: %s", strerror(errno));
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.' && nregistered < MAX_REGISTERED)
			snprintf(registered[nregistered++], sizeof(registered[0]), "%.127s", de->d_name);
	closedir(dir);

	nsites = s->nlines;
	sites = calloc(nsites, sizeof(*sites));
	if (!sites)
		die("out of memory");
	for (int i = 0; i < nsites; i++) {
		const struct line *l = &s->lines[i];
		struct site *st = &sites[i];

		if (l->name_len >= sizeof(st->name))
			die("sites line %d: name too long", i + 1);
		memcpy(st->name, l->name, l->name_len);
		st->addr = l->addr;
		st->key = demo_key(l->name, l->name_len);
		if (st->key < 0)
			continue;
		count[st->key]++;
		/*
		 * A site falls through while its key's state is its form
		 * (likely sites while enabled). Either form gives its jmp:
		 * the test's immediate is the jmp's rel32. NOP5 is no form
		 * of a registered batchpoke key.
		 */
		if (l->b[0] == TEST32) {
			st->likely = s->enabled[st->key];
		} else if (l->b[0] == JMP32) {
			st->likely = !s->enabled[st->key];
		} else if (!memcmp(l->b, nop5, 5)) {
			die("site %#lx of %s holds NOP5, not the test eax, imm32 of a registered key",
			    l->addr, st->name);
		} else {
			die("site %#lx of %s holds %02x %02x %02x %02x %02x: neither test eax, imm32 nor jmp rel32",
			    l->addr, st->name, l->b[0], l->b[1], l->b[2], l->b[3], l->b[4]);
		}
		st->jmp_known = 1;
		memcpy(st->jmp, l->b, 5);
		st->jmp[0] = JMP32;
		likely[st->key] += st->likely;
	}
	/*
	 * The layout is known independently of batchpoke (rust/demo.rs): sites
	 * whose bytes disagree with their key's state would show up here as
	 * the wrong number of likely sites.
	 */
	for (int k = 0; k < NKEYS; k++) {
		char path[256], buf[32];

		snprintf(path, sizeof(path), SYS "/keys/%s/sites", key_names[k]);
		if (read_small(path, buf, sizeof(buf)) < 0 || atoi(buf) != count[k])
			die("%s: %d sites in " SITES ", sites says %s", key_names[k], count[k], buf);
	}
	for (int k = 0; k < NKEYS; k++)
		if (count[k] != demo_sites[k] || likely[k] != demo_likely[k])
			die("%s: %d sites, %d likely by their bytes and state %d; rust/demo.rs has %d, %d",
			    key_names[k], count[k], likely[k], s->enabled[k], demo_sites[k],
			    demo_likely[k]);
}

/*
 * Checks that the sites in @s are the learned ones and that each demo site
 * of a key in @mask holds what the key's state in @m says: its jmp rel32,
 * or falling through the test eax, imm32 with the same rel32 (the jmp
 * with TEST32 first); other sites must hold what they held in @before
 * (when given). Learns the jmp of a site seen for the first time (learn()
 * has seen every demo site already).
 */
void check_sites(const char *cls, const struct snap *s, const struct snap *before,
			const struct model *m, unsigned int mask, const char *req, size_t len)
{
	if (s->nlines != nsites) {
		fail(cls, req, len, "sites file has %d lines, expected %d", s->nlines, nsites);
		return;
	}
	for (int i = 0; i < nsites; i++) {
		const struct line *l = &s->lines[i];
		struct site *st = &sites[i];
		unsigned char want[5];
		int jump;

		if (l->addr != st->addr || l->name_len != strlen(st->name) ||
		    memcmp(l->name, st->name, l->name_len)) {
			fail(cls, req, len, "sites line %d is %.*s %#lx, expected %s %#lx", i + 1,
			     (int)l->name_len, l->name, l->addr, st->name, st->addr);
			return;
		}
		if (st->key < 0 || !(mask & (1u << st->key))) {
			if (before && memcmp(l->b, before->lines[i].b, 5))
				fail(cls, req, len, "site %#lx of %s changed, not in this request",
				     st->addr, st->name);
			continue;
		}
		jump = m->state[st->key] != st->likely;
		memcpy(want, st->jmp, 5);
		want[0] = jump ? JMP32 : TEST32;
		if (l->b[0] != want[0] || (st->jmp_known && memcmp(l->b + 1, want + 1, 4))) {
			char shown[32];

			if (st->jmp_known)
				snprintf(shown, sizeof(shown), "%02x %02x %02x %02x %02x", want[0],
					 want[1], want[2], want[3], want[4]);
			else
				snprintf(shown, sizeof(shown), "%02x and a rel32", want[0]);
			fail(cls, req, len,
			     "site %#lx of %s (state %d) holds %02x %02x %02x %02x %02x, expected %s (%s)",
			     st->addr, st->name, m->state[st->key], l->b[0], l->b[1], l->b[2], l->b[3],
			     l->b[4], shown,
			     jump ? "jmp rel32" : "test eax, imm32 of the jmp's rel32");
			return;
		}
		if (!st->jmp_known) {
			st->jmp_known = 1;
			memcpy(st->jmp, l->b, 5);
			st->jmp[0] = JMP32;
		}
	}
}

/*
 * The sites changed between @a and @b among keys in @mask, and the sync
 * rounds that took: per batch 1, plus 1 when a tail byte changes; the
 * serial baseline adds the kernel's final sync to each site's batch. A
 * demo site's flip (test <-> jmp) changes no tail byte.
 */
void changes(const struct snap *a, const struct snap *b, unsigned int mask, int serial,
		    unsigned long long *changed, unsigned long long *rounds)
{
	int tail = 0;

	*changed = *rounds = 0;
	for (int i = 0; i < nsites && i < a->nlines && i < b->nlines; i++) {
		const unsigned char *x = a->lines[i].b, *y = b->lines[i].b;
		int t;

		if (sites[i].key < 0 || !(mask & (1u << sites[i].key)) || !memcmp(x, y, 5))
			continue;
		(*changed)++;
		t = memcmp(x + 1, y + 1, 4) != 0;
		if (serial)
			*rounds += 2 + t;
		tail |= t;
	}
	if (!serial && *changed)
		*rounds = 1 + tail;
}
