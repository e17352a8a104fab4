/*
 * mock_cluster: librdkafka mock cluster wrapper. See mock_cluster.h.
 *
 * Topic auto-creation, measured against librdkafka 2.0.2 with kcat: the mock
 * brokers create any unknown topic named in a Metadata request, with the
 * mock's built-in default of 4 partitions (not our --partitions), whatever
 * the client's allow.auto.create.topics says. So the first produce, a
 * "kcat -L -t NAME", a plain consumer and a consumer group subscribing to
 * NAME all create it. That hides typos in topic names, which is why every
 * pipeline topic is pre-created with the intended partition count.
 */
#include "mock_cluster.h"

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct mock_cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    int brokers;
};

/* Formats into ERR when the caller wants detail. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* librdkafka's own log lines (syslog levels) become JSON lines. */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : LOG_DEBUG;

    (void)rk;
    log_event(lvl, "librdkafka_log", "facility", fac, "message", buf, NULL);
}

/* Kafka error codes librdkafka knows, both its local (negative) and broker ones. */
static int code_ok(int code)
{
    return code > RD_KAFKA_RESP_ERR__BEGIN && code < RD_KAFKA_RESP_ERR_END_ALL &&
           code != RD_KAFKA_RESP_ERR__END;
}

/* Maps a librdkafka result to our error model; RE is only used for the text. */
static int from_rk(rd_kafka_resp_err_t re, const char *what, char *err, size_t errlen)
{
    switch (re) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        set_err(err, errlen, "%s: topic already exists", what);
        return -EEXIST;
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
        set_err(err, errlen, "%s: unknown broker", what);
        return -ENOENT;
    default:
        set_err(err, errlen, "%s: %s", what, rd_kafka_err2str(re));
        return -EIO;
    }
}

static int check_broker(const struct mock_cluster *mc, int id, char *err, size_t errlen)
{
    if (id == MOCK_CLUSTER_ALL_BROKERS || (id >= 1 && id <= mc->brokers))
        return 0;
    set_err(err, errlen, "unknown broker %d (brokers are 1..%d)", id, mc->brokers);
    return -ENOENT;
}

int mock_cluster_new(int brokers, struct mock_cluster **out, char *err, size_t errlen)
{
    struct mock_cluster *mc = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    int rc = 0;

    *out = NULL;
    if (brokers < 1 || brokers > MOCK_CLUSTER_BROKERS_MAX) {
        set_err(err, errlen, "brokers must be between 1 and %d", MOCK_CLUSTER_BROKERS_MAX);
        rc = -EINVAL;
        goto out;
    }
    mc = calloc(1, sizeof(*mc));
    if (!mc) {
        rc = -ENOMEM;
        goto out;
    }
    mc->brokers = brokers;

    /* The handle only anchors the mock cluster (threads, timers, logging); it
     * never connects anywhere, because it has no bootstrap.servers. */
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, rk_log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "wxbridge-devbroker", errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        set_err(err, errlen, "rdkafka config: %s", errstr);
        rc = -EIO;
        goto out;
    }
    mc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!mc->rk) {
        set_err(err, errlen, "rd_kafka_new: %s", errstr);
        rc = -EIO;
        goto out;
    }
    conf = NULL; /* owned by mc->rk now */

    mc->mcluster = rd_kafka_mock_cluster_new(mc->rk, brokers);
    if (!mc->mcluster) {
        set_err(err, errlen, "rd_kafka_mock_cluster_new failed (could not bind listeners?)");
        rc = -EIO;
        goto out;
    }
    *out = mc;
    mc = NULL;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    mock_cluster_destroy(mc);
    return rc;
}

void mock_cluster_destroy(struct mock_cluster *mc)
{
    if (!mc)
        return;
    /* The cluster runs on mc->rk's machinery, so it must go first. After
     * consumer traffic this call sometimes takes ~1 s inside librdkafka. */
    if (mc->mcluster)
        rd_kafka_mock_cluster_destroy(mc->mcluster);
    if (mc->rk)
        rd_kafka_destroy(mc->rk);
    free(mc);
}

const char *mock_cluster_bootstrap(const struct mock_cluster *mc)
{
    return rd_kafka_mock_cluster_bootstraps(mc->mcluster);
}

int mock_cluster_broker_count(const struct mock_cluster *mc)
{
    return mc->brokers;
}

int mock_cluster_topic_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > MOCK_CLUSTER_TOPIC_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int mock_cluster_topic_create(struct mock_cluster *mc, const char *name, int partitions, char *err,
                              size_t errlen)
{
    int rf = mc->brokers < 3 ? mc->brokers : 3;

    if (!mock_cluster_topic_name_ok(name)) {
        set_err(err, errlen, "invalid topic name (allowed: [A-Za-z0-9._-]{1,%d})",
                MOCK_CLUSTER_TOPIC_MAX);
        return -EINVAL;
    }
    if (partitions < 1 || partitions > MOCK_CLUSTER_PARTITIONS_MAX) {
        set_err(err, errlen, "partitions must be between 1 and %d", MOCK_CLUSTER_PARTITIONS_MAX);
        return -EINVAL;
    }
    return from_rk(rd_kafka_mock_topic_create(mc->mcluster, name, partitions, rf), name, err,
                   errlen);
}

int mock_cluster_topic_error(struct mock_cluster *mc, const char *name, int code, char *err,
                             size_t errlen)
{
    if (!mock_cluster_topic_name_ok(name)) {
        set_err(err, errlen, "invalid topic name");
        return -EINVAL;
    }
    if (!code_ok(code)) {
        set_err(err, errlen, "unknown Kafka error code %d", code);
        return -EINVAL;
    }
    rd_kafka_mock_topic_set_error(mc->mcluster, name, (rd_kafka_resp_err_t)code);
    return 0;
}

int mock_cluster_broker_down(struct mock_cluster *mc, int broker_id, char *err, size_t errlen)
{
    int rc = check_broker(mc, broker_id, err, errlen);

    if (rc == 0)
        rc = from_rk(rd_kafka_mock_broker_set_down(mc->mcluster, broker_id), "broker down", err,
                     errlen);
    return rc;
}

int mock_cluster_broker_up(struct mock_cluster *mc, int broker_id, char *err, size_t errlen)
{
    int rc = check_broker(mc, broker_id, err, errlen);

    if (rc == 0)
        rc =
            from_rk(rd_kafka_mock_broker_set_up(mc->mcluster, broker_id), "broker up", err, errlen);
    return rc;
}

int mock_cluster_broker_rtt(struct mock_cluster *mc, int broker_id, int rtt_ms, char *err,
                            size_t errlen)
{
    int rc = check_broker(mc, broker_id, err, errlen);

    if (rc)
        return rc;
    if (rtt_ms < 0 || rtt_ms > MOCK_CLUSTER_RTT_MAX_MS) {
        set_err(err, errlen, "rtt must be between 0 and %d ms", MOCK_CLUSTER_RTT_MAX_MS);
        return -EINVAL;
    }
    return from_rk(rd_kafka_mock_broker_set_rtt(mc->mcluster, broker_id, rtt_ms), "broker rtt", err,
                   errlen);
}

int mock_cluster_request_errors(struct mock_cluster *mc, int api, int code, int count, char *err,
                                size_t errlen)
{
    rd_kafka_resp_err_t *codes = NULL;
    int rc = 0;

    if (api < 0 || api > INT16_MAX) {
        set_err(err, errlen, "api must be between 0 and %d", INT16_MAX);
        rc = -EINVAL;
        goto out;
    }
    if (!code_ok(code)) {
        set_err(err, errlen, "unknown Kafka error code %d", code);
        rc = -EINVAL;
        goto out;
    }
    if (count < 1 || count > MOCK_CLUSTER_ERRCOUNT_MAX) {
        set_err(err, errlen, "count must be between 1 and %d", MOCK_CLUSTER_ERRCOUNT_MAX);
        rc = -EINVAL;
        goto out;
    }
    codes = malloc((size_t)count * sizeof(*codes));
    if (!codes) {
        set_err(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < count; i++)
        codes[i] = (rd_kafka_resp_err_t)code;
    rd_kafka_mock_push_request_errors_array(mc->mcluster, (int16_t)api, (size_t)count, codes);
out:
    free(codes);
    return rc;
}

int mock_cluster_clear_request_errors(struct mock_cluster *mc, int api, char *err, size_t errlen)
{
    if (api < 0 || api > INT16_MAX) {
        set_err(err, errlen, "api must be between 0 and %d", INT16_MAX);
        return -EINVAL;
    }
    rd_kafka_mock_clear_request_errors(mc->mcluster, (int16_t)api);
    return 0;
}
