/*
 * router: the engine of wxbridge-router — a consumer group member on the
 * inbound topic that deduplicates WeChat's retries and routes records.
 *
 * Delivery: at least once, and in order per partition (so per openid).
 * Records are routed as they are consumed, in batches closed every
 * batch_max records or commit_interval_ms. A batch's offsets are committed
 * only once Kafka acknowledged everything produced for it (idempotent
 * producer, acks=all), batches in order; they are pipelined, so consuming
 * goes on while acknowledgements come back (at most 32 batches wait). A
 * crash re-routes what was consumed after the last commit; every output
 * carries the input's deterministic ids (record id, reply id), so consumers
 * and the replier drop such repeats.
 *
 * Dedup: a record whose id was routed within the window is skipped. The
 * window survives restarts, crashes and rebalances without any store but
 * Kafka: when a partition is assigned, the ids of its records between
 * (now - window) and the committed offset are read back (from the wx-id
 * header, no parsing) before consuming resumes at the committed offset.
 */
#ifndef WXB_ROUTER_H
#define WXB_ROUTER_H

#include "metrics.h"
#include "route_rules.h"
#include "router_config.h"

#include <signal.h>

typedef struct router router;

/*
 * Creates the consumer (subscribed), producer and history reader. RULES is
 * taken. CFG and M are borrowed and must outlive the router. READY_FILE
 * (may be NULL) receives the bootstrap list after the first assignment.
 * Returns 0 or -1 with ERR.
 */
int router_new(const struct router_config *cfg, route_rules *rules, metrics *m,
               const char *ready_file, router **out, char *err, size_t errlen);

/* Replaces the rules (taken) from the next record on; the old ones are freed. */
void router_set_rules(router *r, route_rules *rules);

/*
 * Consumes and routes until *STOP is set, calling TICK(ARG) between records
 * (for reloads). Returns 0 after a clean stop (everything routed was
 * committed), -1 when Kafka refused outputs for good (nothing of the batch
 * is committed: a restart routes it again).
 */
int router_run(router *r, volatile sig_atomic_t *stop, void (*tick)(router *, void *), void *arg);

/* 1 once the router joined its group (first assignment) and while no output was
 * refused (for /readyz). Any thread. */
int router_ready(router *r);

/* Leaves the group (committing what is finished) and frees R. NULL-safe. */
void router_free(router *r);

#endif
