/*
 * test_media_cache: image URL -> temporary media_id (consumer/media_cache):
 * hits and misses, the TTL to the millisecond, replacement, per-app keys,
 * forgetting after 40007, least-recently-used eviction and expiry when full,
 * argument checks and small output buffers, memory per entry, and agreement
 * with a naive reference model over random operations.
 */
#include "media_cache.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TTL (3LL * 24 * 60 * 60 * 1000 - 60 * 60 * 1000) /* 3 days minus an hour */
#define T0  1714112445123LL
#define APP "wxba5fad812f8e6fb9"

static void test_new_and_arguments(void **state)
{
    media_cache *c;
    char out[MEDIA_CACHE_ID_MAX + 1], id[MEDIA_CACHE_ID_MAX + 2];
    struct media_cache_stats st;
    (void)state;

    assert_null(media_cache_new(0, TTL));
    assert_null(media_cache_new(10, 0));
    assert_null(media_cache_new(10, -1));
    assert_null(media_cache_new((size_t)MEDIA_CACHE_MAX_ENTRIES + 1, TTL));
    media_cache_free(NULL);
    media_cache_stats(NULL, &st);
    assert_int_equal(st.capacity, 0);

    c = media_cache_new(10, TTL);
    assert_non_null(c);
    assert_int_equal(media_cache_put(c, APP, "https://e/a.png", "", T0), -1);
    assert_int_equal(media_cache_put(c, APP, "https://e/a.png", NULL, T0), -1);
    assert_int_equal(media_cache_put(c, APP, "", "M", T0), -1);
    assert_int_equal(media_cache_put(c, NULL, "https://e/a.png", "M", T0), -1);
    assert_int_equal(media_cache_put(c, APP, "https://e/a.png", "M", -1), -1);
    assert_int_equal(media_cache_put(NULL, APP, "https://e/a.png", "M", T0), -1);
    /* media_id length: MEDIA_CACHE_ID_MAX fits, one more does not. */
    memset(id, 'm', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_int_equal(media_cache_put(c, APP, "u1", id, T0), -1);
    id[MEDIA_CACHE_ID_MAX] = '\0';
    assert_int_equal(media_cache_put(c, APP, "u1", id, T0), 0);
    assert_int_equal(media_cache_get(c, APP, "u1", T0, out, sizeof(out)), 0);
    assert_string_equal(out, id);
    /* Output buffer one byte short: refused, "" written. */
    assert_int_equal(media_cache_get(c, APP, "u1", T0, out, MEDIA_CACHE_ID_MAX), -1);
    assert_string_equal(out, "");
    assert_int_equal(media_cache_get(c, APP, "u1", T0, NULL, 0), -1);
    assert_int_equal(media_cache_get(NULL, APP, "u1", T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, APP, NULL, T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_forget(c, NULL, "u1"), -1);
    assert_int_equal(media_cache_forget(NULL, APP, "u1"), -1);
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    media_cache_free(c);
}

static void test_get_put_ttl(void **state)
{
    media_cache *c = media_cache_new(10, TTL);
    struct media_cache_stats st;
    char out[MEDIA_CACHE_ID_MAX + 1];
    (void)state;

    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_put(c, APP, "https://e/a.png", "MEDIA_A", T0), 0);
    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0, out, sizeof(out)), 0);
    assert_string_equal(out, "MEDIA_A");
    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0 + TTL - 1, out, sizeof(out)), 0);
    /* Clock stepped back: still valid. */
    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0 - 5000, out, sizeof(out)), 0);
    /* Exactly TTL after the upload: gone, and removed. */
    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0 + TTL, out, sizeof(out)), -1);
    assert_string_equal(out, "");
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 2);
    assert_int_equal(media_cache_get(c, APP, "https://e/a.png", T0, out, sizeof(out)), -1);

    /* A new upload replaces the media_id and restarts the TTL. */
    assert_int_equal(media_cache_put(c, APP, "https://e/b.png", "B1", T0), 0);
    assert_int_equal(media_cache_put(c, APP, "https://e/b.png", "B2", T0 + 1000), 0);
    assert_int_equal(media_cache_get(c, APP, "https://e/b.png", T0 + TTL + 999, out, sizeof(out)),
                     0);
    assert_string_equal(out, "B2");
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    media_cache_free(c);
}

static void test_keys(void **state)
{
    media_cache *c = media_cache_new(10, TTL);
    char out[MEDIA_CACHE_ID_MAX + 1];
    (void)state;

    assert_int_equal(media_cache_put(c, "wx_a", "https://e/x.png", "FOR_A", T0), 0);
    assert_int_equal(media_cache_put(c, "wx_b", "https://e/x.png", "FOR_B", T0), 0);
    assert_int_equal(media_cache_get(c, "wx_a", "https://e/x.png", T0, out, sizeof(out)), 0);
    assert_string_equal(out, "FOR_A");
    assert_int_equal(media_cache_get(c, "wx_b", "https://e/x.png", T0, out, sizeof(out)), 0);
    assert_string_equal(out, "FOR_B");
    /* Equal concatenations stay apart; URLs are compared exactly. */
    assert_int_equal(media_cache_put(c, "ab", "c", "AB_C", T0), 0);
    assert_int_equal(media_cache_get(c, "a", "bc", T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, "wx_a", "https://e/x.png?", T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, "wx_a", "https://E/x.png", T0, out, sizeof(out)), -1);
    media_cache_free(c);
}

static void test_forget(void **state)
{
    media_cache *c = media_cache_new(10, TTL);
    struct media_cache_stats st;
    char out[MEDIA_CACHE_ID_MAX + 1];
    (void)state;

    assert_int_equal(media_cache_put(c, APP, "u", "M", T0), 0);
    assert_int_equal(media_cache_forget(c, APP, "u"), 0);
    assert_int_equal(media_cache_get(c, APP, "u", T0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_forget(c, APP, "u"), 0); /* nothing there: still 0 */
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    /* The place is reused. */
    for (int i = 0; i < 10; i++) {
        char url[32];
        snprintf(url, sizeof(url), "https://e/%d", i);
        assert_int_equal(media_cache_put(c, APP, url, "M", T0), 0);
    }
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evictions, 0);
    media_cache_free(c);
}

static void test_lru_eviction(void **state)
{
    media_cache *c = media_cache_new(3, 1000);
    struct media_cache_stats st;
    char out[MEDIA_CACHE_ID_MAX + 1];
    (void)state;

    assert_int_equal(media_cache_put(c, APP, "a", "A", 0), 0);
    assert_int_equal(media_cache_put(c, APP, "b", "B", 1), 0);
    assert_int_equal(media_cache_put(c, APP, "c", "C", 2), 0);
    assert_int_equal(media_cache_get(c, APP, "a", 3, out, sizeof(out)), 0); /* a used */
    assert_int_equal(media_cache_put(c, APP, "d", "D", 4), 0);              /* b goes */
    media_cache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.entries, 3);
    assert_int_equal(media_cache_get(c, APP, "b", 5, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, APP, "c", 5, out, sizeof(out)), 0);
    assert_int_equal(media_cache_get(c, APP, "a", 5, out, sizeof(out)), 0);
    assert_int_equal(media_cache_get(c, APP, "d", 5, out, sizeof(out)), 0);
    /* Least recently used is now c; past its TTL it counts as expired. */
    assert_int_equal(media_cache_put(c, APP, "e", "E", 1500), 0);
    media_cache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(media_cache_get(c, APP, "c", 1500, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, APP, "e", 1500, out, sizeof(out)), 0);
    /* Re-putting an existing key evicts nothing. */
    assert_int_equal(media_cache_put(c, APP, "e", "E2", 1501), 0);
    media_cache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.entries, 3);
    media_cache_free(c);

    /* Capacity 1. */
    c = media_cache_new(1, 1000);
    assert_int_equal(media_cache_put(c, APP, "a", "A", 0), 0);
    assert_int_equal(media_cache_put(c, APP, "b", "B", 0), 0);
    assert_int_equal(media_cache_get(c, APP, "a", 0, out, sizeof(out)), -1);
    assert_int_equal(media_cache_get(c, APP, "b", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "B");
    media_cache_free(c);
}

static void test_bytes_per_entry(void **state)
{
    media_cache *c = media_cache_new(10000, TTL);
    struct media_cache_stats st;
    (void)state;

    media_cache_stats(c, &st);
    assert_int_equal(st.capacity, 10000);
    assert_true(st.bytes >= 10000 * (size_t)MEDIA_CACHE_BYTES_PER_ENTRY);
    assert_true(st.bytes < 10000 * (size_t)MEDIA_CACHE_BYTES_PER_ENTRY + 256);
    media_cache_free(c);
}

/*
 * Reference model: an array in use order (oldest first) of (key, media_id,
 * put time). Random puts, gets and forgets on a small key space and a small
 * cache exercise probing, backward-shift deletion and the free list.
 */
struct mentry {
    int key, val;
    long long put;
};

static int model_find(const struct mentry *m, int n, int key)
{
    for (int i = 0; i < n; i++)
        if (m[i].key == key)
            return i;
    return -1;
}

static void model_remove(struct mentry *m, int *n, int i)
{
    memmove(m + i, m + i + 1, (size_t)(*n - i - 1) * sizeof(*m));
    (*n)--;
}

static void run_model(int cap, int keys, long long ttl, int ops, unsigned seed)
{
    media_cache *c = media_cache_new((size_t)cap, ttl);
    struct mentry m[64], tmp;
    struct media_cache_stats st;
    unsigned long long evictions = 0, expired = 0;
    long long now = 0;
    int n = 0;

    assert_true(cap <= 64);
    srand(seed);
    for (int op = 0; op < ops; op++) {
        int key = rand() % keys, what = rand() % 10, i;
        char url[32], val[32], out[MEDIA_CACHE_ID_MAX + 1];

        now += rand() % (ttl / 4 + 1);
        snprintf(url, sizeof(url), "https://e/%d.png", key);
        i = model_find(m, n, key);
        if (what < 4) {
            int v = rand();
            snprintf(val, sizeof(val), "M%d", v);
            assert_int_equal(media_cache_put(c, APP, url, val, now), 0);
            if (i >= 0) {
                model_remove(m, &n, i);
            } else if (n == cap) {
                if (now - m[0].put < ttl)
                    evictions++;
                else
                    expired++;
                model_remove(m, &n, 0);
            }
            m[n++] = (struct mentry){key, v, now};
        } else if (what < 9) {
            int got = media_cache_get(c, APP, url, now, out, sizeof(out));
            if (i >= 0 && now - m[i].put < ttl) {
                if (got != 0)
                    fail_msg("op %d: key %d missing", op, key);
                snprintf(val, sizeof(val), "M%d", m[i].val);
                assert_string_equal(out, val);
                tmp = m[i];
                model_remove(m, &n, i);
                m[n++] = tmp;
            } else {
                if (got != -1)
                    fail_msg("op %d: key %d found: %s", op, key, out);
                if (i >= 0) {
                    model_remove(m, &n, i);
                    expired++;
                }
            }
        } else {
            assert_int_equal(media_cache_forget(c, APP, url), 0);
            if (i >= 0)
                model_remove(m, &n, i);
        }
    }
    media_cache_stats(c, &st);
    assert_int_equal(st.entries, (size_t)n);
    assert_int_equal(st.evictions, evictions);
    assert_int_equal(st.expired, expired);
    media_cache_free(c);
}

static void test_against_model(void **state)
{
    (void)state;
    run_model(8, 30, 1000, 100000, 1);
    run_model(3, 6, 100, 100000, 2);
    run_model(1, 3, 50, 20000, 3);
    run_model(64, 50, 100000, 100000, 4); /* rarely full */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_arguments),
        cmocka_unit_test(test_get_put_ttl),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_bytes_per_entry),
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
