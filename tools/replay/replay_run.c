/*
 * replay_run: the scan -> select -> plan -> publish loop. See replay_run.h.
 */
#include "replay_run.h"

#include "dedup.h"
#include "jsonw.h"
#include "log.h"
#include "replay_out.h"
#include "replay_scan.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Early starts cover producer clocks and records whose Kafka time precedes their own. */
#define START_MARGIN_MS (5 * 60 * 1000)

struct run {
    const struct replay_run_cfg *cfg;
    struct replay_tally *t;
    FILE *out;
    replay_out *producer;
    dedup *seen;
    int64_t dedup_now;
};

/* An entry waiting for its acknowledgements. */
struct waiting {
    struct run *run;
    int32_t partition;
    int64_t offset;
    char *reason; /* stored reason, or NULL */
    char id[];
};

static const char *action_name(enum replay_action a)
{
    return a == REPLAY_PUBLISH ? "publish" : a == REPLAY_SKIP ? "skip" : "fail";
}

static void log_entry(enum log_level lvl, const char *event, int32_t partition, int64_t offset,
                      const char *id, const char *reason, const char *cause, const char *detail)
{
    char p[16], o[32];

    if (!log_enabled(lvl))
        return;
    snprintf(p, sizeof(p), "%d", partition);
    snprintf(o, sizeof(o), "%lld", (long long)offset);
    log_event(lvl, event, "#partition", p, "#offset", o, "id", id ? id : "", "reason",
              reason ? reason : "", "cause", cause ? cause : "", "detail", detail ? detail : "",
              NULL);
}

static void on_ack(void *arg, const char *topic)
{
    struct run *r = arg;
    replay_table_add(&r->t->topics, topic, RT_PUBLISHED, 1);
}

static void on_done(void *arg, int ok, const char *error)
{
    struct waiting *w = arg;
    struct run *r = w->run;

    if (ok) {
        replay_tally_count(r->t, RT_PUBLISHED, w->reason, NULL);
    } else {
        replay_tally_count(r->t, RT_FAILED, w->reason, "delivery_failed");
        log_entry(LOG_ERROR, "replay_entry_failed", w->partition, w->offset, w->id, w->reason,
                  "delivery_failed", error);
    }
    free(w->reason);
    free(w);
}

static void print_line(struct run *r, const rd_kafka_message_t *m, const struct replay_entry *e,
                       const struct replay_plan *p)
{
    struct jsonw w;
    size_t len;
    char *line;

    jsonw_init(&w, 1 << 16);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "partition");
    jsonw_int(&w, m->partition);
    jsonw_key(&w, "offset");
    jsonw_int(&w, m->offset);
    jsonw_key(&w, "id");
    jsonw_str(&w, p->id[0] ? p->id : NULL);
    jsonw_key(&w, "reason");
    jsonw_str(&w, e->reason);
    jsonw_key(&w, "action");
    jsonw_str(&w, action_name(p->action));
    jsonw_key(&w, "topic");
    jsonw_str(&w, p->nmsgs ? p->msgs[0].topic : NULL);
    if (r->cfg->ctx.kind == REPLAY_REROUTE) {
        jsonw_key(&w, "topics");
        jsonw_arr_begin(&w);
        for (size_t i = 0; i < p->nmsgs; i++)
            jsonw_str(&w, p->msgs[i].topic);
        jsonw_arr_end(&w);
    }
    if (p->orig_id[0]) {
        jsonw_key(&w, "replay_of");
        jsonw_str(&w, p->orig_id);
    }
    if (p->action != REPLAY_PUBLISH) {
        jsonw_key(&w, "cause");
        jsonw_str(&w, p->cause);
        if (p->detail[0]) {
            jsonw_key(&w, "detail");
            jsonw_str(&w, p->detail);
        }
    }
    jsonw_obj_end(&w);
    line = jsonw_finish(&w, &len);
    if (line) {
        fwrite(line, 1, len, r->out);
        fputc('\n', r->out);
        free(line);
    }
}

/* Publishes P (a real run); the outcome is counted when Kafka answers. */
static int publish(struct run *r, const rd_kafka_message_t *m, const struct replay_entry *e,
                   const struct replay_plan *p, char *err, size_t errlen)
{
    size_t idlen = strlen(p->id);
    struct waiting *w = calloc(1, sizeof(*w) + idlen + 1);

    if (!w || (e->reason && !(w->reason = strdup(e->reason)))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->run = r;
    w->partition = m->partition;
    w->offset = m->offset;
    memcpy(w->id, p->id, idlen + 1);
    if (replay_out_submit(r->producer, p->msgs, p->nmsgs, on_done, w, err, errlen) < 0) {
        replay_tally_count(r->t, RT_FAILED, e->reason, "producer_failed");
        free(w->reason);
        free(w);
        return -1;
    }
    return 0;
}

/* Handles one record of the source topic. Returns 1 when --limit is reached, 0, or -1. */
static int handle(struct run *r, const rd_kafka_message_t *m, char *err, size_t errlen)
{
    const struct replay_run_cfg *c = r->cfg;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_timestamp_type_t tt;
    struct replay_entry e;
    struct replay_plan p;
    struct replay_input in;
    int rc = 0;

    rd_kafka_message_headers(m, &hdrs);
    in = (struct replay_input){m->key, m->key_len, m->payload,
                               m->len, hdrs,       rd_kafka_message_timestamp(m, &tt)};
    r->t->scanned++;
    replay_entry_read(c->ctx.kind, &in, &e);
    if (!replay_filter_match(c->filter, e.appid, e.reason, e.time_ms)) {
        replay_entry_clear(&e);
        return 0;
    }
    replay_tally_count(r->t, RT_SELECTED, e.reason, NULL);
    replay_entry_plan(&c->ctx, &in, &e, &p);
    if (p.action == REPLAY_PUBLISH && p.id[0]) {
        /* WeChat's retries of one push, or one command dead-lettered twice: published once. */
        int seen = dedup_check_and_add(r->seen, p.id, r->dedup_now);
        if (seen == 1)
            replay_plan_skip(&p, "duplicate_in_run");
    }
    if (c->dry_run)
        print_line(r, m, &e, &p);
    if (p.action == REPLAY_PUBLISH) {
        if (c->dry_run)
            r->t->would_publish++;
        else if (publish(r, m, &e, &p, err, errlen) < 0)
            rc = -1;
    } else {
        replay_tally_count(r->t, p.action == REPLAY_SKIP ? RT_SKIPPED : RT_FAILED, e.reason,
                           p.cause);
        log_entry(p.action == REPLAY_SKIP ? LOG_DEBUG : LOG_WARN,
                  p.action == REPLAY_SKIP ? "replay_entry_skipped" : "replay_entry_failed",
                  m->partition, m->offset, p.id, e.reason, p.cause, p.detail);
    }
    replay_plan_clear(&p);
    replay_entry_clear(&e);
    if (rc == 0 && c->limit > 0 && (long long)r->t->c[RT_SELECTED] >= c->limit)
        rc = 1;
    return rc;
}

int replay_run(const struct replay_run_cfg *c, struct replay_tally *t, FILE *out, char *err,
               size_t errlen)
{
    struct run r = {.cfg = c, .t = t, .out = out, .dedup_now = util_wall_ms()};
    struct replay_scan_opts so = {
        .kafka = c->kafka,
        .topic = c->source,
        .from_ms = c->filter->from_ms == REPLAY_TIME_MIN ? -1 : c->filter->from_ms,
        .margin_ms = START_MARGIN_MS,
        .idle_timeout_ms = c->idle_timeout_ms,
        .stop = c->stop,
    };
    replay_scan *scan = NULL;
    char n1[16], n2[32], ferr[256];
    int rc = -1, failed = 0;
    struct dedup_stats ds;

    r.seen = dedup_new(DEDUP_WINDOW_MAX, c->dedup_max_ids);
    if (!r.seen) {
        snprintf(err, errlen, "out of memory for %zu dedup ids", c->dedup_max_ids);
        goto out;
    }
    if (!c->dry_run && replay_out_new(c->kafka, on_ack, &r, &r.producer, err, errlen) < 0)
        goto out;
    if (r.producer && c->ctx.output_topic)
        replay_out_prepare(r.producer, c->ctx.output_topic);
    if (replay_scan_open(&so, &scan, err, errlen) < 0)
        goto out;
    snprintf(n1, sizeof(n1), "%d", replay_scan_partitions(scan));
    snprintf(n2, sizeof(n2), "%lld", (long long)replay_scan_backlog(scan));
    log_event(LOG_INFO, "replay_started", "command", c->command, "topic", c->source, "#partitions",
              n1, "#records_to_scan", n2, "#dry_run", c->dry_run ? "true" : "false", NULL);
    for (;;) {
        rd_kafka_message_t *m = NULL;
        int got = replay_scan_next(scan, &m, err, errlen), h;
        if (got <= 0) {
            failed = got < 0;
            break;
        }
        h = handle(&r, m, err, errlen);
        rd_kafka_message_destroy(m);
        if (h != 0) {
            failed = h < 0;
            break;
        }
        if (r.producer)
            replay_out_poll(r.producer, 0);
    }
    /* Even after an error or a signal, what was produced gets its answer and is counted. */
    if (r.producer && replay_out_flush(r.producer, c->flush_timeout_ms, ferr, sizeof(ferr)) < 0 &&
        !failed) {
        snprintf(err, errlen, "%s", ferr);
        failed = 1;
    }
    rc = failed ? -1 : 0;
    dedup_stats(r.seen, &ds);
    if (ds.evictions > 0) {
        /* More distinct ids than --dedup-max-ids: later retries of the first ones may have
         * been published again (same ids, so downstream dedup still holds). */
        snprintf(n2, sizeof(n2), "%llu", (unsigned long long)ds.evictions);
        log_event(LOG_WARN, "dedup_evictions", "#evicted", n2, NULL);
    }
out:
    replay_scan_free(scan);
    replay_out_free(r.producer); /* resolves anything left as failed */
    dedup_free(r.seen);
    if (c->dry_run)
        fflush(out);
    return rc;
}
