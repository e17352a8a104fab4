/*
 * replier: consuming reply commands, rebalances, shutdown and the main
 * loop. The way of each command to WeChat is in replier_send.c, its outputs
 * in replier_output.c, per-user order in replier_users.c, offsets in
 * replier_offsets.c, metrics in replier_metrics.c. See replier.h.
 *
 * Everything runs on the thread that calls replier_run(); librdkafka calls
 * the rebalance callback and delivery reports from inside its poll calls on
 * that thread too.
 */
#include "replier_int.h"

#include "kafka_consumer.h"
#include "kafka_conf.h"
#include "kafka_topic.h"
#include "log.h"
#include "util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BATCH   200
#define MEDIA_TTL_MS ((3LL * 86400 - 3600) * 1000) /* temp media live 3 days */
#define ANSWER_MAX   (64 * 1024)

static void take(replier *r, const rd_kafka_message_t *m)
{
    const struct replier_app *app;
    struct cmd *c = calloc(1, sizeof(*c));
    struct ptrack *t = ptrack_get(r, m->partition);
    char reason[64], detail[256];
    rd_kafka_timestamp_type_t tt;

    mcounter_add(r->c_commands, 1);
    if (!c || !t || (c->seq = ptrack_push(t, m->offset)) < 0) {
        free(c);
        log_event(LOG_ERROR, "replier_out_of_memory", NULL);
        atomic_store(&r->dr_failed, 1); /* do not commit past it */
        return;
    }
    c->owner = r;
    c->out_tag.c = c;
    c->intent_tag.c = c;
    c->intent_tag.intent = 1;
    c->partition = m->partition;
    c->taken_ms = util_mono_ms();
    c->kafka_ts = rd_kafka_message_timestamp(m, &tt);
    if (c->kafka_ts <= 0)
        c->kafka_ts = util_wall_ms();
    c->all_next = r->all;
    if (r->all)
        r->all->all_prev = c;
    r->all = c;
    r->pending++;
    if (reply_cmd_parse(m->payload, m->len, &c->rc, reason, sizeof(reason), detail,
                        sizeof(detail)) < 0) {
        replier_take_invalid(r, c, m, reason, detail);
        return;
    }
    c->valid = 1;
    app = replier_config_app(r->cfg, c->rc.appid);
    c->app = app ? (int)(app - r->cfg->apps) : -1;
    if (!app) {
        if (dedup_seen(r->finished, c->rc.id, util_wall_ms()) == 1) {
            replier_skip(r, c);
            return;
        }
        snprintf(detail, sizeof(detail), "no app \"%s\" in the replier config", c->rc.appid);
        replier_complete(r, c, REPLY_REJECTED, REPLIER_E_APP, detail, "unknown_app", detail);
        return;
    }
    if (replier_user_enqueue(r, c) < 0) {
        atomic_store(&r->dr_failed, 1);
        replier_cmd_free(r, c);
    }
}

/* ---- rebalances and shutdown ---- */

/*
 * Stops sending: waits (at most shutdown_timeout_ms) for the requests in
 * flight and for Kafka to acknowledge their results, commits, then forgets
 * every other command (the partitions' next owner takes them from the last
 * commit). A request still in flight at the deadline is abandoned: its
 * command is sent again by the next owner (the documented window).
 */
static void drain(replier *r)
{
    int64_t deadline = util_mono_ms() + r->cfg->shutdown_timeout_ms;
    char n[16];

    r->draining = 1;
    r->drain_deadline = deadline;
    for (;;) {
        /* Started sends (intent written) are finished, retries included, until the deadline. */
        int started = 0;
        for (struct cmd *c = r->all; c && !started; c = c->all_next)
            started = !c->abandoned &&
                      ((c->state == CS_INTENT && !c->intent_acked) ||
                       ((c->state == CS_READY || c->state == CS_TIMER) && c->intent_acked));
        if ((hc_active(r->hc) == 0 && !started) || util_mono_ms() >= deadline)
            break;
        hc_run(r->hc, 10);
        rd_kafka_poll(r->producer, hc_active(r->hc) ? 0 : 5);
        send_timers_due(r);
        send_dispatch_draining(r);
    }
    snprintf(n, sizeof(n), "%d", hc_active(r->hc));
    if (hc_active(r->hc) > 0)
        log_event(LOG_WARN, "sends_abandoned", "#in_flight", n, NULL);
    rd_kafka_flush(r->producer,
                   (int)(deadline > util_mono_ms() ? deadline - util_mono_ms() : 1000));
    replier_commit(r, 1);
    /* Forget the rest. Commands with a request in flight or an output not yet
     * acknowledged stay allocated until that ends. */
    r->ready_head = r->ready_tail = NULL;
    r->go_head = r->go_tail = NULL;
    r->ntimers = 0;
    for (int i = 0; i < r->cfg->napps; i++)
        r->token_waiters[i] = NULL;
    for (struct cmd *c = r->all, *next; c; c = next) {
        next = c->all_next;
        if (c->state == CS_HTTP || c->state == CS_OUTPUT ||
            (c->state == CS_INTENT && !c->intent_acked)) {
            c->abandoned = 1;
            replier_user_detach(r, c);
        } else {
            c->state = CS_QUEUED; /* (the token waiter lists were just emptied) */
            replier_cmd_free(r, c);
        }
    }
    for (int p = 0; p < PARTS_MAX; p++)
        if (r->parts[p].active)
            ptrack_reset(&r->parts[p], 0);
    r->draining = 0;
}

static void write_ready(replier *r)
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
    replier *r = opaque;
    char n[16];

    snprintf(n, sizeof(n), "%d", parts ? parts->cnt : 0);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].partition >= 0 && parts->elems[i].partition < PARTS_MAX)
                ptrack_reset(&r->parts[parts->elems[i].partition], 1);
        /* Results written by the previous owners must be read before sending anything. */
        replier_state_mark(r->state);
        rd_kafka_assign(rk, parts);
        r->assigned = 1;
        r->paused = 0;
        log_event(LOG_INFO, "partitions_assigned", "#count", n, NULL);
    } else {
        drain(r);
        rd_kafka_assign(rk, NULL);
        r->assigned = 0;
        atomic_store(&r->ready, 0);
        log_event(LOG_INFO, "partitions_revoked", "#count", n, NULL);
    }
}

/* ---- life cycle ---- */

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
    "wxbridge-replier",
    NULL,
};

static const char *const producer_defaults[] = {
    /* linger 1 ms: a result is written right after WeChat's answer (the duplicate window) */
    "enable.idempotence",
    "true",
    "acks",
    "all",
    "linger.ms",
    "1",
    "socket.nagle.disable",
    "true",
    "client.id",
    "wxbridge-replier",
    NULL,
};

static rd_kafka_t *make_client(replier *r, rd_kafka_type_t type, char *err, size_t errlen)
{
    struct kafka_client_opts o = {.opaque = r};
    if (type == RD_KAFKA_PRODUCER) {
        o.dr_cb = replier_dr_cb;
        return kafka_client_new(type, r->cfg->kafka, producer_defaults, &o, err, errlen);
    }
    o.group = r->cfg->group_id;
    o.rebalance_cb = rebalance_cb;
    return kafka_client_new(type, r->cfg->kafka, consumer_defaults, &o, err, errlen);
}

/* Looks up the output topics at start: librdkafka holds the first message to a
 * topic it has no metadata for ~1 s, and results are on every command's path. */
static void warm_topics(replier *r)
{
    const char *names[3] = {r->cfg->results_topic, r->cfg->dlq_topic, r->cfg->inflight_topic};
    for (int i = 0; i < 3; i++)
        kafka_topic_lookup(r->producer, names[i], 5000, &r->warm[i]);
}

int replier_new(const struct replier_config *cfg, metrics *m, const char *ready_file, replier **out,
                char *err, size_t errlen)
{
    replier *r = calloc(1, sizeof(*r));
    rd_kafka_topic_partition_list_t *sub;
    const char *boot;

    *out = NULL;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->cfg = cfg;
    r->m = m;
    r->ready_file = ready_file ? strdup(ready_file) : NULL;
    boot = json_string_value(json_object_get(cfg->kafka, "bootstrap.servers"));
    snprintf(r->bootstrap, sizeof(r->bootstrap), "%s", boot ? boot : "");
    if (RAND_bytes((unsigned char *)&r->rng, sizeof(r->rng)) != 1 || r->rng == 0)
        r->rng = (uint64_t)util_mono_us() | 1;
    for (int i = 0; i < cfg->napps; i++)
        rate_limit_init(&r->limits[i], cfg->apps[i].rate_per_s, cfg->apps[i].burst);
    for (int p = 0; p < PARTS_MAX; p++)
        ptrack_reset(&r->parts[p], 0);
    replier_register_metrics(r);
    r->finished = dedup_new(cfg->finished_window_s * 1000, (size_t)cfg->finished_max_ids);
    r->started = cfg->at_most_once
                     ? dedup_new(cfg->finished_window_s * 1000, (size_t)cfg->finished_max_ids)
                     : NULL;
    r->quota = cfg->quota_guard ? quota_guard_new((size_t)cfg->quota_max_users) : NULL;
    r->media = media_cache_new((size_t)cfg->media_cache_max, MEDIA_TTL_MS);
    r->hc = hc_new((long)cfg->http_timeout_ms, (long)cfg->connect_timeout_ms,
                   (size_t)(cfg->media_max_bytes > ANSWER_MAX ? cfg->media_max_bytes : ANSWER_MAX),
                   (long)cfg->max_in_flight + 8);
    if (!r->finished || (cfg->at_most_once && !r->started) || (cfg->quota_guard && !r->quota) ||
        !r->media || !r->hc ||
        !(r->tokens = token_cache_new(cfg, r->hc, m, send_token_changed, r))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (replier_state_new(cfg, r->finished, r->started, r->quota, m, &r->state, err, errlen) < 0)
        goto fail;
    if (!(r->producer = make_client(r, RD_KAFKA_PRODUCER, err, errlen)) ||
        !(r->consumer = make_client(r, RD_KAFKA_CONSUMER, err, errlen)))
        goto fail;
    warm_topics(r);
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
    replier_free(r);
    return -1;
}

/* Pauses consuming while too many commands wait; resumes below half. */
static void flow_control(replier *r)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    int want = r->paused ? r->pending > r->cfg->max_pending / 2 : r->pending >= r->cfg->max_pending;

    if (want == r->paused || rd_kafka_assignment(r->consumer, &a) || !a)
        return;
    if (want)
        rd_kafka_pause_partitions(r->consumer, a);
    else
        rd_kafka_resume_partitions(r->consumer, a);
    r->paused = want;
    rd_kafka_topic_partition_list_destroy(a);
}

int replier_run(replier *r, volatile sig_atomic_t *stop)
{
    while (!*stop && !r->fatal) {
        int got = 0;
        for (int i = 0; i < POLL_BATCH; i++) {
            /* Wait in the consumer only when nothing else needs the thread. */
            int wait = (i == 0 && hc_active(r->hc) == 0 && !r->ready_head && !r->go_head) ? 5 : 0;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, wait);
            if (!m)
                break;
            got++;
            if (!m->err)
                take(r, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_event(LOG_WARN, "consumer_error", "error", rd_kafka_message_errstr(m), NULL);
            rd_kafka_message_destroy(m);
        }
        replier_state_poll(r->state, 1000);
        if (r->assigned && replier_state_synced(r->state) && !atomic_load(&r->ready)) {
            atomic_store(&r->ready, 1);
            write_ready(r);
            log_event(LOG_INFO, "replier_ready", NULL);
        }
        token_cache_tick(r->tokens);
        send_timers_due(r);
        send_dispatch(r);
        hc_run(r->hc, got ? 0 : 2);
        send_dispatch(r);
        rd_kafka_poll(r->producer, 0);
        flow_control(r);
        replier_publish_gauges(r);
        if (util_mono_ms() - r->last_commit_ms >= r->cfg->commit_interval_ms)
            replier_commit(r, 0);
    }
    if (!r->fatal)
        drain(r);
    return r->fatal ? -1 : 0;
}

int replier_ready(replier *r)
{
    return atomic_load(&r->ready);
}

void replier_free(replier *r)
{
    if (!r)
        return;
    if (r->consumer) {
        /* replier_run() drained and committed; if it did not run, nothing was taken. */
        if (kafka_consumer_close_wait(r->consumer, COMMIT_WAIT_MS) < 0)
            log_event(LOG_WARN, "consumer_close_timeout", NULL);
    }
    for (int i = 0; i < 3; i++)
        if (r->warm[i])
            rd_kafka_topic_destroy(r->warm[i]);
    if (r->producer) {
        rd_kafka_flush(r->producer, 2000); /* drain() already waited for what matters */
        rd_kafka_destroy(r->producer);
    }
    replier_state_free(r->state);
    hc_free(r->hc); /* requests still in flight are dropped without callbacks */
    r->ready_head = r->go_head = NULL;
    r->ntimers = 0;
    for (int i = 0; i < r->cfg->napps; i++)
        r->token_waiters[i] = NULL;
    while (r->all) {
        r->all->state = CS_QUEUED;
        replier_cmd_free(r, r->all);
    }
    for (int h = 0; h < USER_BUCKETS; h++)
        while (r->users[h]) {
            struct user *u = r->users[h];
            r->users[h] = u->next;
            free(u->key);
            free(u);
        }
    for (int p = 0; p < PARTS_MAX; p++)
        ptrack_reset(&r->parts[p], 0);
    token_cache_free(r->tokens);
    media_cache_free(r->media);
    quota_guard_free(r->quota);
    dedup_free(r->finished);
    dedup_free(r->started);
    free(r->timers);
    free(r->ready_file);
    free(r);
}
