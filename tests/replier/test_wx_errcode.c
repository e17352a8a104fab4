/*
 * test_wx_errcode: WeChat errcode classes and texts, and retry backoff
 * (consumer/wx_errcode): every documented code in its class, unknown codes
 * final, the exponential ceiling and its cap, the jitter range [d/2, d] and
 * that it really spreads, overflow-proof arguments, the xorshift state.
 */
#include "wx_errcode.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_classes(void **state)
{
    static const long retry[] = {-1, 45009, 45011};
    static const long token[] = {40001, 40014, 42001};
    static const long final[] = {45015, 45047, 40003, 40007, 48001, 45080, 45081,    45002,
                                 44004, 41001, 40033, -2,    1,     99999, LONG_MAX, LONG_MIN};
    (void)state;

    assert_int_equal(wx_errcode_class(0), WXE_OK);
    for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
        assert_int_equal(wx_errcode_class(retry[i]), WXE_RETRY);
    for (size_t i = 0; i < sizeof(token) / sizeof(token[0]); i++)
        assert_int_equal(wx_errcode_class(token[i]), WXE_TOKEN);
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++)
        assert_int_equal(wx_errcode_class(final[i]), WXE_FINAL);

    assert_string_equal(wx_err_class_name(WXE_OK), "ok");
    assert_string_equal(wx_err_class_name(WXE_RETRY), "retry");
    assert_string_equal(wx_err_class_name(WXE_TOKEN), "token");
    assert_string_equal(wx_err_class_name(WXE_FINAL), "final");
}

static void test_texts(void **state)
{
    static const long known[] = {-1,    0,     40001, 40003, 40007, 40014, 42001, 45009,
                                 45011, 45015, 45047, 45080, 45081, 48001, 45002, 44004};
    (void)state;

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *t = wx_errcode_text(known[i]);
        assert_non_null(t);
        if (strcmp(t, "unknown") == 0 || strlen(t) < 2)
            fail_msg("errcode %ld has no text", known[i]);
    }
    assert_string_equal(wx_errcode_text(0), "ok");
    assert_string_equal(wx_errcode_text(45015),
                        "reply window over (48 h after the user's message)");
    assert_string_equal(wx_errcode_text(45047), "reply count used up for this window");
    assert_string_equal(wx_errcode_text(12345), "unknown");
    assert_string_equal(wx_errcode_text(-2), "unknown");
}

static void test_backoff_ceiling(void **state)
{
    (void)state;

    /* Without jitter: base * 2^(attempt-1), capped. */
    assert_int_equal(wx_backoff_ms(1, 500, 30000, NULL), 500);
    assert_int_equal(wx_backoff_ms(2, 500, 30000, NULL), 1000);
    assert_int_equal(wx_backoff_ms(3, 500, 30000, NULL), 2000);
    assert_int_equal(wx_backoff_ms(6, 500, 30000, NULL), 16000);
    assert_int_equal(wx_backoff_ms(7, 500, 30000, NULL), 30000); /* 32000 capped */
    assert_int_equal(wx_backoff_ms(1000, 500, 30000, NULL), 30000);
    assert_int_equal(wx_backoff_ms(INT_MAX, 500, 30000, NULL), 30000);
    /* Out-of-range arguments. */
    assert_int_equal(wx_backoff_ms(0, 500, 30000, NULL), 500);
    assert_int_equal(wx_backoff_ms(-7, 500, 30000, NULL), 500);
    assert_int_equal(wx_backoff_ms(3, 0, 30000, NULL), 0);
    assert_int_equal(wx_backoff_ms(3, -5, 30000, NULL), 0);
    assert_int_equal(wx_backoff_ms(1, 500, 200, NULL), 200);
    assert_int_equal(wx_backoff_ms(1, 500, 0, NULL), 0);
    /* No overflow anywhere near the limits. */
    assert_int_equal(wx_backoff_ms(INT_MAX, 1, LLONG_MAX, NULL), LLONG_MAX);
    assert_int_equal(wx_backoff_ms(64, LLONG_MAX / 2 + 1, LLONG_MAX, NULL), LLONG_MAX);
    assert_int_equal(wx_backoff_ms(64, 1, LLONG_MAX, NULL), LLONG_MAX);
    assert_int_equal(wx_backoff_ms(63, 1, LLONG_MAX, NULL), 1LL << 62);
    assert_int_equal(wx_backoff_ms(62, 1, LLONG_MAX, NULL), 1LL << 61);
}

static void test_backoff_jitter(void **state)
{
    uint64_t rng = 12345;
    long long lo = LLONG_MAX, hi = 0, sum = 0;
    int buckets[10] = {0};
    const int n = 100000;
    (void)state;

    for (int i = 0; i < n; i++) {
        long long d = wx_backoff_ms(3, 500, 30000, &rng); /* ceiling 2000 */
        if (d < 1000 || d > 2000)
            fail_msg("delay %lld outside [1000, 2000]", d);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
        buckets[d == 2000 ? 9 : (d - 1000) / 100]++;
    }
    /* Both ends are reached and the draw is roughly uniform. */
    assert_int_equal(lo, 1000);
    assert_int_equal(hi, 2000);
    assert_true(sum / n > 1480 && sum / n < 1520);
    for (int b = 0; b < 10; b++)
        if (buckets[b] < n / 10 * 9 / 10 || buckets[b] > n / 10 * 11 / 10)
            fail_msg("bucket %d has %d of %d draws", b, buckets[b], n);

    /* Ceiling 1: delays 0 or 1. Capped ceiling: within [max/2, max]. */
    for (int i = 0; i < 1000; i++) {
        long long d = wx_backoff_ms(1, 1, 100, &rng);
        assert_true(d >= 0 && d <= 1);
        d = wx_backoff_ms(50, 500, 30000, &rng);
        assert_true(d >= 15000 && d <= 30000);
        d = wx_backoff_ms(INT_MAX, 1, LLONG_MAX, &rng);
        assert_true(d >= LLONG_MAX / 2);
    }
    assert_int_not_equal(rng, 0);
}

static void test_rng_state(void **state)
{
    uint64_t a = 0, b = 0, c = 7, d = 7;
    (void)state;

    /* Marsaglia's xorshift64 (13, 7, 17): known answer from state 1. */
    c = 1;
    assert_int_equal(wx_xorshift64(&c), 1082269761ULL);
    assert_int_equal(c, 1082269761ULL);
    c = 7;
    /* A zero state is seeded, never stuck at zero; same state, same sequence. */
    assert_int_not_equal(wx_xorshift64(&a), 0);
    assert_int_not_equal(a, 0);
    (void)wx_backoff_ms(2, 100, 1000, &b);
    assert_int_not_equal(b, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(wx_xorshift64(&c), wx_xorshift64(&d));
    /* Two instances seeded differently draw different delays. */
    c = 1;
    d = 2;
    {
        int same = 0;
        for (int i = 0; i < 100; i++)
            same += wx_backoff_ms(5, 1000, 60000, &c) == wx_backoff_ms(5, 1000, 60000, &d);
        assert_true(same < 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),         cmocka_unit_test(test_texts),
        cmocka_unit_test(test_backoff_ceiling), cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_rng_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
