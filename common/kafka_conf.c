/*
 * kafka_conf: librdkafka configuration from JSON. See kafka_conf.h.
 */
#include "kafka_conf.h"

#include "jsonconf.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

/* librdkafka's own log lines become JSON lines like every other (syslog levels). */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 3   ? LOG_ERROR
                         : level == 4 ? LOG_WARN
                         : level <= 6 ? LOG_INFO
                                      : LOG_DEBUG;
    if (!log_enabled(lvl))
        return;
    log_event(lvl, "kafka_log", "client", rd_kafka_name(rk), "facility", fac, "message", buf, NULL);
}

/* Renders a JSON scalar as a librdkafka property value into BUF; returns 0 or -1. */
static int kafka_conf_value(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return snprintf(buf, len, "%s", json_string_value(v)) < (int)len ? 0 : -1;
    if (json_is_integer(v))
        return snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < (int)len ? 0
                                                                                             : -1;
    if (json_is_boolean(v))
        return snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false") < (int)len ? 0 : -1;
    return -1;
}

rd_kafka_conf_t *kafka_conf_new(const json_t *props, const char *path, const char *const *defaults,
                                char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256], val[4096];
    const char *k;
    json_t *v;

    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);

    for (const char *const *d = defaults; d && d[0]; d += 2) {
        if (rd_kafka_conf_set(conf, d[0], d[1], kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "default %s: %s", d[0], kerr);
            goto fail;
        }
    }
    if (props && !json_is_object(props)) {
        snprintf(err, errlen, "%s: must be an object of librdkafka properties", path);
        goto fail;
    }
    json_object_foreach((json_t *)props, k, v)
    {
        if (kafka_conf_value(v, val, sizeof(val)) < 0) {
            snprintf(err, errlen, "%s.%s: must be a string, integer or boolean", path, k);
            goto fail;
        }
        if (rd_kafka_conf_set(conf, k, val, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s.%s: %s", path, k, kerr);
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_client_new(rd_kafka_type_t type, const json_t *props, const char *const *defaults,
                             const struct kafka_client_opts *o, char *err, size_t errlen)
{
    char kerr[512];
    rd_kafka_conf_t *c = kafka_conf_new(props, "$.kafka", defaults, err, errlen);
    rd_kafka_t *rk;

    if (!c)
        return NULL;
    if (o && o->group && rd_kafka_conf_set(c, "group.id", o->group, kerr, sizeof(kerr))) {
        snprintf(err, errlen, "group.id: %s", kerr);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    if (o) {
        rd_kafka_conf_set_opaque(c, o->opaque);
        if (o->dr_cb)
            rd_kafka_conf_set_dr_msg_cb(c, o->dr_cb);
        if (o->rebalance_cb)
            rd_kafka_conf_set_rebalance_cb(c, o->rebalance_cb);
    }
    if (!(rk = rd_kafka_new(type, c, kerr, sizeof(kerr)))) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "kafka %s: %s", type == RD_KAFKA_PRODUCER ? "producer" : "consumer",
                 kerr);
    }
    return rk;
}

void kafka_conf_check(const json_t *kafka, struct jc_errs *e)
{
    char err[512];
    rd_kafka_conf_t *conf;

    if (!json_is_object(kafka)) {
        jc_error(e, "$", "required object \"kafka\" is missing");
        return;
    }
    if (!json_object_get(kafka, "bootstrap.servers"))
        jc_error(e, "$.kafka", "required property \"bootstrap.servers\" is missing");
    conf = kafka_conf_new(kafka, "$.kafka", NULL, err, sizeof(err));
    if (!conf) {
        /* kafka_conf_new() names the property's JSON path already: "PATH: message". */
        char *sep = strstr(err, ": ");
        if (sep) {
            *sep = '\0';
            jc_error(e, err, "%s", sep + 2);
        } else {
            jc_error(e, "$.kafka", "%s", err);
        }
    } else {
        rd_kafka_conf_destroy(conf);
    }
}
