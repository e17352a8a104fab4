/*
 * kafka_topic: small librdkafka chores every wxbridge client repeats —
 * looking a topic up (its partition count, and the metadata a producer
 * needs before its first message: librdkafka holds the first message to a
 * topic it knows nothing about for about a second) and reading a header.
 */
#ifndef WXB_KAFKA_TOPIC_H
#define WXB_KAFKA_TOPIC_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Fetches TOPIC's metadata through RK (waiting at most TIMEOUT_MS) and
 * returns its partition count, or -1 when it does not exist or the brokers
 * did not answer. With KEEP non-NULL the topic handle is stored there (also
 * on -1, NULL when it could not be created); the caller destroys it.
 */
int kafka_topic_lookup(rd_kafka_t *rk, const char *topic, int timeout_ms, rd_kafka_topic_t **keep);

/* Copies the last header NAME of M into BUF (LEN bytes, NUL-terminated) and
 * returns BUF, or NULL when absent, empty-valued (NULL), too long or holding
 * a NUL byte. */
const char *kafka_header_str(const rd_kafka_message_t *m, const char *name, char *buf, size_t len);

/* The same from a header list H (NULL: no headers), e.g. one not attached to
 * a message; kafka_header_str() is this on M's headers. */
const char *kafka_headers_str(const rd_kafka_headers_t *h, const char *name, char *buf, size_t len);

#endif
