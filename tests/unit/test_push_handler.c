/*
 * test_push_handler: one WeChat request in, one decision out, with no HTTP
 * or Kafka: the official GET and safe-mode vectors, every refusal (signature,
 * msg_signature, replay window, plaintext to an encrypted app), dead letters
 * for authenticated bodies that cannot be used, and compatible mode (only the
 * decrypted copy is trusted). Requests are built with wxc_encrypt and
 * wxc_signature exactly as WeChat builds them.
 */
#include "push_handler.h"

#include "testutil.h"
#include "wx_crypto.h"
#include "wx_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define ENC_APPID   "wxba5fad812f8e6fb9"
#define ENC_TOKEN   "AAAAA"
#define ENC_KEY     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define PLAIN_APPID "wxplain0000000001"
#define PLAIN_TOKEN "plaintoken"
#define ROT_APPID   "wxrotate000000001"
#define ROT_KEY     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define OPENID      "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
#define OFFICIAL_ENCRYPT                                                                           \
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcv" \
    "ZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3"  \
    "Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnS" \
    "eOBrebufAlr7F9mFUPAJGj04="
#define OFFICIAL_DOC                                                                               \
    "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","       \
    "\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event\":\"debug_demo\",\"debug_str\":"      \
    "\"hello world\"}"
#define TEXT_XML                                                                                   \
    "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[" OPENID      \
    "]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType>"     \
    "<Content><![CDATA[hello]]></Content><MsgId>6054768590064713728</MsgId></xml>"

struct fixture {
    struct ingress_config cfg;    /* tolerance 0: encrypted app, plaintext app */
    struct ingress_config window; /* tolerance 300: one encrypted app */
    const struct ingress_app *enc, *plain, *win, *rot;
};

static int load_config(const char *text, struct ingress_config *cfg)
{
    struct jc_errs e;
    json_t *root;
    int rc;

    memset(&e, 0, sizeof(e));
    root = jc_load_string(text, &e);
    if (!root) {
        print_error("config: %s\n", e.text);
        return -1;
    }
    rc = ingress_config_load(root, cfg, &e);
    json_decref(root);
    if (rc != 0)
        print_error("config: %s\n", e.text);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
                    "\"timestamp_tolerance_s\":0,\"apps\":["
                    "{\"appid\":\"" ENC_APPID "\",\"token\":\"" ENC_TOKEN "\","
                    "\"aes_key\":\"" ENC_KEY "\"},"
                    "{\"appid\":\"" PLAIN_APPID "\",\"token\":\"" PLAIN_TOKEN "\"},"
                    "{\"appid\":\"" ROT_APPID "\",\"token\":\"" ENC_TOKEN "\","
                    "\"path\":\"/rot\",\"aes_key\":\"" ROT_KEY "\","
                    "\"previous_aes_key\":\"" ENC_KEY "\"}]}",
                    &f->cfg) != 0 ||
        load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
                    "\"timestamp_tolerance_s\":300,\"apps\":["
                    "{\"appid\":\"" ENC_APPID "\",\"token\":\"" ENC_TOKEN "\","
                    "\"aes_key\":\"" ENC_KEY "\"}]}",
                    &f->window) != 0) {
        ingress_config_free(&f->cfg);
        free(f);
        return -1;
    }
    f->enc = ingress_config_app(&f->cfg, "/wx/" ENC_APPID);
    f->plain = ingress_config_app(&f->cfg, "/wx/" PLAIN_APPID);
    f->win = ingress_config_app(&f->window, "/wx/" ENC_APPID);
    f->rot = ingress_config_app(&f->cfg, "/rot");
    if (!f->enc || !f->plain || !f->win || !f->rot)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ingress_config_free(&f->cfg);
    ingress_config_free(&f->window);
    free(f);
    return 0;
}

/* A query object with a correct `signature` for TOKEN, TS and NONCE. */
static json_t *signed_query(const char *token, const char *ts, const char *nonce)
{
    const char *parts[] = {token, ts, nonce};
    char sig[WXC_SIG_HEX_LEN + 1];
    wxc_signature(parts, 3, sig);
    return json_pack("{s:s, s:s, s:s}", "signature", sig, "timestamp", ts, "nonce", nonce);
}

/* Adds encrypt_type=aes, openid and the msg_signature over ENC. */
static void add_msg_signature(json_t *q, const char *token, const char *enc)
{
    const char *parts[] = {token, json_string_value(json_object_get(q, "timestamp")),
                           json_string_value(json_object_get(q, "nonce")), enc};
    char sig[WXC_SIG_HEX_LEN + 1];
    wxc_signature(parts, 4, sig);
    json_object_set_new(q, "encrypt_type", json_string("aes"));
    json_object_set_new(q, "openid", json_string(OPENID));
    json_object_set_new(q, "msg_signature", json_string(sig));
}

/* Encrypts DOC for APPID with the EncodingAESKey KEY. */
static char *encrypt_for(const char *key, const char *appid, const char *doc)
{
    struct wx_aes_key k;
    char *out = NULL;
    assert_int_equal(wxc_key_from_encoding(key, &k), WXC_OK);
    assert_int_equal(wxc_encrypt(&k, NULL, doc, strlen(doc), appid, &out), WXC_OK);
    return out;
}

/* Encrypts DOC for the test app with its key. */
static char *encrypt_doc(const char *doc)
{
    return encrypt_for(ENC_KEY, ENC_APPID, doc);
}

static void handle(const struct ingress_config *cfg, const struct ingress_app *app, int post,
                   const json_t *q, const char *body, size_t body_len, int64_t now_ms,
                   struct push_result *res)
{
    struct push_request req = {post, push_query_json(q), body, body_len, now_ms};
    memset(res, 0x5a, sizeof(*res));
    push_handle(cfg, app, &req, res);
}

static void assert_refused(const struct push_result *res, int status, const char *reason)
{
    assert_int_equal(res->outcome, PUSH_REFUSE);
    assert_int_equal(res->status, status);
    assert_string_equal(res->reason, reason);
    /* Nothing to publish. */
    assert_null(res->msg.value);
    assert_null(res->msg.topic);
    assert_int_equal(res->msg.hdr_count, 0);
}

static const char *hdr(const struct kmsg *m, const char *name)
{
    for (int i = 0; i < m->hdr_count; i++)
        if (strcmp(m->hdr_name[i], name) == 0)
            return m->hdr_value[i];
    return NULL;
}

/* ---- GET ---- */

static void test_get_official_vector(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    json_t *q = json_pack("{s:s, s:s, s:s, s:s}", "signature",
                          "f464b24fc39322e44b38aa78f5edd27bd1441696", "timestamp", "1714036504",
                          "nonce", "1514711492", "echostr", "4375120948345356249");

    handle(&f->cfg, f->enc, 0, q, NULL, 0, 1714036504000LL + 3600 * 1000, &res);
    assert_int_equal(res.outcome, PUSH_ECHO);
    assert_string_equal(res.echo, "4375120948345356249");
    assert_null(res.msg.value);

    /* Upper-case hex is the same signature. */
    json_object_set_new(q, "signature", json_string("F464B24FC39322E44B38AA78F5EDD27BD1441696"));
    handle(&f->cfg, f->enc, 0, q, NULL, 0, 0, &res);
    assert_int_equal(res.outcome, PUSH_ECHO);

    /* Wrong signature, wrong token (the other app), missing echostr, missing nonce. */
    json_object_set_new(q, "signature", json_string("f464b24fc39322e44b38aa78f5edd27bd1441697"));
    handle(&f->cfg, f->enc, 0, q, NULL, 0, 0, &res);
    assert_refused(&res, 401, "signature_mismatch");
    json_object_set_new(q, "signature", json_string("f464b24fc39322e44b38aa78f5edd27bd1441696"));
    handle(&f->cfg, f->plain, 0, q, NULL, 0, 0, &res);
    assert_refused(&res, 401, "signature_mismatch");
    json_object_del(q, "echostr");
    handle(&f->cfg, f->enc, 0, q, NULL, 0, 0, &res);
    assert_refused(&res, 400, "echostr_missing");
    json_object_del(q, "nonce");
    handle(&f->cfg, f->enc, 0, q, NULL, 0, 0, &res);
    assert_refused(&res, 401, "signature_missing");
    json_decref(q);
}

/* ---- safe mode ---- */

static void test_post_official_safe_mode(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    const char *body = "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"" OFFICIAL_ENCRYPT "\"}";
    json_t *q = signed_query(ENC_TOKEN, "1714112445", "415670741");
    json_t *rec, *want;

    json_object_set_new(q, "encrypt_type", json_string("aes"));
    json_object_set_new(q, "openid", json_string(OPENID));
    json_object_set_new(q, "msg_signature",
                        json_string("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"));
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 1714112445123LL, &res);
    assert_int_equal(res.outcome, PUSH_PUBLISH);
    assert_string_equal(res.msg.topic, "wx.inbound");
    assert_string_equal(res.msg.key, OPENID);
    assert_string_equal(res.msg_type, "event");
    assert_memory_equal(res.id, ENC_APPID ":e:", strlen(ENC_APPID ":e:"));
    assert_int_equal(strlen(res.id), strlen(ENC_APPID ":e:") + 32);
    assert_string_equal(hdr(&res.msg, "wx-appid"), ENC_APPID);
    assert_string_equal(hdr(&res.msg, "wx-event"), "debug_demo");
    assert_string_equal(hdr(&res.msg, "wx-id"), res.id);

    rec = tu_json(res.msg.value);
    want = tu_json(OFFICIAL_DOC);
    tu_assert_json_equal(json_object_get(rec, "payload"), want, "payload");
    json_decref(want);
    assert_string_equal(json_string_value(json_object_get(rec, "id")), res.id);
    assert_string_equal(json_string_value(json_object_get(rec, "appid")), ENC_APPID);
    assert_string_equal(json_string_value(json_object_get(rec, "format")), "json");
    assert_true(json_is_true(json_object_get(rec, "encrypted")));
    assert_int_equal(json_integer_value(json_object_get(rec, "received_at_ms")), 1714112445123LL);
    json_decref(rec);
    kmsg_clear(&res.msg);

    /* Right signature, msg_signature for another ciphertext. */
    json_object_set_new(q, "msg_signature",
                        json_string("046e02f8204d34f8ba5fa3b1db94908f3df2e9b4"));
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 0, &res);
    assert_refused(&res, 401, "msg_signature_mismatch");

    /* encrypt_type=aes without msg_signature. */
    json_object_del(q, "msg_signature");
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 0, &res);
    assert_refused(&res, 401, "msg_signature_missing");

    /* Wrong query signature: refused before anything else. */
    json_object_set_new(q, "msg_signature",
                        json_string("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"));
    json_object_set_new(q, "signature", json_string("0000000000000000000000000000000000000000"));
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 0, &res);
    assert_refused(&res, 401, "signature_mismatch");
    json_decref(q);
}

static void test_msg_signature_over_other_body(void **state)
{
    /* A valid signature pair copied from one push cannot carry another ciphertext. */
    struct fixture *f = *state;
    struct push_result res;
    char *enc = encrypt_doc(OFFICIAL_DOC);
    char body[1024];
    json_t *q = signed_query(ENC_TOKEN, "1714112445", "415670741");

    json_object_set_new(q, "encrypt_type", json_string("aes"));
    json_object_set_new(q, "msg_signature",
                        json_string("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"));
    snprintf(body, sizeof(body), "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"%s\"}", enc);
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 0, &res);
    assert_refused(&res, 401, "msg_signature_mismatch");
    json_decref(q);
    free(enc);
}

static void test_replay_window(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    const char *body = "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"" OFFICIAL_ENCRYPT "\"}";
    json_t *q = signed_query(ENC_TOKEN, "1714112445", "415670741");
    const int64_t ts_ms = 1714112445000LL;

    json_object_set_new(q, "encrypt_type", json_string("aes"));
    json_object_set_new(q, "msg_signature",
                        json_string("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"));
    /* The vector's timestamp is from 2024: far outside a 300 s window today. */
    handle(&f->window, f->win, 1, q, body, strlen(body), (int64_t)time(NULL) * 1000, &res);
    assert_refused(&res, 401, "timestamp_out_of_window");
    /* Edges: 300 s either way is inside, 301 s is not. */
    handle(&f->window, f->win, 1, q, body, strlen(body), ts_ms + 300 * 1000, &res);
    assert_int_equal(res.outcome, PUSH_PUBLISH);
    kmsg_clear(&res.msg);
    handle(&f->window, f->win, 1, q, body, strlen(body), ts_ms - 300 * 1000, &res);
    assert_int_equal(res.outcome, PUSH_PUBLISH);
    kmsg_clear(&res.msg);
    handle(&f->window, f->win, 1, q, body, strlen(body), ts_ms + 301 * 1000, &res);
    assert_refused(&res, 401, "timestamp_out_of_window");
    handle(&f->window, f->win, 1, q, body, strlen(body), ts_ms - 301 * 1000, &res);
    assert_refused(&res, 401, "timestamp_out_of_window");
    /* GET verification is subject to the window too. */
    {
        json_t *g = json_pack("{s:s, s:s, s:s, s:s}", "signature",
                              "f464b24fc39322e44b38aa78f5edd27bd1441696", "timestamp", "1714036504",
                              "nonce", "1514711492", "echostr", "e");
        handle(&f->window, f->win, 0, g, NULL, 0, (int64_t)time(NULL) * 1000, &res);
        assert_refused(&res, 401, "timestamp_out_of_window");
        handle(&f->window, f->win, 0, g, NULL, 0, 1714036504000LL, &res);
        assert_int_equal(res.outcome, PUSH_ECHO);
        json_decref(g);
    }
    json_decref(q);

    /* A signed but non-numeric timestamp. */
    q = signed_query(ENC_TOKEN, "17141x2445", "415670741");
    json_object_set_new(q, "echostr", json_string("e"));
    handle(&f->cfg, f->enc, 0, q, NULL, 0, 0, &res);
    assert_refused(&res, 401, "timestamp_invalid");
    json_decref(q);
}

/* ---- plaintext ---- */

static void test_plaintext_to_encrypted_app(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    json_t *q = signed_query(ENC_TOKEN, "1714112445", "1");

    handle(&f->cfg, f->enc, 1, q, TEXT_XML, strlen(TEXT_XML), 0, &res);
    assert_refused(&res, 401, "plaintext_refused");
    json_decref(q);
}

static void test_plaintext_app_publishes(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    json_t *q = signed_query(PLAIN_TOKEN, "1714112445", "77");
    json_t *rec, *want;

    handle(&f->cfg, f->plain, 1, q, TEXT_XML, strlen(TEXT_XML), 5, &res);
    assert_int_equal(res.outcome, PUSH_PUBLISH);
    assert_string_equal(res.id, PLAIN_APPID ":m:6054768590064713728");
    assert_string_equal(res.msg.key, OPENID);
    assert_string_equal(res.msg.topic, "wx.inbound");
    assert_string_equal(res.msg_type, "text");
    assert_null(hdr(&res.msg, "wx-event"));
    rec = tu_json(res.msg.value);
    want = tu_json("{\"schema\":\"wxbridge.inbound.v1\","
                   "\"id\":\"" PLAIN_APPID ":m:6054768590064713728\","
                   "\"appid\":\"" PLAIN_APPID "\",\"to\":\"gh_97417a04a28d\","
                   "\"from\":\"" OPENID "\",\"create_time\":1714112445,\"msg_type\":\"text\","
                   "\"event\":null,\"msg_id\":\"6054768590064713728\","
                   "\"payload\":{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"" OPENID
                   "\",\"CreateTime\":\"1714112445\",\"MsgType\":\"text\",\"Content\":\"hello\","
                   "\"MsgId\":\"6054768590064713728\"},"
                   "\"format\":\"xml\",\"encrypted\":false,\"received_at_ms\":5}");
    tu_assert_json_equal(rec, want, "plaintext record");
    json_decref(rec);
    json_decref(want);
    kmsg_clear(&res.msg);

    /* The seed's JSON example on the same app. */
    {
        const char *body = "{\"ToUserName\": \"toUser\",\"FromUserName\": \"fromUser\","
                           "\"CreateTime\": 1482048670,\"MsgType\": \"event\",\"Event\": "
                           "\"user_enter_tempsession\",\"SessionFrom\": \"sessionFrom\"}";
        handle(&f->cfg, f->plain, 1, q, body, strlen(body), 5, &res);
        assert_int_equal(res.outcome, PUSH_PUBLISH);
        assert_string_equal(res.msg.key, "fromUser");
        assert_string_equal(hdr(&res.msg, "wx-event"), "user_enter_tempsession");
        kmsg_clear(&res.msg);
    }
    json_decref(q);
}

/* Checks a dead letter's value against the request. */
static void assert_dead_letter(const struct push_result *res, const char *reason, const char *appid,
                               const json_t *q, const char *body, size_t body_len, int64_t now_ms,
                               const char *key)
{
    json_t *dl;
    unsigned char *raw;
    size_t raw_len;

    assert_int_equal(res->outcome, PUSH_DLQ);
    assert_string_equal(res->reason, reason);
    assert_string_equal(res->msg.topic, "wx.inbound.dlq");
    assert_string_equal(res->msg.key, key);
    assert_string_equal(hdr(&res->msg, "wx-appid"), appid);
    assert_string_equal(hdr(&res->msg, "wx-dlq-reason"), reason);
    assert_int_equal(res->msg.value_len, strlen(res->msg.value));
    dl = tu_json(res->msg.value);
    assert_string_equal(json_string_value(json_object_get(dl, "reason")), reason);
    assert_string_equal(json_string_value(json_object_get(dl, "appid")), appid);
    assert_int_equal(json_integer_value(json_object_get(dl, "received_at_ms")), now_ms);
    tu_assert_json_equal(json_object_get(dl, "query"), q, "dead letter query");
    raw = tu_unb64(json_string_value(json_object_get(dl, "body_b64")), &raw_len);
    assert_int_equal(raw_len, body_len);
    assert_memory_equal(raw, body, body_len);
    free(raw);
    json_decref(dl);
}

static void test_unparseable_plaintext_is_dead_letter(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    static const char body[] = "<xml><ToUserName>gh_x</ToUserName>\0\xff<broken";
    json_t *q = signed_query(PLAIN_TOKEN, "1714112445", "77");

    json_object_set_new(q, "openid", json_string(OPENID));
    handle(&f->cfg, f->plain, 1, q, body, sizeof(body) - 1, 1714112445999LL, &res);
    assert_dead_letter(&res, "unparseable", PLAIN_APPID, q, body, sizeof(body) - 1, 1714112445999LL,
                       OPENID);
    kmsg_clear(&res.msg);

    /* No openid in the query: empty key. */
    json_object_del(q, "openid");
    handle(&f->cfg, f->plain, 1, q, "garbage", 7, 1, &res);
    assert_dead_letter(&res, "unparseable", PLAIN_APPID, q, "garbage", 7, 1, "");
    kmsg_clear(&res.msg);

    /* Parses, but is no push (FromUserName missing). */
    handle(&f->cfg, f->plain, 1, q, "{\"a\":1}", 7, 1, &res);
    assert_dead_letter(&res, "not_a_push", PLAIN_APPID, q, "{\"a\":1}", 7, 1, "");
    kmsg_clear(&res.msg);

    /* An empty body. */
    handle(&f->cfg, f->plain, 1, q, "", 0, 1, &res);
    assert_dead_letter(&res, "unparseable", PLAIN_APPID, q, "", 0, 1, "");
    kmsg_clear(&res.msg);
    json_decref(q);
}

static void test_garbage_encrypt_is_dead_letter(void **state)
{
    struct fixture *f = *state;
    static const char *const garbage[] = {
        "this is not base64!",
        /* base64 of 64 bytes that are no ciphertext of this key */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==",
        "QUJD",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        struct push_result res;
        char body[512];
        json_t *q = signed_query(ENC_TOKEN, "1714112445", "415670741");
        add_msg_signature(q, ENC_TOKEN, garbage[i]);
        snprintf(
            body, sizeof(body),
            "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>",
            garbage[i]);
        handle(&f->cfg, f->enc, 1, q, body, strlen(body), 9, &res);
        assert_dead_letter(&res, "decrypt_failed", ENC_APPID, q, body, strlen(body), 9, OPENID);
        kmsg_clear(&res.msg);
        json_decref(q);
    }
}

static void test_encrypted_unusable_contents(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    char body[1024], *enc;
    json_t *q;
    (void)state;

    /* Decrypts, but to something that is not a document. */
    enc = encrypt_doc("this is no XML and no JSON");
    q = signed_query(ENC_TOKEN, "1714112445", "1");
    add_msg_signature(q, ENC_TOKEN, enc);
    snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 9, &res);
    assert_dead_letter(&res, "decrypted_unparseable", ENC_APPID, q, body, strlen(body), 9, OPENID);
    kmsg_clear(&res.msg);
    json_decref(q);
    free(enc);

    /* An encrypted push to the app without aes_key, correctly signed with its token. */
    enc = encrypt_doc(OFFICIAL_DOC);
    q = signed_query(PLAIN_TOKEN, "1714112445", "1");
    add_msg_signature(q, PLAIN_TOKEN, enc);
    snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
    handle(&f->cfg, f->plain, 1, q, body, strlen(body), 9, &res);
    assert_dead_letter(&res, "aes_key_not_configured", PLAIN_APPID, q, body, strlen(body), 9,
                       OPENID);
    kmsg_clear(&res.msg);
    json_decref(q);
    free(enc);
}

static void test_compatible_mode(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    const char *inner = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
                        "<FromUserName><![CDATA[real_openid]]></FromUserName>"
                        "<CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                        "<Content><![CDATA[the real content]]></Content>"
                        "<MsgId>1111111111111111111</MsgId></xml>";
    char *enc = encrypt_doc(inner);
    char body[2048];
    json_t *q = signed_query(ENC_TOKEN, "1714112445", "5");
    json_t *rec, *want;

    add_msg_signature(q, ENC_TOKEN, enc);
    /* Plaintext fields that disagree with the encrypted copy. */
    snprintf(body, sizeof(body),
             "<xml>\n <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n"
             " <FromUserName><![CDATA[forged_openid]]></FromUserName>\n"
             " <CreateTime>1</CreateTime>\n <MsgType><![CDATA[image]]></MsgType>\n"
             " <Content><![CDATA[forged content]]></Content>\n"
             " <MsgId>2222222222222222222</MsgId>\n"
             " <Encrypt><![CDATA[%s]]></Encrypt>\n</xml>",
             enc);
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 3, &res);
    assert_int_equal(res.outcome, PUSH_PUBLISH);
    assert_string_equal(res.id, ENC_APPID ":m:1111111111111111111");
    assert_string_equal(res.msg.key, "real_openid");
    assert_string_equal(res.msg_type, "text");
    rec = tu_json(res.msg.value);
    want = tu_json("{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"real_openid\","
                   "\"CreateTime\":\"1714112445\",\"MsgType\":\"text\","
                   "\"Content\":\"the real content\",\"MsgId\":\"1111111111111111111\"}");
    tu_assert_json_equal(json_object_get(rec, "payload"), want, "compatible-mode payload");
    assert_string_equal(json_string_value(json_object_get(rec, "from")), "real_openid");
    assert_int_equal(json_integer_value(json_object_get(rec, "create_time")), 1714112445);
    assert_true(json_is_true(json_object_get(rec, "encrypted")));
    assert_string_equal(json_string_value(json_object_get(rec, "format")), "xml");
    json_decref(want);
    json_decref(rec);
    kmsg_clear(&res.msg);

    /* Compatible mode without encrypt_type in the query still needs msg_signature. */
    json_object_del(q, "encrypt_type");
    json_object_del(q, "msg_signature");
    handle(&f->cfg, f->enc, 1, q, body, strlen(body), 3, &res);
    assert_refused(&res, 401, "msg_signature_missing");
    json_decref(q);
    free(enc);
}

static void test_encrypted_round_trip_json_and_xml(void **state)
{
    /* Safe mode with a fresh ciphertext, both outer formats. */
    struct fixture *f = *state;
    static const char *const outer[] = {
        "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"%s\"}",
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n"
        "<Encrypt><![CDATA[%s]]></Encrypt>\n</xml>",
    };
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        struct push_result res;
        char *enc = encrypt_doc(TEXT_XML);
        char body[2048];
        json_t *q = signed_query(ENC_TOKEN, "1714112445", "99");
        add_msg_signature(q, ENC_TOKEN, enc);
        snprintf(body, sizeof(body), outer[i], enc);
        handle(&f->cfg, f->enc, 1, q, body, strlen(body), 3, &res);
        assert_int_equal(res.outcome, PUSH_PUBLISH);
        assert_string_equal(res.id, ENC_APPID ":m:6054768590064713728");
        assert_string_equal(res.msg.key, OPENID);
        kmsg_clear(&res.msg);
        json_decref(q);
        free(enc);
    }
}

static void test_key_rotation(void **state)
{
    /* Pushes under the new key and, during a rotation, the previous one are accepted. */
    struct fixture *f = *state;
    static const char *const keys[] = {ROT_KEY, ENC_KEY};
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        struct push_result res;
        char *enc = encrypt_for(keys[i], ROT_APPID, TEXT_XML);
        char body[2048];
        json_t *q = signed_query(ENC_TOKEN, "1714112445", "3");
        add_msg_signature(q, ENC_TOKEN, enc);
        snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
        handle(&f->cfg, f->rot, 1, q, body, strlen(body), 3, &res);
        assert_int_equal(res.outcome, PUSH_PUBLISH);
        assert_string_equal(res.id, ROT_APPID ":m:6054768590064713728");
        kmsg_clear(&res.msg);
        json_decref(q);
        free(enc);
    }
    /* A third key is no good; the AppID inside must be the app's own. */
    {
        struct push_result res;
        char *enc = encrypt_for("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", ROT_APPID, TEXT_XML);
        char body[2048];
        json_t *q = signed_query(ENC_TOKEN, "1714112445", "3");
        add_msg_signature(q, ENC_TOKEN, enc);
        snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
        handle(&f->cfg, f->rot, 1, q, body, strlen(body), 3, &res);
        assert_dead_letter(&res, "decrypt_failed", ROT_APPID, q, body, strlen(body), 3, OPENID);
        kmsg_clear(&res.msg);
        json_decref(q);
        free(enc);

        enc = encrypt_for(ROT_KEY, ENC_APPID, TEXT_XML);
        q = signed_query(ENC_TOKEN, "1714112445", "3");
        add_msg_signature(q, ENC_TOKEN, enc);
        snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
        handle(&f->cfg, f->rot, 1, q, body, strlen(body), 3, &res);
        assert_dead_letter(&res, "decrypt_failed", ROT_APPID, q, body, strlen(body), 3, OPENID);
        kmsg_clear(&res.msg);
        json_decref(q);
        free(enc);
    }
}

/* previous_aes_key_until ends a rotation: the old key works before it, not after. */
static void test_key_rotation_period(void **state)
{
    struct ingress_config cfg;
    const struct ingress_app *app;
    const int64_t until_ms = 1796083200000LL; /* 2026-12-01T00:00:00Z */
    static const int64_t now[] = {1796083200000LL - 1, 1796083200000LL};
    (void)state;

    assert_int_equal(load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
                                 "\"timestamp_tolerance_s\":0,\"apps\":["
                                 "{\"appid\":\"" ROT_APPID "\",\"token\":\"" ENC_TOKEN "\","
                                 "\"aes_key\":\"" ROT_KEY "\","
                                 "\"previous_aes_key\":\"" ENC_KEY "\","
                                 "\"previous_aes_key_until\":\"2026-12-01T00:00:00Z\"}]}",
                                 &cfg),
                     0);
    app = ingress_config_app(&cfg, "/wx/" ROT_APPID);
    assert_non_null(app);
    assert_int_equal(app->prev_key_until_ms, until_ms);
    for (size_t i = 0; i < 2; i++) {
        struct push_result res;
        char *enc = encrypt_for(ENC_KEY, ROT_APPID, TEXT_XML);
        char body[2048];
        json_t *q = signed_query(ENC_TOKEN, "1714112445", "3");
        add_msg_signature(q, ENC_TOKEN, enc);
        snprintf(body, sizeof(body), "{\"Encrypt\":\"%s\"}", enc);
        handle(&cfg, app, 1, q, body, strlen(body), now[i], &res);
        if (i == 0)
            assert_int_equal(res.outcome, PUSH_PUBLISH);
        else
            assert_dead_letter(&res, "decrypt_failed", ROT_APPID, q, body, strlen(body), now[i],
                               OPENID);
        kmsg_clear(&res.msg);
        json_decref(q);
        free(enc);
    }
    ingress_config_free(&cfg);

    /* Unix seconds work too; a malformed time or one without a previous key is refused. */
    assert_int_equal(load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},\"apps\":["
                                 "{\"appid\":\"a1\",\"token\":\"tok\",\"aes_key\":\"" ROT_KEY "\","
                                 "\"previous_aes_key\":\"" ENC_KEY "\","
                                 "\"previous_aes_key_until\":1796083200}]}",
                                 &cfg),
                     0);
    assert_int_equal(ingress_config_app(&cfg, "/wx/a1")->prev_key_until_ms, until_ms);
    ingress_config_free(&cfg);
    assert_int_not_equal(load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
                                     "\"apps\":[{\"appid\":\"a1\",\"token\":\"tok\","
                                     "\"aes_key\":\"" ROT_KEY "\",\"previous_aes_key\":\"" ENC_KEY
                                     "\",\"previous_aes_key_until\":\"next tuesday\"}]}",
                                     &cfg),
                         0);
    assert_int_not_equal(load_config("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
                                     "\"apps\":[{\"appid\":\"a1\",\"token\":\"tok\","
                                     "\"aes_key\":\"" ROT_KEY "\","
                                     "\"previous_aes_key_until\":1796083200}]}",
                                     &cfg),
                         0);
}

/*
 * Regression, fixed in wx_parse.c parse_xml, reached through push_handle: an authenticated
 * plaintext push in UTF-16 with an internal DTD is published with its entity
 * expanded, although documents declaring a DTD must be refused (dead letter).
 */
static void test_utf16_dtd_push_not_published(void **state)
{
    struct fixture *f = *state;
    struct push_result res;
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
                      "<!DOCTYPE xml [<!ENTITY e \"injected\">]>"
                      "<xml><FromUserName>&e;</FromUserName><CreateTime>1</CreateTime>"
                      "<MsgType>text</MsgType><MsgId>1</MsgId></xml>";
    size_t n = strlen(doc);
    char *body = malloc(2 * n);
    json_t *q = signed_query(PLAIN_TOKEN, "1714112445", "1");
    enum push_outcome outcome;

    for (size_t i = 0; i < n; i++) {
        body[2 * i] = doc[i];
        body[2 * i + 1] = '\0';
    }
    handle(&f->cfg, f->plain, 1, q, body, 2 * n, 1, &res);
    outcome = res.outcome;
    if (outcome == PUSH_PUBLISH)
        print_error("published with key %s\n", res.msg.key);
    kmsg_clear(&res.msg);
    json_decref(q);
    free(body);
    assert_int_equal(outcome, PUSH_DLQ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_official_vector),
        cmocka_unit_test(test_post_official_safe_mode),
        cmocka_unit_test(test_msg_signature_over_other_body),
        cmocka_unit_test(test_replay_window),
        cmocka_unit_test(test_plaintext_to_encrypted_app),
        cmocka_unit_test(test_plaintext_app_publishes),
        cmocka_unit_test(test_unparseable_plaintext_is_dead_letter),
        cmocka_unit_test(test_garbage_encrypt_is_dead_letter),
        cmocka_unit_test(test_encrypted_unusable_contents),
        cmocka_unit_test(test_compatible_mode),
        cmocka_unit_test(test_encrypted_round_trip_json_and_xml),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_key_rotation_period),
        cmocka_unit_test(test_utf16_dtd_push_not_published),
    };
    int failed;

    wxp_global_init();
    failed = cmocka_run_group_tests(tests, setup, teardown);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    return failed;
}
