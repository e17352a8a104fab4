/*
 * replay_entry: reading and planning one source record. See replay_entry.h.
 *
 * The three plans reuse the production code paths rather than copies of
 * them: push_handle() for dead-lettered pushes, reply_cmd_parse() for reply
 * commands, route_rules_eval() for rerouting. Only the mapping of the
 * router's outputs to Kafka messages (route_one() in consumer/router.c,
 * static there) is repeated here, with the same keys and headers.
 */
#include "replay_entry.h"

#include "b64.h"
#include "jsonw.h"
#include "kafka_topic.h"
#include "push_handler.h"
#include "reply_cmd.h"
#include "replay_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_field(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static int64_t int_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : -1;
}

void replay_entry_read(enum replay_kind kind, const struct replay_input *in, struct replay_entry *e)
{
    json_error_t jerr;
    const json_t *root;
    int64_t t = -1;

    memset(e, 0, sizeof(*e));
    if (in->value && in->len <= REPLAY_ENTRY_MAX)
        e->root = json_loadb(in->value, in->len, 0, &jerr);
    root = json_is_object(e->root) ? e->root : NULL;
    switch (kind) {
    case REPLAY_INBOUND_DLQ:
        e->appid = str_field(root, "appid");
        e->reason = str_field(root, "reason");
        if (!e->reason)
            e->reason =
                kafka_headers_str(in->hdrs, "wx-dlq-reason", e->reason_buf, sizeof(e->reason_buf));
        if (!e->appid)
            e->appid = kafka_headers_str(in->hdrs, "wx-appid", e->appid_buf, sizeof(e->appid_buf));
        t = int_field(root, "received_at_ms");
        break;
    case REPLAY_REPLIES_DLQ:
        e->appid = str_field(json_object_get(root, "command"), "appid");
        e->reason = str_field(root, "reason");
        t = int_field(root, "at_ms");
        break;
    case REPLAY_REROUTE:
        e->appid = kafka_headers_str(in->hdrs, "wx-appid", e->appid_buf, sizeof(e->appid_buf));
        if (!e->appid)
            e->appid = str_field(root, "appid");
        t = int_field(root, "received_at_ms");
        break;
    }
    e->time_ms = t >= 0 ? t : in->kafka_ts_ms;
}

void replay_entry_clear(struct replay_entry *e)
{
    if (!e)
        return;
    json_decref(e->root);
    memset(e, 0, sizeof(*e));
}

/* Frees the messages of P (partial outputs of a plan that failed). */
static void drop_msgs(struct replay_plan *p)
{
    for (size_t i = 0; i < p->nmsgs; i++) {
        free(p->msgs[i].topic);
        free(p->msgs[i].own_key);
        free(p->msgs[i].own_value);
        if (p->msgs[i].hdrs)
            rd_kafka_headers_destroy(p->msgs[i].hdrs);
    }
    memset(p->msgs, 0, p->nmsgs * sizeof(p->msgs[0]));
    p->nmsgs = 0;
}

void replay_plan_skip(struct replay_plan *p, const char *cause)
{
    drop_msgs(p);
    p->action = REPLAY_SKIP;
    p->cause = cause;
    p->detail[0] = '\0';
}

void replay_plan_clear(struct replay_plan *p)
{
    if (!p)
        return;
    drop_msgs(p);
    memset(p, 0, sizeof(*p));
}

static void fail(struct replay_plan *p, const char *cause, const char *detail)
{
    p->action = REPLAY_FAIL;
    p->cause = cause;
    snprintf(p->detail, sizeof(p->detail), "%s", detail);
}

/* Appends a message to P with topic PREFIX + TOPIC; returns it, or NULL after failing P. */
static struct replay_msg *add_msg(struct replay_plan *p, const char *prefix, const char *topic)
{
    struct replay_msg *m;
    size_t plen = prefix ? strlen(prefix) : 0, tlen = strlen(topic);

    if (p->nmsgs >= REPLAY_OUT_MAX) {
        fail(p, "too_many_outputs", "more outputs than one entry may have");
        return NULL;
    }
    if (plen + tlen > ROUTE_TOPIC_MAX) {
        fail(p, "topic_too_long", "the prefixed topic name is longer than 249 bytes");
        return NULL;
    }
    m = &p->msgs[p->nmsgs];
    memset(m, 0, sizeof(*m));
    m->topic = malloc(plen + tlen + 1);
    if (!m->topic) {
        fail(p, "out_of_memory", "topic name");
        return NULL;
    }
    if (plen)
        memcpy(m->topic, prefix, plen);
    memcpy(m->topic + plen, topic, tlen + 1);
    p->nmsgs++;
    return m;
}

/* ---- inbound-dlq ---- */

static const struct ingress_app *find_app(const struct ingress_config *cfg, const char *appid)
{
    for (size_t i = 0; appid && i < cfg->napps; i++)
        if (strcmp(cfg->apps[i].appid, appid) == 0)
            return &cfg->apps[i];
    return NULL;
}

/* Moves the record of RES into a message of P. */
static void take_record(const struct replay_ctx *ctx, struct push_result *res,
                        struct replay_plan *p)
{
    struct kmsg *k = &res->msg;
    struct replay_msg *m = add_msg(p, NULL, ctx->output_topic ? ctx->output_topic : k->topic);

    if (!m)
        return;
    m->hdrs = rd_kafka_headers_new((size_t)k->hdr_count);
    for (int i = 0; i < k->hdr_count; i++)
        rd_kafka_header_add(m->hdrs, k->hdr_name[i], -1, k->hdr_value[i], -1);
    /* The same key bytes as the ingress: the openid, never NULL. */
    m->own_key = k->key;
    m->key = k->key;
    m->key_len = strlen(k->key);
    m->own_value = k->value;
    m->value = k->value;
    m->value_len = k->value_len;
    k->key = NULL;
    k->value = NULL;
    snprintf(p->id, sizeof(p->id), "%s", res->id);
    p->action = REPLAY_PUBLISH;
}

static void plan_inbound(const struct replay_ctx *ctx, const struct replay_entry *e,
                         struct replay_plan *p)
{
    const json_t *root = json_is_object(e->root) ? e->root : NULL;
    const json_t *b64 = json_object_get(root, "body_b64"), *query = json_object_get(root, "query");
    const struct ingress_app *app;
    struct push_result res;
    struct push_request req;
    unsigned char *body = NULL;
    long n;

    if (!root || !json_is_string(b64) || !json_is_object(query) ||
        int_field(root, "received_at_ms") < 0 || !str_field(root, "appid")) {
        fail(p, "bad_entry",
             "not an inbound dead letter (appid, body_b64, query, received_at_ms required)");
        return;
    }
    app = find_app(ctx->ingress, e->appid);
    if (!app) {
        fail(p, "app_not_configured", "the ingress config has no app with this appid");
        return;
    }
    body = malloc(B64_DECODED_MAX(json_string_length(b64)) + 1);
    if (!body) {
        fail(p, "out_of_memory", "body");
        return;
    }
    n = b64_decode(json_string_value(b64), json_string_length(b64), body);
    if (n < 0) {
        free(body);
        fail(p, "bad_entry", "body_b64 is not base64");
        return;
    }
    body[n] = '\0'; /* as the HTTP server hands bodies over */
    req = (struct push_request){
        .is_post = 1,
        .query = push_query_json(query),
        .body = (const char *)body,
        .body_len = (size_t)n,
        .now_ms = int_field(root, "received_at_ms"),
    };
    push_handle(ctx->ingress, app, &req, &res);
    free(body);
    if (res.outcome == PUSH_PUBLISH) {
        take_record(ctx, &res, p);
    } else {
        /* Still a dead letter (e.g. decrypt_failed with this key too), or refused (e.g.
         * signature_mismatch: the token differs). res.reason is a static string. */
        fail(p, res.reason ? res.reason : "refused", res.detail);
    }
    kmsg_clear(&res.msg);
}

/* ---- replies-dlq ---- */

static void plan_reply(const struct replay_ctx *ctx, const struct replay_entry *e,
                       struct replay_plan *p)
{
    const json_t *root = json_is_object(e->root) ? e->root : NULL;
    const json_t *cmd = json_object_get(root, "command");
    const char *orig;
    json_t *copy = NULL;
    char *value = NULL;
    struct reply_cmd rc = {0};
    struct replay_msg *m;
    char reason[REPLY_REASON_MAX];

    if (!root || !json_object_get(root, "reason")) {
        fail(p, "bad_entry", "not a reply dead letter (schema/reply_dlq.v1.schema.json)");
        return;
    }
    if (!cmd || json_is_null(cmd)) {
        fail(p, "command_unparsable",
             "the command was not JSON: only command_b64 holds it; fix and publish it by hand");
        return;
    }
    orig = str_field(cmd, "id");
    if (!orig) {
        fail(p, "missing_id", "$.command.id: the command has no string id to derive a replay id");
        return;
    }
    snprintf(p->orig_id, sizeof(p->orig_id), "%s", orig);
    if (strlen(orig) >= sizeof(p->orig_id) ||
        replay_reply_id(orig, REPLY_ID_MAX, p->id, sizeof(p->id)) < 0) {
        p->id[0] = '\0';
        fail(p, "replay_id_too_long",
             "\"replay:\" + the id would exceed 128 characters (or the id is not UTF-8)");
        return;
    }
    copy = json_deep_copy(cmd);
    if (!copy || json_object_set_new(copy, "id", json_string(p->id)) < 0 ||
        !(value = json_dumps(copy, JSON_COMPACT))) {
        fail(p, "out_of_memory", "command");
        goto out;
    }
    /* Checked as the replier will: a command it would refuse is reported here instead. */
    if (reply_cmd_parse(value, strlen(value), &rc, reason, sizeof(reason), p->detail,
                        sizeof(p->detail)) < 0) {
        snprintf(p->cause_buf, sizeof(p->cause_buf), "%s", reason);
        p->action = REPLAY_FAIL;
        p->cause = p->cause_buf;
        goto out;
    }
    m = add_msg(p, NULL, ctx->output_topic);
    if (!m)
        goto out;
    m->own_key = strdup(rc.touser);
    m->hdrs = rd_kafka_headers_new(2);
    if (!m->own_key) {
        fail(p, "out_of_memory", "key");
        goto out;
    }
    m->key = m->own_key;
    m->key_len = strlen(rc.touser);
    m->own_value = value;
    m->value = value;
    m->value_len = strlen(value);
    value = NULL;
    rd_kafka_header_add(m->hdrs, "wx-schema", -1, REPLY_CMD_SCHEMA, -1);
    rd_kafka_header_add(m->hdrs, "wx-replay-of", -1, orig, -1);
    p->action = REPLAY_PUBLISH;
out:
    reply_cmd_free(&rc);
    free(value);
    json_decref(copy);
}

/* ---- reroute ---- */

/* A message carrying the source record unchanged (plus one header when EXTRA_NAME). */
static void add_record(struct replay_plan *p, const struct replay_ctx *ctx,
                       const struct replay_input *in, const char *topic, const char *extra_name,
                       const char *extra_value)
{
    struct replay_msg *m = add_msg(p, ctx->prefix, topic);

    if (!m)
        return;
    m->key = in->key;
    m->key_len = in->key_len;
    m->value = in->value;
    m->value_len = in->len;
    m->hdrs = in->hdrs ? rd_kafka_headers_copy(in->hdrs) : rd_kafka_headers_new(1);
    if (extra_name)
        rd_kafka_header_add(m->hdrs, extra_name, -1, extra_value, -1);
}

static void add_reply(struct replay_plan *p, const struct replay_ctx *ctx, const json_t *reply)
{
    const char *to = json_string_value(json_object_get(reply, "touser"));
    struct replay_msg *m;
    struct jsonw w;
    size_t len;
    char *v;

    jsonw_init(&w, 1 << 20);
    jsonw_value(&w, reply);
    v = jsonw_finish(&w, &len);
    if (!v) {
        fail(p, "out_of_memory", "reply command");
        return;
    }
    m = add_msg(p, ctx->prefix, ctx->reply_topic);
    if (!m) {
        free(v);
        return;
    }
    m->own_value = v;
    m->value = v;
    m->value_len = len;
    if (to) {
        m->own_key = strdup(to);
        m->key = m->own_key;
        m->key_len = m->own_key ? strlen(to) : 0;
    }
    m->hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(m->hdrs, "wx-schema", -1, REPLY_CMD_SCHEMA, -1);
}

static void plan_reroute(const struct replay_ctx *ctx, const struct replay_input *in,
                         const struct replay_entry *e, struct replay_plan *p)
{
    struct route_result res = {0};
    char err[256];
    const char *id = kafka_headers_str(in->hdrs, "wx-id", p->id, sizeof(p->id));

    if (!id && (id = str_field(e->root, "id")))
        snprintf(p->id, sizeof(p->id), "%s", id);
    p->action = REPLAY_PUBLISH;
    if (!e->root) {
        /* As the router: a record that is not JSON goes to the unrouted topic. */
        add_record(p, ctx, in, route_rules_unrouted_topic(ctx->rules), "wx-unrouted-reason",
                   "bad_record");
        return;
    }
    if (route_rules_eval(ctx->rules, e->root, &res, err, sizeof(err)) != ROUTE_OK) {
        fail(p, "out_of_memory", err);
        return;
    }
    if (res.unrouted) {
        add_record(p, ctx, in, res.topics[0], "wx-unrouted-reason", res.unrouted_code);
    } else if (res.dropped) {
        p->action = REPLAY_SKIP;
        p->cause = "dropped_by_rule";
    } else {
        for (size_t i = 0; i < res.n_topics && p->action == REPLAY_PUBLISH; i++)
            add_record(p, ctx, in, res.topics[i], NULL, NULL);
        for (size_t i = 0; !ctx->no_replies && i < res.n_replies && p->action == REPLAY_PUBLISH;
             i++)
            add_reply(p, ctx, res.replies[i]);
        if (p->action == REPLAY_PUBLISH && p->nmsgs == 0) {
            p->action = REPLAY_SKIP;
            p->cause = "replies_suppressed"; /* a reply-only rule under --no-replies */
        }
    }
    route_result_clear(&res);
}

void replay_entry_plan(const struct replay_ctx *ctx, const struct replay_input *in,
                       const struct replay_entry *e, struct replay_plan *p)
{
    memset(p, 0, sizeof(*p));
    switch (ctx->kind) {
    case REPLAY_INBOUND_DLQ:
        plan_inbound(ctx, e, p);
        break;
    case REPLAY_REPLIES_DLQ:
        plan_reply(ctx, e, p);
        break;
    case REPLAY_REROUTE:
        plan_reroute(ctx, in, e, p);
        break;
    default:
        fail(p, "bad_kind", "unknown replay kind");
    }
    if (p->action == REPLAY_PUBLISH && p->nmsgs == 0)
        fail(p, "no_outputs", "nothing to publish");
    if (p->action != REPLAY_PUBLISH)
        drop_msgs(p); /* nothing is published for a failed or skipped entry */
}
