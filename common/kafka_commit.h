/*
 * kafka_commit: a synchronous offset commit with a deadline.
 *
 * rd_kafka_commit(..., async = 0) waits for the group coordinator without
 * any bound: with the brokers gone, a consumer committing at shutdown or on
 * a revoke hangs for good. This commit waits at most TIMEOUT_MS.
 */
#ifndef WXB_KAFKA_COMMIT_H
#define WXB_KAFKA_COMMIT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Commits OFFSETS for the consumer RK and waits at most TIMEOUT_MS for the
 * coordinator's answer. Returns 0, -ETIMEDOUT (the commit may still land
 * later) or -EIO with the reason in ERR.
 */
int kafka_commit_wait(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets,
                      int timeout_ms, char *err, size_t errlen);

#endif
