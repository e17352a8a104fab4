/*
 * replier: consuming reply commands, writing results, tracking offsets,
 * rebalances and shutdown. The way of each command to WeChat is in
 * replier_send.c. See replier.h.
 *
 * Everything runs on the thread that calls replier_run(); librdkafka calls
 * the rebalance callback and delivery reports from inside its poll calls on
 * that thread too.
 */
#include "replier_int.h"

#include "jsonw.h"
#include "kafka_consumer.h"
#include "kafka_conf.h"
#include "kafka_topic.h"
#include "log.h"
#include "util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BATCH     200
#define MEDIA_TTL_MS   ((3LL * 86400 - 3600) * 1000) /* temp media live 3 days */
#define ANSWER_MAX     (64 * 1024)
#define COMMIT_WAIT_MS 10000 /* a commit at revoke or shutdown waits at most this */

/* ---- offsets ---- */

static struct ptrack *ptrack_get(replier *r, int32_t p)
{
    return p >= 0 && p < PARTS_MAX && r->parts[p].active ? &r->parts[p] : NULL;
}

static void ptrack_reset(struct ptrack *t, int active)
{
    free(t->offs);
    free(t->done);
    memset(t, 0, sizeof(*t));
    t->active = active;
    t->commit_next = -1;
    t->committed = -1;
}

/* Appends OFFSET; returns its sequence number or -1 (no memory). */
static int64_t ptrack_push(struct ptrack *t, int64_t offset)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        int64_t *o = malloc(cap * sizeof(*o));
        unsigned char *d = malloc(cap);
        if (!o || !d) {
            free(o);
            free(d);
            return -1;
        }
        for (size_t i = 0; i < t->count; i++) {
            o[i] = t->offs[(t->head + i) % t->cap];
            d[i] = t->done[(t->head + i) % t->cap];
        }
        free(t->offs);
        free(t->done);
        t->offs = o;
        t->done = d;
        t->head = 0;
        t->cap = cap;
    }
    t->offs[(t->head + t->count) % t->cap] = offset;
    t->done[(t->head + t->count) % t->cap] = 0;
    t->count++;
    return t->base_seq + (int64_t)t->count - 1;
}

/* Marks SEQ finished and advances the committable offset past the finished prefix. */
static void ptrack_done(struct ptrack *t, int64_t seq)
{
    int64_t i = seq - t->base_seq;
    if (i < 0 || i >= (int64_t)t->count)
        return;
    t->done[(t->head + (size_t)i) % t->cap] = 1;
    while (t->count > 0 && t->done[t->head]) {
        t->commit_next = t->offs[t->head] + 1;
        t->head = (t->head + 1) % t->cap;
        t->count--;
        t->base_seq++;
    }
}

static void commit(replier *r, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_resp_err_t err;

    if (atomic_load(&r->dr_failed)) {
        r->fatal = 1; /* nothing past a refused output is committed */
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    for (int p = 0; p < PARTS_MAX; p++) {
        struct ptrack *t = &r->parts[p];
        if (t->active && t->commit_next > t->committed)
            rd_kafka_topic_partition_list_add(l, r->cfg->input_topic, p)->offset = t->commit_next;
    }
    if (l->cnt > 0) {
        char why[256];
        int rc;
        if (sync) {
            rc = kafka_commit_wait(r->consumer, l, COMMIT_WAIT_MS, why, sizeof(why));
        } else {
            err = rd_kafka_commit(r->consumer, l, 1);
            rc = err ? -1 : 0;
            snprintf(why, sizeof(why), "%s", rd_kafka_err2str(err));
        }
        if (rc < 0)
            log_event(LOG_WARN, "offset_commit_failed", "error", why, NULL);
        else
            for (int i = 0; i < l->cnt; i++)
                r->parts[l->elems[i].partition].committed = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    r->last_commit_ms = util_mono_ms();
}

/* ---- users: one command at a time per (appid, touser) ---- */

static unsigned user_hash(const char *key)
{
    unsigned h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % USER_BUCKETS;
}

static struct user *user_get(replier *r, const char *appid, const char *touser)
{
    /* appid and touser were validated (reply_cmd): the key fits on the stack, and is
     * copied only for a user not seen before. */
    char key[REPLY_APPID_BUF + REPLY_TOUSER_BUF + 1];
    struct user *u;
    unsigned h;

    snprintf(key, sizeof(key), "%s\n%s", appid, touser);
    h = user_hash(key);
    for (u = r->users[h]; u; u = u->next)
        if (strcmp(u->key, key) == 0)
            return u;
    if (!(u = calloc(1, sizeof(*u))) || !(u->key = strdup(key))) {
        free(u);
        return NULL;
    }
    u->next = r->users[h];
    r->users[h] = u;
    return u;
}

static void user_drop(replier *r, struct user *u)
{
    unsigned h = user_hash(u->key);
    struct user **pp = &r->users[h];
    while (*pp && *pp != u)
        pp = &(*pp)->next;
    if (*pp)
        *pp = u->next;
    free(u->key);
    free(u);
}

/* C (the head of its user's queue) is finished: the next command of the user may go. */
static void user_advance(replier *r, struct cmd *c)
{
    struct user *u = c->user;
    if (!u)
        return;
    c->user = NULL;
    if (u->head == c) {
        u->head = c->user_next;
        if (!u->head)
            u->tail = NULL;
    }
    c->user_next = NULL;
    if (u->head) {
        if (u->head->state == CS_QUEUED)
            send_ready_push(r, u->head);
    } else {
        user_drop(r, u);
    }
}

/* ---- commands ---- */

/* Takes C out of its user's queue without letting the next command go. */
static void user_detach(replier *r, struct cmd *c)
{
    struct user *u = c->user;
    struct cmd **pp, *prev = NULL;

    if (!u)
        return;
    for (pp = &u->head; *pp && *pp != c; pp = &(*pp)->user_next)
        prev = *pp;
    if (*pp)
        *pp = c->user_next;
    if (u->tail == c)
        u->tail = prev;
    c->user = NULL;
    c->user_next = NULL;
    if (!u->head)
        user_drop(r, u);
}

void replier_cmd_free(replier *r, struct cmd *c)
{
    replier_slot_release(r, c);
    if (c->state == CS_WAIT_TOKEN) {
        struct cmd **pp = &r->token_waiters[c->app];
        while (*pp && *pp != c)
            pp = &(*pp)->wait_next;
        if (*pp)
            *pp = c->wait_next;
    }
    user_detach(r, c);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        r->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    if (c->valid)
        reply_cmd_free(&c->rc);
    free(c->media_id);
    free(c->media_data);
    r->pending--;
    free(c);
}

/* The offset of C is finished (its outputs acknowledged, or none were needed). */
static void cmd_finished(replier *r, struct cmd *c)
{
    struct ptrack *t = ptrack_get(r, c->partition);
    if (t && !c->abandoned)
        ptrack_done(t, c->seq);
    replier_cmd_free(r, c);
}

static mcounter *status_counter(replier *r, enum reply_status st, long errcode)
{
    static const char *const names[] = {"sent", "rejected", "failed"};
    char labels[96];
    for (int i = 0; i < r->nstatuses; i++)
        if (r->statuses[i].status == (int)st && r->statuses[i].errcode == errcode)
            return r->statuses[i].c;
    snprintf(labels, sizeof(labels), "status=\"%s\",errcode=\"%ld\"", names[st], errcode);
    mcounter *mc = metrics_counter(r->m, "wxbridge_replier_results_total",
                                   "Reply results by status and errcode", labels);
    if (r->nstatuses < STATUS_CODES) {
        r->statuses[r->nstatuses].status = (int)st;
        r->statuses[r->nstatuses].errcode = errcode;
        r->statuses[r->nstatuses].c = mc;
        r->nstatuses++;
    }
    return mc;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    replier *r = opaque;
    struct dr_tag *tag = m->_private;
    struct cmd *c = tag ? tag->c : NULL;
    (void)rk;
    if (m->err) {
        atomic_store(&r->dr_failed, 1);
        log_event(LOG_ERROR, "kafka_delivery_failed", "topic", rd_kafka_topic_name(m->rkt), "error",
                  rd_kafka_err2str(m->err), NULL);
        return; /* fatal: C stays unfinished, its offset is never committed */
    }
    if (!c)
        return;
    if (tag->intent) {
        c->intent_acked = 1;
        if (c->abandoned && c->unacked == 0)
            replier_cmd_free(r, c);
        else if (c->state == CS_INTENT)
            send_go_push(r, c);
        return;
    }
    if (--c->unacked == 0 && !(c->state == CS_INTENT && !c->intent_acked))
        cmd_finished(r, c);
}

/* Produces VALUE (taken) with TAG as the delivery report's opaque; waits while the queue is full.
 */
static int produce_tagged(replier *r, struct cmd *c, struct dr_tag *tag, const char *topic,
                          const char *key, char *value, size_t len, const char *schema)
{
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_resp_err_t err;
        rd_kafka_header_add(h, "wx-schema", -1, schema, -1);
        err = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
        if (!err) {
            if (tag == &c->out_tag)
                c->unacked++;
            return 0;
        }
        rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            log_event(LOG_ERROR, "kafka_produce_failed", "topic", topic, "error",
                      rd_kafka_err2str(err), NULL);
            free(value);
            atomic_store(&r->dr_failed, 1);
            return -1;
        }
        rd_kafka_poll(r->producer, 10);
    }
}

static int produce(replier *r, struct cmd *c, const char *topic, const char *key, char *value,
                   size_t len, const char *schema)
{
    return produce_tagged(r, c, &c->out_tag, topic, key, value, len, schema);
}

void replier_write_intent(replier *r, struct cmd *c)
{
    char *v = NULL;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "schema", "wxbridge.reply_intent.v1", "id",
                          c->rc.id, "appid", c->rc.appid, "touser", c->rc.touser, "at_ms",
                          (json_int_t)util_wall_ms());
    if (j)
        v = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    c->state = CS_INTENT;
    if (!v) {
        atomic_store(&r->dr_failed, 1); /* out of memory: stop before sending anything */
        return;
    }
    produce_tagged(r, c, &c->intent_tag, r->cfg->inflight_topic, c->rc.id, v, strlen(v),
                   "wxbridge.reply_intent.v1");
}

/* Writes the outputs of C (result, DLQ record); C finishes when Kafka has them. */
static void write_outputs(replier *r, struct cmd *c, const struct reply_result *res,
                          const char *dlq_reason, const char *dlq_detail, const char *raw,
                          size_t rawlen)
{
    char *v;
    const char *key = res->touser && res->touser[0] ? res->touser : NULL;

    c->state = CS_OUTPUT;
    c->unacked++; /* held until both are produced */
    if (res->id && res->id[0] && (v = reply_result_json(res)))
        produce(r, c, r->cfg->results_topic, key, v, strlen(v), "wxbridge.reply_result.v1");
    if (dlq_reason) {
        long code = res->errcode;
        mcounter_add(r->c_dlq, 1);
        if ((v = reply_dlq_json(dlq_reason, dlq_detail ? dlq_detail : "", &code, res->attempts,
                                res->at_ms, raw, rawlen)))
            produce(r, c, r->cfg->dlq_topic, key, v, strlen(v), "wxbridge.reply_dlq.v1");
    }
    if (--c->unacked == 0)
        cmd_finished(r, c);
}

void replier_complete(replier *r, struct cmd *c, enum reply_status st, long errcode,
                      const char *errmsg, const char *dlq_reason, const char *dlq_detail)
{
    struct reply_result res = {0};
    char *raw = NULL;
    size_t rawlen = 0;
    int64_t now = util_wall_ms();

    res.id = c->rc.id;
    res.appid = c->rc.appid;
    res.touser = c->rc.touser;
    res.status = st;
    res.errcode = errcode;
    res.errmsg = errmsg;
    res.attempts = c->attempts;
    res.at_ms = now;
    res.latency_ms = now > c->kafka_ts ? now - c->kafka_ts : 0;
    res.in_reply_to = c->rc.in_reply_to;
    mcounter_add(status_counter(r, st, errcode), 1);
    mhist_observe(r->h_latency, (double)res.latency_ms / 1e3);
    replier_state_finished(r->state, c->rc.id, c->rc.appid, c->rc.touser,
                           st == REPLY_SENT && c->rc.kind != REPLY_TYPING, now);
    if (log_enabled(st == REPLY_SENT ? LOG_DEBUG : LOG_INFO)) {
        char code[24], att[16];
        snprintf(code, sizeof(code), "%ld", errcode);
        snprintf(att, sizeof(att), "%d", c->attempts);
        log_event(st == REPLY_SENT ? LOG_DEBUG : LOG_INFO, "reply_outcome", "id", c->rc.id,
                  "status",
                  st == REPLY_SENT       ? "sent"
                  : st == REPLY_REJECTED ? "rejected"
                                         : "failed",
                  "#errcode", code, "errmsg", errmsg, "#attempts", att, NULL);
    }
    if (dlq_reason && c->valid)
        raw = json_dumps(c->rc.root, JSON_COMPACT), rawlen = raw ? strlen(raw) : 0;
    user_advance(r, c);
    write_outputs(r, c, &res, dlq_reason, dlq_detail, raw, rawlen);
    free(raw);
}

void replier_skip(replier *r, struct cmd *c)
{
    mcounter_add(r->c_dupes, 1);
    log_event(LOG_INFO, "reply_duplicate_skipped", "id", c->rc.id, NULL);
    user_advance(r, c);
    cmd_finished(r, c);
}

/* A command that is not a valid wxbridge.reply.v1: DLQ, and a result when it has an id. */
static void take_invalid(replier *r, struct cmd *c, const rd_kafka_message_t *m, const char *reason,
                         const char *detail)
{
    struct reply_result res = {0};
    char id[REPLY_ID_BUF], appid[REPLY_APPID_BUF], touser[REPLY_TOUSER_BUF];
    int64_t now = util_wall_ms();

    reply_cmd_peek(m->payload, m->len, id, sizeof(id), appid, sizeof(appid), touser,
                   sizeof(touser));
    res.id = id;
    res.appid = appid;
    res.touser = touser;
    res.status = REPLY_REJECTED;
    res.errcode = REPLIER_E_INVALID;
    res.errmsg = detail;
    res.at_ms = now;
    res.latency_ms = now > c->kafka_ts ? now - c->kafka_ts : 0;
    mcounter_add(status_counter(r, REPLY_REJECTED, REPLIER_E_INVALID), 1);
    log_event(LOG_WARN, "reply_invalid", "id", id, "reason", reason, "detail", detail, NULL);
    if (id[0] && dedup_seen(r->finished, id, now) == 1) {
        cmd_finished(r, c); /* its result was written before */
        return;
    }
    if (id[0])
        replier_state_finished(r->state, id, appid, touser, 0, now);
    write_outputs(r, c, &res, reason, detail, m->payload, m->len);
}

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
        take_invalid(r, c, m, reason, detail);
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
    if (!(c->user = user_get(r, c->rc.appid, c->rc.touser))) {
        atomic_store(&r->dr_failed, 1);
        replier_cmd_free(r, c);
        return;
    }
    c->state = CS_QUEUED;
    if (c->user->tail) {
        c->user->tail->user_next = c;
        c->user->tail = c;
    } else {
        c->user->head = c->user->tail = c;
        send_ready_push(r, c);
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
    commit(r, 1);
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
            user_detach(r, c);
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

/* ---- metrics ---- */

static double gauge_in_flight(void *arg)
{
    return (double)((replier *)arg)->in_flight;
}

static double gauge_unrecorded(void *arg)
{
    return (double)((replier *)arg)->unrecorded;
}

static double gauge_pending(void *arg)
{
    return (double)((replier *)arg)->pending;
}

static double gauge_finished(void *arg)
{
    struct dedup_stats st;
    dedup_stats(((replier *)arg)->finished, &st);
    return (double)st.count;
}

static double gauge_quota_users(void *arg)
{
    struct quota_guard_stats st;
    if (!((replier *)arg)->quota)
        return 0;
    quota_guard_stats(((replier *)arg)->quota, &st);
    return (double)st.users;
}

static uint64_t quota_evictions(void *arg)
{
    struct quota_guard_stats st;
    quota_guard_stats(((replier *)arg)->quota, &st); /* (zero without a guard) */
    return st.evictions;
}

static double gauge_lag(void *arg)
{
    return kafka_consumer_lag(((replier *)arg)->consumer);
}

static void register_metrics(replier *r)
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
    char kerr[512];
    rd_kafka_conf_t *c = kafka_conf_new(
        r->cfg->kafka, "$.kafka", type == RD_KAFKA_PRODUCER ? producer_defaults : consumer_defaults,
        err, errlen);
    rd_kafka_t *rk;

    if (!c)
        return NULL;
    if (type == RD_KAFKA_CONSUMER &&
        rd_kafka_conf_set(c, "group.id", r->cfg->group_id, kerr, sizeof(kerr))) {
        snprintf(err, errlen, "group.id: %s", kerr);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_opaque(c, r);
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    else
        rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
    rk = rd_kafka_new(type, c, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "kafka client: %s", kerr);
    }
    return rk;
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
    register_metrics(r);
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
        if (util_mono_ms() - r->last_commit_ms >= r->cfg->commit_interval_ms)
            commit(r, 0);
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
