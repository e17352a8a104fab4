/*
 * media_cache: the temporary media_id WeChat gave for an image URL, per Mini
 * Program, so that wxbridge-replier uploads an image given by URL once and
 * reuses its media_id for every command sending the same URL until it
 * expires (WeChat keeps temporary media 3 days; the caller picks a TTL a
 * little shorter, e.g. 3 days minus an hour).
 *
 * Design
 *
 *   - A key is 128 bits of SHA-256(appid NUL url), never the strings: every
 *     entry has the same size whatever the URL's length. Two keys are
 *     confused only if their hashes are equal (odds: see dedup.h), and a
 *     confusion would send another image, so the hash is cryptographic.
 *   - Entries live in a pool allocated at creation, found through an
 *     open-addressing index (2 slots per entry) and kept in least recently
 *     used order (get and put use an entry). When full, put replaces the
 *     least recently used entry: an expiry if its TTL had passed, else an
 *     eviction. A get that finds an expired entry removes it.
 *   - Memory: MEDIA_CACHE_BYTES_PER_ENTRY (168) bytes per entry of capacity,
 *     plus a fixed header and one OpenSSL digest context.
 *
 * Time: milliseconds of the wall clock (util_wall_ms()), >= 0. An entry put
 * at time P is valid for a get at NOW when NOW - P < ttl_ms (a NOW before P,
 * after the clock stepped back, is valid). Not thread-safe.
 */
#ifndef WXB_MEDIA_CACHE_H
#define WXB_MEDIA_CACHE_H

#include <stddef.h>

#define MEDIA_CACHE_ID_MAX          127 /* bytes of a media_id (WeChat's are 64) */
#define MEDIA_CACHE_BYTES_PER_ENTRY 168
#define MEDIA_CACHE_MAX_ENTRIES     (1u << 24)

typedef struct media_cache media_cache;

/*
 * Creates a cache of MAX_ENTRIES entries (1..MEDIA_CACHE_MAX_ENTRIES) valid
 * for TTL_MS (> 0) after they are put, allocating all its memory now. Returns
 * NULL on an invalid argument or when out of memory.
 */
media_cache *media_cache_new(size_t max_entries, long long ttl_ms);

/* Frees C (NULL-safe). */
void media_cache_free(media_cache *c);

/*
 * Copies the media_id cached for (APPID, URL) and valid at NOW_MS into OUT
 * (OUTLEN bytes, NUL-terminated; MEDIA_CACHE_ID_MAX + 1 always suffices) and
 * returns 0; returns -1 when there is none (or on invalid arguments, or when
 * OUTLEN is too small: OUT is then ""). A hit makes the entry the most
 * recently used.
 */
int media_cache_get(media_cache *c, const char *appid, const char *url, long long now_ms, char *out,
                    size_t outlen);

/*
 * Caches MEDIA_ID (1..MEDIA_CACHE_ID_MAX bytes) for (APPID, URL), uploaded at
 * NOW_MS, replacing any previous media_id of the pair. Returns 0, or -1 on an
 * invalid argument or when hashing fails.
 */
int media_cache_put(media_cache *c, const char *appid, const char *url, const char *media_id,
                    long long now_ms);

/*
 * Forgets the media_id of (APPID, URL), e.g. after WeChat answered 40007
 * (invalid media_id) for it. Returns 0 (also when there was none) or -1.
 */
int media_cache_forget(media_cache *c, const char *appid, const char *url);

struct media_cache_stats {
    size_t entries, capacity, bytes;
    unsigned long long hits, misses, evictions, expired;
};

/* Fills OUT with C's counters and memory use (all zero for NULL). */
void media_cache_stats(const media_cache *c, struct media_cache_stats *out);

#endif
