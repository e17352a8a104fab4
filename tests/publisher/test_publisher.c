/*
 * test_publisher: the publisher against librdkafka's mock cluster, in
 * process: acknowledged by Kafka, spooled past the deadline while the
 * brokers are down and drained when they return, and a fatal producer
 * error survived by replacing the producer. Every message must end up in
 * the topic exactly once (counted with a real consumer).
 */
#include "publisher.h"

#include "metrics.h"
#include "record.h"
#include "spool.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TOPIC "t.in"
#define PARTS 4

struct env {
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    char dir[64];
    spool *sp;
    metrics *m;
    publisher *pub;
    json_t *kafka;
};

struct tally {
    atomic_int done, in_kafka, in_spool, failed;
};

static void on_done(void *arg, int rc)
{
    struct tally *t = arg;
    if (rc == PUB_IN_KAFKA)
        atomic_fetch_add(&t->in_kafka, 1);
    else if (rc == PUB_IN_SPOOL)
        atomic_fetch_add(&t->in_spool, 1);
    else
        atomic_fetch_add(&t->failed, 1);
    atomic_fetch_add(&t->done, 1);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *topics[] = {TOPIC, NULL};
    struct publisher_opts po = {0};

    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    e->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(e->mrk);
    e->mc = rd_kafka_mock_cluster_new(e->mrk, 3);
    assert_non_null(e->mc);
    assert_int_equal(rd_kafka_mock_topic_create(e->mc, TOPIC, PARTS, 1), 0);
    snprintf(e->dir, sizeof(e->dir), "/tmp/wxb-pub-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(spool_open(e->dir, NULL, &e->sp, err, sizeof(err)), 0);
    e->m = metrics_new();
    e->kafka = json_pack("{s:s, s:s}", "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(e->mc),
                         "log_level", "0");
    po.kafka = e->kafka;
    po.kafka_path = "$.kafka";
    po.ack_timeout_ms = 300;
    po.topics = topics;
    po.spool = e->sp;
    po.metrics = e->m;
    assert_int_equal(publisher_new(&po, &e->pub, err, sizeof(err)), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    char cmd[128];
    publisher_free(e->pub, 5000);
    spool_close(e->sp);
    metrics_free(e->m);
    json_decref(e->kafka);
    rd_kafka_mock_cluster_destroy(e->mc);
    rd_kafka_destroy(e->mrk);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

/* Submits N messages with values PREFIX-i, keys spread over 8 users. */
static void submit(struct env *e, const char *prefix, int n, struct tally *t)
{
    for (int i = 0; i < n; i++) {
        struct kmsg m = {0};
        char val[64], key[16];
        snprintf(val, sizeof(val), "%s-%d", prefix, i);
        snprintf(key, sizeof(key), "user%d", i % 8);
        m.topic = strdup(TOPIC);
        m.key = strdup(key);
        m.value = strdup(val);
        m.value_len = strlen(val);
        assert_int_equal(kmsg_add_header(&m, "wx-id", val), 0);
        publisher_submit(e->pub, &m, on_done, t);
        assert_null(m.value); /* ownership taken */
    }
}

static void wait_done(struct tally *t, int n, int timeout_ms)
{
    int64_t until = util_mono_ms() + timeout_ms;
    while (atomic_load(&t->done) < n && util_mono_ms() < until)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&t->done), n);
}

static void wait_spool_empty(struct env *e, int timeout_ms)
{
    int64_t until = util_mono_ms() + timeout_ms;
    while (spool_pending(e->sp) > 0 && util_mono_ms() < until)
        usleep(20 * 1000);
    assert_int_equal(spool_pending(e->sp), 0);
}

/*
 * Reads the whole topic with a real consumer and checks that each value
 * PREFIX-0..N-1 (for every prefix given) is there exactly once, and nothing else.
 */
static void assert_topic_holds(struct env *e, const char **prefixes, const int *counts, int np)
{
    char err[512];
    int total = 0, got = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *c;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTS);
    char **seen;
    int64_t until = util_mono_ms() + 20000;

    for (int i = 0; i < np; i++)
        total += counts[i];
    seen = calloc((size_t)total, sizeof(*seen));
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(e->mc), err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    /* Read until the expected count, then a little longer to catch duplicates. */
    while (util_mono_ms() < until) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 100);
        if (!msg) {
            if (got >= total && util_mono_ms() + 19000 > until)
                break;
            continue;
        }
        if (!msg->err) {
            char *v = strndup(msg->payload, msg->len);
            assert_true(got < total);
            seen[got++] = v;
            if (got == total)
                until = util_mono_ms() + 1500;
        }
        rd_kafka_message_destroy(msg);
    }
    assert_int_equal(got, total);
    for (int i = 0; i < np; i++) {
        for (int k = 0; k < counts[i]; k++) {
            char want[64];
            int n = 0;
            snprintf(want, sizeof(want), "%s-%d", prefixes[i], k);
            for (int j = 0; j < got; j++)
                n += strcmp(seen[j], want) == 0;
            if (n != 1)
                fail_msg("%s appears %d times", want, n);
        }
    }
    for (int j = 0; j < got; j++)
        free(seen[j]);
    free(seen);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void test_acknowledged_by_kafka(void **state)
{
    struct env *e = *state;
    struct tally t = {0};
    const char *pre[] = {"ok"};
    int cnt[] = {300};

    submit(e, "ok", 300, &t);
    wait_done(&t, 300, 20000);
    assert_int_equal(atomic_load(&t.in_kafka), 300);
    assert_int_equal(spool_pending(e->sp), 0);
    assert_topic_holds(e, pre, cnt, 1);
}

static void test_outage_spools_then_drains(void **state)
{
    struct env *e = *state;
    struct tally t = {0}, t2 = {0};
    const char *pre[] = {"warm", "down"};
    int cnt[] = {10, 100};

    submit(e, "warm", 10, &t);
    wait_done(&t, 10, 20000);
    for (int b = 1; b <= 3; b++)
        rd_kafka_mock_broker_set_down(e->mc, b);
    submit(e, "down", 100, &t2);
    wait_done(&t2, 100, 5000); /* answered by the spool, well inside 5 s */
    assert_int_equal(atomic_load(&t2.in_spool), 100);
    assert_int_equal(atomic_load(&t2.failed), 0);
    assert_true(spool_pending(e->sp) > 0);
    for (int b = 1; b <= 3; b++)
        rd_kafka_mock_broker_set_up(e->mc, b);
    wait_spool_empty(e, 60000);
    assert_topic_holds(e, pre, cnt, 2);
}

static void test_fatal_error_replaces_producer(void **state)
{
    struct env *e = *state;
    struct tally t = {0}, t2 = {0};
    const char *pre[] = {"before", "after"};
    int cnt[] = {50, 50};
    char *text;

    submit(e, "before", 50, &t);
    wait_done(&t, 50, 20000);
    assert_int_equal(atomic_load(&t.in_kafka), 50);
    publisher_test_fatal_error(e->pub);
    submit(e, "after", 50, &t2);
    wait_done(&t2, 50, 20000);
    assert_int_equal(atomic_load(&t2.failed), 0);
    wait_spool_empty(e, 60000);
    assert_topic_holds(e, pre, cnt, 2);
    text = metrics_render(e->m);
    assert_non_null(strstr(text, "wxbridge_kafka_producer_recreated_total 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acknowledged_by_kafka, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_spools_then_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_error_replaces_producer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
