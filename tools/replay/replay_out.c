/*
 * replay_out: idempotent producer with per-entry completion. See replay_out.h.
 */
#include "replay_out.h"

#include "kafka_conf.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One submitted entry: resolved when its last message has a delivery report. */
struct group {
    size_t pending;
    int failed;
    char error[128];
    replay_done_cb done;
    void *arg;
};

#define PREPARED_MAX 4

struct replay_out {
    rd_kafka_t *rk;
    rd_kafka_topic_t *prepared[PREPARED_MAX];
    int nprepared;
    replay_ack_cb on_ack;
    void *ack_arg;
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
    "message.timeout.ms",
    "30000",
    "queue.buffering.max.messages",
    "10000",
    "queue.buffering.max.kbytes",
    "65536",
    "client.id",
    "wxbridge-replay",
    NULL,
};

static void group_settle(struct group *g, int ok, const char *error)
{
    if (!ok && !g->failed) {
        g->failed = 1;
        snprintf(g->error, sizeof(g->error), "%s", error ? error : "not delivered");
    }
    if (--g->pending == 0) {
        g->done(g->arg, !g->failed, g->failed ? g->error : NULL);
        free(g);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    replay_out *o = opaque;
    struct group *g = m->_private;

    (void)rk;
    if (m->err)
        log_event(LOG_ERROR, "kafka_delivery_failed", "topic", rd_kafka_topic_name(m->rkt), "error",
                  rd_kafka_err2str(m->err), NULL);
    else if (o->on_ack)
        o->on_ack(o->ack_arg, rd_kafka_topic_name(m->rkt));
    if (g)
        group_settle(g, !m->err, m->err ? rd_kafka_err2str(m->err) : NULL);
}

int replay_out_new(const json_t *kafka, replay_ack_cb on_ack, void *ack_arg, replay_out **out,
                   char *err, size_t errlen)
{
    replay_out *o = calloc(1, sizeof(*o));

    *out = NULL;
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->on_ack = on_ack;
    o->ack_arg = ack_arg;
    o->rk = kafka_client_new(RD_KAFKA_PRODUCER, kafka, producer_defaults,
                             &(struct kafka_client_opts){.opaque = o, .dr_cb = dr_cb}, err, errlen);
    if (!o->rk) {
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

int replay_out_prepare(replay_out *o, const char *topic)
{
    if (o->nprepared >= PREPARED_MAX)
        return -1;
    o->prepared[o->nprepared] = rd_kafka_topic_new(o->rk, topic, NULL);
    return o->prepared[o->nprepared] ? (o->nprepared++, 0) : -1;
}

/* Produces one copy of M for G; waits while the queue is full. */
static rd_kafka_resp_err_t produce_one(replay_out *o, const struct replay_msg *m, struct group *g)
{
    for (;;) {
        rd_kafka_headers_t *h = m->hdrs ? rd_kafka_headers_copy(m->hdrs) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            o->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE((void *)m->value, m->value_len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(g), RD_KAFKA_V_END);
        if (!e)
            return e;
        if (h)
            rd_kafka_headers_destroy(h);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e;
        rd_kafka_poll(o->rk, 10);
    }
}

int replay_out_submit(replay_out *o, const struct replay_msg *msgs, size_t n, replay_done_cb done,
                      void *arg, char *err, size_t errlen)
{
    struct group *g = calloc(1, sizeof(*g));
    char fatal[256];

    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rd_kafka_fatal_error(o->rk, fatal, sizeof(fatal))) {
        snprintf(err, errlen, "producer: %s", fatal);
        free(g);
        return -1;
    }
    g->done = done;
    g->arg = arg;
    /* One extra reference while producing, so G cannot resolve half-way through. */
    g->pending = n + 1;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = produce_one(o, &msgs[i], g);
        if (e) {
            log_event(LOG_ERROR, "kafka_produce_failed", "topic", msgs[i].topic, "error",
                      rd_kafka_err2str(e), NULL);
            for (; i < n; i++)
                group_settle(g, 0, rd_kafka_err2str(e));
            break;
        }
    }
    group_settle(g, 1, NULL);
    rd_kafka_poll(o->rk, 0);
    return 0;
}

void replay_out_poll(replay_out *o, int timeout_ms)
{
    rd_kafka_poll(o->rk, timeout_ms);
}

int replay_out_flush(replay_out *o, int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(o->rk, timeout_ms);
    if (e || rd_kafka_outq_len(o->rk) > 0) {
        snprintf(err, errlen, "%d message(s) not acknowledged within %d ms",
                 rd_kafka_outq_len(o->rk), timeout_ms);
        return -1;
    }
    return 0;
}

void replay_out_free(replay_out *o)
{
    if (!o)
        return;
    /* Purging fails what is left: its delivery reports resolve the remaining entries. */
    rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(o->rk, 1000);
    rd_kafka_poll(o->rk, 0);
    for (int i = 0; i < o->nprepared; i++)
        rd_kafka_topic_destroy(o->prepared[i]);
    rd_kafka_destroy(o->rk);
    free(o);
}
