/*
 * test_metrics: the Prometheus registry: counters with and without labels,
 * callback gauges, cumulative histogram buckets with +Inf, _sum and _count,
 * and the exposition layout (one HELP/TYPE per family, samples of a family
 * together, even when registered interleaved with other families).
 */
#include "metrics.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static double read_double(void *arg)
{
    return *(double *)arg;
}

/* Renders M and compares with WANT exactly. */
static void assert_render(metrics *m, const char *want)
{
    char *got = metrics_render(m);
    assert_non_null(got);
    if (strcmp(got, want) != 0) {
        print_error("rendered:\n%s\nexpected:\n%s\n", got, want);
        free(got);
        fail();
    }
    free(got);
}

/* Number of non-overlapping occurrences of NEEDLE in HAY. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle))
        n++;
    return n;
}

static void test_counters(void **state)
{
    metrics *m = metrics_new();
    mcounter *a, *b, *c;
    (void)state;

    assert_non_null(m);
    a = metrics_counter(m, "wxb_requests_total", "Requests.", "code=\"200\"");
    b = metrics_counter(m, "wxb_requests_total", "Requests.", "code=\"401\"");
    c = metrics_counter(m, "wxb_requests_total", "Requests.", "code=\"200\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    /* Same name and labels: the same counter. */
    assert_ptr_equal(a, c);
    assert_int_equal(mcounter_get(a), 0);
    mcounter_add(a, 1);
    mcounter_add(c, 2);
    mcounter_add(b, 5);
    assert_int_equal(mcounter_get(a), 3);
    assert_int_equal(mcounter_get(b), 5);
    mcounter_add(a, UINT64_C(10000000000));
    assert_true(mcounter_get(a) == UINT64_C(10000000003));
    /* NULL-safe. */
    mcounter_add(NULL, 1);
    assert_int_equal(mcounter_get(NULL), 0);
    assert_render(m, "# HELP wxb_requests_total Requests.\n"
                     "# TYPE wxb_requests_total counter\n"
                     "wxb_requests_total{code=\"200\"} 10000000003\n"
                     "wxb_requests_total{code=\"401\"} 5\n");
    metrics_free(m);
    metrics_free(NULL);
}

static void test_counter_without_labels(void **state)
{
    metrics *m = metrics_new();
    mcounter *a = metrics_counter(m, "wxb_up_total", "Up.", NULL);
    mcounter *b = metrics_counter(m, "wxb_up_total", "Up.", "");
    (void)state;

    /* NULL and "" labels are the same series. */
    assert_ptr_equal(a, b);
    mcounter_add(a, 7);
    assert_render(m, "# HELP wxb_up_total Up.\n# TYPE wxb_up_total counter\nwxb_up_total 7\n");
    metrics_free(m);
}

static void test_gauge_fn(void **state)
{
    metrics *m = metrics_new();
    double v = 2.5, w = -1;
    (void)state;

    assert_int_equal(
        metrics_gauge_fn(m, "wxb_queue_depth", "Queued.", "q=\"spool\"", read_double, &v), 0);
    assert_int_equal(
        metrics_gauge_fn(m, "wxb_queue_depth", "Queued.", "q=\"mem\"", read_double, &w), 0);
    assert_render(m, "# HELP wxb_queue_depth Queued.\n"
                     "# TYPE wxb_queue_depth gauge\n"
                     "wxb_queue_depth{q=\"spool\"} 2.5\n"
                     "wxb_queue_depth{q=\"mem\"} -1\n");
    /* Read at render time. */
    v = 1024;
    w = 0.125;
    assert_render(m, "# HELP wxb_queue_depth Queued.\n"
                     "# TYPE wxb_queue_depth gauge\n"
                     "wxb_queue_depth{q=\"spool\"} 1024\n"
                     "wxb_queue_depth{q=\"mem\"} 0.125\n");
    metrics_free(m);
}

static uint64_t read_u64(void *arg)
{
    return *(const uint64_t *)arg;
}

static void test_counter_fn(void **state)
{
    metrics *m = metrics_new();
    uint64_t n = 3;
    (void)state;

    assert_int_equal(metrics_counter_fn(m, "wxb_evictions_total", "Evicted.", NULL, read_u64, &n),
                     0);
    assert_render(m, "# HELP wxb_evictions_total Evicted.\n"
                     "# TYPE wxb_evictions_total counter\n"
                     "wxb_evictions_total 3\n");
    n = 18446744073709551615ULL; /* read at render time, full 64 bits */
    assert_render(m, "# HELP wxb_evictions_total Evicted.\n"
                     "# TYPE wxb_evictions_total counter\n"
                     "wxb_evictions_total 18446744073709551615\n");
    metrics_free(m);
}

static void test_histogram(void **state)
{
    static const double bounds[] = {0.5, 1, 2.5};
    static const double obs[] = {0.25, 0.5, 0.75, 2, 3, 100};
    metrics *m = metrics_new();
    mhist *h = metrics_histogram(m, "wxb_latency_seconds", "Latency.", "app=\"wx1\"", bounds, 3);
    (void)state;

    assert_non_null(h);
    /* Same name and labels: the same histogram. */
    assert_ptr_equal(
        metrics_histogram(m, "wxb_latency_seconds", "Latency.", "app=\"wx1\"", bounds, 3), h);
    assert_render(m, "# HELP wxb_latency_seconds Latency.\n"
                     "# TYPE wxb_latency_seconds histogram\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"0.5\"} 0\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"1\"} 0\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"2.5\"} 0\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"+Inf\"} 0\n"
                     "wxb_latency_seconds_sum{app=\"wx1\"} 0.000000\n"
                     "wxb_latency_seconds_count{app=\"wx1\"} 0\n");
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        mhist_observe(h, obs[i]);
    mhist_observe(NULL, 1);
    /* Upper bounds are inclusive (0.5 lands in le="0.5"); buckets are cumulative. */
    assert_render(m, "# HELP wxb_latency_seconds Latency.\n"
                     "# TYPE wxb_latency_seconds histogram\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"0.5\"} 2\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"1\"} 3\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"2.5\"} 4\n"
                     "wxb_latency_seconds_bucket{app=\"wx1\",le=\"+Inf\"} 6\n"
                     "wxb_latency_seconds_sum{app=\"wx1\"} 106.500000\n"
                     "wxb_latency_seconds_count{app=\"wx1\"} 6\n");
    metrics_free(m);
}

static void test_histogram_without_labels_and_limits(void **state)
{
    static const double bounds[25] = {1, 2};
    metrics *m = metrics_new();
    mhist *h;
    (void)state;

    assert_null(metrics_histogram(m, "wxb_h", "H.", NULL, bounds, 0));
    assert_null(metrics_histogram(m, "wxb_h", "H.", NULL, bounds, 25));
    h = metrics_histogram(m, "wxb_h", "H.", NULL, bounds, 1);
    assert_non_null(h);
    mhist_observe(h, 1);
    mhist_observe(h, 1.5);
    assert_render(m, "# HELP wxb_h H.\n"
                     "# TYPE wxb_h histogram\n"
                     "wxb_h_bucket{le=\"1\"} 1\n"
                     "wxb_h_bucket{le=\"+Inf\"} 2\n"
                     "wxb_h_sum 2.500000\n"
                     "wxb_h_count 2\n");
    metrics_free(m);
}

static void test_interleaved_families(void **state)
{
    static const double bounds[] = {0.1};
    metrics *m = metrics_new();
    double g = 3;
    mcounter *a1, *a2, *a3, *b;
    mhist *h1, *h2;
    char *out;
    (void)state;

    a1 = metrics_counter(m, "wxb_a_total", "A.", "k=\"1\"");
    b = metrics_counter(m, "wxb_b_total", "B.", NULL);
    h1 = metrics_histogram(m, "wxb_h_seconds", "H.", "k=\"1\"", bounds, 1);
    a2 = metrics_counter(m, "wxb_a_total", "A.", "k=\"2\"");
    assert_int_equal(metrics_gauge_fn(m, "wxb_g", "G.", NULL, read_double, &g), 0);
    h2 = metrics_histogram(m, "wxb_h_seconds", "H.", "k=\"2\"", bounds, 1);
    a3 = metrics_counter(m, "wxb_a_total", "A.", "k=\"3\"");
    mcounter_add(a1, 1);
    mcounter_add(a2, 2);
    mcounter_add(a3, 3);
    mcounter_add(b, 4);
    mhist_observe(h1, 0.05);
    mhist_observe(h2, 1);

    assert_render(m, "# HELP wxb_a_total A.\n"
                     "# TYPE wxb_a_total counter\n"
                     "wxb_a_total{k=\"1\"} 1\n"
                     "wxb_a_total{k=\"2\"} 2\n"
                     "wxb_a_total{k=\"3\"} 3\n"
                     "# HELP wxb_b_total B.\n"
                     "# TYPE wxb_b_total counter\n"
                     "wxb_b_total 4\n"
                     "# HELP wxb_h_seconds H.\n"
                     "# TYPE wxb_h_seconds histogram\n"
                     "wxb_h_seconds_bucket{k=\"1\",le=\"0.1\"} 1\n"
                     "wxb_h_seconds_bucket{k=\"1\",le=\"+Inf\"} 1\n"
                     "wxb_h_seconds_sum{k=\"1\"} 0.050000\n"
                     "wxb_h_seconds_count{k=\"1\"} 1\n"
                     "wxb_h_seconds_bucket{k=\"2\",le=\"0.1\"} 0\n"
                     "wxb_h_seconds_bucket{k=\"2\",le=\"+Inf\"} 1\n"
                     "wxb_h_seconds_sum{k=\"2\"} 1.000000\n"
                     "wxb_h_seconds_count{k=\"2\"} 1\n"
                     "# HELP wxb_g G.\n"
                     "# TYPE wxb_g gauge\n"
                     "wxb_g 3\n");
    out = metrics_render(m);
    assert_int_equal(count(out, "# HELP "), 4);
    assert_int_equal(count(out, "# TYPE "), 4);
    free(out);
    metrics_free(m);
}

static void test_many_metrics_render(void **state)
{
    /* More output than the initial render buffer. */
    metrics *m = metrics_new();
    char name[64];
    char *out;
    (void)state;

    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "wxb_metric_number_%03d_total", i);
        mcounter_add(metrics_counter(m, name, "A counter with a help text of some length.",
                                     "app=\"wxba5fad812f8e6fb9\""),
                     (uint64_t)i);
    }
    out = metrics_render(m);
    assert_non_null(out);
    assert_true(strlen(out) > 4096);
    assert_int_equal(count(out, "# TYPE "), 300);
    assert_non_null(strstr(out, "wxb_metric_number_299_total{app=\"wxba5fad812f8e6fb9\"} 299\n"));
    free(out);
    metrics_free(m);
}

struct adder {
    mcounter *c;
    mhist *h;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    for (int i = 0; i < 100000; i++) {
        mcounter_add(a->c, 1);
        mhist_observe(a->h, 0.5);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    static const double bounds[] = {1};
    metrics *m = metrics_new();
    struct adder a;
    pthread_t t[4];
    (void)state;

    a.c = metrics_counter(m, "wxb_c_total", "C.", NULL);
    a.h = metrics_histogram(m, "wxb_h", "H.", NULL, bounds, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_many, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mcounter_get(a.c), 400000);
    assert_render(m, "# HELP wxb_c_total C.\n# TYPE wxb_c_total counter\nwxb_c_total 400000\n"
                     "# HELP wxb_h H.\n# TYPE wxb_h histogram\n"
                     "wxb_h_bucket{le=\"1\"} 400000\nwxb_h_bucket{le=\"+Inf\"} 400000\n"
                     "wxb_h_sum 200000.000000\nwxb_h_count 400000\n");
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_counter_without_labels),
        cmocka_unit_test(test_gauge_fn),
        cmocka_unit_test(test_counter_fn),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_without_labels_and_limits),
        cmocka_unit_test(test_interleaved_families),
        cmocka_unit_test(test_many_metrics_render),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
