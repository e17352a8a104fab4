/*
 * replier_output: what the replier writes to Kafka for a command — its send
 * intent, its result, its dead letter — and what happens when Kafka
 * acknowledges them (delivery reports): the command is finished and its
 * offset may be committed. See replier_int.h.
 */
#include "replier_int.h"

#include "log.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    replier_user_detach(r, c);
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
void replier_cmd_finished(replier *r, struct cmd *c)
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

void replier_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
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
        replier_cmd_finished(r, c);
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
        replier_cmd_finished(r, c);
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
    replier_user_advance(r, c);
    write_outputs(r, c, &res, dlq_reason, dlq_detail, raw, rawlen);
    free(raw);
}

void replier_skip(replier *r, struct cmd *c)
{
    mcounter_add(r->c_dupes, 1);
    log_event(LOG_INFO, "reply_duplicate_skipped", "id", c->rc.id, NULL);
    replier_user_advance(r, c);
    replier_cmd_finished(r, c);
}

/* A command that is not a valid wxbridge.reply.v1: DLQ, and a result when it has an id. */
void replier_take_invalid(replier *r, struct cmd *c, const rd_kafka_message_t *m,
                          const char *reason, const char *detail)
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
        replier_cmd_finished(r, c); /* its result was written before */
        return;
    }
    if (id[0])
        replier_state_finished(r->state, id, appid, touser, 0, now);
    write_outputs(r, c, &res, reason, detail, m->payload, m->len);
}
