/*
 * replier_offsets: which offsets of wx.replies may be committed. Commands
 * finish out of order (users wait on each other, retries); each partition
 * keeps a ring of its consumed offsets and commits up to the first one not
 * finished yet, so a crash never skips a command. See replier_int.h.
 */
#include "replier_int.h"

#include "kafka_consumer.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ptrack *ptrack_get(replier *r, int32_t p)
{
    return p >= 0 && p < PARTS_MAX && r->parts[p].active ? &r->parts[p] : NULL;
}

void ptrack_reset(struct ptrack *t, int active)
{
    free(t->offs);
    free(t->done);
    memset(t, 0, sizeof(*t));
    t->active = active;
    t->commit_next = -1;
    t->committed = -1;
}

/* Appends OFFSET; returns its sequence number or -1 (no memory). */
int64_t ptrack_push(struct ptrack *t, int64_t offset)
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
void ptrack_done(struct ptrack *t, int64_t seq)
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

void replier_commit(replier *r, int sync)
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
