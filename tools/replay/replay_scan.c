/*
 * replay_scan: bounded reads of a topic. See replay_scan.h.
 */
#include "replay_scan.h"

#include "kafka_conf.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_TIMEOUT_MS 10000

struct part {
    int64_t start, end; /* [start, end): end = high watermark at open */
    int done;
};

struct replay_scan {
    rd_kafka_t *rk;
    char *topic;
    int nparts;
    int active; /* partitions not done */
    struct part *parts;
    int idle_timeout_ms;
    int64_t last_progress_ms;
    volatile sig_atomic_t *stop;
};

static const char *const consumer_defaults[] = {
    /* Assign only: the group id is never joined and nothing is committed, but librdkafka's
     * consumer wants one (the router's history reader found it fetched nothing without). */
    "group.id",
    "wxbridge-replay",
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "enable.partition.eof",
    "true",
    "auto.offset.reset",
    "earliest",
    "queued.max.messages.kbytes",
    "16384",
    "client.id",
    "wxbridge-replay",
    NULL,
};

static void mark_done(replay_scan *s, int32_t p)
{
    rd_kafka_topic_partition_list_t *l;

    if (s->parts[p].done)
        return;
    s->parts[p].done = 1;
    s->active--;
    /* Stop fetching what lies beyond the snapshot. */
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topic, p);
    rd_kafka_pause_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * The partition count of the topic: 0 when it does not exist, -1 on error.
 * Not kafka_topic_lookup(): that returns -1 both for a topic that does not
 * exist and for brokers that did not answer, where the scan needs them apart
 * (a missing topic is an empty, complete replay; an error stops it, with the
 * broker's error text in ERR).
 */
static int partition_count(replay_scan *s, char *err, size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int n = -1;

    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", s->topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    e = rd_kafka_metadata(s->rk, 0, rkt, &md, META_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "metadata of %s: %s", s->topic, rd_kafka_err2str(e));
    } else if (md->topic_cnt < 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        n = 0;
    } else if (md->topics[0].err) {
        snprintf(err, errlen, "metadata of %s: %s", s->topic, rd_kafka_err2str(md->topics[0].err));
    } else if (md->topics[0].partition_cnt > REPLAY_SCAN_PARTITIONS_MAX) {
        snprintf(err, errlen, "%s has more than %d partitions", s->topic,
                 REPLAY_SCAN_PARTITIONS_MAX);
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Sets every partition's start offset from FROM_MS (offsets_for_times) or its low watermark. */
static int find_starts(replay_scan *s, int64_t from_ms, const int64_t *lo, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;

    for (int p = 0; p < s->nparts; p++)
        s->parts[p].start = lo[p];
    if (from_ms < 0)
        return 0;
    l = rd_kafka_topic_partition_list_new(s->nparts);
    for (int p = 0; p < s->nparts; p++)
        rd_kafka_topic_partition_list_add(l, s->topic, p)->offset = from_ms;
    e = rd_kafka_offsets_for_times(s->rk, l, META_TIMEOUT_MS);
    if (e && e != RD_KAFKA_RESP_ERR__TIMED_OUT) {
        snprintf(err, errlen, "offsets_for_times on %s: %s", s->topic, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
        return -1;
    }
    for (int i = 0; !e && i < l->cnt; i++) {
        int32_t p = l->elems[i].partition;
        /* -1: no offset by time, or a broker that cannot tell: read from the start and filter. */
        if (p >= 0 && p < s->nparts && !l->elems[i].err && l->elems[i].offset > lo[p])
            s->parts[p].start = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

int replay_scan_open(const struct replay_scan_opts *o, replay_scan **out, char *err, size_t errlen)
{
    replay_scan *s = calloc(1, sizeof(*s));
    rd_kafka_topic_partition_list_t *assign = NULL;
    int64_t *lo = NULL;
    int rc = -1;

    *out = NULL;
    if (!s || !(s->topic = strdup(o->topic))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->idle_timeout_ms = o->idle_timeout_ms;
    s->stop = o->stop;
    if (!(s->rk =
              kafka_client_new(RD_KAFKA_CONSUMER, o->kafka, consumer_defaults, NULL, err, errlen)))
        goto out;
    rd_kafka_poll_set_consumer(s->rk);
    s->nparts = partition_count(s, err, errlen);
    if (s->nparts < 0)
        goto out;
    s->parts = calloc((size_t)s->nparts + 1, sizeof(*s->parts));
    lo = calloc((size_t)s->nparts + 1, sizeof(*lo));
    if (!s->parts || !lo) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int p = 0; p < s->nparts; p++) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(s->rk, s->topic, p, &lo[p],
                                                                 &s->parts[p].end, META_TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "watermarks of %s [%d]: %s", s->topic, p, rd_kafka_err2str(e));
            goto out;
        }
    }
    if (find_starts(s, o->from_ms < 0 ? -1 : o->from_ms - o->margin_ms, lo, err, errlen) < 0)
        goto out;
    assign = rd_kafka_topic_partition_list_new(s->nparts + 1);
    for (int p = 0; p < s->nparts; p++) {
        if (s->parts[p].start >= s->parts[p].end) {
            s->parts[p].done = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(assign, s->topic, p)->offset = s->parts[p].start;
        s->active++;
    }
    if (assign->cnt > 0 && rd_kafka_assign(s->rk, assign)) {
        snprintf(err, errlen, "cannot assign the partitions of %s", s->topic);
        goto out;
    }
    s->last_progress_ms = util_mono_ms();
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    free(lo);
    replay_scan_free(s);
    return rc;
}

int replay_scan_next(replay_scan *s, rd_kafka_message_t **out, char *err, size_t errlen)
{
    *out = NULL;
    while (s->active > 0) {
        rd_kafka_message_t *m;
        int32_t p;

        if (s->stop && *s->stop) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        if (util_mono_ms() - s->last_progress_ms > s->idle_timeout_ms) {
            snprintf(err, errlen, "%s: nothing read for %d ms with %d partition(s) unfinished",
                     s->topic, s->idle_timeout_ms, s->active);
            return -1;
        }
        m = rd_kafka_consumer_poll(s->rk, 100);
        if (!m)
            continue;
        p = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->rkt && strcmp(rd_kafka_topic_name(m->rkt), s->topic) == 0 && p >= 0 &&
                p < s->nparts && m->offset >= s->parts[p].end) {
                mark_done(s, p);
                s->last_progress_ms = util_mono_ms();
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            if (rd_kafka_fatal_error(s->rk, NULL, 0)) {
                snprintf(err, errlen, "%s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return -1;
            }
            log_event(LOG_WARN, "consumer_error", "error", rd_kafka_message_errstr(m), NULL);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (p < 0 || p >= s->nparts || s->parts[p].done || m->offset >= s->parts[p].end) {
            if (p >= 0 && p < s->nparts)
                mark_done(s, p);
            rd_kafka_message_destroy(m);
            continue;
        }
        s->last_progress_ms = util_mono_ms();
        if (m->offset + 1 >= s->parts[p].end)
            mark_done(s, p);
        *out = m;
        return 1;
    }
    return 0;
}

int replay_scan_partitions(const replay_scan *s)
{
    return s->nparts;
}

int64_t replay_scan_backlog(const replay_scan *s)
{
    int64_t n = 0;
    for (int p = 0; p < s->nparts; p++)
        if (s->parts[p].end > s->parts[p].start)
            n += s->parts[p].end - s->parts[p].start;
    return n;
}

void replay_scan_free(replay_scan *s)
{
    if (!s)
        return;
    if (s->rk) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    free(s->parts);
    free(s->topic);
    free(s);
}
