/*
 * replier_metrics: the replier's Prometheus metrics. See replier_int.h.
 */
#include "replier_int.h"

#include "kafka_consumer.h"

#include <stdio.h>

/*
 * Gauges are read by the ops HTTP thread while the replier's thread owns the
 * state: the replier's thread copies the values into atomics once per loop
 * (replier_publish_gauges) and the callbacks read only those.
 */
void replier_publish_gauges(replier *r)
{
    struct dedup_stats ds;
    struct quota_guard_stats qs;

    dedup_stats(r->finished, &ds);
    quota_guard_stats(r->quota, &qs); /* (zero without a guard) */
    atomic_store_explicit(&r->g.in_flight, r->in_flight, memory_order_relaxed);
    atomic_store_explicit(&r->g.unrecorded, r->unrecorded, memory_order_relaxed);
    atomic_store_explicit(&r->g.pending, r->pending, memory_order_relaxed);
    atomic_store_explicit(&r->g.finished_ids, ds.count, memory_order_relaxed);
    atomic_store_explicit(&r->g.quota_users, qs.users, memory_order_relaxed);
    atomic_store_explicit(&r->g.quota_evictions, qs.evictions, memory_order_relaxed);
}

#define GAUGE(name, field)                                                                         \
    static double name(void *arg)                                                                  \
    {                                                                                              \
        return (double)atomic_load_explicit(&((replier *)arg)->g.field, memory_order_relaxed);     \
    }
GAUGE(gauge_in_flight, in_flight)
GAUGE(gauge_unrecorded, unrecorded)
GAUGE(gauge_pending, pending)
GAUGE(gauge_finished, finished_ids)
GAUGE(gauge_quota_users, quota_users)

static uint64_t quota_evictions(void *arg)
{
    return atomic_load_explicit(&((replier *)arg)->g.quota_evictions, memory_order_relaxed);
}

static double gauge_lag(void *arg)
{
    return kafka_consumer_lag(((replier *)arg)->consumer);
}

void replier_register_metrics(replier *r)
{
    static const double send_b[] = {0.01, 0.025, 0.05, 0.06, 0.075, 0.1, 0.15,
                                    0.2,  0.3,   0.5,  1,    2.5,   5,   10};
    static const double lat_b[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
    metrics *m = r->m;
    r->c_commands =
        metrics_counter(m, "wxbridge_replier_commands_total", "Commands consumed", NULL);
    r->c_dupes = metrics_counter(m, "wxbridge_replier_duplicates_total",
                                 "Commands skipped because their id already has a result", NULL);
    r->c_retries = metrics_counter(m, "wxbridge_replier_retries_total", "Retries scheduled", NULL);
    r->c_dlq = metrics_counter(m, "wxbridge_replier_dlq_total", "Commands sent to the DLQ", NULL);
    r->c_media = metrics_counter(m, "wxbridge_replier_media_uploads_total",
                                 "Images fetched by URL and uploaded as temp media", NULL);
    r->c_quota_wait =
        metrics_counter(m, "wxbridge_replier_quota_waits_total",
                        "Quota checks deferred until the inbound view caught up", NULL);
    r->h_send = metrics_histogram(m, "wxbridge_replier_send_seconds", "WeChat API call latency",
                                  NULL, send_b, (int)(sizeof(send_b) / sizeof(send_b[0])));
    r->h_latency = metrics_histogram(m, "wxbridge_replier_latency_seconds",
                                     "From the command's write to its result", NULL, lat_b,
                                     (int)(sizeof(lat_b) / sizeof(lat_b[0])));
    metrics_gauge_fn(m, "wxbridge_replier_in_flight",
                     "Sends started (intent written or request sent) and not answered yet", NULL,
                     gauge_in_flight, r);
    metrics_gauge_fn(m, "wxbridge_replier_unrecorded",
                     "Sends answered whose result Kafka has not acknowledged yet", NULL,
                     gauge_unrecorded, r);
    metrics_gauge_fn(m, "wxbridge_replier_pending", "Commands consumed and not finished", NULL,
                     gauge_pending, r);
    metrics_gauge_fn(m, "wxbridge_replier_lag", "Commands behind the high watermark", NULL,
                     gauge_lag, r);
    metrics_gauge_fn(m, "wxbridge_replier_finished_ids", "Command ids known to have a result", NULL,
                     gauge_finished, r);
    metrics_gauge_fn(m, "wxbridge_replier_quota_users", "Users tracked by the quota guard", NULL,
                     gauge_quota_users, r);
    metrics_counter_fn(m, "wxbridge_replier_quota_evictions_total",
                       "Users the full quota guard forgot while a window could be open", NULL,
                       quota_evictions, r);
}
