/*
 * dedup: the ids of recently handled records, for a time window, in bounded
 * memory. wxbridge-router asks it whether a record id was already handled
 * (WeChat retries a push up to three times; a consumer may see a record again
 * after a rebalance) and routes only what is new.
 *
 * Design
 *
 *   - An id is remembered as 128 bits of its SHA-256, never as the string:
 *     every id costs the same whatever its length.
 *   - A FIFO ring of max_ids entries {hash, time} (24 bytes), in insertion
 *     order, makes expiry and eviction O(1) amortized: the oldest entries sit
 *     at the head and are dropped from there.
 *   - An open-addressing table (linear probing) of 2 * max_ids 32-bit ring
 *     positions (8 bytes per id, load factor at most 0.5) finds an id in about
 *     1.5 probes. Removal shifts the following entries back: no tombstones, so
 *     lookups never slow down over time.
 *   - dedup_new() allocates everything: 32 bytes per id of capacity, plus a
 *     fixed header and one OpenSSL digest context. dedup_stats() reports the
 *     bytes allocated (calloc'd pages become resident as they are used).
 *     1 million ids = 32 MB.
 *
 *   False duplicates: two different ids are confused only if their 128-bit
 *   hashes are equal. With n ids remembered, a new id is wrongly called a
 *   duplicate with probability n / 2^128; over N checks at most N * n / 2^128,
 *   e.g. about 3e-20 for n = 10^7 remembered ids and N = 10^12 checks, far
 *   below the odds of a hardware memory error. SHA-256 rather than a fast
 *   non-cryptographic hash keeps deliberate collisions out of reach too
 *   (about 2^64 work for two ids sharing 128 bits), though ids come from
 *   authenticated pushes anyway.
 *
 * Time
 *
 *   All times are milliseconds on one clock, >= 0 and at most DEDUP_TIME_MAX;
 *   use wall-clock time (util_wall_ms()), since a rebuild from history passes
 *   the records' own received_at_ms. An id handled at time t is a duplicate
 *   for a check at time now when now - t < window_ms, i.e. during
 *   [t, t + window_ms), and also when now < t (a clock stepped back or
 *   history replayed out of order); at t + window_ms exactly it is new again.
 *   The window runs from the first time an id was handled: duplicates do not
 *   extend it.
 *
 *   Expiry: every call first forgets the entries at the head of the ring
 *   whose time is at least window_ms older than the latest time seen so far.
 *   If times are not in insertion order (rebuilding from slightly unordered
 *   history), a younger entry at the head holds back older ones behind it
 *   until it expires itself; those are still treated as expired by lookups,
 *   which compare times, and memory stays bounded by max_ids.
 *
 *   Eviction: when max_ids ids are remembered, adding one forgets the oldest
 *   (first inserted) and counts an eviction. An evicted id is no longer
 *   recognized, so size max_ids >= peak records per second * window, and
 *   alert on evictions.
 *
 * Not thread-safe: one dedup per consuming thread, or a lock around it.
 */
#ifndef WXB_DEDUP_H
#define WXB_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define DEDUP_DEFAULT_WINDOW_MS (60LL * 60 * 1000) /* one hour */
#define DEDUP_MAX_IDS           (1u << 28)         /* capacity limit (8 GiB) */
#define DEDUP_WINDOW_MAX        (1LL << 40)        /* ~34 years */
#define DEDUP_TIME_MAX          (1LL << 62)
#define DEDUP_BYTES_PER_ID      32 /* 16 hash + 8 time + 2 table slots of 4 */

enum {
    DEDUP_OK = 0,
    DEDUP_EINVAL = -1, /* NULL or empty id, or a time outside [0, DEDUP_TIME_MAX] */
    DEDUP_EHASH = -2,  /* OpenSSL could not hash (out of memory) */
};

typedef struct dedup dedup;

struct dedup_stats {
    size_t count;        /* ids remembered now (expired ones not yet reclaimed included) */
    size_t capacity;     /* max_ids */
    uint64_t evictions;  /* ids forgotten early because the dedup was full */
    uint64_t expired;    /* ids forgotten because their window had passed */
    size_t bytes;        /* bytes allocated by this dedup (header, ring and table) */
    size_t bytes_per_id; /* (ring + table) / capacity: DEDUP_BYTES_PER_ID */
};

/*
 * Creates a dedup remembering ids for WINDOW_MS (1..DEDUP_WINDOW_MAX) with
 * room for MAX_IDS ids (1..DEDUP_MAX_IDS), allocating all its memory now.
 * Returns NULL on an invalid argument or when out of memory. Free with
 * dedup_free().
 */
dedup *dedup_new(int64_t window_ms, size_t max_ids);

/* Frees D (NULL-safe). */
void dedup_free(dedup *d);

/*
 * The router's question: returns 1 if ID was handled within the window
 * before NOW_MS (a duplicate: do not route it again), or 0 if it is new, in
 * which case it is now remembered as handled at NOW_MS. Returns DEDUP_EINVAL
 * or DEDUP_EHASH on error (nothing remembered).
 */
int dedup_check_and_add(dedup *d, const char *id, int64_t now_ms);

/*
 * Returns 1 if ID was handled within the window before NOW_MS, 0 if not,
 * without remembering it (for "mark after handling": check with dedup_seen(),
 * route, then dedup_add() once the outputs are acknowledged). May reclaim
 * expired entries. Returns DEDUP_EINVAL or DEDUP_EHASH on error.
 */
int dedup_seen(dedup *d, const char *id, int64_t now_ms);

/*
 * Remembers ID as handled at AT_MS, e.g. a record's received_at_ms when
 * rebuilding from the output topics' history at start. An id already
 * remembered within the window keeps the earlier of the two times; an AT_MS
 * already outside the window relative to the latest time seen is not stored.
 * Returns 0, DEDUP_EINVAL or DEDUP_EHASH.
 */
int dedup_add(dedup *d, const char *id, int64_t at_ms);

/* Fills OUT with D's counters and memory use. */
void dedup_stats(const dedup *d, struct dedup_stats *out);

#endif
