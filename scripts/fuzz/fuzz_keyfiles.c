// SPDX-License-Identifier: GPL-2.0
/* batchpoke-fuzz: requests to the enabled and strategy files. */
#include "fuzz.h"

/* --- enabled and strategy ------------------------------------------------------- */

int pick_key(unsigned int mask, const struct model *m)
{
	for (;;) {
		int k = rnd(NKEYS);

		if ((mask & (1u << k)) && !(m->serial && demo_sites[k] > 8))
			return k;
	}
}

void gen_enabled(struct plan *pl, unsigned int mask, const struct model *m)
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

void gen_strategy(struct plan *pl, const struct model *m)
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
