/*
 * kafka_consumer: what every wxbridge consumer group member needs beyond
 * librdkafka: its lag, and its last words with a deadline — a synchronous
 * offset commit and the close of the consumer.
 *
 * rd_kafka_commit(..., async = 0) and rd_kafka_consumer_close() wait for the
 * group coordinator without any bound: with the brokers gone, a consumer
 * committing or closing at shutdown hangs for good (seen with librdkafka
 * 2.0.2 once a commit was outstanding). These wait at most TIMEOUT_MS.
 */
#ifndef WXB_KAFKA_CONSUMER_H
#define WXB_KAFKA_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Commits OFFSETS for the consumer RK and waits at most TIMEOUT_MS for the
 * coordinator's answer. Returns 0, -ETIMEDOUT (the commit may still land
 * later) or -EIO with the reason in ERR.
 */
int kafka_commit_wait(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets,
                      int timeout_ms, char *err, size_t errlen);

/*
 * Closes and destroys the consumer RK, waiting at most TIMEOUT_MS for it to
 * leave its group; past that it is destroyed without the group handshake
 * (the coordinator then notices at session.timeout.ms). Partitions still
 * assigned are simply unassigned: finish and commit the work before calling
 * this (no rebalance callback runs). Returns 0, or -ETIMEDOUT.
 */
int kafka_consumer_close_wait(rd_kafka_t *rk, int timeout_ms);

/*
 * Records between the consumer's positions and the high watermarks of the
 * partitions assigned to RK (cached watermarks: no request). For a metrics
 * gauge; safe from any thread.
 */
double kafka_consumer_lag(rd_kafka_t *rk);

#endif
