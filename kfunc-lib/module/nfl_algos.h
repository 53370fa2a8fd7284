/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nfl_algos.h: the kfunc-lib algorithms, with no kernel dependencies.
 *
 * Included by the kernel module (nfl_kfuncs.c) and by the userspace test
 * harness (kfunc-lib/tests/harness.c); each includer provides the u8, u32,
 * s32, u64 and s64 typedefs first. Every function is the same algorithm as
 * the Rust twin (kfunc-lib/src/) and docs/kfunc-lib.md; tests compare them.
 * No floating point, no libc, no libgcc calls (popcount is SWAR).
 */
#ifndef NFL_ALGOS_H
#define NFL_ALGOS_H

#define NFL_SEED_MUL 0x9E3779B9u
/* The most rows a count sketch query sorts on the stack. */
#define NFL_MAX_ROWS 32u
#define NFL_MAX_P_DEN_LOG2 16u
#define NFL_XS_ZERO_SEED 0x9E3779B97F4A7C15ull
#define NFL_XS_MUL 0x2545F4914F6CDD1Dull

static inline u32 nfl_rotl32(u32 x, u32 r)
{
	return (x << r) | (x >> (32 - r));
}

static inline u32 nfl_fmix32(u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline u32 nfl_row_seed(u32 i)
{
	return (i + 1) * NFL_SEED_MUL;
}

/* MurmurHash3_x86_32; blocks are read little-endian byte by byte. */
static inline u32 nfl_murmur3_32_impl(const u8 *key, u32 len, u32 seed)
{
	const u32 c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
	u32 h = seed, k, i, nblocks = len / 4, tail = len & 3;
	const u8 *t;

	for (i = 0; i < nblocks; i++) {
		const u8 *b = key + 4 * i;

		k = (u32)b[0] | ((u32)b[1] << 8) | ((u32)b[2] << 16) | ((u32)b[3] << 24);
		k *= c1;
		k = nfl_rotl32(k, 15);
		k *= c2;
		h ^= k;
		h = nfl_rotl32(h, 13);
		h = h * 5 + 0xe6546b64u;
	}
	t = key + 4 * nblocks;
	k = 0;
	if (tail >= 3)
		k ^= (u32)t[2] << 16;
	if (tail >= 2)
		k ^= (u32)t[1] << 8;
	if (tail >= 1) {
		k ^= (u32)t[0];
		k *= c1;
		k = nfl_rotl32(k, 15);
		k *= c2;
		h ^= k;
	}
	h ^= len;
	return nfl_fmix32(h);
}

static inline void nfl_multi_hash_impl(const u8 *key, u32 len, u32 *out, u32 k)
{
	u32 i;

	for (i = 0; i < k; i++)
		out[i] = nfl_murmur3_32_impl(key, len, nfl_row_seed(i));
}

/* Bit operations: ffs is 1-based (0 for 0); tz/lz counts of 0 are the width. */
static inline u32 nfl_ffs32_impl(u32 x) { return x ? (u32)__builtin_ctz(x) + 1 : 0; }
static inline u32 nfl_ffs64_impl(u64 x) { return x ? (u32)__builtin_ctzll(x) + 1 : 0; }
static inline u32 nfl_ctz32_impl(u32 x) { return x ? (u32)__builtin_ctz(x) : 32; }
static inline u32 nfl_ctz64_impl(u64 x) { return x ? (u32)__builtin_ctzll(x) : 64; }
static inline u32 nfl_clz32_impl(u32 x) { return x ? (u32)__builtin_clz(x) : 32; }
static inline u32 nfl_clz64_impl(u64 x) { return x ? (u32)__builtin_clzll(x) : 64; }

static inline u32 nfl_popcnt32_impl(u32 x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (x * 0x01010101u) >> 24;
}

static inline u32 nfl_popcnt64_impl(u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (u32)((x * 0x0101010101010101ull) >> 56);
}

static inline u32 nfl_min_u32_impl(const u32 *v, u32 n)
{
	u32 i, m = n ? v[0] : 0;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/*
 * The shape of a rows x cols grid of 4-byte counters held in `bytes` bytes:
 * returns cols, or 0 if rows is 0 or above NFL_MAX_ROWS, the size is not
 * rows * cols * 4, or cols is not a power of two.
 */
static inline u32 nfl_grid_cols(u32 bytes, u32 rows)
{
	u32 cols;

	if (rows == 0 || rows > NFL_MAX_ROWS || bytes % (4 * rows))
		return 0;
	cols = bytes / (4 * rows);
	if (cols == 0 || (cols & (cols - 1)))
		return 0;
	return cols;
}

static inline void nfl_cm_add_impl(u32 *ctr, u32 rows, u32 cols, const u8 *key, u32 len, u32 n)
{
	u32 i;

	for (i = 0; i < rows; i++) {
		u32 h = nfl_murmur3_32_impl(key, len, nfl_row_seed(i));

		ctr[i * cols + (h & (cols - 1))] += n;
	}
}

static inline u32 nfl_cm_query_impl(const u32 *ctr, u32 rows, u32 cols, const u8 *key, u32 len)
{
	u32 i, m = 0;

	for (i = 0; i < rows; i++) {
		u32 h = nfl_murmur3_32_impl(key, len, nfl_row_seed(i));
		u32 c = ctr[i * cols + (h & (cols - 1))];

		if (i == 0 || c < m)
			m = c;
	}
	return m;
}

/* Count sketch: +1 when bit 31 of the row hash is clear. Wrapping i32 adds
 * are done in u32 so that overflow is defined. */
static inline void nfl_cs_add_row(s32 *ctr, u32 row, u32 cols, const u8 *key, u32 len, u32 n)
{
	u32 h = nfl_murmur3_32_impl(key, len, nfl_row_seed(row));
	u32 *c = (u32 *)&ctr[row * cols + (h & (cols - 1))];

	if (h >> 31)
		*c -= n;
	else
		*c += n;
}

static inline void nfl_cs_add_impl(s32 *ctr, u32 rows, u32 cols, const u8 *key, u32 len, u32 n)
{
	u32 i;

	for (i = 0; i < rows; i++)
		nfl_cs_add_row(ctr, i, cols, key, len, n);
}

/* Median of v[0..n): insertion sort; even n -> floor of the mean of the two
 * middle values (arithmetic shift). */
static inline s64 nfl_median_s64(s64 *v, u32 n)
{
	u32 i, j;

	if (n == 0)
		return 0;
	for (i = 1; i < n; i++) {
		s64 x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	if (n & 1)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) >> 1;
}

static inline s64 nfl_cs_query_impl(const s32 *ctr, u32 rows, u32 cols, const u8 *key, u32 len)
{
	s64 v[NFL_MAX_ROWS];
	u32 i;

	if (rows > NFL_MAX_ROWS)
		return 0;
	for (i = 0; i < rows; i++) {
		u32 h = nfl_murmur3_32_impl(key, len, nfl_row_seed(i));
		s64 c = ctr[i * cols + (h & (cols - 1))];

		v[i] = (h >> 31) ? -c : c;
	}
	return nfl_median_s64(v, rows);
}

/* Bloom filter over m_bits (a power of two >= 32) in u32 words. */
static inline void nfl_bloom_add_impl(u32 *w, u32 m_bits, u32 k, const u8 *key, u32 len)
{
	u32 i;

	for (i = 0; i < k; i++) {
		u32 b = nfl_murmur3_32_impl(key, len, nfl_row_seed(i)) & (m_bits - 1);

		w[b >> 5] |= 1u << (b & 31);
	}
}

static inline int nfl_bloom_contains_impl(const u32 *w, u32 m_bits, u32 k, const u8 *key, u32 len)
{
	u32 i;

	for (i = 0; i < k; i++) {
		u32 b = nfl_murmur3_32_impl(key, len, nfl_row_seed(i)) & (m_bits - 1);

		if (!(w[b >> 5] & (1u << (b & 31))))
			return 0;
	}
	return 1;
}

/* HyperLogLog rank of hash h at precision p (4..16): 1 ..= 33 - p. */
static inline u32 nfl_hll_rank_impl(u32 h, u32 p)
{
	return nfl_clz32_impl((h << p) | (1u << (p - 1))) + 1;
}

static inline void nfl_hll_add_impl(u8 *regs, u32 p, const u8 *key, u32 len)
{
	u32 h = nfl_murmur3_32_impl(key, len, nfl_row_seed(0));
	u32 idx = h >> (32 - p), rank = nfl_hll_rank_impl(h, p);

	if (regs[idx] < rank)
		regs[idx] = (u8)rank;
}

/* xorshift64* and geometric variates by counting Bernoulli trials. */
static inline u64 nfl_xs_next(u64 *s)
{
	u64 x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * NFL_XS_MUL;
}

static inline u32 nfl_geometric(u64 *s, u32 p_num, u32 d)
{
	u32 g = 1;

	if (d == 0)
		return 1;
	while ((nfl_xs_next(s) >> (64 - d)) >= p_num)
		if (g != 0xffffffffu)
			g++;
	return g;
}

static inline void nfl_pool_fill(u32 *pool, u32 len, u64 seed, u32 p_num, u32 d)
{
	u64 s = seed ? seed : NFL_XS_ZERO_SEED;
	u32 i;

	for (i = 0; i < len; i++)
		pool[i] = nfl_geometric(&s, p_num, d);
}

/* NitroSketch sampler state, zero at start (docs/kfunc-lib.md). */
struct nfl_nitro_state {
	u32 skip;
	u32 cursor;
};

static inline void nfl_nitro_add_impl(struct nfl_nitro_state *st, const u32 *pool, u32 pool_len,
				      u32 d, s32 *ctr, u32 rows, u32 cols,
				      const u8 *key, u32 len, u32 n)
{
	u32 i, inc = n << d;

	if (st->skip >= rows) {
		st->skip -= rows;
		return;
	}
	for (i = 0; i < rows; i++) {
		if (st->skip == 0) {
			nfl_cs_add_row(ctr, i, cols, key, len, inc);
			st->skip = pool[st->cursor] - 1;
			st->cursor = st->cursor + 1 == pool_len ? 0 : st->cursor + 1;
		} else {
			st->skip--;
		}
	}
}

#endif /* NFL_ALGOS_H */
