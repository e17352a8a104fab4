/*
 * router: consume, deduplicate, route, produce, commit. See router.h.
 *
 * Everything runs on the thread that calls router_run(); librdkafka calls
 * the rebalance callback from inside rd_kafka_consumer_poll() on it too.
 */
#include "router.h"

#include "dedup.h"
#include "jsonw.h"
#include "kafka_consumer.h"
#include "kafka_conf.h"
#include "kafka_topic.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_PARTITIONS 1024 /* partitions whose handled offset we track */
#define TOPIC_CACHE      64

#define BATCHES_MAX 32
#define COMMIT_WAIT_MS                                                                             \
    10000 /* a commit at revoke or shutdown waits at most this */ /* closed batches waiting for    \
                                                                     acks before consuming pauses  \
                                                                   */

struct batch {
    rd_kafka_topic_partition_list_t *offsets; /* next offset per partition */
    int records;
    int unacked; /* outputs produced and not yet acknowledged */
    int closed;
    int64_t opened_ms;
    struct batch *next;
};

struct topic_counter {
    char *topic;
    mcounter *c;
};

#define WARM_TOPICS 64

struct router {
    const struct router_config *cfg;
    rd_kafka_t *consumer, *producer, *history;
    rd_kafka_topic_t *warm[WARM_TOPICS]; /* output topics looked up at start */
    int nwarm;
    route_rules *rules;
    dedup *seen;
    /* Copies of dedup_stats() count and bytes for the gauges (see publish_dedup_stats). */
    _Atomic uint64_t dedup_ids, dedup_bytes;
    metrics *m;
    char *ready_file;
    int ready_written;
    char bootstrap[1024];

    /* Batches of routed records, oldest first; the last one is open. A batch is
     * committed once it is closed and Kafka acknowledged all it produced. */
    struct batch *head, *tail;
    int nbatches;
    atomic_int dr_failed;
    atomic_int joined;
    int fatal;

    /* offset up to which this process itself routed and committed, per partition */
    int64_t known_upto[KNOWN_PARTITIONS];

    struct topic_counter routed[TOPIC_CACHE];
    int nrouted;
    mcounter *c_consumed, *c_dupes, *c_unrouted, *c_dropped, *c_replies, *c_rebuilt, *c_commits,
        *c_invalid;
    mhist *h_commit;
};

/* ---- metrics ---- */

static mcounter *routed_counter(router *r, const char *topic)
{
    char labels[300];
    for (int i = 0; i < r->nrouted; i++)
        if (strcmp(r->routed[i].topic, topic) == 0)
            return r->routed[i].c;
    snprintf(labels, sizeof(labels), "topic=\"%s\"", topic);
    mcounter *c =
        metrics_counter(r->m, "wxbridge_router_routed_total", "Records published by topic", labels);
    if (r->nrouted < TOPIC_CACHE && (r->routed[r->nrouted].topic = strdup(topic))) {
        r->routed[r->nrouted].c = c;
        r->nrouted++;
    }
    return c;
}

/* Runs on the ops thread: kafka_consumer_lag() only makes thread-safe librdkafka calls
 * (assignment via an op to librdkafka's own thread, position and watermarks under the
 * partition locks), and the consumer outlives the ops server (router_main.c). */
static double gauge_lag(void *arg)
{
    return kafka_consumer_lag(((router *)arg)->consumer);
}

/*
 * The dedup is not thread-safe and only the router's thread touches it, but
 * the gauges are rendered on the ops HTTP thread: reading the dedup there
 * would be a data race. The router's thread publishes its figures into
 * atomics instead (at start, after each rebuild and once per loop iteration)
 * and the gauges read only those.
 */
static void publish_dedup_stats(router *r)
{
    struct dedup_stats st;
    dedup_stats(r->seen, &st);
    atomic_store_explicit(&r->dedup_ids, (uint64_t)st.count, memory_order_relaxed);
    atomic_store_explicit(&r->dedup_bytes, (uint64_t)st.bytes, memory_order_relaxed);
}

static double gauge_dedup_ids(void *arg)
{
    return (double)atomic_load_explicit(&((router *)arg)->dedup_ids, memory_order_relaxed);
}

static double gauge_dedup_bytes(void *arg)
{
    return (double)atomic_load_explicit(&((router *)arg)->dedup_bytes, memory_order_relaxed);
}

static void register_metrics(router *r)
{
    static const double bounds[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
    metrics *m = r->m;
    r->c_consumed = metrics_counter(m, "wxbridge_router_consumed_total", "Records consumed", NULL);
    r->c_dupes = metrics_counter(m, "wxbridge_router_duplicates_total",
                                 "Records skipped as retries already routed", NULL);
    r->c_unrouted = metrics_counter(m, "wxbridge_router_unrouted_total",
                                    "Records sent to the unrouted topic", NULL);
    r->c_dropped =
        metrics_counter(m, "wxbridge_router_dropped_total", "Records dropped by a rule", NULL);
    r->c_replies =
        metrics_counter(m, "wxbridge_router_replies_total", "Reply commands emitted", NULL);
    r->c_rebuilt = metrics_counter(m, "wxbridge_router_dedup_rebuilt_total",
                                   "Ids read back from partition history on assignment", NULL);
    r->c_commits = metrics_counter(m, "wxbridge_router_commits_total", "Offset commits", NULL);
    r->c_invalid = metrics_counter(m, "wxbridge_router_invalid_total",
                                   "Input records that are not JSON", NULL);
    r->h_commit = metrics_histogram(m, "wxbridge_router_batch_commit_seconds",
                                    "From a batch's first record to its commit", NULL, bounds,
                                    (int)(sizeof(bounds) / sizeof(bounds[0])));
    metrics_gauge_fn(m, "wxbridge_router_lag", "Records behind the high watermark", NULL, gauge_lag,
                     r);
    metrics_gauge_fn(m, "wxbridge_router_dedup_ids", "Ids remembered for dedup", NULL,
                     gauge_dedup_ids, r);
    metrics_gauge_fn(m, "wxbridge_router_dedup_bytes", "Memory of the dedup window", NULL,
                     gauge_dedup_bytes, r);
}

/* ---- producing ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    router *r = opaque;
    struct batch *b = m->_private;
    (void)rk;
    if (b)
        b->unacked--; /* delivery reports run on the router's thread (rd_kafka_poll) */
    if (m->err) {
        atomic_store(&r->dr_failed, 1);
        log_event(LOG_ERROR, "kafka_delivery_failed", "topic", rd_kafka_topic_name(m->rkt), "error",
                  rd_kafka_err2str(m->err), NULL);
    }
}

/* Produces a copy of VALUE; waits (serving delivery reports) while the queue is full. */
static int produce(router *r, const char *topic, const void *key, size_t klen, const void *value,
                   size_t vlen, const rd_kafka_headers_t *src_hdrs, const char *extra_name,
                   const char *extra_value)
{
    for (;;) {
        rd_kafka_headers_t *h =
            src_hdrs ? rd_kafka_headers_copy(src_hdrs) : rd_kafka_headers_new(1);
        rd_kafka_resp_err_t err;
        if (extra_name)
            rd_kafka_header_add(h, extra_name, -1, extra_value, -1);
        err = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                RD_KAFKA_V_VALUE((void *)value, vlen), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_OPAQUE(r->tail), RD_KAFKA_V_END);
        if (!err) {
            r->tail->unacked++;
            return 0;
        }
        rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            log_event(LOG_ERROR, "kafka_produce_failed", "topic", topic, "error",
                      rd_kafka_err2str(err), NULL);
            atomic_store(&r->dr_failed, 1);
            return -1;
        }
        rd_kafka_poll(r->producer, 10);
    }
}

/* ---- batches ---- */

static struct batch *batch_open(router *r)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b || !(b->offsets = rd_kafka_topic_partition_list_new(8))) {
        free(b);
        return NULL;
    }
    b->opened_ms = util_mono_ms();
    if (r->tail)
        r->tail->next = b;
    else
        r->head = b;
    r->tail = b;
    r->nbatches++;
    return b;
}

/* Commits the head batch's offsets and drops it. */
static void batch_commit_head(router *r, int sync)
{
    struct batch *b = r->head;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    char why[256] = "";
    int rc = 0;

    if (b->offsets->cnt > 0 && sync) {
        rc = kafka_commit_wait(r->consumer, b->offsets, COMMIT_WAIT_MS, why, sizeof(why));
    } else if (b->offsets->cnt > 0) {
        err = rd_kafka_commit(r->consumer, b->offsets, 1);
        rc = err ? -1 : 0;
        snprintf(why, sizeof(why), "%s", rd_kafka_err2str(err));
    }
    if (rc < 0) {
        /* E.g. a rebalance took the partition, or the brokers are gone: the next owner
         * routes these again (ids make that harmless). */
        log_event(LOG_WARN, "offset_commit_failed", "error", why, NULL);
    } else if (b->offsets->cnt > 0) {
        for (int i = 0; i < b->offsets->cnt; i++) {
            int32_t p = b->offsets->elems[i].partition;
            if (p >= 0 && p < KNOWN_PARTITIONS)
                r->known_upto[p] = b->offsets->elems[i].offset;
        }
        mcounter_add(r->c_commits, 1);
    }
    mhist_observe(r->h_commit, (double)(util_mono_ms() - b->opened_ms) / 1e3);
    if (log_enabled(LOG_DEBUG)) {
        char ms[32], n[32];
        snprintf(ms, sizeof(ms), "%lld", (long long)(util_mono_ms() - b->opened_ms));
        snprintf(n, sizeof(n), "%d", b->records);
        log_event(LOG_DEBUG, "batch_committed", "#ms", ms, "#records", n, NULL);
    }
    r->head = b->next;
    if (!r->head)
        r->tail = NULL;
    r->nbatches--;
    rd_kafka_topic_partition_list_destroy(b->offsets);
    free(b);
}

/*
 * Commits, in order, every closed batch whose outputs Kafka acknowledged.
 * Batches are pipelined: the router keeps consuming while acknowledgements
 * come back, and commits lag by about one round trip. Never past a batch with
 * a refused delivery: that is fatal, and a restart routes it again.
 */
static void commit_ready(router *r, int sync)
{
    if (atomic_load(&r->dr_failed)) {
        r->fatal = 1;
        return;
    }
    while (r->head && r->head->closed && r->head->unacked == 0)
        batch_commit_head(r, sync);
}

/* Closes the open batch (a new one opens on the next record). */
static void batch_close(router *r)
{
    if (r->tail && !r->tail->closed && r->tail->records > 0)
        r->tail->closed = 1;
}

/* Closes the open batch, waits for every acknowledgement, commits everything. */
static int commit_all(router *r)
{
    batch_close(r);
    while (r->head && r->head->closed && !atomic_load(&r->dr_failed)) {
        if (r->head->unacked > 0)
            rd_kafka_poll(r->producer, 10);
        commit_ready(r, 1);
    }
    if (atomic_load(&r->dr_failed))
        r->fatal = 1;
    return r->fatal ? -1 : 0;
}

/* Records M in the open batch, opening one if needed. Returns 0 or -1 (no memory). */
static int batch_add(router *r, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_t *tp;
    if (!r->tail || r->tail->closed)
        if (!batch_open(r))
            return -1;
    tp = rd_kafka_topic_partition_list_find(r->tail->offsets, rd_kafka_topic_name(m->rkt),
                                            m->partition);
    if (!tp)
        tp = rd_kafka_topic_partition_list_add(r->tail->offsets, rd_kafka_topic_name(m->rkt),
                                               m->partition);
    tp->offset = m->offset + 1;
    r->tail->records++;
    return 0;
}

/* ---- dedup rebuild ---- */

/*
 * Reads back the ids of partition P's records from (now - window) up to its
 * committed offset, so that retries of records routed before this
 * assignment (by us before a restart, or by another router) are recognised.
 */
static void rebuild_partition(router *r, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t committed, start, t0 = util_mono_ms(), deadline, n = 0;
    char from[32], to[32], cnt[32], ms[32], part[16];
    int64_t oldest;
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, r->cfg->input_topic, p);
    e = rd_kafka_committed(r->consumer, l, 10000);
    snprintf(part, sizeof(part), "%d", p);
    if (e || l->elems[0].offset < 0)
        goto out; /* never committed: every record will be routed from the start */
    committed = l->elems[0].offset;
    if (p >= 0 && p < KNOWN_PARTITIONS && r->known_upto[p] >= committed)
        goto out; /* we routed up to there ourselves: our window has it all */
    oldest = util_wall_ms() - r->cfg->dedup_window_s * 1000;
    l->elems[0].offset = oldest;
    e = rd_kafka_offsets_for_times(r->consumer, l, 10000);
    start = e ? -1 : l->elems[0].offset;
    if (start < 0) {
        /* No offset by time (some brokers, e.g. librdkafka's mock cluster, answer -1):
         * read back at most dedup_max_ids records before the committed offset and keep
         * those inside the window. */
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(r->consumer, r->cfg->input_topic, p, &lo, &hi, 10000);
        start = committed - r->cfg->dedup_max_ids;
        if (start < lo)
            start = lo;
    }
    if (start >= committed)
        goto out;

    l->elems[0].offset = start;
    rd_kafka_assign(r->history, l);
    deadline = util_mono_ms() + r->cfg->history_timeout_ms;
    for (int64_t next = start; next < committed && util_mono_ms() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->history, 100);
        char id[256];
        rd_kafka_timestamp_type_t tt;
        int64_t ts;
        if (!m)
            continue;
        if (!m->err && m->partition == p && m->offset < committed) {
            ts = rd_kafka_message_timestamp(m, &tt);
            if (ts <= 0)
                ts = util_wall_ms();
            if (ts >= oldest && kafka_header_str(m, "wx-id", id, sizeof(id))) {
                dedup_add(r->seen, id, ts);
                n++;
            }
            next = m->offset + 1;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition == p) {
            /* (an end-of-partition left over from the previous partition read is ignored) */
            next = committed;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->history, NULL);
    publish_dedup_stats(r); /* for the gauges: a rebuild may take a while */
    mcounter_add(r->c_rebuilt, (uint64_t)n);
    snprintf(from, sizeof(from), "%lld", (long long)start);
    snprintf(to, sizeof(to), "%lld", (long long)committed);
    snprintf(cnt, sizeof(cnt), "%lld", (long long)n);
    snprintf(ms, sizeof(ms), "%lld", (long long)(util_mono_ms() - t0));
    log_event(LOG_INFO, "dedup_rebuilt", "#partition", part, "#from_offset", from, "#to_offset", to,
              "#records", cnt, "#ms", ms, NULL);
out:
    rd_kafka_topic_partition_list_destroy(l);
}

static void write_ready(router *r)
{
    if (r->ready_written || !r->ready_file)
        return;
    r->ready_written = 1;
    if (util_write_ready_file(r->ready_file, r->bootstrap) < 0)
        log_event(LOG_ERROR, "ready_file_failed", "path", r->ready_file, NULL);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    router *r = opaque;
    char n[16];

    snprintf(n, sizeof(n), "%d", parts ? parts->cnt : 0);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            rebuild_partition(r, parts->elems[i].partition);
        rd_kafka_assign(rk, parts);
        log_event(LOG_INFO, "partitions_assigned", "#count", n, NULL);
        atomic_store(&r->joined, 1);
        write_ready(r);
    } else {
        /* Finish what was routed so the next owner starts after it. */
        commit_all(r);
        rd_kafka_assign(rk, NULL);
        log_event(LOG_INFO, "partitions_revoked", "#count", n, NULL);
    }
}

/* ---- routing one record ---- */

static void route_one(router *r, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    struct route_result res = {0};
    json_error_t jerr;
    json_t *rec;
    char idbuf[256], err[256];
    const char *id;
    int64_t now = util_wall_ms();

    mcounter_add(r->c_consumed, 1);
    rd_kafka_message_headers(m, &hdrs);
    rec = json_loadb(m->payload, m->len, 0, &jerr);
    if (!rec) {
        mcounter_add(r->c_invalid, 1);
        mcounter_add(r->c_unrouted, 1);
        produce(r, route_rules_unrouted_topic(r->rules), m->key, m->key_len, m->payload, m->len,
                hdrs, "wx-unrouted-reason", "bad_record");
        return;
    }
    id = kafka_header_str(m, "wx-id", idbuf, sizeof(idbuf));
    if (!id)
        id = json_string_value(json_object_get(rec, "id"));
    /* Checked and remembered with one hash. Remembering before routing is safe here: the
     * window lives in this process only, and any failure below is fatal (nothing past it
     * is committed, and a restart rebuilds the window from committed history). */
    if (id && dedup_check_and_add(r->seen, id, now) == 1) {
        mcounter_add(r->c_dupes, 1);
        json_decref(rec);
        return;
    }
    if (route_rules_eval(r->rules, rec, &res, err, sizeof(err)) != ROUTE_OK) {
        log_event(LOG_ERROR, "route_failed", "error", err, NULL);
        atomic_store(&r->dr_failed, 1); /* out of memory: do not commit past it */
        json_decref(rec);
        return;
    }
    if (res.unrouted) {
        mcounter_add(r->c_unrouted, 1);
        produce(r, res.topics[0], m->key, m->key_len, m->payload, m->len, hdrs,
                "wx-unrouted-reason", res.unrouted_code);
    } else if (res.dropped) {
        mcounter_add(r->c_dropped, 1);
    } else {
        for (size_t i = 0; i < res.n_topics; i++) {
            if (produce(r, res.topics[i], m->key, m->key_len, m->payload, m->len, hdrs, NULL,
                        NULL) == 0)
                mcounter_add(routed_counter(r, res.topics[i]), 1);
        }
        for (size_t i = 0; i < res.n_replies; i++) {
            struct jsonw w;
            size_t len;
            const char *to = json_string_value(json_object_get(res.replies[i], "touser"));
            char *v;
            jsonw_init(&w, 1 << 20);
            jsonw_value(&w, res.replies[i]);
            v = jsonw_finish(&w, &len);
            if (v && produce(r, r->cfg->reply_topic, to, to ? strlen(to) : 0, v, len, NULL,
                             "wx-schema", "wxbridge.reply.v1") == 0)
                mcounter_add(r->c_replies, 1);
            free(v);
        }
    }
    route_result_clear(&res);
    json_decref(rec);
}

/* ---- life cycle ---- */

/*
 * Looks up the output topics known in advance (rules, defaults, replies), so
 * the first record for each is not held ~1 s while librdkafka fetches its
 * metadata: on a fresh start the router otherwise stalls once per new topic.
 * Topics that do not exist yet are skipped quietly.
 */
static void warm_topics(router *r)
{
    char *names[WARM_TOPICS];
    size_t n = route_rules_known_topics(r->rules, names, WARM_TOPICS - 1);

    names[n++] = strdup(r->cfg->reply_topic);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *t = NULL;
        if (names[i])
            kafka_topic_lookup(r->producer, names[i], 5000, &t);
        if (t)
            r->warm[r->nwarm++] = t;
        free(names[i]);
    }
}

static const char *const consumer_defaults[] = {
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "auto.offset.reset",
    "earliest",
    "session.timeout.ms",
    "10000",
    "client.id",
    "wxbridge-router",
    NULL,
};

static const char *const producer_defaults[] = {
    "enable.idempotence",
    "true",
    "acks",
    "all",
    "linger.ms",
    "5",
    "socket.nagle.disable",
    "true",
    "client.id",
    "wxbridge-router",
    NULL,
};

static const char *const history_defaults[] = {
    "enable.auto.commit",      "false", "enable.partition.eof", "true", "client.id",
    "wxbridge-router-history", NULL,
};

static rd_kafka_t *make_client(router *r, rd_kafka_type_t type, const char *const *defaults,
                               const char *group, char *err, size_t errlen)
{
    struct kafka_client_opts o = {.group = group, .opaque = r};
    if (type == RD_KAFKA_PRODUCER)
        o.dr_cb = dr_cb;
    else if (defaults == consumer_defaults)
        o.rebalance_cb = rebalance_cb;
    return kafka_client_new(type, r->cfg->kafka, defaults, &o, err, errlen);
}

int router_new(const struct router_config *cfg, route_rules *rules, metrics *m,
               const char *ready_file, router **out, char *err, size_t errlen)
{
    router *r = calloc(1, sizeof(*r));
    rd_kafka_topic_partition_list_t *sub = NULL;
    const char *boot;
    char hgroup[300];

    *out = NULL;
    if (!r) {
        route_rules_free(rules);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->cfg = cfg;
    r->rules = rules;
    r->m = m;
    for (int i = 0; i < KNOWN_PARTITIONS; i++)
        r->known_upto[i] = -1;
    r->ready_file = ready_file ? strdup(ready_file) : NULL;
    boot = json_string_value(json_object_get(cfg->kafka, "bootstrap.servers"));
    snprintf(r->bootstrap, sizeof(r->bootstrap), "%s", boot ? boot : "");
    r->seen = dedup_new(cfg->dedup_window_s * 1000, (size_t)cfg->dedup_max_ids);
    if (!r->seen) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    publish_dedup_stats(r); /* before the gauges can be rendered */
    register_metrics(r);
    r->producer = make_client(r, RD_KAFKA_PRODUCER, producer_defaults, NULL, err, errlen);
    /* The history reader only assigns; a group id of its own satisfies librdkafka's
     * consumer (without one it fetched nothing) and never touches the router's offsets. */
    snprintf(hgroup, sizeof(hgroup), "%s.history", cfg->group_id);
    r->history = r->producer
                     ? make_client(r, RD_KAFKA_CONSUMER, history_defaults, hgroup, err, errlen)
                     : NULL;
    r->consumer = r->history ? make_client(r, RD_KAFKA_CONSUMER, consumer_defaults, cfg->group_id,
                                           err, errlen)
                             : NULL;
    if (!r->consumer)
        goto fail;
    warm_topics(r);
    rd_kafka_poll_set_consumer(r->history);
    rd_kafka_poll_set_consumer(r->consumer);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, cfg->input_topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(r->consumer, sub)) {
        snprintf(err, errlen, "cannot subscribe to %s", cfg->input_topic);
        rd_kafka_topic_partition_list_destroy(sub);
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(sub);
    *out = r;
    return 0;
fail:
    router_free(r);
    return -1;
}

void router_set_rules(router *r, route_rules *rules)
{
    route_rules_free(r->rules);
    r->rules = rules;
}

int router_run(router *r, volatile sig_atomic_t *stop, void (*tick)(router *, void *), void *arg)
{
    while (!*stop && !r->fatal) {
        /* Too many batches waiting for acknowledgements: stop consuming until some land. */
        int full = r->nbatches >= BATCHES_MAX;
        rd_kafka_message_t *m = full ? NULL : rd_kafka_consumer_poll(r->consumer, 50);

        if (tick)
            tick(r, arg);
        if (m) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                /* The record joins the open batch first: its outputs count against it. */
                if (batch_add(r, m) == 0)
                    route_one(r, m);
                else
                    atomic_store(&r->dr_failed, 1);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                log_event(LOG_WARN, "consumer_error", "error", rd_kafka_message_errstr(m), NULL);
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(r->producer, full ? 10 : 0);
        if (r->tail && !r->tail->closed &&
            (r->tail->records >= r->cfg->batch_max ||
             util_mono_ms() - r->tail->opened_ms >= r->cfg->commit_interval_ms))
            batch_close(r);
        commit_ready(r, 0);
        /* The ops thread renders the dedup gauges from these copies, not the dedup itself. */
        publish_dedup_stats(r);
    }
    if (!r->fatal)
        commit_all(r);
    return r->fatal ? -1 : 0;
}

int router_ready(router *r)
{
    return atomic_load(&r->joined) && !atomic_load(&r->dr_failed);
}

void router_free(router *r)
{
    if (!r)
        return;
    if (r->consumer) {
        /* router_run() committed what was finished (commit_all); leave the group. */
        if (kafka_consumer_close_wait(r->consumer, COMMIT_WAIT_MS) < 0)
            log_event(LOG_WARN, "consumer_close_timeout", NULL);
    }
    if (r->history) {
        kafka_consumer_close_wait(r->history, 2000);
    }
    for (int i = 0; i < r->nwarm; i++)
        rd_kafka_topic_destroy(r->warm[i]);
    if (r->producer) {
        rd_kafka_flush(r->producer, 10000);
        rd_kafka_destroy(r->producer);
    }
    while (r->head) {
        struct batch *b = r->head;
        r->head = b->next;
        rd_kafka_topic_partition_list_destroy(b->offsets);
        free(b);
    }
    for (int i = 0; i < r->nrouted; i++)
        free(r->routed[i].topic);
    dedup_free(r->seen);
    route_rules_free(r->rules);
    free(r->ready_file);
    free(r);
}
