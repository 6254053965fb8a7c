// SPDX-License-Identifier: GPL-2.0
/* batchpoke-fuzz: transaction requests, valid and bent, with their verdicts. */
#include "fuzz.h"

/* --- requests ------------------------------------------------------------------ */





char *rbuf;

void expect_none(struct expect *e, int err)
{
	memset(e, 0, sizeof(*e));
	e->err = err;
	e->strategy = -1;
	for (int k = 0; k < NKEYS; k++)
		e->set[k] = -1;
}



struct req R;

void tok_set(struct tok *t, const char *name, size_t nlen, const char *val, size_t vlen)
{
	memcpy(t->s, name, nlen);
	t->s[nlen] = '=';
	memcpy(t->s + nlen + 1, val, vlen);
	t->len = nlen + 1 + vlen;
	t->eq = nlen;
	t->key = -1;
}

void tok_valid(struct tok *t, int key, int val)
{
	char w[16];
	size_t n = word(w, val);

	tok_set(t, key_names[key], strlen(key_names[key]), w, n);
	t->key = key;
	t->val = val;
}

void sep_set(struct req *r, int i, int edge)
{
	/* Between tokens a separator is needed; at the edges it is optional. */
	r->seplen[i] = edge && rnd(2) ? 0 : ws_run(r->sep[i], rnd(4) ? 2 : 8);
}

/* Inserts token @t at position @at (separators stay valid whitespace). */
void req_insert(struct req *r, int at, const struct tok *t)
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
void req_valid(struct req *r, unsigned int mask, const struct model *m)
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

size_t render(struct req *r, char *out)
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

void expect_tokens(struct expect *e, const struct req *r, int from, int to)
{
	expect_none(e, 0);
	for (int i = from; i < to; i++)
		e->set[r->t[i].key] = r->t[i].val;
}

/* Inserts @n whitespace bytes at @at of @buf (length *@len). */
void insert_ws(char *buf, size_t *len, size_t at, size_t n)
{
	memmove(buf + at + n, buf + at, *len - at);
	for (size_t i = 0; i < n; i++)
		buf[at + i] = ws_chars[rnd(sizeof(ws_chars) - 1)];
	*len += n;
}

/* A length just under a page, or at or over it. */
size_t near_page(int over)
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
void pad_edges(char *buf, size_t *len, size_t target)
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

void one_piece(struct plan *pl, size_t len, const struct expect *e)
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
void gen_txn_bent(struct plan *pl, unsigned int mask, const struct model *m)
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

void gen_txn_valid(struct plan *pl, unsigned int mask, const struct model *m)
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
void gen_txn_split(struct plan *pl, unsigned int mask, const struct model *m)
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
