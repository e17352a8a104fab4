/*
 * replay_entry: what wxbridge-replay does with one record of its source
 * topic, without any Kafka I/O: read the entry (appid, stored reason, time)
 * for the filters, then plan its replay: the messages to publish, or why it
 * is skipped or still fails.
 *
 *   REPLAY_INBOUND_DLQ  an entry of wx.inbound.dlq (schema/inbound_dlq.v1):
 *       the stored body and query go through push_handle() again with the
 *       given ingress config, at now = the entry's received_at_ms. The
 *       caller passes a config whose timestamp_tolerance_s is 0: the stored
 *       push is older than any replay window, but its signatures are still
 *       verified. Output: the canonical record exactly as the ingress
 *       publishes it (topic, key = openid, headers, id, and the original
 *       received_at_ms, so every replay of an entry is byte-identical).
 *   REPLAY_REPLIES_DLQ  an entry of wx.replies.dlq (schema/reply_dlq.v1):
 *       the stored command with id "replay:" + its id (replay_reply_id),
 *       validated as the replier will (reply_cmd_parse), keyed by touser,
 *       headers wx-schema and wx-replay-of (the original id: the command
 *       schema allows no extra field).
 *   REPLAY_REROUTE      a record of wx.inbound: route_rules_eval() as
 *       wxbridge-router does it, every output topic (rule topics, unrouted,
 *       replies) prefixed with the configured prefix; the routed record keeps
 *       its key, value and headers, reply commands are keyed by touser with
 *       header wx-schema.
 *
 * Thread safety: none needed; one caller.
 */
#ifndef WXB_REPLAY_ENTRY_H
#define WXB_REPLAY_ENTRY_H

#include "ingress_config.h"
#include "route_rules.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_ENTRY_MAX  (32 * 1024 * 1024) /* bytes of a source record value */
#define REPLAY_OUT_MAX    (ROUTE_TOPICS_MAX + ROUTE_REPLIES_MAX)
#define REPLAY_ID_BUF     600 /* output ids: record ids, "replay:" + a command id */
#define REPLAY_DETAIL_MAX 256
#define REPLAY_CAUSE_MAX  48

enum replay_kind { REPLAY_INBOUND_DLQ = 1, REPLAY_REPLIES_DLQ, REPLAY_REROUTE };

enum replay_action { REPLAY_PUBLISH, REPLAY_SKIP, REPLAY_FAIL };

/* How to plan. Everything is borrowed and must outlive the plans. */
struct replay_ctx {
    enum replay_kind kind;
    const char *output_topic; /* inbound-dlq: NULL = the ingress config's topic; replies-dlq */
    /* inbound-dlq */
    const struct ingress_config *ingress;
    /* reroute */
    const route_rules *rules;
    const char *prefix;      /* prepended to every output topic; "" = the live topics */
    const char *reply_topic; /* before the prefix */
    int no_replies;          /* do not publish the rules' reply commands */
};

/* One source record, borrowed from the consumer. */
struct replay_input {
    const void *key; /* may be NULL */
    size_t key_len;
    const void *value; /* may be NULL */
    size_t len;
    const rd_kafka_headers_t *hdrs; /* may be NULL */
    int64_t kafka_ts_ms;            /* -1 when unknown */
};

/* What the filters look at. */
struct replay_entry {
    json_t *root;        /* the parsed value, NULL when it is not JSON; owned */
    const char *appid;   /* NULL when unknown; points into root or appid_buf */
    const char *reason;  /* stored reason (dead letters), NULL otherwise / unknown; points
                            into root or reason_buf */
    int64_t time_ms;     /* received_at_ms / at_ms, else the Kafka timestamp; -1 unknown */
    char appid_buf[128]; /* appid from a header */
    char reason_buf[64]; /* reason from a header */
};

/* One message to publish. */
struct replay_msg {
    char *topic;               /* owned */
    const void *key, *value;   /* into own_key / own_value, or borrowed from the input */
    size_t key_len, value_len; /* key NULL = no key */
    void *own_key, *own_value; /* freed by replay_plan_clear */
    rd_kafka_headers_t *hdrs;  /* owned; NULL = none */
};

struct replay_plan {
    enum replay_action action;
    const char *cause; /* SKIP / FAIL: stable snake_case (static or cause_buf) */
    char cause_buf[REPLAY_CAUSE_MAX];
    char detail[REPLAY_DETAIL_MAX]; /* human detail for FAIL */
    char id[REPLAY_ID_BUF];      /* the output's id (record id, replayed command id); "" unknown */
    char orig_id[REPLAY_ID_BUF]; /* replies-dlq: the stored command id */
    size_t nmsgs;
    struct replay_msg msgs[REPLAY_OUT_MAX];
};

/*
 * Reads IN as an entry of KIND into E (cleared first). Never fails: a value
 * that is not JSON or lacks fields gives NULL appid/reason (and the Kafka
 * timestamp), and replay_entry_plan() then reports it. Release with
 * replay_entry_clear().
 */
void replay_entry_read(enum replay_kind kind, const struct replay_input *in,
                       struct replay_entry *e);

void replay_entry_clear(struct replay_entry *e);

/*
 * Plans the replay of E (read from IN) under CTX into P (cleared first).
 * Never fails: out of memory is a FAIL with cause "out_of_memory". The plan
 * may borrow IN's key and value: publish it before IN is released. Release
 * with replay_plan_clear().
 */
void replay_entry_plan(const struct replay_ctx *ctx, const struct replay_input *in,
                       const struct replay_entry *e, struct replay_plan *p);

/* Turns P into a SKIP for CAUSE (a static string): its messages are dropped, its ids kept. */
void replay_plan_skip(struct replay_plan *p, const char *cause);

/* Releases what P owns and zeroes it (NULL-safe). */
void replay_plan_clear(struct replay_plan *p);

#endif
