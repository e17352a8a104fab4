/*
 * publisher: hands messages durably to Kafka, or to the spool when Kafka
 * does not acknowledge in time, and tells the caller once either holds it.
 *
 * A submitted message is produced with the idempotent producer (acks=all).
 * If Kafka acknowledges it within ack_timeout_ms the caller hears "in Kafka".
 * If not, it is appended to the spool as "shadowed" (the producer may still
 * deliver it) and the caller hears "in spool" once fsynced. While the spool
 * holds anything, new messages go straight to it, behind the older ones, so
 * each key keeps its order. A drain thread republishes the spool, oldest
 * first, and marks done only what Kafka acknowledged.
 *
 * Threads: one polls librdkafka (delivery reports), one watches deadlines,
 * one drains the spool. Callbacks run on those threads or the spool writer.
 */
#ifndef WXB_PUBLISHER_H
#define WXB_PUBLISHER_H

#include "metrics.h"
#include "record.h"
#include "spool.h"

#include <jansson.h>

typedef struct publisher publisher;

enum { PUB_IN_KAFKA = 0, PUB_IN_SPOOL = 1 };

/* RC: PUB_IN_KAFKA, PUB_IN_SPOOL, or negative when neither could take it. */
typedef void (*publisher_cb)(void *arg, int rc);

struct publisher_opts {
    const json_t *kafka;       /* librdkafka properties (borrowed) */
    const char *kafka_path;    /* its JSON path, for errors */
    int ack_timeout_ms;        /* deadline before spooling */
    const char *const *topics; /* NULL-terminated, created at start */
    spool *spool;              /* borrowed; must outlive the publisher */
    metrics *metrics;          /* borrowed; may be NULL */
};

/* Creates the producer and starts the threads. Returns 0 or -1 with ERR. */
int publisher_new(const struct publisher_opts *o, publisher **out, char *err, size_t errlen);

/*
 * Takes ownership of *M (zeroed on return) and calls CB(ARG, rc) exactly
 * once when it is durable or has failed, possibly before this returns.
 */
void publisher_submit(publisher *p, struct kmsg *m, publisher_cb cb, void *arg);

/* 1 while at least one broker answered recently. */
int publisher_kafka_up(publisher *p);

/* Tests only: makes the producer fail fatally, as a broken idempotence sequence would. */
void publisher_test_fatal_error(publisher *p);

/*
 * Stops the drain, flushes the producer for up to FLUSH_MS, and frees P.
 * Call only after every submitted callback has run. What Kafka did not
 * acknowledge stays in the spool for the next start. NULL-safe.
 */
void publisher_free(publisher *p, int flush_ms);

#endif
