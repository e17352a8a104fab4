/*
 * mock_cluster: librdkafka's in-process mock Kafka cluster behind a small API.
 *
 * Owns the rd_kafka_t handle the mock cluster needs for bookkeeping and the
 * cluster itself (brokers 1..N listening on 127.0.0.1, random ports). The
 * fault-injection calls below are safe from any thread: librdkafka forwards
 * them to the mock cluster's own thread through an op queue (topic, broker
 * and RTT commands) or takes the cluster lock (request error stacks), and
 * waits for the result.
 *
 * Consumer groups on the 2.0.2 mock (measured): the first join of a group
 * takes ~3 s (the mock's initial rebalance delay). A member joining a group
 * that had members before, e.g. a restarted consumer even after a clean
 * rd_kafka_consumer_close(), waits about session.timeout.ms - 1 s (44 s with
 * the default 45 s), so tests should give their consumers a short
 * session.timeout.ms (6000 gave ~5 s).
 *
 * Every call returns 0 or a negative errno-style code:
 *   -EINVAL  bad argument (name, range), -ENOENT unknown broker,
 *   -EEXIST  topic already exists,       -EIO    anything librdkafka refused,
 *   -ENOMEM  allocation failure.
 * Human-readable detail goes into ERR (ERRLEN bytes) when ERR is not NULL.
 */
#ifndef WXB_MOCK_CLUSTER_H
#define WXB_MOCK_CLUSTER_H

#include <stddef.h>

#define MOCK_CLUSTER_BROKERS_MAX    32
#define MOCK_CLUSTER_PARTITIONS_MAX 1000
#define MOCK_CLUSTER_TOPIC_MAX      249 /* Kafka's own topic name limit */
#define MOCK_CLUSTER_RTT_MAX_MS     3600000
#define MOCK_CLUSTER_ERRCOUNT_MAX   10000

/* Broker id meaning "every broker" in the broker calls below. */
#define MOCK_CLUSTER_ALL_BROKERS -1

struct mock_cluster;

/*
 * Creates a cluster of BROKERS (1..MOCK_CLUSTER_BROKERS_MAX) brokers. On
 * success *OUT owns it (free with mock_cluster_destroy()); brokers accept
 * connections as soon as this returns.
 */
int mock_cluster_new(int brokers, struct mock_cluster **out, char *err, size_t errlen);

/* Destroys the cluster, then its rd_kafka_t handle. NULL-safe. */
void mock_cluster_destroy(struct mock_cluster *mc);

/* "127.0.0.1:p1,127.0.0.1:p2,..."; borrowed, valid until destroy. */
const char *mock_cluster_bootstrap(const struct mock_cluster *mc);

int mock_cluster_broker_count(const struct mock_cluster *mc);

/* 1 when NAME is a legal Kafka topic name ([A-Za-z0-9._-]{1,249}, not "." or ".."). */
int mock_cluster_topic_name_ok(const char *name);

/* Creates topic NAME with PARTITIONS partitions (replication min(3, brokers)). */
int mock_cluster_topic_create(struct mock_cluster *mc, const char *name, int partitions, char *err,
                              size_t errlen);

/*
 * Makes Metadata (and AddPartitionsToTxn) requests for NAME fail with Kafka
 * error CODE; 0 clears it. librdkafka creates NAME (with its own default of
 * 4 partitions) when it does not exist yet.
 */
int mock_cluster_topic_error(struct mock_cluster *mc, const char *name, int code, char *err,
                             size_t errlen);

/*
 * Broker BROKER_ID (1..N, or MOCK_CLUSTER_ALL_BROKERS) goes down: existing
 * connections are closed and new ones refused, ports are kept. No leader
 * change happens, so partitions led by a down broker are unavailable.
 */
int mock_cluster_broker_down(struct mock_cluster *mc, int broker_id, char *err, size_t errlen);

/* Brings BROKER_ID (or all) back up on the same port. */
int mock_cluster_broker_up(struct mock_cluster *mc, int broker_id, char *err, size_t errlen);

/* Delays every response of BROKER_ID (or all) by RTT_MS (0 = none). */
int mock_cluster_broker_rtt(struct mock_cluster *mc, int broker_id, int rtt_ms, char *err,
                            size_t errlen);

/*
 * The next COUNT requests with Kafka API key API (0 = Produce, 1 = Fetch,
 * 3 = Metadata, ...), on any broker, fail with error CODE. CODE -195
 * (RD_KAFKA_RESP_ERR__TRANSPORT) makes the broker drop the connection.
 */
int mock_cluster_request_errors(struct mock_cluster *mc, int api, int code, int count, char *err,
                                size_t errlen);

/* Forgets every pending request error for API key API. */
int mock_cluster_clear_request_errors(struct mock_cluster *mc, int api, char *err, size_t errlen);

#endif
