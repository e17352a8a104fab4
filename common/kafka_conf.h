/*
 * kafka_conf: librdkafka configuration from a program's "kafka" JSON object.
 *
 * Every program passes its "kafka" object to librdkafka as-is, on top of the
 * program's own defaults, so any librdkafka property works in production.
 */
#ifndef WXB_KAFKA_CONF_H
#define WXB_KAFKA_CONF_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Creates a conf with DEFAULTS (NULL-terminated name, value, name, value...)
 * applied first and then every property of PROPS (strings, integers and
 * booleans). PATH names PROPS in error messages ("$.kafka"). Returns NULL
 * with the reason in ERR.
 */
rd_kafka_conf_t *kafka_conf_new(const json_t *props, const char *path, const char *const *defaults,
                                char *err, size_t errlen);

/* What a client needs besides its properties (every field optional). */
struct kafka_client_opts {
    const char *group; /* group.id */
    void *opaque;      /* passed to the callbacks */
    void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
    void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
};

/*
 * Creates a client of TYPE from PROPS (the "kafka" object, "$.kafka" in
 * errors) on top of DEFAULTS, with O's group id and callbacks (O may be
 * NULL). Returns NULL with the reason in ERR.
 */
rd_kafka_t *kafka_client_new(rd_kafka_type_t type, const json_t *props, const char *const *defaults,
                             const struct kafka_client_opts *o, char *err, size_t errlen);

/*
 * Validates a program's "kafka" object (KAFKA may be NULL): it must exist,
 * name bootstrap.servers, and librdkafka must accept every property. Each
 * problem goes into E with its JSON path ("$.kafka.linger.ms: ...").
 */
struct jc_errs;
void kafka_conf_check(const json_t *kafka, struct jc_errs *e);

#endif
