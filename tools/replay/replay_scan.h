/*
 * replay_scan: reads one topic, every partition, from a start time up to the
 * end the partitions had when the scan opened, and then stops: on a live
 * topic the scan terminates, and what arrives meanwhile is not read.
 *
 * Opening snapshots each partition's high watermark, then finds the start
 * offset of FROM_MS - MARGIN_MS with offsets_for_times; a partition for
 * which the broker answers -1 (no such offset, or a broker that does not
 * index times: librdkafka's mock cluster always answers -1) starts at its
 * low watermark, and the caller filters by time. Records are returned in
 * offset order per partition; partitions interleave.
 *
 * The consumer only assigns (no group membership, nothing committed: a
 * replay never moves anyone's offsets). Prefetching is bounded
 * (queued.max.messages.kbytes, 16 MiB unless the "kafka" object says
 * otherwise), so memory does not grow with the topic.
 */
#ifndef WXB_REPLAY_SCAN_H
#define WXB_REPLAY_SCAN_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

#define REPLAY_SCAN_PARTITIONS_MAX 4096

typedef struct replay_scan replay_scan;

struct replay_scan_opts {
    const json_t *kafka;         /* librdkafka properties (borrowed) */
    const char *topic;           /* borrowed */
    int64_t from_ms;             /* < 0 = from the beginning */
    int64_t margin_ms;           /* start that much earlier (producer clocks, late records) */
    int idle_timeout_ms;         /* give up when nothing arrives for this long */
    volatile sig_atomic_t *stop; /* set by a signal handler; may be NULL */
};

/*
 * Connects, snapshots the end offsets and assigns the partitions. A topic
 * that does not exist has no partitions (the scan is empty). Returns 0, or
 * -1 with ERR.
 */
int replay_scan_open(const struct replay_scan_opts *o, replay_scan **out, char *err, size_t errlen);

/*
 * The next record within the snapshot. Returns 1 with *M (the caller
 * destroys it with rd_kafka_message_destroy), 0 when every partition reached
 * its end, or -1 with ERR (idle timeout, stop requested, fatal error).
 */
int replay_scan_next(replay_scan *s, rd_kafka_message_t **m, char *err, size_t errlen);

/* Partitions of the topic, and the records between the start and end offsets. */
int replay_scan_partitions(const replay_scan *s);
int64_t replay_scan_backlog(const replay_scan *s);

/* Closes the consumer and frees S (NULL-safe). */
void replay_scan_free(replay_scan *s);

#endif
