/*
 * push_handler: verification and canonicalization of one push.
 * See push_handler.h and docs/PROTOCOL.md sections 1 to 3.
 *
 * Order matters: nothing is parsed before the query signature is checked,
 * and in encrypted mode nothing of the body is trusted before msg_signature
 * (which covers the ciphertext) is checked. Once a request is authenticated
 * it is never refused for its content: retrying cannot fix a bad body, so it
 * is answered success and kept in the dead-letter topic.
 */
#include "push_handler.h"

#include "b64.h"
#include "util.h"
#include "wx_parse.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *json_get(void *ctx, const char *name)
{
    return json_string_value(json_object_get(ctx, name));
}

static json_t *json_copy_query(void *ctx)
{
    return json_deep_copy(ctx);
}

struct push_query push_query_json(const json_t *obj)
{
    struct push_query pq = {json_get, json_copy_query, (void *)obj};
    return pq;
}

static const char *q(const struct push_query *query, const char *k)
{
    return query->get(query->ctx, k);
}

static void refuse(struct push_result *res, int status, const char *reason, const char *detail)
{
    res->outcome = PUSH_REFUSE;
    res->status = status;
    res->reason = reason;
    snprintf(res->detail, sizeof(res->detail), "%s", detail);
}

/* Checks the query signature and the replay window; returns 0 or refuses. */
static int check_signature(const struct ingress_config *cfg, const struct ingress_app *app,
                           const struct push_request *req, struct push_result *res)
{
    const char *sig = q(&req->query, "signature"), *ts = q(&req->query, "timestamp"),
               *nonce = q(&req->query, "nonce");
    const char *parts[3];
    char want[WXC_SIG_HEX_LEN + 1];
    long long t;

    if (!sig || !ts || !nonce) {
        refuse(res, 401, "signature_missing", "signature, timestamp and nonce are required");
        return -1;
    }
    parts[0] = app->token;
    parts[1] = ts;
    parts[2] = nonce;
    wxc_signature(parts, 3, want);
    if (!wxc_signature_equal(want, sig)) {
        refuse(res, 401, "signature_mismatch", "signature does not match the token");
        return -1;
    }
    if (util_parse_ll(ts, 0, INT64_MAX / 1000, &t) < 0) {
        refuse(res, 401, "timestamp_invalid", "timestamp is not an integer");
        return -1;
    }
    if (cfg->timestamp_tolerance_s > 0) {
        long long now = req->now_ms / 1000;
        long long skew = now > t ? now - t : t - now;
        if (skew > cfg->timestamp_tolerance_s) {
            snprintf(res->detail, sizeof(res->detail), "timestamp is %llds from now", skew);
            res->outcome = PUSH_REFUSE;
            res->status = 401;
            res->reason = "timestamp_out_of_window";
            return -1;
        }
    }
    return 0;
}

/* Builds the dead letter for an authenticated push that cannot be used. */
static void dead_letter(const struct ingress_config *cfg, const struct ingress_app *app,
                        const struct push_request *req, const char *reason, const char *detail,
                        const char *openid, struct push_result *res)
{
    char *b64 = malloc(B64_ENCODED_SIZE(req->body_len));
    json_t *dl, *query = req->query.to_json(req->query.ctx);

    memset(&res->msg, 0, sizeof(res->msg));
    res->outcome = PUSH_DLQ;
    res->reason = reason;
    snprintf(res->detail, sizeof(res->detail), "%s", detail);
    if (!b64 || !query) {
        free(b64);
        json_decref(query);
        goto nomem;
    }
    b64_encode((const unsigned char *)req->body, req->body_len, b64);
    dl = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "reason", reason, "detail", detail, "appid",
                   app->appid, "body_b64", b64, "query", query, "received_at_ms",
                   (json_int_t)req->now_ms);
    free(b64);
    if (!dl)
        goto nomem;
    res->msg.value = json_dumps(dl, JSON_COMPACT);
    json_decref(dl);
    res->msg.topic = strdup(cfg->dlq_topic);
    res->msg.key = strdup(openid ? openid : "");
    if (!res->msg.value || !res->msg.topic || !res->msg.key ||
        kmsg_add_header(&res->msg, "wx-appid", app->appid) ||
        kmsg_add_header(&res->msg, "wx-dlq-reason", reason))
        goto nomem;
    res->msg.value_len = strlen(res->msg.value);
    return;
nomem:
    kmsg_clear(&res->msg);
    refuse(res, 503, "out_of_memory", "cannot build dead letter");
}

/* Decrypts with the current key, then with the previous one during a rotation
 * (until previous_aes_key_until, when set). */
static int decrypt(const struct ingress_app *app, const char *enc, int64_t now_ms, char **doc,
                   size_t *len)
{
    int rc = wxc_decrypt(&app->key, enc, strlen(enc), app->appid, doc, len);
    if (rc != WXC_OK && rc != WXC_ENOMEM && app->has_prev_key &&
        (app->prev_key_until_ms == 0 || now_ms < app->prev_key_until_ms) &&
        wxc_decrypt(&app->prev_key, enc, strlen(enc), app->appid, doc, len) == WXC_OK)
        return WXC_OK;
    return rc;
}

/*
 * Checks msg_signature over ENC, decrypts it and parses the plaintext.
 * Returns the payload (a new reference), or NULL after filling RES with a
 * refusal or a dead letter.
 */
static json_t *open_encrypted(const struct ingress_config *cfg, const struct ingress_app *app,
                              const struct push_request *req, const char *enc, enum wx_format *fmt,
                              struct push_result *res)
{
    const char *msig = q(&req->query, "msg_signature"), *openid = q(&req->query, "openid");
    const char *parts[4];
    char want[WXC_SIG_HEX_LEN + 1], perr[256];
    char *plain = NULL;
    size_t plen = 0;
    json_t *inner = NULL;
    int rc;

    if (!enc || !msig) {
        refuse(res, 401, "msg_signature_missing",
               "encrypted push needs Encrypt in the body and msg_signature in the query");
        return NULL;
    }
    parts[0] = app->token;
    parts[1] = q(&req->query, "timestamp");
    parts[2] = q(&req->query, "nonce");
    parts[3] = enc;
    wxc_signature(parts, 4, want);
    if (!wxc_signature_equal(want, msig)) {
        refuse(res, 401, "msg_signature_mismatch", "msg_signature does not match Encrypt");
        return NULL;
    }
    if (!app->has_key) {
        dead_letter(cfg, app, req, "aes_key_not_configured",
                    "encrypted push for an app without aes_key", openid, res);
        return NULL;
    }
    rc = decrypt(app, enc, req->now_ms, &plain, &plen);
    if (rc != WXC_OK) {
        snprintf(perr, sizeof(perr), "decrypt: %s", wxc_strerror(rc));
        dead_letter(cfg, app, req, "decrypt_failed", perr, openid, res);
        return NULL;
    }
    rc = wxp_parse(plain, plen, 0, &inner, fmt, perr, sizeof(perr));
    OPENSSL_cleanse(plain, plen);
    free(plain);
    if (rc != WXP_OK) {
        dead_letter(cfg, app, req, "decrypted_unparseable", perr, openid, res);
        return NULL;
    }
    return inner;
}

void push_handle(const struct ingress_config *cfg, const struct ingress_app *app,
                 const struct push_request *req, struct push_result *res)
{
    const char *encrypt_type = q(&req->query, "encrypt_type"), *openid = q(&req->query, "openid");
    int aes = encrypt_type && strcmp(encrypt_type, "aes") == 0;
    json_t *outer = NULL, *payload = NULL;
    enum wx_format fmt = 0;
    const char *enc;
    size_t enc_len;
    char perr[256];
    int rc, encrypted = 0;

    memset(res, 0, sizeof(*res));
    if (check_signature(cfg, app, req, res) < 0)
        return;
    if (!req->is_post) {
        res->echo = q(&req->query, "echostr");
        if (!res->echo) {
            refuse(res, 400, "echostr_missing", "GET needs echostr");
            return;
        }
        res->outcome = PUSH_ECHO;
        return;
    }

    if (aes && (enc = wxp_find_encrypt(req->body, req->body_len, app->format, &enc_len))) {
        /* The common case needs nothing of the envelope but Encrypt (see wxp_find_encrypt). */
        char *copy = strndup(enc, enc_len);
        if (!copy) {
            refuse(res, 503, "out_of_memory", "copying Encrypt");
            return;
        }
        payload = open_encrypted(cfg, app, req, copy, &fmt, res);
        encrypted = 1;
        free(copy);
    } else {
        rc = wxp_parse(req->body, req->body_len, app->format, &outer, &fmt, perr, sizeof(perr));
        if (rc == WXP_OK && (aes || wxp_get_str(outer, "Encrypt"))) {
            /* Compatible mode carries plaintext fields too: only the decrypted copy counts. */
            payload = open_encrypted(cfg, app, req, wxp_get_str(outer, "Encrypt"), &fmt, res);
            encrypted = 1;
        } else if (rc == WXP_OK && app->require_encryption) {
            refuse(res, 401, "plaintext_refused",
                   "app has aes_key and require_encryption: plaintext pushes are refused");
        } else if (rc == WXP_OK) {
            payload = json_incref(outer);
        } else if (app->require_encryption) {
            /* Nothing in an unparseable body is authenticated for an encrypted app. */
            refuse(res, 400, "unparseable_body", perr);
        } else {
            dead_letter(cfg, app, req, "unparseable", perr, openid, res);
        }
        json_decref(outer);
    }
    if (!payload)
        return;

    struct record_meta meta = {app->appid, fmt, encrypted, req->now_ms};
    rc = record_build(payload, &meta, cfg->topic, &res->msg, res->id, perr, sizeof(perr));
    if (rc == REC_ENOMEM) {
        refuse(res, 503, "out_of_memory", perr);
    } else if (rc != REC_OK) {
        const char *from = wxp_get_str(payload, "FromUserName");
        dead_letter(cfg, app, req, "not_a_push", perr, from ? from : openid, res);
    } else {
        res->outcome = PUSH_PUBLISH;
        res->msg_type = res->msg.hdr_value[2];
    }
    json_decref(payload);
}
