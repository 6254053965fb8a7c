/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batchpoke-fuzz: what its parts share (see batchpoke-fuzz.c for what it
 * does and how it knows each verdict).
 */
#ifndef BATCHPOKE_FUZZ_H
#define BATCHPOKE_FUZZ_H

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
/*
 * A demo site's first byte. The demo keys are batchpoke keys, registered
 * for as long as batchpoke is loaded, so each site either jumps (jmp
 * rel32) or falls through as test eax, imm32 whose immediate is that same
 * rel32: a flip changes the first byte only.
 */
#define JMP32 0xe9
#define TEST32 0xa9
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a) ((a)[rnd(NELEM(a))])

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

struct site {
	char name[128];
	unsigned long addr;
	int key; /* a demo key, or -1 for another module's key */
	int likely;
	/* jmp: the site's jmp rel32, as seen in either form (learn() sees every demo site's) */
	int jmp_known;
	unsigned char jmp[5];
};

struct model {
	int state[NKEYS];
	int serial;
};

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

extern const char *const key_names[NKEYS];
extern const int demo_sites[NKEYS];
extern const int demo_likely[NKEYS];
extern const unsigned char nop5[5];
extern const char *const true_words[5];
extern const char *const false_words[5];
extern const char ws_chars[6];
extern long page;
extern uint64_t rng;
extern long failures;
extern long input_no;
extern const char *who;
extern struct site *sites;
extern int nsites;
extern char registered[MAX_REGISTERED][128];
extern int nregistered;
extern char *rbuf;
extern struct req R;

uint64_t next64(void);
size_t rnd(size_t n);
void show_bytes(const char *p, size_t len);
void fail(const char *cls, const char *p, size_t len, const char *fmt, ...);
void die(const char *fmt, ...);
long read_all(const char *path, char **buf, size_t *cap);
long read_small(const char *path, char *buf, size_t cap);
int hex_digit(char c);
int parse_sites(struct snap *s);
int read_enabled(int key);
int read_stats(struct snap *s);
int stat_index(const struct snap *s, const char *name);
unsigned long long stat_of(const struct snap *s, const char *name);
void take_snap(struct snap *s);
int is_registered(const char *name, size_t len);
int demo_key(const char *name, size_t len);
void learn(const struct snap *s);
void check_sites(const char *cls, const struct snap *s, const struct snap *before,
			const struct model *m, unsigned int mask, const char *req, size_t len);
void changes(const struct snap *a, const struct snap *b, unsigned int mask, int serial,
		    unsigned long long *changed, unsigned long long *rounds);
int bool_word(const char *s, size_t n);
int strategy_word(const char *s, size_t n);
int name_char(unsigned char c);
void random_case(char *s, size_t n);
size_t word(char *out, int value);
size_t ws_run(char *out, size_t max);
char bad_byte(void);
size_t bent_value(char *out);
size_t unknown_name(char *out, size_t len);
size_t near_name(char *out, int key);
void expect_none(struct expect *e, int err);
void tok_set(struct tok *t, const char *name, size_t nlen, const char *val, size_t vlen);
void tok_valid(struct tok *t, int key, int val);
void sep_set(struct req *r, int i, int edge);
void req_insert(struct req *r, int at, const struct tok *t);
void req_valid(struct req *r, unsigned int mask, const struct model *m);
size_t render(struct req *r, char *out);
void expect_tokens(struct expect *e, const struct req *r, int from, int to);
void insert_ws(char *buf, size_t *len, size_t at, size_t n);
size_t near_page(int over);
void pad_edges(char *buf, size_t *len, size_t target);
void one_piece(struct plan *pl, size_t len, const struct expect *e);
void gen_txn_bent(struct plan *pl, unsigned int mask, const struct model *m);
void gen_txn_valid(struct plan *pl, unsigned int mask, const struct model *m);
void gen_txn_split(struct plan *pl, unsigned int mask, const struct model *m);
int pick_key(unsigned int mask, const struct model *m);
void gen_enabled(struct plan *pl, unsigned int mask, const struct model *m);
void gen_strategy(struct plan *pl, const struct model *m);
void tally(struct ctx *x, const char *cls, long n);
void target_path(const struct plan *pl, char *path, size_t cap);
void check_unchanged(struct ctx *x, const char *cls, const char *req, size_t len,
			    int refused);
void check_applied(struct ctx *x, const char *cls, const struct expect *e,
			  const char *req, size_t len);
void check_own(struct ctx *x, const char *cls, const char *req, size_t len);
void apply_expect(struct model *m, const struct expect *e);
void resync(struct ctx *x);
void run_plan(struct ctx *x, struct plan *pl);
void one_input(struct ctx *x);
void ctx_init(struct ctx *x, unsigned int mask, int single);
void print_classes(const char *title, const struct ctx *x);

#endif /* BATCHPOKE_FUZZ_H */
