/*
 * test_dedup: the router's window of handled record ids (consumer/dedup):
 * check/add, window expiry at its exact boundaries, eviction at max_ids,
 * rebuilding from history with past (and unordered) timestamps, the memory
 * reported per id against what malloc really handed out, agreement with a
 * naive reference model over random operations, and one million ids as a
 * performance sanity check (printed, never asserted).
 */
#include "dedup.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define HOUR (60LL * 60 * 1000)

static void id_of(char *buf, size_t len, long n)
{
    snprintf(buf, len, "wxba5fad812f8e6fb9:m:%ld", 6054768590064713728L + n);
}

static void test_new_arguments(void **state)
{
    dedup *d;
    (void)state;

    assert_null(dedup_new(0, 10));
    assert_null(dedup_new(-5, 10));
    assert_null(dedup_new(DEDUP_WINDOW_MAX + 1, 10));
    assert_null(dedup_new(HOUR, 0));
    assert_null(dedup_new(HOUR, (size_t)DEDUP_MAX_IDS + 1));
    d = dedup_new(DEDUP_DEFAULT_WINDOW_MS, 1);
    assert_non_null(d);
    dedup_free(d);
    dedup_free(NULL);
}

static void test_check_and_add(void **state)
{
    dedup *d = dedup_new(HOUR, 100);
    struct dedup_stats st;
    (void)state;

    assert_int_equal(dedup_seen(d, "a", 1000), 0);
    assert_int_equal(dedup_seen(d, "a", 1000), 0); /* seen never remembers */
    assert_int_equal(dedup_check_and_add(d, "a", 1000), 0);
    assert_int_equal(dedup_check_and_add(d, "a", 1001), 1);
    assert_int_equal(dedup_seen(d, "a", 1002), 1);
    assert_int_equal(dedup_check_and_add(d, "b", 1003), 0);
    assert_int_equal(dedup_check_and_add(d, "ab", 1004), 0);
    assert_int_equal(dedup_check_and_add(d, "b", 1005), 1);
    assert_int_equal(dedup_add(d, "c", 1006), 0);
    assert_int_equal(dedup_check_and_add(d, "c", 1007), 1);
    assert_int_equal(dedup_add(d, "c", 1008), 0); /* already there: still 0 */

    /* Invalid input changes nothing. */
    assert_int_equal(dedup_check_and_add(d, NULL, 1), DEDUP_EINVAL);
    assert_int_equal(dedup_check_and_add(d, "", 1), DEDUP_EINVAL);
    assert_int_equal(dedup_check_and_add(d, "x", -1), DEDUP_EINVAL);
    assert_int_equal(dedup_check_and_add(d, "x", DEDUP_TIME_MAX + 1), DEDUP_EINVAL);
    assert_int_equal(dedup_seen(d, NULL, 1), DEDUP_EINVAL);
    assert_int_equal(dedup_add(d, "", 1), DEDUP_EINVAL);
    assert_int_equal(dedup_check_and_add(NULL, "x", 1), DEDUP_EINVAL);

    dedup_stats(d, &st);
    assert_int_equal(st.count, 4);
    assert_int_equal(st.capacity, 100);
    assert_int_equal(st.evictions, 0);
    assert_int_equal(st.expired, 0);
    dedup_free(d);
}

static void test_window_boundaries(void **state)
{
    dedup *d = dedup_new(1000, 100);
    struct dedup_stats st;
    (void)state;

    /* Handled at 5000: a duplicate during [5000, 6000), new again at 6000. */
    assert_int_equal(dedup_check_and_add(d, "m", 5000), 0);
    assert_int_equal(dedup_seen(d, "m", 5000), 1);
    assert_int_equal(dedup_seen(d, "m", 5999), 1);
    assert_int_equal(dedup_check_and_add(d, "m", 5999), 1);
    /* A check before the handling time (clock stepped back) is a duplicate. */
    assert_int_equal(dedup_seen(d, "m", 4000), 1);
    /* A duplicate does not extend the window. */
    assert_int_equal(dedup_seen(d, "m", 6000), 0);
    assert_int_equal(dedup_check_and_add(d, "m", 6000), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.count, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(dedup_check_and_add(d, "m", 6999), 1);
    assert_int_equal(dedup_check_and_add(d, "m", 7000), 0);

    /* Window of 1 ms: a duplicate only at the very same millisecond. */
    dedup_free(d);
    d = dedup_new(1, 10);
    assert_int_equal(dedup_check_and_add(d, "x", 0), 0);
    assert_int_equal(dedup_check_and_add(d, "x", 0), 1);
    assert_int_equal(dedup_check_and_add(d, "x", 1), 0);
    dedup_free(d);
}

static void test_expiry_reclaims_memory(void **state)
{
    dedup *d = dedup_new(1000, 1000);
    struct dedup_stats st;
    char id[64];
    (void)state;

    for (long i = 0; i < 100; i++) {
        id_of(id, sizeof(id), i);
        assert_int_equal(dedup_check_and_add(d, id, i), 0);
    }
    dedup_stats(d, &st);
    assert_int_equal(st.count, 100);

    /* At 1050, ids handled at 0..50 are out of the window and forgotten. */
    assert_int_equal(dedup_check_and_add(d, "new", 1050), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.expired, 51);
    assert_int_equal(st.count, 100 - 51 + 1);
    id_of(id, sizeof(id), 50);
    assert_int_equal(dedup_seen(d, id, 1050), 0);
    id_of(id, sizeof(id), 51);
    assert_int_equal(dedup_seen(d, id, 1050), 1);

    /* Much later everything is gone. */
    assert_int_equal(dedup_seen(d, "new", 5000), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.expired, 101);
    assert_int_equal(st.evictions, 0);
    dedup_free(d);
}

static void test_eviction(void **state)
{
    dedup *d = dedup_new(HOUR, 3);
    struct dedup_stats st;
    (void)state;

    assert_int_equal(dedup_check_and_add(d, "a", 1), 0);
    assert_int_equal(dedup_check_and_add(d, "b", 2), 0);
    assert_int_equal(dedup_check_and_add(d, "c", 3), 0);
    assert_int_equal(dedup_check_and_add(d, "a", 4), 1); /* no refresh: a stays oldest */
    assert_int_equal(dedup_check_and_add(d, "d", 5), 0); /* full: a is evicted */
    dedup_stats(d, &st);
    assert_int_equal(st.count, 3);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.expired, 0);
    assert_int_equal(dedup_seen(d, "a", 6), 0);
    assert_int_equal(dedup_seen(d, "b", 6), 1);
    assert_int_equal(dedup_seen(d, "c", 6), 1);
    assert_int_equal(dedup_seen(d, "d", 6), 1);
    /* Re-adding a evicts b, and so on in insertion order. */
    assert_int_equal(dedup_check_and_add(d, "a", 7), 0);
    assert_int_equal(dedup_seen(d, "b", 8), 0);
    assert_int_equal(dedup_seen(d, "c", 8), 1);
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.count, 3);
    dedup_free(d);

    /* Capacity 1. */
    d = dedup_new(HOUR, 1);
    assert_int_equal(dedup_check_and_add(d, "a", 1), 0);
    assert_int_equal(dedup_check_and_add(d, "a", 2), 1);
    assert_int_equal(dedup_check_and_add(d, "b", 3), 0);
    assert_int_equal(dedup_check_and_add(d, "a", 4), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, 2);
    dedup_free(d);
}

static void test_rebuild_from_history(void **state)
{
    const int64_t now = 1714112445123LL;
    dedup *d = dedup_new(HOUR, 1000);
    struct dedup_stats st;
    (void)state;

    /* At start the router replays the records it handled, with their own times. */
    assert_int_equal(dedup_add(d, "h90", now - 90 * 60 * 1000), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.count, 1);
    /* Time advances with the history: h90 leaves the window as h30 arrives. */
    assert_int_equal(dedup_add(d, "h30", now - 30 * 60 * 1000), 0);
    assert_int_equal(dedup_add(d, "h30", now - 20 * 60 * 1000), 0); /* keeps the earlier */
    assert_int_equal(dedup_add(d, "h10", now - 10 * 60 * 1000), 0);
    /* Older than the window relative to the newest time seen: not stored. */
    assert_int_equal(dedup_add(d, "h75", now - 75 * 60 * 1000), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.count, 2);
    assert_int_equal(st.expired, 1);

    /* Then live traffic. */
    assert_int_equal(dedup_check_and_add(d, "h90", now), 0);
    assert_int_equal(dedup_check_and_add(d, "h75", now), 0);
    assert_int_equal(dedup_check_and_add(d, "h30", now), 1);
    assert_int_equal(dedup_check_and_add(d, "h10", now), 1);
    /* The window of h30 runs from its first time: new again 30 min from now. */
    assert_int_equal(dedup_seen(d, "h30", now + 30 * 60 * 1000 - 1), 1);
    assert_int_equal(dedup_seen(d, "h30", now + 30 * 60 * 1000), 0);
    dedup_free(d);

    /* An add with an earlier time than the remembered one moves the window back. */
    d = dedup_new(1000, 100);
    assert_int_equal(dedup_add(d, "c", 20000), 0);
    assert_int_equal(dedup_add(d, "c", 19800), 0);
    assert_int_equal(dedup_seen(d, "c", 20799), 1);
    assert_int_equal(dedup_seen(d, "c", 20800), 0);
    dedup_free(d);
}

static void test_unordered_times(void **state)
{
    dedup *d = dedup_new(1000, 3);
    struct dedup_stats st;
    (void)state;

    /* b is inserted after a but with an older time: it sits behind a in the ring. */
    assert_int_equal(dedup_add(d, "a", 10000), 0);
    assert_int_equal(dedup_add(d, "b", 9500), 0);
    /* At 10600 b's window has passed although a (at the head) still holds it back. */
    assert_int_equal(dedup_seen(d, "b", 10600), 0);
    assert_int_equal(dedup_seen(d, "a", 10600), 1);
    assert_int_equal(dedup_check_and_add(d, "b", 10600), 0); /* forgotten and re-added */
    dedup_stats(d, &st);
    assert_int_equal(st.count, 2);
    assert_int_equal(st.expired, 1);
    assert_int_equal(dedup_check_and_add(d, "b", 10601), 1);

    /* The ring (capacity 3) now holds a, a dead slot and b, and is full:
     * c pops a (still in its window: an eviction), e pops only the dead slot,
     * f pops b (evicted). */
    assert_int_equal(dedup_check_and_add(d, "c", 10700), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.count, 2);
    assert_int_equal(dedup_seen(d, "a", 10700), 0);
    assert_int_equal(dedup_check_and_add(d, "e", 10800), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.count, 3);
    assert_int_equal(dedup_seen(d, "b", 10800), 1);
    assert_int_equal(dedup_check_and_add(d, "f", 10900), 0);
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.count, 3);
    assert_int_equal(dedup_seen(d, "b", 10900), 0);
    assert_int_equal(dedup_seen(d, "c", 10900), 1);
    assert_int_equal(dedup_seen(d, "e", 10900), 1);
    assert_int_equal(dedup_seen(d, "f", 10900), 1);
    dedup_free(d);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void test_bytes_per_id(void **state)
{
    const size_t cap = 100000;
    size_t before, after;
    struct dedup_stats st, st2;
    dedup *d;
    char id[64];
    (void)state;

    before = heap_in_use();
    d = dedup_new(HOUR, cap);
    after = heap_in_use();
    assert_non_null(d);
    dedup_stats(d, &st);
    assert_int_equal(st.bytes_per_id, DEDUP_BYTES_PER_ID);
    assert_int_equal(st.bytes_per_id, 32);
    assert_true(st.bytes >= cap * 32);
    assert_true(st.bytes < cap * 32 + 256); /* plus a small fixed header */
    print_message("dedup: %zu ids of capacity = %zu bytes reported (%zu per id); malloc grew "
                  "by %zu bytes\n",
                  cap, st.bytes, st.bytes_per_id, after - before);
    /* What malloc handed out matches what is reported, give or take malloc's own
     * overhead (page rounding of large blocks) and the OpenSSL digest context
     * (under valgrind mallinfo2() reports nothing and this is skipped). */
    if (after > before) {
        assert_true(after - before >= st.bytes);
        assert_true(after - before <= st.bytes + 16384);
    }

    /* Fixed: filling it allocates nothing more. */
    for (long i = 0; i < (long)cap; i++) {
        id_of(id, sizeof(id), i);
        assert_int_equal(dedup_check_and_add(d, id, 1000 + i), 0);
    }
    dedup_stats(d, &st2);
    assert_int_equal(st2.count, cap);
    assert_int_equal(st2.bytes, st.bytes);
    if (after > before)
        assert_true(heap_in_use() - before <= st.bytes + 16384);
    dedup_free(d);
}

/*
 * Reference model: a FIFO list of (id, time) with the documented semantics,
 * valid for non-decreasing times. Compared with dedup over random operations
 * on few ids and a small table, which exercises probing wrap-around and
 * backward-shift deletion heavily.
 */
struct model {
    size_t max, n;
    int ids[64];
    int64_t at[64];
    uint64_t evictions;
};

static int model_check_add(struct model *m, int id, int64_t now, int64_t window, int add)
{
    size_t i;

    while (m->n > 0 && now - m->at[0] >= window) {
        memmove(m->ids, m->ids + 1, (m->n - 1) * sizeof(m->ids[0]));
        memmove(m->at, m->at + 1, (m->n - 1) * sizeof(m->at[0]));
        m->n--;
    }
    for (i = 0; i < m->n; i++)
        if (m->ids[i] == id)
            return 1;
    if (!add)
        return 0;
    if (m->n == m->max) {
        memmove(m->ids, m->ids + 1, (m->n - 1) * sizeof(m->ids[0]));
        memmove(m->at, m->at + 1, (m->n - 1) * sizeof(m->at[0]));
        m->n--;
        m->evictions++;
    }
    m->ids[m->n] = id;
    m->at[m->n] = now;
    m->n++;
    return 0;
}

static void run_model(size_t max_ids, int id_space, int64_t window, int max_step, int ops,
                      unsigned seed)
{
    dedup *d = dedup_new(window, max_ids);
    struct model m = {.max = max_ids};
    struct dedup_stats st;
    int64_t now = 0;
    char id[32];

    assert_non_null(d);
    assert_true(max_ids <= 64);
    srand(seed);
    for (int i = 0; i < ops; i++) {
        int k = rand() % id_space, seen_only = rand() % 4 == 0;
        int want, got;

        now += rand() % (max_step + 1);
        snprintf(id, sizeof(id), "id-%d", k);
        want = model_check_add(&m, k, now, window, !seen_only);
        got = seen_only ? dedup_seen(d, id, now) : dedup_check_and_add(d, id, now);
        if (got != want)
            fail_msg("op %d (%s %s at %lld): dedup %d, model %d", i,
                     seen_only ? "seen" : "check_and_add", id, (long long)now, got, want);
    }
    dedup_stats(d, &st);
    assert_int_equal(st.evictions, m.evictions);
    assert_int_equal(st.count, m.n);
    dedup_free(d);
}

static void test_against_model(void **state)
{
    (void)state;
    /* No eviction: never more live ids than capacity. */
    run_model(64, 50, 100, 5, 200000, 1);
    /* Constant eviction pressure. */
    run_model(16, 40, 1000, 20, 200000, 2);
    /* Tiny table: capacity 3 (6 slots). */
    run_model(3, 8, 50, 10, 100000, 3);
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void test_million_ids(void **state)
{
    const char *env = getenv("WXB_DEDUP_PERF_IDS"); /* smaller under valgrind */
    long n = env ? strtol(env, NULL, 10) : 1000000;
    dedup *d;
    struct dedup_stats st;
    struct timespec t0, t1, t2, t3;
    char id[64];
    (void)state;

    if (n < 1)
        n = 1;
    d = dedup_new(HOUR, (size_t)n);
    assert_non_null(d);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        id_of(id, sizeof(id), i);
        if (dedup_check_and_add(d, id, 1000000 + i / 1000) != 0)
            fail_msg("id %ld reported as a duplicate", i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (long i = 0; i < n; i++) {
        id_of(id, sizeof(id), i);
        if (dedup_check_and_add(d, id, 1000000 + n / 1000) != 1)
            fail_msg("id %ld forgotten", i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    /* As many new ids again: each one evicts the oldest. */
    for (long i = n; i < 2 * n; i++) {
        id_of(id, sizeof(id), i);
        if (dedup_check_and_add(d, id, 1000000 + n / 1000) != 0)
            fail_msg("id %ld reported as a duplicate", i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t3);
    dedup_stats(d, &st);
    assert_int_equal(st.count, (size_t)n);
    assert_int_equal(st.evictions, (uint64_t)n);
    print_message("dedup: %ld ids, %zu bytes (%zu per id): insert %.0f ns/id, duplicate "
                  "check %.0f ns/id, insert+evict %.0f ns/id\n",
                  n, st.bytes, st.bytes_per_id, elapsed_s(&t0, &t1) * 1e9 / (double)n,
                  elapsed_s(&t1, &t2) * 1e9 / (double)n, elapsed_s(&t2, &t3) * 1e9 / (double)n);
    dedup_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_arguments),     cmocka_unit_test(test_check_and_add),
        cmocka_unit_test(test_window_boundaries), cmocka_unit_test(test_expiry_reclaims_memory),
        cmocka_unit_test(test_eviction),          cmocka_unit_test(test_rebuild_from_history),
        cmocka_unit_test(test_unordered_times),   cmocka_unit_test(test_bytes_per_id),
        cmocka_unit_test(test_against_model),     cmocka_unit_test(test_million_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
