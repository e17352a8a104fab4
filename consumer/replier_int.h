/*
 * replier_int: what the replier's files share: replier.c (consuming,
 * rebalances, shutdown, the loop), replier_send.c (each command's way to
 * WeChat), replier_output.c (intents, results, DLQ, delivery reports),
 * replier_users.c (per-user order), replier_offsets.c (commits) and
 * replier_metrics.c. Not a public header: nothing else includes it.
 */
#ifndef WXB_REPLIER_INT_H
#define WXB_REPLIER_INT_H

#include "dedup.h"
#include "http_client.h"
#include "media_cache.h"
#include "quota_guard.h"
#include "rate_limit.h"
#include "replier.h"
#include "replier_state.h"
#include "reply_cmd.h"
#include "token_cache.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

#define PARTS_MAX    1024
#define USER_BUCKETS 16384
#define STATUS_CODES 64 /* distinct (status, errcode) result counters */

enum cmd_state {
    CS_QUEUED,     /* behind an earlier command of the same user */
    CS_READY,      /* in the ready queue, waiting for a slot */
    CS_TIMER,      /* waiting for a retry, the rate limit or the quota view */
    CS_WAIT_TOKEN, /* waiting for the app's access token */
    CS_INTENT,     /* send intent written, waiting for Kafka's acknowledgement */
    CS_HTTP,       /* a request (send, media fetch or upload) is in flight */
    CS_OUTPUT,     /* result written, waiting for Kafka's acknowledgement */
};

struct user;

struct replier;
struct cmd;

/* What a produced message's delivery report is about. */
struct dr_tag {
    int intent; /* 1: the send intent of c; 0: one of its outputs */
    struct cmd *c;
};

enum slot { SLOT_NONE, SLOT_SENDING, SLOT_UNRECORDED };

struct cmd {
    struct replier *owner;
    struct reply_cmd rc;
    int valid;
    enum cmd_state state;
    int32_t partition;
    int64_t seq;      /* position in its partition's offset tracker */
    int64_t kafka_ts; /* wall ms the command was written */
    int64_t taken_ms; /* monotonic, when consumed */
    int app;          /* index in cfg->apps */
    struct user *user;
    struct cmd *user_next;
    struct cmd *ready_next;
    struct cmd *all_prev, *all_next; /* every live command, for clean-up */
    struct cmd *wait_next;           /* token waiters of one app */
    int attempts;
    int token_retried;
    int quota_passed;
    int checked;      /* looked for an earlier result and intent of its id */
    int intent_acked; /* our own intent is in Kafka: the send may go */
    int rate_taken;   /* this attempt took its rate-limit token */
    enum slot slot;   /* counted in in_flight or unrecorded (replier_send.c) */
    struct dr_tag out_tag, intent_tag;
    unsigned token_gen;
    int abandoned; /* its partition was revoked while a request was in flight */
    int unacked;   /* outputs produced, not acknowledged yet */
    char *media_id;
    char *media_data; /* fetched image bytes, until uploaded */
    size_t media_len;
    char media_ctype[64];
    int64_t http_started_ms;
};

struct user {
    char *key; /* appid + '\n' + touser */
    struct cmd *head, *tail;
    struct user *next;
};

struct ptrack {
    int active;
    int64_t *offs;
    unsigned char *done;
    int64_t base_seq; /* sequence number of the ring's first slot */
    size_t head, count, cap;
    int64_t commit_next; /* next offset to commit, -1: nothing yet */
    int64_t committed;
};

struct timer {
    int64_t due;
    struct cmd *c;
};

struct status_counter {
    int status;
    long errcode;
    mcounter *c;
};

/* What the gauges show, published by the replier's thread (replier_metrics.c). */
struct replier_gauges {
    _Atomic long in_flight, unrecorded, pending;
    _Atomic unsigned long long finished_ids, quota_users, quota_evictions;
};

struct replier {
    const struct replier_config *cfg;
    metrics *m;
    rd_kafka_t *consumer, *producer;
    rd_kafka_topic_t *warm[3]; /* results, DLQ, intents: looked up at start */
    http_client *hc;
    token_cache *tokens;
    replier_state *state;
    dedup *finished;
    dedup *started;
    quota_guard *quota;
    media_cache *media;
    struct rate_limit limits[REPLIER_APPS_MAX];
    struct cmd *token_waiters[REPLIER_APPS_MAX];
    uint64_t rng;

    char *ready_file;
    char bootstrap[1024];
    int ready_written;
    atomic_int ready;
    int assigned;
    int draining;           /* revoke or shutdown: no new sends */
    int64_t drain_deadline; /* monotonic: when draining gives up */
    int fatal;
    atomic_int dr_failed;
    int paused;

    struct ptrack parts[PARTS_MAX];
    struct user *users[USER_BUCKETS];
    struct cmd *ready_head, *ready_tail;
    struct cmd *go_head, *go_tail; /* intent acknowledged: send now, slot already held */
    struct cmd *all;
    struct timer *timers;
    size_t ntimers, timers_cap;
    long pending;    /* commands consumed and not finished */
    long in_flight;  /* sends started, not answered yet (max_in_flight) */
    long unrecorded; /* sends answered, result not acknowledged yet (max_in_flight) */
    int64_t last_commit_ms;

    struct replier_gauges g;
    struct status_counter statuses[STATUS_CODES];
    int nstatuses;
    mcounter *c_commands, *c_dupes, *c_retries, *c_dlq, *c_media, *c_quota_wait;
    mhist *h_send, *h_latency;
};

/* replier_send.c */
void send_step(replier *r, struct cmd *c);
void send_token_changed(void *arg, const char *appid, int ok, const char *error);
void send_timer_push(replier *r, struct cmd *c, int64_t delay_ms);
void send_ready_push(replier *r, struct cmd *c);
/* C no longer counts against max_in_flight (idempotent). */
void replier_slot_release(replier *r, struct cmd *c);
/* C's intent is in Kafka: it is sent before anything in the ready queue. */
void send_go_push(replier *r, struct cmd *c);
void send_dispatch(replier *r);
/* While draining: sends only the commands whose intent is in Kafka. */
void send_dispatch_draining(replier *r);
void send_timers_due(replier *r);

/* replier_output.c */
/* Writes C's send intent; C goes on (send_go_push) once Kafka has it. */
void replier_write_intent(replier *r, struct cmd *c);
/* Writes C's result (and DLQ record when DLQ_REASON is set), then hands the
 * user's next command on. ATTEMPTS and ERRMSG describe the outcome. */
void replier_complete(replier *r, struct cmd *c, enum reply_status st, long errcode,
                      const char *errmsg, const char *dlq_reason, const char *dlq_detail);
/* C needs no output (a result for its id exists): finishes it. */
void replier_skip(replier *r, struct cmd *c);
/* C is not a valid command: DLQ record, and a result when it has an id. */
void replier_take_invalid(replier *r, struct cmd *c, const rd_kafka_message_t *m,
                          const char *reason, const char *detail);
/* C's offset is finished (outputs acknowledged, or none needed): frees C. */
void replier_cmd_finished(replier *r, struct cmd *c);
/* Frees C and unlinks it everywhere. */
void replier_cmd_free(replier *r, struct cmd *c);
/* The producer's delivery report callback (opaque: the replier). */
void replier_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* replier_users.c */
/* Appends C to its user's queue (sending it at once when it is the head); -1: no memory. */
int replier_user_enqueue(replier *r, struct cmd *c);
/* C (the head of its user's queue) is finished: the user's next command may go. */
void replier_user_advance(replier *r, struct cmd *c);
/* Takes C out of its user's queue without letting the next command go. */
void replier_user_detach(replier *r, struct cmd *c);

/* replier_offsets.c */
#define COMMIT_WAIT_MS 10000 /* a commit at revoke or shutdown waits at most this */
/* The tracker of partition P, or NULL when P is out of range. */
struct ptrack *ptrack_get(replier *r, int32_t p);
void ptrack_reset(struct ptrack *t, int active);
/* Records a consumed OFFSET; returns its sequence number, or -1 when out of memory. */
int64_t ptrack_push(struct ptrack *t, int64_t offset);
/* The command of sequence SEQ is finished; moves commit_next past finished offsets. */
void ptrack_done(struct ptrack *t, int64_t seq);
/* Commits every active partition's finished prefix (SYNC: waits, bounded). */
void replier_commit(replier *r, int sync);

/* replier_metrics.c */
void replier_register_metrics(replier *r);
/* Copies the gauges' values for the ops thread; call on the replier's thread. */
void replier_publish_gauges(replier *r);

#endif
