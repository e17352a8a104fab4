/*
 * publisher: Kafka first, spool as the fallback. See publisher.h.
 *
 * A direct request (struct preq) moves through these states, under p->lock:
 *   WAIT      produced, on the deadline list, no answer yet
 *   ANSWERED  Kafka acknowledged in time (or everything failed)
 *   SPOOLING  delivery failed or the spool holds older entries; the spool
 *             writer's callback answers
 *   SHADOWED  deadline passed; appended to the spool as shadowed, the
 *             spool callback answers and a late delivery report resolves
 *             the shadow
 * It is freed when its last reference (producer, spool writer) drops.
 */
#include "publisher.h"

#include "kafka_conf.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DRAIN_WINDOW 512
#define TOPICS_MAX   8

enum { TAG_DIRECT = 1, TAG_DRAIN = 2 };
enum { S_WAIT, S_ANSWERED, S_SPOOLING, S_SHADOWED };

struct preq {
    int tag;
    _Atomic int refs;
    struct publisher *p;
    int state;
    struct kmsg msg;
    publisher_cb cb;
    void *arg;
    int64_t t0_us;
    int64_t deadline_ms;
    uint64_t spool_seq;
    struct preq *prev, *next;
};

struct ditem {
    int tag;
    uint64_t seq;
    struct kmsg msg;
};

struct publisher {
    /* Replaced after a fatal producer error: producing holds rk_lock for reading. */
    pthread_rwlock_t rk_lock;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt[TOPICS_MAX];
    int nrkt;
    rd_kafka_conf_t *conf; /* template for (re)creating the producer */
    char *topics[TOPICS_MAX];
    int ntopics;
    atomic_int fatal;
    spool *sp;
    int ack_timeout_ms;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct preq *head, *tail; /* deadline order == submit order */
    atomic_int stop;
    atomic_int kafka_up;
    atomic_int drain_inflight;
    atomic_int drain_failed;
    pthread_t poll_thr, timer_thr, drain_thr;

    mhist *latency;
    mcounter *c_kafka, *c_spool, *c_failed, *c_deadline, *c_dr_err, *c_drained, *c_recreated;
};

static void preq_release(struct preq *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        kmsg_clear(&r->msg);
        free(r);
    }
}

static void answer(publisher *p, struct preq *r, int rc)
{
    mhist_observe(p->latency, (double)(util_mono_us() - r->t0_us) / 1e6);
    mcounter_add(rc == PUB_IN_KAFKA   ? p->c_kafka
                 : rc == PUB_IN_SPOOL ? p->c_spool
                                      : p->c_failed,
                 1);
    r->cb(r->arg, rc);
}

static void list_remove(publisher *p, struct preq *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        p->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        p->tail = r->prev;
    r->prev = r->next = NULL;
}

/* ---- producing ---- */

static rd_kafka_resp_err_t produce(publisher *p, const struct kmsg *m, void *opaque)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)m->hdr_count);
    rd_kafka_resp_err_t err;

    for (int i = 0; i < m->hdr_count; i++)
        rd_kafka_header_add(hdrs, m->hdr_name[i], -1, m->hdr_value[i], -1);
    pthread_rwlock_rdlock(&p->rk_lock);
    /* No copy: the message outlives its delivery report (see preq_release). */
    err =
        rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, strlen(m->key)),
                          RD_KAFKA_V_VALUE(m->value, m->value_len), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    pthread_rwlock_unlock(&p->rk_lock);
    if (err)
        rd_kafka_headers_destroy(hdrs);
    return err;
}

/* Spool writer callback for a request answered from the spool. */
static void spooled_cb(void *arg, int rc)
{
    struct preq *r = arg;
    answer(r->p, r, rc == 0 ? PUB_IN_SPOOL : rc);
    preq_release(r);
}

/* Appends R to the spool (not shadowed); the spool callback answers. */
static void to_spool(publisher *p, struct preq *r)
{
    uint64_t seq;
    int rc;

    atomic_fetch_add(&r->refs, 1);
    rc = spool_append(p->sp, &r->msg, 0, spooled_cb, r, &seq);
    if (rc < 0) {
        log_event(LOG_ERROR, "spool_append_failed", "error", strerror(-rc), NULL);
        answer(p, r, rc);
        preq_release(r);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    publisher *p = opaque;
    int ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    int tag = m->_private ? *(int *)m->_private : 0;

    (void)rk;
    if (ok)
        atomic_store(&p->kafka_up, 1);
    else
        mcounter_add(p->c_dr_err, 1);
    if (tag == TAG_DRAIN) {
        struct ditem *d = m->_private;
        spool_settle(p->sp, d->seq, ok);
        if (ok)
            mcounter_add(p->c_drained, 1);
        else
            atomic_store(&p->drain_failed, 1);
        atomic_fetch_sub(&p->drain_inflight, 1);
        kmsg_clear(&d->msg);
        free(d);
        return;
    }
    if (tag != TAG_DIRECT)
        return;

    struct preq *r = m->_private;
    pthread_mutex_lock(&p->lock);
    if (r->state == S_WAIT) {
        list_remove(p, r);
        r->state = ok ? S_ANSWERED : S_SPOOLING;
        pthread_mutex_unlock(&p->lock);
        if (ok) {
            answer(p, r, PUB_IN_KAFKA);
        } else {
            log_event(LOG_WARN, "kafka_delivery_failed", "topic", r->msg.topic, "error",
                      rd_kafka_err2str(m->err), NULL);
            to_spool(p, r);
        }
    } else if (r->state == S_SHADOWED) {
        uint64_t seq = r->spool_seq;
        pthread_mutex_unlock(&p->lock);
        spool_resolve_shadow(p->sp, seq, ok);
    } else {
        pthread_mutex_unlock(&p->lock);
    }
    preq_release(r);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    publisher *p = opaque;
    (void)rk;
    /* Connection failures are already in librdkafka's own log lines (kafka_log). */
    enum log_level lvl = LOG_DEBUG;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&p->kafka_up, 0);
        lvl = LOG_WARN;
    } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        /* The idempotent producer cannot go on; the poll thread replaces it. */
        atomic_store(&p->fatal, 1);
        lvl = LOG_ERROR;
    }
    log_event(lvl, "kafka_error", "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason",
              reason, NULL);
}

void publisher_submit(publisher *p, struct kmsg *m, publisher_cb cb, void *arg)
{
    struct preq *r = calloc(1, sizeof(*r));
    rd_kafka_resp_err_t err;

    if (!r) {
        kmsg_clear(m);
        cb(arg, -ENOMEM);
        return;
    }
    r->tag = TAG_DIRECT;
    r->p = p;
    r->msg = *m;
    memset(m, 0, sizeof(*m));
    r->cb = cb;
    r->arg = arg;
    r->t0_us = util_mono_us();
    atomic_init(&r->refs, 1);

    /* Older entries wait in the spool: go behind them to keep each key's order. */
    if (spool_pending(p->sp) > 0) {
        r->state = S_SPOOLING;
        to_spool(p, r);
        preq_release(r);
        return;
    }

    atomic_fetch_add(&r->refs, 1); /* the producer's reference */
    pthread_mutex_lock(&p->lock);
    r->state = S_WAIT;
    r->deadline_ms = util_mono_ms() + p->ack_timeout_ms;
    r->prev = p->tail;
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    pthread_mutex_unlock(&p->lock);

    err = produce(p, &r->msg, r);
    if (err) {
        int was_waiting;
        pthread_mutex_lock(&p->lock);
        was_waiting = r->state == S_WAIT;
        if (was_waiting) {
            list_remove(p, r);
            r->state = S_SPOOLING;
        }
        pthread_mutex_unlock(&p->lock);
        log_event(LOG_WARN, "kafka_produce_failed", "topic", r->msg.topic, "error",
                  rd_kafka_err2str(err), NULL);
        if (was_waiting)
            to_spool(p, r);
        preq_release(r); /* no delivery report will come */
    }
    preq_release(r);
}

/* ---- threads ---- */

/* Creates p->rk and its topic handles from the template. Returns 0 or -1 with ERR. */
static int producer_create(publisher *p, char *err, size_t errlen)
{
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->conf);

    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", kerr);
        return -1;
    }
    /* Topic handles up front: the first produce to an unknown topic stalls ~1 s. */
    for (p->nrkt = 0; p->nrkt < p->ntopics; p->nrkt++)
        p->rkt[p->nrkt] = rd_kafka_topic_new(p->rk, p->topics[p->nrkt], NULL);
    return 0;
}

static void producer_destroy(rd_kafka_t *rk, rd_kafka_topic_t **rkt, int nrkt)
{
    for (int i = 0; i < nrkt; i++)
        rd_kafka_topic_destroy(rkt[i]);
    rd_kafka_destroy(rk);
}

/*
 * After a fatal error (e.g. an idempotence sequence the broker refuses) the
 * producer accepts nothing more. Swap in a new one, then fail everything the
 * old one held: its delivery reports send direct requests to the spool and
 * hand drained entries back, so nothing is lost.
 */
static void producer_replace(publisher *p)
{
    rd_kafka_t *old;
    rd_kafka_topic_t *old_rkt[TOPICS_MAX];
    int old_n;
    char reason[512], err[512];
    rd_kafka_resp_err_t code;

    code = rd_kafka_fatal_error(p->rk, reason, sizeof(reason));
    log_event(LOG_ERROR, "kafka_producer_fatal", "error", rd_kafka_err2name(code), "reason", reason,
              NULL);
    pthread_rwlock_wrlock(&p->rk_lock);
    old = p->rk;
    old_n = p->nrkt;
    memcpy(old_rkt, p->rkt, sizeof(old_rkt));
    if (producer_create(p, err, sizeof(err)) < 0) {
        /* Keep the broken one: every produce fails and is spooled; try again later. */
        p->rk = old;
        p->nrkt = old_n;
        memcpy(p->rkt, old_rkt, sizeof(old_rkt));
        pthread_rwlock_unlock(&p->rk_lock);
        log_event(LOG_ERROR, "kafka_producer_recreate_failed", "error", err, NULL);
        atomic_store(&p->fatal, 1);
        usleep(1000 * 1000);
        return;
    }
    pthread_rwlock_unlock(&p->rk_lock);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 100 && rd_kafka_outq_len(old) > 0; i++)
        rd_kafka_poll(old, 50);
    producer_destroy(old, old_rkt, old_n);
    mcounter_add(p->c_recreated, 1);
    log_event(LOG_INFO, "kafka_producer_recreated", NULL);
}

static void *poll_main(void *arg)
{
    publisher *p = arg;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 50); /* only this thread replaces p->rk */
        if (atomic_exchange(&p->fatal, 0))
            producer_replace(p);
    }
    return NULL;
}

void publisher_test_fatal_error(publisher *p)
{
    pthread_rwlock_rdlock(&p->rk_lock);
    rd_kafka_test_fatal_error(p->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "injected by a test");
    pthread_rwlock_unlock(&p->rk_lock);
}

/* Spools every request whose deadline passed, as shadowed. */
static void *timer_main(void *arg)
{
    publisher *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop)) {
        int64_t now = util_mono_ms();
        struct preq *failed = NULL;

        while (p->head && p->head->deadline_ms <= now) {
            struct preq *r = p->head;
            int rc;
            list_remove(p, r);
            r->state = S_SHADOWED;
            mcounter_add(p->c_deadline, 1);
            atomic_fetch_add(&r->refs, 1); /* the spool writer's reference */
            /* Under p->lock, so a delivery report sees spool_seq set. */
            rc = spool_append(p->sp, &r->msg, 1, spooled_cb, r, &r->spool_seq);
            if (rc < 0) {
                r->state = S_ANSWERED;
                r->next = failed; /* answered below, outside the lock */
                failed = r;
                log_event(LOG_ERROR, "spool_append_failed", "error", strerror(-rc), NULL);
            }
        }
        if (failed) {
            pthread_mutex_unlock(&p->lock);
            while (failed) {
                struct preq *r = failed;
                failed = r->next;
                r->next = NULL;
                answer(p, r, -EIO);
                preq_release(r);
            }
            pthread_mutex_lock(&p->lock);
            continue;
        }
        /* Sleep until the oldest deadline, at most 100 ms. */
        int64_t wait_ms = p->head ? p->head->deadline_ms - now : 100;
        struct timespec ts;
        if (wait_ms > 100)
            wait_ms = 100;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_ms < 1 ? 1 : wait_ms) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Republishes the spool, oldest first, with a bounded window in flight. */
static void *drain_main(void *arg)
{
    publisher *p = arg;
    struct spool_item items[64];
    int backoff_ms = 0;

    while (!atomic_load(&p->stop)) {
        int room = DRAIN_WINDOW - atomic_load(&p->drain_inflight);
        int n;

        if (atomic_exchange(&p->drain_failed, 0)) {
            /* Kafka refused: wait before trying again, up to 5 s. */
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2) : 200;
            for (int slept = 0; slept < backoff_ms && !atomic_load(&p->stop); slept += 50)
                usleep(50 * 1000);
            continue;
        }
        if (room <= 0 || spool_pending(p->sp) == 0) {
            spool_wait(p->sp, 100);
            continue;
        }
        n = spool_take(p->sp, items, room < 64 ? room : 64);
        if (n <= 0) {
            spool_wait(p->sp, 50);
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct ditem *d = malloc(sizeof(*d));
            rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
            if (d) {
                d->tag = TAG_DRAIN;
                d->seq = items[i].seq;
                d->msg = items[i].msg;
                atomic_fetch_add(&p->drain_inflight, 1);
                err = produce(p, &d->msg, d);
                if (err)
                    atomic_fetch_sub(&p->drain_inflight, 1);
            }
            if (err) {
                spool_settle(p->sp, items[i].seq, 0);
                kmsg_clear(d ? &d->msg : &items[i].msg);
                free(d);
                atomic_store(&p->drain_failed, 1);
            }
        }
        if (!atomic_load(&p->drain_failed))
            backoff_ms = 0;
    }
    return NULL;
}

/* ---- life cycle ---- */

/* Name/value pairs; the config's "kafka" object overrides any of them. */
/* clang-format off */
static const char *const producer_defaults[] = {
    "enable.idempotence",           "true",
    "acks",                         "all",
    /* Measured: 2 ms batches best at 256 connections (0-1 ms: more requests, worse p99). */
    "linger.ms",                    "2",
    "socket.nagle.disable",         "true",
    /* Past ack_timeout_ms the spool answers; this bounds how long a shadow blocks the drain. */
    "message.timeout.ms",           "30000",
    "queue.buffering.max.messages", "200000",
    "reconnect.backoff.max.ms",     "1000",
    "client.id",                    "wxbridge-ingress",
    NULL,
};
/* clang-format on */

static double gauge_spool_pending(void *arg)
{
    return (double)spool_pending(arg);
}

static double gauge_spool_bytes(void *arg)
{
    return (double)spool_bytes(arg);
}

static double gauge_kafka_up(void *arg)
{
    return (double)atomic_load(&((publisher *)arg)->kafka_up);
}

static void register_metrics(publisher *p, metrics *m)
{
    static const double bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                    0.25,  0.5,   1,     2,    2.5,  5};
    const char *h = "Outcome of durable publication";
    if (!m)
        return;
    p->latency = metrics_histogram(m, "wxbridge_publish_seconds",
                                   "Time from submit until durable in Kafka or spool", NULL, bounds,
                                   (int)(sizeof(bounds) / sizeof(bounds[0])));
    p->c_kafka = metrics_counter(m, "wxbridge_publish_total", h, "outcome=\"kafka\"");
    p->c_spool = metrics_counter(m, "wxbridge_publish_total", h, "outcome=\"spool\"");
    p->c_failed = metrics_counter(m, "wxbridge_publish_total", h, "outcome=\"failed\"");
    p->c_deadline = metrics_counter(m, "wxbridge_publish_deadline_spooled_total",
                                    "Messages spooled because Kafka missed the ack deadline", NULL);
    p->c_dr_err = metrics_counter(m, "wxbridge_kafka_delivery_errors_total",
                                  "Failed Kafka delivery reports", NULL);
    p->c_drained = metrics_counter(m, "wxbridge_spool_drained_total",
                                   "Spooled messages republished to Kafka", NULL);
    p->c_recreated = metrics_counter(m, "wxbridge_kafka_producer_recreated_total",
                                     "Producers replaced after a fatal error", NULL);
    metrics_gauge_fn(m, "wxbridge_spool_pending", "Messages in the spool not yet in Kafka", NULL,
                     gauge_spool_pending, p->sp);
    metrics_gauge_fn(m, "wxbridge_spool_bytes", "Bytes in the spool", NULL, gauge_spool_bytes,
                     p->sp);
    metrics_gauge_fn(m, "wxbridge_kafka_up", "1 while Kafka acknowledges", NULL, gauge_kafka_up, p);
}

/* Frees what publisher_new() set up besides the producer and threads, and P. */
static void free_template(publisher *p)
{
    if (p->conf)
        rd_kafka_conf_destroy(p->conf);
    for (int i = 0; i < p->ntopics; i++)
        free(p->topics[i]);
    pthread_rwlock_destroy(&p->rk_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

int publisher_new(const struct publisher_opts *o, publisher **out, char *err, size_t errlen)
{
    publisher *p = calloc(1, sizeof(*p));
    int started = 0;

    *out = NULL;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->sp = o->spool;
    p->ack_timeout_ms = o->ack_timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_rwlock_init(&p->rk_lock, NULL);
    register_metrics(p, o->metrics);

    for (const char *const *t = o->topics; t && *t && p->ntopics < TOPICS_MAX; t++) {
        p->topics[p->ntopics] = strdup(*t);
        if (!p->topics[p->ntopics++]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    p->conf = kafka_conf_new(o->kafka, o->kafka_path, producer_defaults, err, errlen);
    if (!p->conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(p->conf, dr_cb);
    rd_kafka_conf_set_error_cb(p->conf, error_cb);
    rd_kafka_conf_set_opaque(p->conf, p);
    if (producer_create(p, err, errlen) < 0)
        goto fail;

    if (pthread_create(&p->poll_thr, NULL, poll_main, p) != 0)
        goto threads;
    started++;
    if (pthread_create(&p->timer_thr, NULL, timer_main, p) != 0)
        goto threads;
    started++;
    if (pthread_create(&p->drain_thr, NULL, drain_main, p) != 0)
        goto threads;
    *out = p;
    return 0;
threads:
    snprintf(err, errlen, "cannot start publisher threads");
    atomic_store(&p->stop, 1);
    if (started > 0)
        pthread_join(p->poll_thr, NULL);
    if (started > 1)
        pthread_join(p->timer_thr, NULL);
fail:
    if (p->rk)
        producer_destroy(p->rk, p->rkt, p->nrkt);
    free_template(p);
    return -1;
}

int publisher_kafka_up(publisher *p)
{
    return atomic_load(&p->kafka_up);
}

void publisher_free(publisher *p, int flush_ms)
{
    rd_kafka_resp_err_t err;

    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->drain_thr, NULL);
    pthread_join(p->timer_thr, NULL);
    pthread_join(p->poll_thr, NULL);

    /* Delivery reports now run in this thread, inside flush and poll. */
    err = rd_kafka_flush(p->rk, flush_ms);
    if (err) {
        log_event(LOG_WARN, "kafka_flush_incomplete", "error", rd_kafka_err2str(err), NULL);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    producer_destroy(p->rk, p->rkt, p->nrkt);
    free_template(p);
}
