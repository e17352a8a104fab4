/*
 * record: canonical inbound records. See record.h.
 */
#include "record.h"

#include "jsonw.h"
#include "util.h"
#include "wx_crypto.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kmsg_clear(struct kmsg *m)
{
    if (!m)
        return;
    free(m->topic);
    free(m->key);
    free(m->value);
    for (int i = 0; i < m->hdr_count; i++) {
        free(m->hdr_name[i]);
        free(m->hdr_value[i]);
    }
    memset(m, 0, sizeof(*m));
}

int kmsg_add_header(struct kmsg *m, const char *name, const char *value)
{
    if (m->hdr_count >= RECORD_HDR_MAX)
        return -1;
    m->hdr_name[m->hdr_count] = strdup(name);
    m->hdr_value[m->hdr_count] = strdup(value);
    if (!m->hdr_name[m->hdr_count] || !m->hdr_value[m->hdr_count]) {
        free(m->hdr_name[m->hdr_count]);
        free(m->hdr_value[m->hdr_count]);
        return -1;
    }
    m->hdr_count++;
    return 0;
}

/* CreateTime is an integer, but some official examples send a numeric string. */
static int get_create_time(const json_t *payload, long long *out)
{
    const json_t *v = json_object_get(payload, "CreateTime");
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        return util_parse_ll(json_string_value(v), 0, INT64_MAX, out);
    return -1;
}

/* MsgId as a string (64-bit safe); 0 if absent, -1 if of an unusable type. */
static int get_msg_id(const json_t *payload, char *buf, size_t len, int *present)
{
    const json_t *v = json_object_get(payload, "MsgId");
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < len)
        snprintf(buf, len, "%s", json_string_value(v));
    else
        return -1;
    *present = 1;
    return 0;
}

static void digest_field(EVP_MD_CTX *ctx, const char *s)
{
    /* Length-prefixed so that field boundaries cannot be shifted. */
    uint32_t n = (uint32_t)strlen(s);
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    EVP_DigestUpdate(ctx, len, 4);
    EVP_DigestUpdate(ctx, s, n);
}

static int event_id(const json_t *payload, const char *appid, char *id)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[65], ct[32];
    long long create_time = 0;
    const char *k;
    json_t *v;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *trace = wxp_get_str(payload, "trace_id");
    const char *ev = wxp_get_str(payload, "Event");

    if (!ctx || EVP_DigestInit_ex(ctx, wxc_sha256_md(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return REC_ENOMEM;
    }
    get_create_time(payload, &create_time);
    snprintf(ct, sizeof(ct), "%lld", create_time);
    digest_field(ctx, wxp_get_str(payload, "FromUserName"));
    digest_field(ctx, ct);
    digest_field(ctx, wxp_get_str(payload, "MsgType"));
    digest_field(ctx, ev ? ev : "");
    digest_field(ctx, trace ? trace : "");
    /* Iteration order is insertion order; sort the structured fields by name. */
    {
        const char *names[64];
        size_t n = 0;
        json_object_foreach((json_t *)payload, k, v)
        {
            if ((json_is_object(v) || json_is_array(v)) && n < 64)
                names[n++] = k;
        }
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                const char *t = names[j];
                names[j] = names[j - 1];
                names[j - 1] = t;
            }
        }
        for (size_t i = 0; i < n; i++) {
            char *dump = json_dumps(json_object_get(payload, names[i]),
                                    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            digest_field(ctx, names[i]);
            digest_field(ctx, dump ? dump : "");
            free(dump);
        }
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    util_hex(md, 16, hex);
    snprintf(id, RECORD_ID_MAX, "%s:e:%s", appid, hex);
    return REC_OK;
}

static int check_common(const json_t *payload, char *err, size_t errlen)
{
    static const char *required[] = {"FromUserName", "MsgType"};
    long long ct;

    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(payload, required[i]);
        if (!v) {
            snprintf(err, errlen, "missing field %s", required[i]);
            return REC_EMISSING;
        }
        if (!json_is_string(v) || json_string_length(v) == 0) {
            snprintf(err, errlen, "field %s must be a non-empty string", required[i]);
            return REC_ETYPE;
        }
    }
    if (!json_object_get(payload, "CreateTime")) {
        snprintf(err, errlen, "missing field CreateTime");
        return REC_EMISSING;
    }
    if (get_create_time(payload, &ct) < 0) {
        snprintf(err, errlen, "field CreateTime must be an integer");
        return REC_ETYPE;
    }
    return REC_OK;
}

int record_id(const json_t *payload, const char *appid, char *id, char *err, size_t errlen)
{
    char msg_id[64];
    int present, rc = check_common(payload, err, errlen);

    if (rc)
        return rc;
    if (get_msg_id(payload, msg_id, sizeof(msg_id), &present) < 0) {
        snprintf(err, errlen, "field MsgId must be an integer or a string");
        return REC_ETYPE;
    }
    if (present) {
        snprintf(id, RECORD_ID_MAX, "%s:m:%s", appid, msg_id);
        return REC_OK;
    }
    return event_id(payload, appid, id);
}

int record_build(const json_t *payload, const struct record_meta *meta, const char *topic,
                 struct kmsg *out, char *id, char *err, size_t errlen)
{
    char msg_id[64];
    int present, rc;
    long long create_time = 0;
    const char *from, *msg_type, *event, *to;
    struct jsonw w;

    memset(out, 0, sizeof(*out));
    rc = record_id(payload, meta->appid, id, err, errlen);
    if (rc)
        return rc;
    get_msg_id(payload, msg_id, sizeof(msg_id), &present);
    get_create_time(payload, &create_time);
    from = wxp_get_str(payload, "FromUserName");
    msg_type = wxp_get_str(payload, "MsgType");
    to = wxp_get_str(payload, "ToUserName");
    event = wxp_get_str(payload, "Event");

    /* Written directly: building a jansson object to serialize it cost more than the rest
     * of the request path. */
    jsonw_init(&w, RECORD_VALUE_MAX);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "schema");
    jsonw_str(&w, RECORD_SCHEMA);
    jsonw_key(&w, "id");
    jsonw_str(&w, id);
    jsonw_key(&w, "appid");
    jsonw_str(&w, meta->appid);
    jsonw_key(&w, "to");
    jsonw_str(&w, to);
    jsonw_key(&w, "from");
    jsonw_str(&w, from);
    jsonw_key(&w, "create_time");
    jsonw_int(&w, create_time);
    jsonw_key(&w, "msg_type");
    jsonw_str(&w, msg_type);
    jsonw_key(&w, "event");
    jsonw_str(&w, event);
    jsonw_key(&w, "msg_id");
    jsonw_str(&w, present ? msg_id : NULL);
    jsonw_key(&w, "payload");
    jsonw_value(&w, payload);
    jsonw_key(&w, "format");
    jsonw_str(&w, meta->format == WX_FORMAT_XML ? "xml" : "json");
    jsonw_key(&w, "encrypted");
    jsonw_bool(&w, meta->encrypted);
    jsonw_key(&w, "received_at_ms");
    jsonw_int(&w, meta->received_at_ms);
    jsonw_obj_end(&w);
    out->value = jsonw_finish(&w, &out->value_len);
    out->topic = strdup(topic);
    out->key = strdup(from);
    if (!out->value || !out->topic || !out->key)
        goto nomem;
    if (kmsg_add_header(out, "wx-schema", RECORD_SCHEMA) ||
        kmsg_add_header(out, "wx-appid", meta->appid) ||
        kmsg_add_header(out, "wx-msg-type", msg_type) ||
        (event && kmsg_add_header(out, "wx-event", event)) || kmsg_add_header(out, "wx-id", id))
        goto nomem;
    return REC_OK;
nomem:
    kmsg_clear(out);
    snprintf(err, errlen, "out of memory");
    return REC_ENOMEM;
}
