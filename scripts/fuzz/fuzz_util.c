// SPDX-License-Identifier: GPL-2.0
/* batchpoke-fuzz: the demo layout, random numbers, failures. */
#include "fuzz.h"

/* The demo keys of rust/demo.rs: sites per key and how many are "likely". */
const char *const key_names[NKEYS] = {
	"batchpoke.demo_a", "batchpoke.demo_b", "batchpoke.demo_c", "batchpoke.demo_d",
};
const int demo_sites[NKEYS] = { 1, 8, 64, 512 };
const int demo_likely[NKEYS] = { 0, 8, 32, 0 };
/* No demo site's form (they fall through as TEST32): named when one holds it. */
const unsigned char nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
const char *const true_words[5] = { "1", "y", "yes", "on", "true" };
const char *const false_words[5] = { "0", "n", "no", "off", "false" };
/* What the grammar calls whitespace (Rust's is_ascii_whitespace). */
const char ws_chars[6] = " \t\n\r\f";
long page;

/* --- random numbers ---------------------------------------------------------- */

uint64_t rng;

uint64_t next64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

size_t rnd(size_t n)
{
	return n ? (size_t)(next64() % n) : 0;
}


/* --- failures ------------------------------------------------------------------ */

long failures;
long input_no;
const char *who = "";

void show_bytes(const char *p, size_t len)
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

void fail(const char *cls, const char *p, size_t len, const char *fmt, ...)
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

void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}
