/*
 * replier_state: tails wx.replies.results and wx.inbound. See replier_state.h.
 */
#include "replier_state.h"

#include "kafka_consumer.h"
#include "kafka_conf.h"
#include "kafka_topic.h"
#include "log.h"
#include "reply_cmd.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTS_MAX           1024
#define QUOTA_HISTORY_MS    ((48LL * 3600 + 60) * 1000)
#define METADATA_TIMEOUT_MS 10000

enum { T_RESULTS, T_INFLIGHT, T_INBOUND, T_COUNT };

struct part {
    int64_t next;     /* next offset to read (-1: unknown yet) */
    int64_t mark;     /* high watermark at the last mark */
    int64_t eof_wall; /* wall ms of the last end-of-partition */
};

struct replier_state {
    const struct replier_config *cfg;
    rd_kafka_t *rk;
    dedup *finished;
    dedup *started;
    quota_guard *quota;
    const char *topics[T_COUNT];
    int nparts[T_COUNT];
    struct part parts[T_COUNT][PARTS_MAX];
    int synced;
    mcounter *c_results, *c_inbound, *c_inflight;
};

/* Commands wait for this reader (the quota guard's view of wx.inbound, the finished ids
 * after an assignment): it must not sit in long-polling fetches. */
static const char *const defaults[] = {
    "enable.auto.commit",
    "false",
    "enable.partition.eof",
    "true",
    "auto.offset.reset",
    "earliest",
    "fetch.wait.max.ms",
    "10",
    "client.id",
    "wxbridge-replier-state",
    NULL,
};

static int partition_count(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
    int64_t deadline = util_mono_ms() + METADATA_TIMEOUT_MS;
    for (;;) {
        int n = kafka_topic_lookup(rk, topic, 5000, NULL);
        if (n > 0)
            return n > PARTS_MAX ? PARTS_MAX : n;
        if (util_mono_ms() >= deadline) {
            snprintf(err, errlen, "topic %s not found (create it; see deploy/README.md)", topic);
            return -1;
        }
        util_sleep_ms(200);
    }
}

/* Where to start reading TOPIC's partitions: the first record at or after FROM_WALL. */
static int add_start_offsets(replier_state *s, int ti, int64_t from_wall,
                             rd_kafka_topic_partition_list_t *assign)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts[ti]);
    rd_kafka_resp_err_t e;

    for (int p = 0; p < s->nparts[ti]; p++)
        rd_kafka_topic_partition_list_add(l, s->topics[ti], p)->offset = from_wall;
    e = rd_kafka_offsets_for_times(s->rk, l, METADATA_TIMEOUT_MS);
    for (int p = 0; p < l->cnt; p++) {
        int64_t off = e ? -1 : l->elems[p].offset;
        /* -1: no record that recent (or a broker that cannot say, like the mock
         * cluster): read from the start and skip the old records by timestamp. */
        rd_kafka_topic_partition_list_add(assign, s->topics[ti], l->elems[p].partition)->offset =
            off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
        s->parts[ti][l->elems[p].partition].next = -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

int replier_state_new(const struct replier_config *cfg, dedup *finished, dedup *started,
                      quota_guard *quota, metrics *m, replier_state **out, char *err, size_t errlen)
{
    replier_state *s = calloc(1, sizeof(*s));
    rd_kafka_topic_partition_list_t *assign = NULL;
    char group[300];
    int64_t now = util_wall_ms();

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->finished = finished;
    s->started = started;
    s->quota = quota;
    s->topics[T_RESULTS] = cfg->results_topic;
    s->topics[T_INFLIGHT] = cfg->inflight_topic;
    s->topics[T_INBOUND] = cfg->inbound_topic;
    s->c_results = metrics_counter(m, "wxbridge_replier_state_records_total",
                                   "Records read back to rebuild state", "topic=\"results\"");
    s->c_inbound = metrics_counter(m, "wxbridge_replier_state_records_total",
                                   "Records read back to rebuild state", "topic=\"inbound\"");
    s->c_inflight = metrics_counter(m, "wxbridge_replier_state_records_total",
                                    "Records read back to rebuild state", "topic=\"inflight\"");
    /* Assign-only reader; a group id of its own keeps librdkafka's consumer happy and
     * never touches the replier's offsets. */
    snprintf(group, sizeof(group), "%s.state", cfg->group_id);
    if (!(s->rk = kafka_client_new(RD_KAFKA_CONSUMER, cfg->kafka, defaults,
                                   &(struct kafka_client_opts){.group = group}, err, errlen)))
        goto fail;
    rd_kafka_poll_set_consumer(s->rk);
    assign = rd_kafka_topic_partition_list_new(64);
    for (int ti = 0; ti < T_COUNT; ti++) {
        int n;
        if ((ti == T_INFLIGHT && !started) || (ti == T_INBOUND && !quota))
            continue;
        if ((n = partition_count(s->rk, s->topics[ti], err, errlen)) < 0)
            goto fail;
        s->nparts[ti] = n;
        add_start_offsets(
            s, ti, ti == T_INBOUND ? now - QUOTA_HISTORY_MS : now - cfg->finished_window_s * 1000,
            assign);
    }
    if (rd_kafka_assign(s->rk, assign)) {
        snprintf(err, errlen, "state reader: cannot assign partitions");
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(assign);
    *out = s;
    return 0;
fail:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    replier_state_free(s);
    return -1;
}

void replier_state_free(replier_state *s)
{
    if (!s)
        return;
    if (s->rk) {
        kafka_consumer_close_wait(s->rk, 2000);
    }
    free(s);
}

static void remember(replier_state *s, const char *id, const char *appid, const char *touser,
                     int sent, int64_t at_ms)
{
    /* Only the first sight of a result counts a send: our own results come back here. */
    if (dedup_seen(s->finished, id, util_wall_ms()) == 1)
        return;
    dedup_add(s->finished, id, at_ms);
    if (sent && s->quota && appid[0] && touser[0])
        quota_guard_sent(s->quota, appid, touser, at_ms);
}

void replier_state_finished(replier_state *s, const char *id, const char *appid, const char *touser,
                            int sent, int64_t at_ms)
{
    remember(s, id, appid, touser, sent, at_ms);
}

static void on_result(replier_state *s, const rd_kafka_message_t *m, int64_t ts)
{
    char id[REPLY_ID_BUF], appid[REPLY_APPID_BUF], touser[REPLY_TOUSER_BUF];
    enum reply_status st;
    long long at_ms;

    if (reply_result_parse(m->payload, m->len, id, sizeof(id), appid, sizeof(appid), touser,
                           sizeof(touser), &st, &at_ms) < 0 ||
        !id[0])
        return;
    if (at_ms <= 0)
        at_ms = ts;
    if (at_ms < util_wall_ms() - s->cfg->finished_window_s * 1000)
        return;
    mcounter_add(s->c_results, 1);
    remember(s, id, appid, touser, st == REPLY_SENT, at_ms);
}

/* An intent: key = the id of a command whose send was started. */
static void on_intent(replier_state *s, const rd_kafka_message_t *m, int64_t ts)
{
    char id[REPLY_ID_BUF];
    if (!m->key || m->key_len == 0 || m->key_len >= sizeof(id) ||
        ts < util_wall_ms() - s->cfg->finished_window_s * 1000)
        return;
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    mcounter_add(s->c_inflight, 1);
    dedup_add(s->started, id, ts);
}

static void on_inbound(replier_state *s, const rd_kafka_message_t *m, int64_t ts)
{
    char appid[80], type[64], event[64], openid[160];
    int enter;

    if (ts < util_wall_ms() - QUOTA_HISTORY_MS || !m->key || m->key_len == 0 ||
        m->key_len >= sizeof(openid) || !kafka_header_str(m, "wx-appid", appid, sizeof(appid)) ||
        !kafka_header_str(m, "wx-msg-type", type, sizeof(type)))
        return;
    memcpy(openid, m->key, m->key_len);
    openid[m->key_len] = '\0';
    enter = strcmp(type, "event") == 0;
    if (enter && (!kafka_header_str(m, "wx-event", event, sizeof(event)) ||
                  strcmp(event, "user_enter_tempsession") != 0))
        return; /* other events open no window */
    mcounter_add(s->c_inbound, 1);
    quota_guard_inbound(s->quota, appid, openid, enter ? QG_ENTER : QG_MESSAGE, ts);
}

void replier_state_poll(replier_state *s, int max)
{
    for (int i = 0; i < max; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 0);
        const char *topic;
        int ti;
        if (!m)
            return;
        topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        ti = strcmp(topic, s->topics[T_RESULTS]) == 0    ? T_RESULTS
             : strcmp(topic, s->topics[T_INFLIGHT]) == 0 ? T_INFLIGHT
                                                         : T_INBOUND;
        if (m->partition >= 0 && m->partition < s->nparts[ti]) {
            struct part *p = &s->parts[ti][m->partition];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                p->next = m->offset;
                p->eof_wall = util_wall_ms();
            } else if (!m->err) {
                rd_kafka_timestamp_type_t tt;
                int64_t ts = rd_kafka_message_timestamp(m, &tt);
                if (ts <= 0)
                    ts = util_wall_ms();
                p->next = m->offset + 1;
                if (ti == T_RESULTS)
                    on_result(s, m, ts);
                else if (ti == T_INFLIGHT)
                    on_intent(s, m, ts);
                else if (s->quota)
                    on_inbound(s, m, ts);
            }
        }
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_event(LOG_WARN, "state_reader_error", "error", rd_kafka_message_errstr(m), NULL);
        rd_kafka_message_destroy(m);
    }
}

void replier_state_mark(replier_state *s)
{
    for (int ti = T_RESULTS; ti <= T_INFLIGHT; ti++)
        for (int p = 0; p < s->nparts[ti]; p++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(s->rk, s->topics[ti], p, &lo, &hi, 5000))
                hi = 0; /* unknown: an end-of-partition will do */
            s->parts[ti][p].mark = hi;
            s->parts[ti][p].eof_wall = 0;
        }
    s->synced = 0;
}

int replier_state_synced(replier_state *s)
{
    if (s->synced)
        return 1;
    for (int ti = T_RESULTS; ti <= T_INFLIGHT; ti++)
        for (int p = 0; p < s->nparts[ti]; p++) {
            const struct part *q = &s->parts[ti][p];
            if (q->next < q->mark || (q->mark == 0 && q->eof_wall == 0 && q->next < 0))
                return 0;
        }
    s->synced = 1;
    return 1;
}

int replier_state_started(replier_state *s, const char *id)
{
    return s->started && dedup_seen(s->started, id, util_wall_ms()) == 1;
}

int64_t replier_state_inbound_synced_ms(const replier_state *s)
{
    int64_t min = INT64_MAX;
    if (!s->quota || s->nparts[T_INBOUND] == 0)
        return 0;
    for (int p = 0; p < s->nparts[T_INBOUND]; p++)
        if (s->parts[T_INBOUND][p].eof_wall < min)
            min = s->parts[T_INBOUND][p].eof_wall;
    return min;
}
