// SPDX-License-Identifier: GPL-2.0
/* batchpoke-fuzz: the request grammar, for the generator. */
#include "fuzz.h"

/* --- the grammar, for the generator ----------------------------------------- */

/* A boolean word of the grammar in any case: 1, 0, or -1 for none. */
int bool_word(const char *s, size_t n)
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
int strategy_word(const char *s, size_t n)
{
	if (n && s[n - 1] == '\n')
		n--;
	if (n == 5 && !memcmp(s, "batch", 5))
		return 0;
	if (n == 6 && !memcmp(s, "serial", 6))
		return 1;
	return -1;
}

int name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

void random_case(char *s, size_t n)
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
size_t word(char *out, int value)
{
	const char *w = value ? PICK(true_words) : PICK(false_words);
	size_t n = strlen(w);

	memcpy(out, w, n);
	random_case(out, n);
	return n;
}

/* A run of 1..@max whitespace bytes. */
size_t ws_run(char *out, size_t max)
{
	size_t n = 1 + rnd(max);

	for (size_t i = 0; i < n; i++)
		out[i] = ws_chars[rnd(sizeof(ws_chars) - 1)];
	return n;
}

/* Bytes that are neither whitespace, a name byte, '=' nor NUL. */
char bad_byte(void)
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
size_t bent_value(char *out)
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
size_t unknown_name(char *out, size_t len)
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
size_t near_name(char *out, int key)
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
