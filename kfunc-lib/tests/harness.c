/*
 * Userspace harness: runs the module's algorithms (module/nfl_algos.h) on a
 * fixed set of inputs and prints one line per result; tests/twin_agreement.rs
 * recomputes every line with the Rust twin. Built with gcc by that test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint32_t u32;
typedef int32_t s32;
typedef uint64_t u64;
typedef int64_t s64;

#include "nfl_algos.h"

/* key(i) = le32(i) ++ le32(i * 0x9E3779B9): 8 bytes. */
static void key_of(u32 i, u8 *k)
{
	u32 w[2] = { i, i * 0x9E3779B9u };
	int j;

	for (j = 0; j < 8; j++)
		k[j] = (u8)(w[j / 4] >> (8 * (j % 4)));
}

static void hex(const u8 *b, size_t n)
{
	size_t i;

	putchar(' ');
	if (n == 0)
		putchar('-');
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static void hex32(const u32 *w, size_t n)
{
	size_t i;

	putchar(' ');
	for (i = 0; i < n; i++)
		printf("%02x%02x%02x%02x", w[i] & 0xff, (w[i] >> 8) & 0xff, (w[i] >> 16) & 0xff,
		       w[i] >> 24);
}

static void murmurs(void)
{
	static const u32 seeds[] = { 0, 1, 0x9747b28cu, 0x78dde6e6u, 0xffffffffu };
	u8 key[32];
	u32 len, s, j;

	for (len = 0; len <= 17; len++) {
		for (j = 0; j < len; j++)
			key[j] = (u8)(j * 37 + len * 11 + 5);
		for (s = 0; s < 5; s++) {
			printf("murmur");
			hex(key, len);
			printf(" %u %u\n", seeds[s], nfl_murmur3_32_impl(key, len, seeds[s]));
		}
		printf("multi");
		hex(key, len);
		{
			u32 out[8], i;

			nfl_multi_hash_impl(key, len, out, 8);
			printf(" 8");
			for (i = 0; i < 8; i++)
				printf(" %u", out[i]);
			printf("\n");
		}
	}
}

static void bits(void)
{
	u64 s = 12345, x;
	int i;

	for (i = -130; i < 400; i++) {
		if (i < 0)
			x = i < -65 ? (1ull << (-i - 66)) : ~0ull << (-i - 1);
		else if (i < 2)
			x = (u64)i;
		else
			x = nfl_xs_next(&s) >> (i % 64);
		printf("bits %llu %u %u %u %u %u %u %u %u\n", (unsigned long long)x,
		       nfl_ffs32_impl((u32)x), nfl_ffs64_impl(x), nfl_ctz32_impl((u32)x),
		       nfl_ctz64_impl(x), nfl_clz32_impl((u32)x), nfl_clz64_impl(x),
		       nfl_popcnt32_impl((u32)x), nfl_popcnt64_impl(x));
	}
}

static void sketches(u32 rows, u32 cols, u32 n)
{
	u32 *cm = calloc((size_t)rows * cols, 4);
	s32 *cs = calloc((size_t)rows * cols, 4);
	u32 i, q;
	u8 k[8];

	for (i = 0; i < n; i++) {
		key_of(i, k);
		nfl_cm_add_impl(cm, rows, cols, k, 8, i % 7 + 1);
		nfl_cs_add_impl(cs, rows, cols, k, 8, i % 7 + 1);
	}
	printf("cm %u %u %u", rows, cols, n);
	hex32(cm, (size_t)rows * cols);
	printf("\ncs %u %u %u", rows, cols, n);
	hex32((const u32 *)cs, (size_t)rows * cols);
	printf("\n");
	for (q = 0; q < n + 5; q += 3) {
		key_of(q, k);
		printf("cmq %u %u %u %u %u\n", rows, cols, n, q,
		       nfl_cm_query_impl(cm, rows, cols, k, 8));
		printf("csq %u %u %u %u %lld\n", rows, cols, n, q,
		       (long long)nfl_cs_query_impl(cs, rows, cols, k, 8));
	}
	free(cm);
	free(cs);
}

static void bloom(u32 m, u32 k, u32 n)
{
	u32 *w = calloc(m / 32, 4), i;
	u8 key[8];

	for (i = 0; i < n; i++) {
		key_of(i, key);
		nfl_bloom_add_impl(w, m, k, key, 8);
	}
	printf("bloom %u %u %u", m, k, n);
	hex32(w, m / 32);
	printf("\n");
	for (i = 0; i < 2 * n + 3; i++) {
		key_of(i, key);
		printf("bloomq %u %u %u %u %d\n", m, k, n, i, nfl_bloom_contains_impl(w, m, k, key, 8));
	}
	free(w);
}

static void hll(u32 p, u32 n)
{
	u8 *r = calloc(1u << p, 1);
	u32 i;
	u8 key[8];

	for (i = 0; i < n; i++) {
		key_of(i, key);
		nfl_hll_add_impl(r, p, key, 8);
	}
	printf("hll %u %u", p, n);
	hex(r, 1u << p);
	printf("\n");
	free(r);
}

static void pool(u64 seed, u32 len, u32 p_num, u32 d)
{
	u32 *v = calloc(len, 4), i;

	nfl_pool_fill(v, len, seed, p_num, d);
	printf("pool %llu %u %u %u", (unsigned long long)seed, len, p_num, d);
	for (i = 0; i < len; i++)
		printf(" %u", v[i]);
	printf("\n");
	free(v);
}

static void nitro(u32 rows, u32 cols, u64 seed, u32 len, u32 d, u32 n)
{
	u32 *pl = calloc(len, 4), i;
	s32 *ctr = calloc((size_t)rows * cols, 4);
	struct nfl_nitro_state st = { 0, 0 };
	u8 key[8];

	nfl_pool_fill(pl, len, seed, 1, d);
	for (i = 0; i < n; i++) {
		key_of(i % 50, key);
		nfl_nitro_add_impl(&st, pl, len, d, ctr, rows, cols, key, 8, i % 3 + 1);
	}
	printf("nitro %u %u %llu %u %u %u", rows, cols, (unsigned long long)seed, len, d, n);
	hex32((const u32 *)ctr, (size_t)rows * cols);
	printf(" %u %u\n", st.skip, st.cursor);
	free(pl);
	free(ctr);
}

int main(void)
{
	murmurs();
	bits();
	sketches(1, 1, 10);
	sketches(3, 16, 200);
	sketches(4, 64, 1000);
	sketches(5, 8, 300);
	bloom(32, 1, 5);
	bloom(1024, 3, 100);
	bloom(4096, 7, 300);
	hll(4, 100);
	hll(10, 5000);
	hll(16, 20000);
	pool(0, 64, 1, 0);
	pool(1, 200, 1, 4);
	pool(0, 100, 3, 5);
	pool(0xdeadbeefcafef00dull, 50, 1, 10);
	nitro(4, 32, 77, 64, 4, 5000);
	nitro(3, 16, 0, 8, 0, 100);
	nitro(5, 64, 9, 33, 6, 20000);
	return 0;
}
