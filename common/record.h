/*
 * record: the canonical inbound record (schema wxbridge.inbound.v1) and the
 * message that carries it to Kafka.
 *
 * record_build() turns a parsed push into the record of CONTRACT.md: typed
 * common fields, the whole payload under its original names, and an `id`
 * that is identical for every retry of the same push:
 *   messages (MsgId present):  "<appid>:m:<MsgId>"
 *   events and others:         "<appid>:e:<32 hex>" = SHA-256 over
 *       FromUserName, CreateTime, MsgType, Event, trace_id and every
 *       object/array-valued top-level field (compact, keys sorted), since
 *       distinct pushes of one event may share a CreateTime.
 */
#ifndef WXB_RECORD_H
#define WXB_RECORD_H

#include "wx_parse.h"

#include <jansson.h>
#include <stdint.h>

#define RECORD_SCHEMA    "wxbridge.inbound.v1"
#define RECORD_ID_MAX    160
#define RECORD_HDR_MAX   6
#define RECORD_VALUE_MAX (8 * 1024 * 1024) /* bound of a serialized record */

enum {
    REC_OK = 0,
    REC_EMISSING = -1, /* a required field (FromUserName, MsgType, CreateTime) is missing */
    REC_ETYPE = -2,    /* a field has the wrong type */
    REC_ENOMEM = -3,
};

/* One Kafka message: topic, key, value and headers, all owned. */
struct kmsg {
    char *topic;
    char *key; /* may be "" */
    char *value;
    size_t value_len;
    int hdr_count;
    char *hdr_name[RECORD_HDR_MAX];
    char *hdr_value[RECORD_HDR_MAX];
};

/* Frees what M owns and zeroes it; NULL-safe. */
void kmsg_clear(struct kmsg *m);

/* Adds a header (copies NAME and VALUE). Returns 0 or -1 when full / no memory. */
int kmsg_add_header(struct kmsg *m, const char *name, const char *value);

struct record_meta {
    const char *appid;
    enum wx_format format;
    int encrypted;
    int64_t received_at_ms;
};

/*
 * Builds the canonical record for PAYLOAD and fills OUT (topic TOPIC, key =
 * openid, value = compact JSON, headers wx-schema, wx-appid, wx-msg-type,
 * wx-event when an event, wx-id). ID receives the record id (RECORD_ID_MAX).
 * PAYLOAD is borrowed. Returns 0 or REC_E* with detail in ERR.
 */
int record_build(const json_t *payload, const struct record_meta *meta, const char *topic,
                 struct kmsg *out, char *id, char *err, size_t errlen);

/* Computes only the id of PAYLOAD for APPID (same rules as record_build). */
int record_id(const json_t *payload, const char *appid, char *id, char *err, size_t errlen);

#endif
