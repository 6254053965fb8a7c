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
 *     text at read time (independent of batchpoke's beliefs). The form
 *     (likely/unlikely) of each demo site is learned at start from its bytes
 *     and the key's state, and checked against the demo layout of
 *     rust/demo.rs; a site must then hold NOP5 or the one jmp rel32 it was
 *     first seen with, as its key's state says;
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
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYS "/sys/kernel/batchpoke"
#define DEBUGFS "/sys/kernel/debug"
#define SITES DEBUGFS "/batchpoke/sites"
#define DEBUGFS_MAGIC 0x64626720

#define NKEYS 4
#define MAX_REQ ((1 << 20) + 8192)
#define PART_MAX 8192
#define MAX_TOK 8
#define SEP_MAX 16
#define MAX_STATS 32
#define MAX_REGISTERED 256
#define MAX_FAILS_SHOWN 20

/* The demo keys of rust/demo.rs: sites per key and how many are "likely". */
static const char *const key_names[NKEYS] = {
	"batchpoke.demo_a", "batchpoke.demo_b", "batchpoke.demo_c", "batchpoke.demo_d",
};
static const int demo_sites[NKEYS] = { 1, 8, 64, 512 };
static const int demo_likely[NKEYS] = { 0, 8, 32, 0 };
static const unsigned char nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

static const char *const true_words[] = { "1", "y", "yes", "on", "true" };
static const char *const false_words[] = { "0", "n", "no", "off", "false" };
/* What the grammar calls whitespace (Rust's is_ascii_whitespace). */
static const char ws_chars[] = " \t\n\r\f";

static long page;

/* --- random numbers ---------------------------------------------------------- */

static uint64_t rng;

static uint64_t next64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rnd(size_t n)
{
	return n ? (size_t)(next64() % n) : 0;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a) ((a)[rnd(NELEM(a))])

/* --- failures ------------------------------------------------------------------ */

static long failures;
static long input_no;
static const char *who = "";

static void show_bytes(const char *p, size_t len)
{
	size_t shown = len > 96 ? 96 : len;

	putchar('\'');
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\' || c == '\'')
			printf("\\%c", c);
		else if (isprint(c))
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	putchar('\'');
	if (shown < len)
		printf("...(%zu bytes)", len);
}

static void fail(const char *cls, const char *p, size_t len, const char *fmt, ...)
{
	va_list ap;

	failures++;
	if (failures > MAX_FAILS_SHOWN)
		return;
	printf("FAIL %sinput %ld (%s): ", who, input_no, cls);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (p) {
		printf("; request ");
		show_bytes(p, len);
	}
	putchar('\n');
	fflush(stdout);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

/* --- reading the kernel's view ------------------------------------------------ */

/* Reads all of @path into *@buf (grown as needed); returns the length or -errno. */
static long read_all(const char *path, char **buf, size_t *cap)
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

static long read_small(const char *path, char *buf, size_t cap)
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

struct line {
	const char *name;
	size_t name_len;
	unsigned long addr;
	unsigned char b[5];
};

struct snap {
	char *sites;
	size_t sites_cap;
	long sites_len;
	struct line *lines;
	int nlines, lines_cap;
	int enabled[NKEYS];
	char strategy[64];
	int nstats;
	char stat_name[MAX_STATS][32];
	unsigned long long stat[MAX_STATS];
	int ok;
};

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Parses the sites file of @s into lines: "<name> 0x<hex> xx xx xx xx xx\n",
 * lower-case hex, nothing else. Returns 0 or -1 (malformed).
 */
static int parse_sites(struct snap *s)
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

static int read_enabled(int key)
{
	char path[256], buf[16];

	snprintf(path, sizeof(path), SYS "/keys/%s/enabled", key_names[key]);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return !strcmp(buf, "1\n") ? 1 : !strcmp(buf, "0\n") ? 0 : -1;
}

static int read_stats(struct snap *s)
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

static int stat_index(const struct snap *s, const char *name)
{
	for (int i = 0; i < s->nstats; i++)
		if (!strcmp(s->stat_name[i], name))
			return i;
	return -1;
}

static unsigned long long stat_of(const struct snap *s, const char *name)
{
	int i = stat_index(s, name);

	return i < 0 ? 0 : s->stat[i];
}

/* Reads everything the oracle looks at; s->ok says whether it all parsed. */
static void take_snap(struct snap *s)
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

struct site {
	char name[128];
	unsigned long addr;
	int key; /* a demo key, or -1 for another module's key */
	int likely;
	int jmp_known;
	unsigned char jmp[5];
};

static struct site *sites;
static int nsites;
static char registered[MAX_REGISTERED][128];
static int nregistered;

struct model {
	int state[NKEYS];
	int serial;
};

static int is_registered(const char *name, size_t len)
{
	for (int i = 0; i < nregistered; i++)
		if (strlen(registered[i]) == len && !memcmp(registered[i], name, len))
			return 1;
	return 0;
}

static int demo_key(const char *name, size_t len)
{
	for (int k = 0; k < NKEYS; k++)
		if (strlen(key_names[k]) == len && !memcmp(key_names[k], name, len))
			return k;
	return -1;
}

/* Learns every site and each demo site's form from @s and the key states. */
static void learn(const struct snap *s)
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
		if (!memcmp(l->b, nop5, 5)) {
			st->likely = s->enabled[st->key];
		} else if (l->b[0] == 0xe9) {
			st->likely = !s->enabled[st->key];
			st->jmp_known = 1;
			memcpy(st->jmp, l->b, 5);
		} else {
			die("site %#lx of %s holds %02x %02x %02x %02x %02x: neither NOP5 nor jmp rel32",
			    l->addr, st->name, l->b[0], l->b[1], l->b[2], l->b[3], l->b[4]);
		}
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
 * of a key in @mask holds what the key's state in @m says; other sites
 * must hold what they held in @before (when given). Learns jmp bytes seen
 * for the first time.
 */
static void check_sites(const char *cls, const struct snap *s, const struct snap *before,
			const struct model *m, unsigned int mask, const char *req, size_t len)
{
	if (s->nlines != nsites) {
		fail(cls, req, len, "sites file has %d lines, expected %d", s->nlines, nsites);
		return;
	}
	for (int i = 0; i < nsites; i++) {
		const struct line *l = &s->lines[i];
		struct site *st = &sites[i];
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
		if (!jump && memcmp(l->b, nop5, 5)) {
			fail(cls, req, len,
			     "site %#lx of %s (state %d) holds %02x %02x %02x %02x %02x, expected NOP5",
			     st->addr, st->name, m->state[st->key], l->b[0], l->b[1], l->b[2], l->b[3],
			     l->b[4]);
			return;
		}
		if (jump && (l->b[0] != 0xe9 || (st->jmp_known && memcmp(l->b, st->jmp, 5)))) {
			fail(cls, req, len,
			     "site %#lx of %s (state %d) holds %02x %02x %02x %02x %02x, expected jmp%s",
			     st->addr, st->name, m->state[st->key], l->b[0], l->b[1], l->b[2], l->b[3],
			     l->b[4], st->jmp_known ? " as first seen" : "");
			return;
		}
		if (jump && !st->jmp_known) {
			st->jmp_known = 1;
			memcpy(st->jmp, l->b, 5);
		}
	}
}

/*
 * The sites changed between @a and @b among keys in @mask, and the sync
 * rounds that took: per batch 1, plus 1 when a tail byte changes; the
 * serial baseline adds the kernel's final sync to each site's batch.
 */
static void changes(const struct snap *a, const struct snap *b, unsigned int mask, int serial,
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

/* --- the grammar, for the generator ----------------------------------------- */

/* A boolean word of the grammar in any case: 1, 0, or -1 for none. */
static int bool_word(const char *s, size_t n)
{
	for (size_t i = 0; i < NELEM(true_words); i++)
		if (strlen(true_words[i]) == n && !strncasecmp(s, true_words[i], n))
			return 1;
	for (size_t i = 0; i < NELEM(false_words); i++)
		if (strlen(false_words[i]) == n && !strncasecmp(s, false_words[i], n))
			return 0;
	return -1;
}

/* A strategy request: the name, optionally followed by one newline. */
static int strategy_word(const char *s, size_t n)
{
	if (n && s[n - 1] == '\n')
		n--;
	if (n == 5 && !memcmp(s, "batch", 5))
		return 0;
	if (n == 6 && !memcmp(s, "serial", 6))
		return 1;
	return -1;
}

static int name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static void random_case(char *s, size_t n)
{
	int mode = rnd(4);

	for (size_t i = 0; i < n; i++) {
		if (!isalpha((unsigned char)s[i]))
			continue;
		if (mode == 1 || (mode == 3 && rnd(2)))
			s[i] = toupper((unsigned char)s[i]);
		else if (mode == 2)
			s[i] = tolower((unsigned char)s[i]);
	}
}

/* A spelling of @value as a whole word. */
static size_t word(char *out, int value)
{
	const char *w = value ? PICK(true_words) : PICK(false_words);
	size_t n = strlen(w);

	memcpy(out, w, n);
	random_case(out, n);
	return n;
}

/* A run of 1..@max whitespace bytes. */
static size_t ws_run(char *out, size_t max)
{
	size_t n = 1 + rnd(max);

	for (size_t i = 0; i < n; i++)
		out[i] = ws_chars[rnd(sizeof(ws_chars) - 1)];
	return n;
}

/* Bytes that are neither whitespace, a name byte, '=' nor NUL. */
static char bad_byte(void)
{
	for (;;) {
		unsigned char c = (unsigned char)rnd(256);

		if (c && c != '=' && !name_char(c) && !strchr(ws_chars, c))
			return (char)c;
	}
}

/*
 * A value that is certainly not a boolean word. Each construction avoids
 * making another word: appending to "y" or "n" a letter could give "yes" or
 * "no", so only non-letters (and x, z) are added; truncations are taken
 * from words whose prefixes are not words.
 */
static size_t bent_value(char *out)
{
	static const char add[] = "xXzZ0123456789!#%+,.:;?@^_~-/=";
	static const char *const cut[] = { "t", "tr", "tru", "f", "fa", "fal", "fals", "o", "of",
					   "ye", "" };
	static const char *const numbers[] = { "2", "-1", "00", "01", "10", "11", "0x1", "1.0",
					       "+1", "-0", "9", "0b1" };
	static const char *const near[] = { "yess", "noo", "onn", "offf", "ture", "flase", "yse",
					    "nope", "yep", "enable", "disable", "enabled", "t",
					    "f", "ok", "none", "nil", "nan", "of f", "tr\tue" };
	size_t n = 0;

	switch (rnd(8)) {
	case 0:
		n = word(out, rnd(2));
		out[n++] = add[rnd(sizeof(add) - 1)];
		break;
	case 1:
		out[0] = add[rnd(sizeof(add) - 1)];
		n = 1 + word(out + 1, rnd(2));
		break;
	case 2: {
		const char *w = PICK(cut);

		n = strlen(w);
		memcpy(out, w, n);
		break;
	}
	case 3: {
		const char *w = PICK(numbers);

		n = strlen(w);
		memcpy(out, w, n);
		break;
	}
	case 4: {
		const char *w = PICK(near);

		/* "of f" and "tr\tue" split into two tokens: still no word. */
		n = strlen(w);
		memcpy(out, w, n);
		break;
	}
	case 5: /* a non-ASCII byte in place of one */
		n = word(out, rnd(2));
		out[rnd(n)] = (char)(0x80 + rnd(128));
		break;
	case 6: /* \v is not whitespace here */
		n = word(out, rnd(2));
		if (rnd(2)) {
			memmove(out + 1, out, n);
			out[0] = '\v';
		} else {
			out[n] = '\v';
		}
		n++;
		break;
	default: { /* a letter doubled */
		size_t at;

		n = word(out, rnd(2));
		at = rnd(n);
		memmove(out + at + 1, out + at, n - at);
		n++;
		break;
	}
	}
	random_case(out, n);
	if (bool_word(out, n) >= 0)
		die("generator: bent value '%.*s' is a word", (int)n, out);
	return n;
}

/* A name of valid bytes that no registered key has, of @len bytes. */
static size_t unknown_name(char *out, size_t len)
{
	static const char chars[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

	do {
		for (size_t i = 0; i < len; i++)
			out[i] = chars[rnd(sizeof(chars) - 1)];
	} while (is_registered(out, len));
	return len;
}

/* A near miss of the name of @key that names no registered key. */
static size_t near_name(char *out, int key)
{
	const char *name = key_names[key];
	size_t n = strlen(name);

	for (;;) {
		memcpy(out, name, n + 1);
		switch (rnd(5)) {
		case 0: { /* another case: at least one letter flipped */
			size_t at;

			do
				at = rnd(n);
			while (!isalpha((unsigned char)out[at]));
			out[at] ^= 0x20;
			random_case(out, n);
			break;
		}
		case 1: { /* a name byte more */
			size_t at = rnd(n + 1);

			memmove(out + at + 1, out + at, n - at + 1);
			out[at] = "_.-xa0"[rnd(6)];
			n++;
			break;
		}
		case 2: { /* a byte less */
			size_t at = rnd(n);

			memmove(out + at, out + at + 1, n - at);
			n--;
			break;
		}
		case 3: /* the key's name without its module */
			n = strlen(strchr(name, '.') + 1);
			memmove(out, strchr(name, '.') + 1, n + 1);
			break;
		default: /* a demo key that does not exist */
			out[n - 1] = "efghz"[rnd(5)];
			break;
		}
		if (!is_registered(out, n))
			return n;
		n = strlen(name);
	}
}

/* --- requests ------------------------------------------------------------------ */

enum target { T_TXN, T_STRATEGY, T_ENABLED };

struct expect {
	int err; /* 0: applied */
	int set[NKEYS]; /* for an applied key write: -1 untouched, else the new state */
	int strategy; /* for an applied strategy write: the new one, else -1 */
	int zero; /* a zero-byte write */
};

struct piece {
	size_t off, len;
	struct expect e;
};

struct plan {
	const char *cls;
	int target, key;
	struct piece w[2];
	int nw;
	int iovs; /* > 1: one writev() of that many buffers */
	size_t len;
};

static char *rbuf;

static void expect_none(struct expect *e, int err)
{
	memset(e, 0, sizeof(*e));
	e->err = err;
	e->strategy = -1;
	for (int k = 0; k < NKEYS; k++)
		e->set[k] = -1;
}

/* A transaction: tokens and the separators around them. */
struct tok {
	char s[PART_MAX];
	size_t len;
	size_t eq; /* offset of '=', or SIZE_MAX */
	int key, val; /* a valid token: its key and value; else key -1 */
	size_t start; /* offset in the rendered request */
};

struct req {
	int n;
	struct tok t[MAX_TOK];
	char sep[MAX_TOK + 1][SEP_MAX];
	size_t seplen[MAX_TOK + 1];
};

static struct req R;

static void tok_set(struct tok *t, const char *name, size_t nlen, const char *val, size_t vlen)
{
	memcpy(t->s, name, nlen);
	t->s[nlen] = '=';
	memcpy(t->s + nlen + 1, val, vlen);
	t->len = nlen + 1 + vlen;
	t->eq = nlen;
	t->key = -1;
}

static void tok_valid(struct tok *t, int key, int val)
{
	char w[16];
	size_t n = word(w, val);

	tok_set(t, key_names[key], strlen(key_names[key]), w, n);
	t->key = key;
	t->val = val;
}

static void sep_set(struct req *r, int i, int edge)
{
	/* Between tokens a separator is needed; at the edges it is optional. */
	r->seplen[i] = edge && rnd(2) ? 0 : ws_run(r->sep[i], rnd(4) ? 2 : 8);
}

/* Inserts token @t at position @at (separators stay valid whitespace). */
static void req_insert(struct req *r, int at, const struct tok *t)
{
	if (r->n == MAX_TOK)
		return;
	memmove(&r->t[at + 1], &r->t[at], (r->n - at) * sizeof(r->t[0]));
	memmove(&r->sep[at + 1], &r->sep[at], (r->n + 1 - at) * sizeof(r->sep[0]));
	memmove(&r->seplen[at + 1], &r->seplen[at], (r->n + 1 - at) * sizeof(r->seplen[0]));
	r->t[at] = *t;
	r->n++;
	/* sep[at] now precedes the new token, sep[at + 1] follows it. */
	if (at > 0 && !r->seplen[at])
		sep_set(r, at, 0);
	if (at + 1 < r->n && !r->seplen[at + 1])
		sep_set(r, at + 1, 0);
	if (at == 0 && r->n > 1 && !r->seplen[1])
		sep_set(r, 1, 0);
}

/* A valid transaction over some keys of @mask. */
static void req_valid(struct req *r, unsigned int mask, const struct model *m)
{
	int keys[NKEYS], n = 0;

	for (int k = 0; k < NKEYS; k++)
		if ((mask & (1u << k)) && rnd(2))
			keys[n++] = k;
	if (!n) {
		int k;

		do
			k = rnd(NKEYS);
		while (!(mask & (1u << k)));
		keys[n++] = k;
	}
	for (int i = n - 1; i > 0; i--) {
		int j = rnd(i + 1), t = keys[i];

		keys[i] = keys[j];
		keys[j] = t;
	}
	r->n = n;
	for (int i = 0; i < n; i++) {
		int k = keys[i];
		/* Serial costs 3 rounds per site: leave the big keys alone then. */
		int val = m->serial && demo_sites[k] > 8 ? m->state[k] : (int)rnd(2);

		tok_valid(&r->t[i], k, val);
	}
	for (int i = 0; i <= n; i++)
		sep_set(r, i, i == 0 || i == n);
}

static size_t render(struct req *r, char *out)
{
	size_t len = 0;

	for (int i = 0; i <= r->n; i++) {
		memcpy(out + len, r->sep[i], r->seplen[i]);
		len += r->seplen[i];
		if (i < r->n) {
			r->t[i].start = len;
			memcpy(out + len, r->t[i].s, r->t[i].len);
			len += r->t[i].len;
		}
	}
	return len;
}

static void expect_tokens(struct expect *e, const struct req *r, int from, int to)
{
	expect_none(e, 0);
	for (int i = from; i < to; i++)
		e->set[r->t[i].key] = r->t[i].val;
}

/* Inserts @n whitespace bytes at @at of @buf (length *@len). */
static void insert_ws(char *buf, size_t *len, size_t at, size_t n)
{
	memmove(buf + at + n, buf + at, *len - at);
	for (size_t i = 0; i < n; i++)
		buf[at + i] = ws_chars[rnd(sizeof(ws_chars) - 1)];
	*len += n;
}

/* A length just under a page, or at or over it. */
static size_t near_page(int over)
{
	if (!over)
		return (size_t)page - 1 - (rnd(4) ? rnd(64) : 0);
	switch (rnd(8)) {
	case 0:
		return page;
	case 1:
		return 2 * page;
	case 2:
		return 16384;
	default:
		return page + rnd(64);
	}
}

/* Pads the request at its start or end (never between tokens) to @target. */
static void pad_edges(char *buf, size_t *len, size_t target)
{
	if (*len >= target)
		return;
	if (rnd(2)) {
		insert_ws(buf, len, *len, target - *len);
	} else {
		size_t n = target - *len;

		insert_ws(buf, len, 0, n);
		for (int i = 0; i < R.n; i++)
			R.t[i].start += n;
	}
}

static void one_piece(struct plan *pl, size_t len, const struct expect *e)
{
	pl->len = len;
	pl->nw = 1;
	pl->w[0].off = 0;
	pl->w[0].len = len;
	pl->w[0].e = *e;
	if (len >= (size_t)page)
		expect_none(&pl->w[0].e, E2BIG);
}

/* A transaction with one token bent; the verdict follows from the bend. */
static void gen_txn_bent(struct plan *pl, unsigned int mask, const struct model *m)
{
	struct req *r = &R;
	struct tok t;
	struct expect e;
	int i, err = EINVAL, nul = 0;
	size_t len;
	char v[64];

	req_valid(r, mask, m);
	i = rnd(r->n);
	switch (rnd(13)) {
	case 0:
		pl->cls = "value_bent";
		tok_set(&r->t[i], key_names[r->t[i].key], strlen(key_names[r->t[i].key]), v,
			bent_value(v));
		break;
	case 1: { /* a byte no name may hold, anywhere in the name */
		struct tok *x = &r->t[i];
		size_t at = rnd(x->eq + 1);

		pl->cls = "name_bad_byte";
		memmove(x->s + at + 1, x->s + at, x->len - at);
		x->s[at] = bad_byte();
		x->len++;
		x->eq++;
		x->key = -1;
		break;
	}
	case 2: { /* whitespace before or after '=' or inside the value */
		struct tok *x = &r->t[i];
		size_t vlen = x->len - x->eq - 1, at, n;
		char w[8];

		/* before '=' (at == eq), right after it, or inside the value */
		pl->cls = "ws_in_token";
		at = x->eq + rnd(vlen + 1);
		n = ws_run(w, 3);
		memmove(x->s + at + n, x->s + at, x->len - at);
		memcpy(x->s + at, w, n);
		x->len += n;
		x->key = -1;
		break;
	}
	case 3:
		pl->cls = "nul_byte";
		nul = 1;
		break;
	case 4: { /* '=' dropped or replaced by a byte that is not '=' or whitespace */
		struct tok *x = &r->t[i];
		static const char repl[] = ":-._x/#,;\v";

		pl->cls = "equals_missing";
		if (rnd(2)) {
			memmove(x->s + x->eq, x->s + x->eq + 1, x->len - x->eq - 1);
			x->len--;
		} else {
			x->s[x->eq] = repl[rnd(sizeof(repl) - 1)];
		}
		x->key = -1;
		break;
	}
	case 5: { /* a==1, a=1=, a=, =1, = */
		struct tok *x = &r->t[i];
		const char *name = key_names[x->key];
		size_t vlen = word(v, rnd(2));

		pl->cls = "equals_bent";
		switch (rnd(5)) {
		case 0:
			memmove(v + 1, v, vlen++);
			v[0] = '=';
			tok_set(x, name, strlen(name), v, vlen);
			break;
		case 1:
			v[vlen++] = '=';
			tok_set(x, name, strlen(name), v, vlen);
			break;
		case 2:
			tok_set(x, name, strlen(name), "", 0);
			break;
		case 3:
			tok_set(x, "", 0, v, vlen);
			break;
		default:
			tok_set(&t, "", 0, "", 0); /* a lone "=" */
			req_insert(r, rnd(r->n + 1), &t);
			break;
		}
		break;
	}
	case 6: { /* a separator that is not whitespace, or none */
		static const char *const seps[] = { "", "\v", ",", ";", "\x85", "\xa0", "|", "&",
						    "\x01", " , ", "\t;\t" };
		const char *s = PICK(seps);
		int at = r->n > 1 ? 1 + (int)rnd(r->n - 1) : 0;

		pl->cls = "separator_bent";
		if (r->n == 1) {
			/* Right against the only token: at its start or end. */
			at = rnd(2) ? 0 : 1;
			if (!*s || *s == ' ' || *s == '\t')
				s = "\v";
		}
		r->seplen[at] = strlen(s);
		memcpy(r->sep[at], s, r->seplen[at]);
		break;
	}
	case 7: { /* nothing but whitespace */
		size_t n = rnd(4) ? 1 + rnd(32) : 1 + rnd(page - 1);

		pl->cls = "whitespace_only";
		r->n = 0;
		len = 0;
		insert_ws(rbuf, &len, 0, n);
		expect_none(&e, EINVAL);
		one_piece(pl, len, &e);
		return;
	}
	case 8: /* a key named twice */
		pl->cls = "duplicate_key";
		tok_valid(&t, r->t[i].key, rnd(2));
		req_insert(r, rnd(r->n + 1), &t);
		break;
	case 9: /* an unknown key beside valid ones, or instead of one */
		pl->cls = "unknown_key";
		tok_set(&t, v, near_name(v, r->t[i].key), "", 0);
		t.len += word(t.s + t.len, rnd(2));
		if (rnd(3))
			req_insert(r, rnd(r->n + 1), &t);
		else
			r->t[i] = t;
		err = ENOENT;
		break;
	case 10: { /* a key and its name in another case */
		char name[128];
		size_t n = strlen(key_names[r->t[i].key]);

		pl->cls = "name_other_case";
		do {
			memcpy(name, key_names[r->t[i].key], n);
			random_case(name, n);
		} while (is_registered(name, n));
		tok_set(&t, name, n, "", 0);
		t.len += word(t.s + t.len, rnd(2));
		req_insert(r, i + rnd(2), &t);
		err = ENOENT;
		break;
	}
	case 11: { /* long names: 255 bytes, or nearly a page */
		static char name[PART_MAX];
		size_t n = rnd(2) ? 255 : 256 + rnd(page - 300);

		pl->cls = "unknown_long_name";
		tok_set(&t, name, unknown_name(name, n), "", 0);
		t.len += word(t.s + t.len, rnd(2));
		if (rnd(2))
			r->t[i] = t;
		else
			req_insert(r, rnd(r->n + 1), &t);
		err = ENOENT;
		break;
	}
	default: { /* a bad byte in a long name */
		static char name[PART_MAX];
		size_t n = rnd(2) ? 255 : 256 + rnd(page - 300);

		pl->cls = "long_name_bad_byte";
		unknown_name(name, n);
		name[rnd(n)] = bad_byte();
		tok_set(&t, name, n, "", 0);
		t.len += word(t.s + t.len, rnd(2));
		r->t[i] = t;
		break;
	}
	}
	len = render(r, rbuf);
	if (nul) {
		size_t at = rnd(len + 1);

		if (at < len && rnd(2)) {
			rbuf[at] = 0;
		} else {
			memmove(rbuf + at + 1, rbuf + at, len - at);
			rbuf[at] = 0;
			len++;
		}
	}
	/* Sometimes just under a page; the bend decides, not the size. */
	if (!rnd(8) && len < (size_t)page - 1)
		pad_edges(rbuf, &len, len + rnd(page - 1 - len));
	expect_none(&e, err);
	one_piece(pl, len, &e);
}

static void gen_txn_valid(struct plan *pl, unsigned int mask, const struct model *m)
{
	struct expect e;
	size_t len;

	req_valid(&R, mask, m);
	len = render(&R, rbuf);
	expect_tokens(&e, &R, 0, R.n);
	pl->cls = "valid";
	switch (rnd(10)) {
	case 0: { /* padded between tokens to just under a page */
		size_t target = near_page(0), n = target > len ? target - len : 0;
		int at = rnd(R.n + 1);

		pl->cls = "valid_just_under_page";
		insert_ws(rbuf, &len, at < R.n ? R.t[at].start : len, n);
		break;
	}
	case 1: /* the same at or over a page */
		pl->cls = "valid_over_page";
		pad_edges(rbuf, &len, near_page(1));
		break;
	case 2: /* one writev() of several buffers is one request */
		pl->cls = "valid_writev";
		if (len >= 2)
			pl->iovs = 2 + rnd(3);
		break;
	}
	one_piece(pl, len, &e);
}

/*
 * A valid transaction cut in two: two write() calls, two requests. Each
 * piece's verdict follows from where the cut falls.
 */
static void gen_txn_split(struct plan *pl, unsigned int mask, const struct model *m)
{
	struct req *r = &R;
	struct expect *e1 = &pl->w[0].e, *e2 = &pl->w[1].e;
	size_t len, cut;
	int i, truncated;

	req_valid(r, mask, m);
	len = render(r, rbuf);
	if (!rnd(4))
		insert_ws(rbuf, &len, len, rnd(page - 1 - len));
	if (len < 2)
		insert_ws(rbuf, &len, len, 1);
	cut = 1 + rnd(len - 1);
	truncated = !rnd(4);
	pl->cls = truncated ? "truncated" : "split";
	for (i = 0; i < r->n && r->t[i].start + r->t[i].len <= cut; i++)
		;
	/* Tokens 0..i-1 end at or before the cut; token i (if any) does not. */
	if (i == r->n || cut <= r->t[i].start) {
		if (i == 0)
			expect_none(e1, EINVAL);
		else
			expect_tokens(e1, r, 0, i);
		if (i == r->n)
			expect_none(e2, EINVAL);
		else
			expect_tokens(e2, r, i, r->n);
	} else {
		const struct tok *t = &r->t[i];
		size_t in = cut - t->start; /* bytes of token i in piece 1, >= 1 */

		if (in <= t->eq) {
			/* Piece 1 ends in a name with no '='; piece 2 starts with
			 * "=..." or with the rest of the name, which is unknown. */
			expect_none(e1, EINVAL);
			expect_none(e2, in == t->eq ? EINVAL : ENOENT);
			if (in < t->eq && is_registered(t->s + in, t->eq - in))
				die("generator: %.*s is registered", (int)(t->eq - in), t->s + in);
		} else {
			/* Piece 1 ends in "name=" and a prefix of the value, a word
			 * only for y of yes or n of no; piece 2 starts with the rest
			 * of the value, a token with no '='. */
			int w = bool_word(t->s + t->eq + 1, in - t->eq - 1);

			if (w < 0) {
				expect_none(e1, EINVAL);
			} else {
				expect_tokens(e1, r, 0, i + 1);
				e1->set[t->key] = w;
			}
			expect_none(e2, EINVAL);
		}
	}
	pl->len = len;
	pl->nw = truncated ? 1 : 2;
	pl->w[0].off = 0;
	pl->w[0].len = cut;
	pl->w[1].off = cut;
	pl->w[1].len = len - cut;
}

/* --- enabled and strategy ------------------------------------------------------- */

static int pick_key(unsigned int mask, const struct model *m)
{
	for (;;) {
		int k = rnd(NKEYS);

		if ((mask & (1u << k)) && !(m->serial && demo_sites[k] > 8))
			return k;
	}
}

static void gen_enabled(struct plan *pl, unsigned int mask, const struct model *m)
{
	int k = pick_key(mask, m), val = rnd(2), err = 0;
	size_t lead = rnd(2) ? 0 : ws_run(rbuf, 3), wlen, len;
	struct expect e;

	pl->target = T_ENABLED;
	pl->key = k;
	wlen = word(rbuf + lead, val);
	len = lead + wlen;
	if (rnd(2))
		len += ws_run(rbuf + len, 3);
	pl->cls = "enabled_valid";
	switch (rnd(12)) {
	case 0: /* a bent word */
		pl->cls = "enabled_value_bent";
		len = lead + bent_value(rbuf + lead);
		err = EINVAL;
		break;
	case 1: /* two words */
		pl->cls = "enabled_two_words";
		len += ws_run(rbuf + len, 2);
		len += word(rbuf + len, rnd(2));
		err = EINVAL;
		break;
	case 2:
		pl->cls = "enabled_whitespace_only";
		len = ws_run(rbuf, rnd(2) ? 4 : page - 1);
		err = EINVAL;
		break;
	case 3: /* transaction syntax */
		pl->cls = "enabled_name_value";
		len = sprintf(rbuf, "%s=", key_names[k]);
		len += word(rbuf + len, val);
		err = EINVAL;
		break;
	case 4: {
		size_t at = rnd(len + 1);

		pl->cls = "enabled_nul_byte";
		memmove(rbuf + at + 1, rbuf + at, len - at);
		rbuf[at] = 0;
		len++;
		err = EINVAL;
		break;
	}
	case 5:
		pl->cls = "enabled_just_under_page";
		insert_ws(rbuf, &len, rnd(2) ? 0 : len, near_page(0) - len);
		break;
	case 6:
		pl->cls = "enabled_over_page";
		insert_ws(rbuf, &len, rnd(2) ? 0 : len, near_page(1) - len);
		break;
	case 7: { /* split in two write() calls: each piece judged alone */
		size_t cut;
		int w;

		if (len < 2)
			len += ws_run(rbuf + len, 2);
		cut = 1 + rnd(len - 1);
		pl->cls = "enabled_split";
		pl->len = len;
		pl->nw = 2;
		pl->w[0].off = 0;
		pl->w[0].len = cut;
		pl->w[1].off = cut;
		pl->w[1].len = len - cut;
		/* A piece holding the whole word is valid; one holding part of
		 * it is valid when that part is a word ("on" -> "o" + "n"). */
		for (int p = 0; p < 2; p++) {
			size_t from = p ? cut : 0, to = p ? len : cut;
			size_t a = from > lead ? from : lead, b = to < lead + wlen ? to : lead + wlen;

			w = a < b ? bool_word(rbuf + a, b - a) : -1;
			expect_none(&pl->w[p].e, w < 0 ? EINVAL : 0);
			if (w >= 0)
				pl->w[p].e.set[k] = w;
		}
		/* A piece that changes a big key under serial is fine: rare. */
		return;
	}
	}
	expect_none(&e, err);
	if (!err)
		e.set[k] = val;
	one_piece(pl, len, &e);
}

static void gen_strategy(struct plan *pl, const struct model *m)
{
	static const char *const extra[] = { "\n\n", "\r\n", " ", "\t", "\r", " \n", "\f",
					     "\v", "\n ", "\n\t" };
	int s = rnd(3) ? 0 : 1;
	const char *name = s ? "serial" : "batch";
	size_t n = strlen(name), len;
	struct expect e;

	(void)m;
	pl->target = T_STRATEGY;
	memcpy(rbuf, name, n);
	len = n;
	if (rnd(2))
		rbuf[len++] = '\n';
	expect_none(&e, EINVAL);
	switch (rnd(10)) {
	case 0: { /* a letter in another case */
		size_t at = rnd(n);

		pl->cls = "strategy_case";
		rbuf[at] ^= 0x20;
		break;
	}
	case 1: { /* a byte inserted: never '\n', which could make "batch\n" */
		size_t at = rnd(len + 1);
		char c;

		do
			c = (char)rnd(256);
		while (c == '\n');
		pl->cls = "strategy_byte_added";
		memmove(rbuf + at + 1, rbuf + at, len - at);
		rbuf[at] = c;
		len++;
		break;
	}
	case 2: { /* a letter removed */
		size_t at = rnd(n);

		pl->cls = "strategy_byte_removed";
		memmove(rbuf + at, rbuf + at + 1, len - at - 1);
		len--;
		break;
	}
	case 3: /* trailing bytes other than one newline */
		pl->cls = "strategy_trailing";
		len = n;
		{
			const char *x = PICK(extra);

			memcpy(rbuf + len, x, strlen(x));
			len += strlen(x);
		}
		break;
	case 4: /* leading whitespace */
		pl->cls = "strategy_leading";
		memmove(rbuf + 1, rbuf, len);
		rbuf[0] = ws_chars[rnd(sizeof(ws_chars) - 1)];
		len++;
		break;
	case 5: {
		static const struct {
			const char *s;
			size_t n;
		} other[] = {
			{ "\n", 1 },	     { "batch serial", 12 }, { "serial\nbatch", 12 },
			{ "parallel\n", 9 }, { "0\n", 2 },	     { "batch\0", 6 },
			{ "\0", 1 },	     { "b\n", 2 },	     { "batch\n\0", 7 },
			{ "BATCH", 5 },
		};
		size_t o = rnd(NELEM(other));

		pl->cls = "strategy_other";
		memcpy(rbuf, other[o].s, other[o].n);
		len = other[o].n;
		break;
	}
	case 6:
		pl->cls = "strategy_over_page";
		insert_ws(rbuf, &len, len, near_page(1) - len);
		expect_none(&e, E2BIG);
		break;
	case 7: { /* split in two write() calls */
		size_t cut;

		if (len < 2)
			rbuf[len++] = '\n';
		cut = 1 + rnd(len - 1);
		pl->cls = "strategy_split";
		pl->len = len;
		pl->nw = 2;
		for (int p = 0; p < 2; p++) {
			size_t from = p ? cut : 0, to = p ? len : cut;
			int w = strategy_word(rbuf + from, to - from);

			pl->w[p].off = from;
			pl->w[p].len = to - from;
			expect_none(&pl->w[p].e, w < 0 ? EINVAL : 0);
			pl->w[p].e.strategy = w;
		}
		return;
	}
	default:
		pl->cls = "strategy_valid";
		expect_none(&e, 0);
		e.strategy = s;
		break;
	}
	one_piece(pl, len, &e);
}

/* --- running inputs ------------------------------------------------------------- */

struct counts {
	long inputs, applied, refused, zero;
	unsigned long long key_writes, changed, rounds; /* for the counters' deltas */
	long failures;
	int state[NKEYS];
};

struct ctx {
	struct model m;
	unsigned int mask;
	int single; /* phase 1: the only writer, full checks */
	struct snap snaps[2];
	struct snap *before, *now;
	struct counts c;
	/* per class: inputs */
	const char *cls_name[64];
	long cls_count[64];
	int ncls;
};

static void tally(struct ctx *x, const char *cls, long n)
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

static void target_path(const struct plan *pl, char *path, size_t cap)
{
	if (pl->target == T_TXN)
		snprintf(path, cap, SYS "/transaction");
	else if (pl->target == T_STRATEGY)
		snprintf(path, cap, SYS "/strategy");
	else
		snprintf(path, cap, SYS "/keys/%s/enabled", key_names[pl->key]);
}

/* Phase 1, refused or zero-byte write: nothing may differ but refused. */
static void check_unchanged(struct ctx *x, const char *cls, const char *req, size_t len,
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
static void check_applied(struct ctx *x, const char *cls, const struct expect *e,
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
static void check_own(struct ctx *x, const char *cls, const char *req, size_t len)
{
	const struct snap *b = x->now;

	for (int k = 0; k < NKEYS; k++)
		if ((x->mask & (1u << k)) && b->enabled[k] != x->m.state[k])
			fail(cls, req, len, "%s/enabled is %d, expected %d", key_names[k],
			     b->enabled[k], x->m.state[k]);
	check_sites(cls, b, NULL, &x->m, x->mask, req, len);
}

static void apply_expect(struct model *m, const struct expect *e)
{
	for (int k = 0; k < NKEYS; k++)
		if (e->set[k] >= 0)
			m->state[k] = e->set[k];
	if (e->strategy >= 0)
		m->serial = e->strategy;
}

/* After a departure, follows the kernel's view so that it is reported once. */
static void resync(struct ctx *x)
{
	for (int k = 0; k < NKEYS; k++)
		if (x->mask & (1u << k))
			x->m.state[k] = x->now->enabled[k];
	x->m.serial = !strcmp(x->now->strategy, "serial\n");
}

static void run_plan(struct ctx *x, struct plan *pl)
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

static void one_input(struct ctx *x)
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

static void ctx_init(struct ctx *x, unsigned int mask, int single)
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

static void print_classes(const char *title, const struct ctx *x)
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
