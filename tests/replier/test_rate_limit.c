/*
 * test_rate_limit: the per-app token bucket (consumer/rate_limit): burst then
 * steady rate, the exact wait returned, the refill cap, unlimited and odd
 * arguments, a clock stepping back, and over random rates that waiting the
 * returned time always succeeds and the long-run rate is never exceeded.
 */
#include "rate_limit.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_unlimited(void **state)
{
    struct rate_limit rl;
    (void)state;

    rate_limit_init(&rl, 0, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rate_limit_take(&rl, 5), 0);
    rate_limit_init(&rl, -3, 10);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    rate_limit_init(&rl, NAN, 10);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    rate_limit_init(&rl, INFINITY, 10);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
}

static void test_burst_then_rate(void **state)
{
    struct rate_limit rl;
    (void)state;

    /* 10 per second, burst 5, starting full. */
    rate_limit_init(&rl, 10, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rate_limit_take(&rl, 1000), 0);
    assert_int_equal(rate_limit_take(&rl, 1000), 100);
    assert_int_equal(rate_limit_take(&rl, 1000), 100); /* nothing was taken */
    assert_int_equal(rate_limit_take(&rl, 1050), 50);
    assert_int_equal(rate_limit_take(&rl, 1099), 1);
    assert_int_equal(rate_limit_take(&rl, 1100), 0);
    assert_int_equal(rate_limit_take(&rl, 1100), 100);
    /* A long pause refills at most the burst. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(rate_limit_take(&rl, 100000), 0);
    assert_int_equal(rate_limit_take(&rl, 100000), 100);

    /* Half a token per second: one call every 2 s. */
    rate_limit_init(&rl, 0.5, 1);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 0), 2000);
    assert_int_equal(rate_limit_take(&rl, 1999), 1);
    assert_int_equal(rate_limit_take(&rl, 2000), 0);

    /* Rate 3/s: a third of a token per ~333.3 ms, rounded up. */
    rate_limit_init(&rl, 3, 1);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 0), 334);
    assert_int_equal(rate_limit_take(&rl, 333), 1);
    assert_int_equal(rate_limit_take(&rl, 334), 0);
}

static void test_burst_below_one(void **state)
{
    struct rate_limit rl;
    (void)state;

    rate_limit_init(&rl, 100, 0);
    assert_true(rl.burst == 1);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 0), 10);
    rate_limit_init(&rl, 100, 0.3);
    assert_true(rl.burst == 1);
    rate_limit_init(&rl, 100, NAN);
    assert_true(rl.burst == 1);
    /* A fractional burst above 1 caps the refill there. */
    rate_limit_init(&rl, 1, 2.5);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_int_equal(rate_limit_take(&rl, 10000000), 0); /* refilled to 2.5 */
    assert_int_equal(rate_limit_take(&rl, 10000000), 0);
    assert_int_equal(rate_limit_take(&rl, 10000000), 500); /* 0.5 left */
}

static void test_clock_back(void **state)
{
    struct rate_limit rl;
    (void)state;

    rate_limit_init(&rl, 10, 1);
    assert_int_equal(rate_limit_take(&rl, 5000), 0);
    /* Earlier than before: no refill, the wait is computed from what is there. */
    assert_int_equal(rate_limit_take(&rl, 1000), 100);
    assert_int_equal(rate_limit_take(&rl, 5050), 50);
    assert_int_equal(rate_limit_take(&rl, 5100), 0);
}

static void test_tiny_rate(void **state)
{
    struct rate_limit rl;
    (void)state;

    rate_limit_init(&rl, 1e-30, 1);
    assert_int_equal(rate_limit_take(&rl, 0), 0);
    assert_true(rate_limit_take(&rl, 0) > 1000000000000000LL); /* capped, not overflowed */
}

static void test_wait_then_succeed(void **state)
{
    (void)state;
    srand(42);
    for (int run = 0; run < 2000; run++) {
        double rate = (double)(rand() % 100000 + 1) / (double)(rand() % 1000 + 1);
        double burst = 1 + (double)(rand() % 50) / 7.0;
        struct rate_limit rl;
        long long now = rand() % 100000;

        rate_limit_init(&rl, rate, burst);
        for (int i = 0; i < 200; i++) {
            long long w = rate_limit_take(&rl, now);
            if (w > 0) {
                struct rate_limit copy = rl;
                assert_true(w >= 1);
                if (rate_limit_take(&copy, now + w) != 0)
                    fail_msg("rate %g burst %g: waited %lld ms and was refused", rate, burst, w);
            }
            now += rand() % 3 == 0 ? w : rand() % 50;
        }
    }
}

static void test_long_run_rate(void **state)
{
    static const double rates[] = {7, 0.9, 33.3, 250, 999}; /* below one per ms */
    (void)state;

    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        struct rate_limit rl;
        long long allowed = 0, t;
        double expect = 3 + rates[r] * 20.0; /* burst + rate * 20 s */

        rate_limit_init(&rl, rates[r], 3);
        /* A caller hammering every millisecond for 20 s. */
        for (t = 0; t <= 20000; t++)
            allowed += rate_limit_take(&rl, t) == 0;
        if ((double)allowed > expect + 1e-6 || (double)allowed < expect - 1.5)
            fail_msg("rate %g: %lld allowed in 20 s, expected about %g", rates[r], allowed, expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),       cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_burst_below_one), cmocka_unit_test(test_clock_back),
        cmocka_unit_test(test_tiny_rate),       cmocka_unit_test(test_wait_then_succeed),
        cmocka_unit_test(test_long_run_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
