/*
 * fuzz_push_handler: libFuzzer target for push_handle() under a fixed
 * two-app config: app A is the official test vector's (token AAAAA, 43 x 'A'
 * key, a previous key for rotation, encryption required), app B takes
 * plaintext only.
 *
 * Input: one flags byte, then the query ("k=v&k=v", no %-decoding), a
 * newline, and the body. Flags:
 *   bits 0-1  0 raw: query and body as given (signatures as the fuzzer wrote)
 *             1 signed: signature/timestamp/nonce made valid for the app
 *             2 encrypted: the body is the inner document; it is encrypted,
 *               put in an envelope and signed (signature and msg_signature),
 *               so the decrypted document reaches the inner parser
 *             3 GET, signed (URL verification)
 *   bit 2     app B instead of app A
 *   bit 3     mode 2: XML envelope instead of JSON
 *   bit 4     mode 2: encrypt with app A's previous key
 *   bit 5     mode 2: encrypt for another AppID
 *   bit 6     the clock reads the query's timestamp (recorded vectors pass
 *             the replay window); otherwise it is fixed at 1714112445 s
 * A timestamp or nonce in the fuzzer's query is kept (and signed).
 *
 * Checked: the result is one of the outcomes with its fields set, and an
 * authenticated encrypted push is never refused for its content.
 */
#include "b64.h"
#include "ingress_config.h"
#include "jsonconf.h"
#include "log.h"
#include "push_handler.h"
#include "util.h"
#include "wx_crypto.h"
#include "wx_parse.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_S 1714112445LL

static const char config_json[] =
    "{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9\"},"
    "\"timestamp_tolerance_s\":300,"
    "\"apps\":["
    "{\"appid\":\"wxba5fad812f8e6fb9\",\"path\":\"/wx/a\",\"token\":\"AAAAA\","
    "\"aes_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
    "\"previous_aes_key\":\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"},"
    "{\"appid\":\"wx00000000plain01\",\"path\":\"/wx/b\",\"token\":\"plaintok\","
    "\"format\":\"auto\"}]}";

static struct ingress_config g_cfg;
static const struct ingress_app *g_app[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_error_t jerr;
    json_t *root = json_loads(config_json, 0, &jerr);
    struct jc_errs e;

    (void)argc;
    (void)argv;
    log_init("fuzz_push_handler", LOG_ERROR);
    wxp_global_init();
    memset(&e, 0, sizeof(e));
    if (!root || ingress_config_load(root, &g_cfg, &e) != 0) {
        fprintf(stderr, "fuzz_push_handler: bad built-in config\n");
        abort();
    }
    json_decref(root);
    g_app[0] = ingress_config_app(&g_cfg, "/wx/a");
    g_app[1] = ingress_config_app(&g_cfg, "/wx/b");
    if (!g_app[0] || !g_app[1] || !g_app[0]->has_key || !g_app[0]->has_prev_key)
        abort();
    return 0;
}

/* Parses "k=v&k=v" into an object of strings; pairs that are not UTF-8 are dropped. */
static json_t *parse_query(const char *q, size_t len)
{
    json_t *obj = json_object();
    size_t i = 0;

    while (obj && i < len) {
        size_t end = i, eq;
        while (end < len && q[end] != '&')
            end++;
        for (eq = i; eq < end && q[eq] != '='; eq++)
            ;
        if (eq > i) {
            char *k = strndup(q + i, eq - i);
            json_t *v = json_stringn(q + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0);
            if (k && v && strlen(k) == eq - i)
                json_object_set_new(obj, k, v);
            else
                json_decref(v);
            free(k);
        }
        i = end + 1;
    }
    return obj;
}

/* Sets signature (and msg_signature over ENC when not NULL) valid for APP. */
static void sign(json_t *query, const struct ingress_app *app, const char *enc)
{
    char sig[WXC_SIG_HEX_LEN + 1];
    const char *parts[4];

    if (!json_is_string(json_object_get(query, "timestamp")))
        json_object_set_new(query, "timestamp", json_string("1714112445"));
    if (!json_is_string(json_object_get(query, "nonce")))
        json_object_set_new(query, "nonce", json_string("415670741"));
    parts[0] = app->token;
    parts[1] = json_string_value(json_object_get(query, "timestamp"));
    parts[2] = json_string_value(json_object_get(query, "nonce"));
    wxc_signature(parts, 3, sig);
    json_object_set_new(query, "signature", json_string(sig));
    if (enc) {
        parts[3] = enc;
        wxc_signature(parts, 4, sig);
        json_object_set_new(query, "msg_signature", json_string(sig));
        json_object_set_new(query, "encrypt_type", json_string("aes"));
    }
}

/* Encrypts DOC and wraps it in an envelope; returns the malloc'd body or NULL. */
static char *envelope(const char *doc, size_t len, int xml, const struct wx_aes_key *key,
                      const char *appid, char **enc_out)
{
    static const unsigned char rnd[16] = "fuzzfuzzfuzzfuzz";
    char *enc = NULL, *body;
    size_t n;

    *enc_out = NULL;
    if (wxc_encrypt(key, rnd, doc, len, appid, &enc) != WXC_OK)
        return NULL;
    n = strlen(enc) + 128;
    body = malloc(n);
    if (!body) {
        free(enc);
        return NULL;
    }
    if (xml)
        snprintf(body, n,
                 "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
                 "<Encrypt><![CDATA[%s]]></Encrypt></xml>",
                 enc);
    else
        snprintf(body, n, "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"%s\"}", enc);
    *enc_out = enc;
    return body;
}

static void check_result(const struct push_result *r)
{
    switch (r->outcome) {
    case PUSH_ECHO:
        if (!r->echo)
            abort();
        break;
    case PUSH_PUBLISH:
        if (!r->msg_type || !r->id[0] || memchr(r->id, '\0', sizeof(r->id)) == NULL)
            abort();
        /* fall through */
    case PUSH_DLQ:
        if (!r->reason && r->outcome == PUSH_DLQ)
            abort();
        if (!r->msg.topic || !r->msg.key || !r->msg.value ||
            strlen(r->msg.value) != r->msg.value_len)
            abort();
        break;
    case PUSH_REFUSE:
        if (!r->reason || r->status < 400 || r->status > 599)
            abort();
        break;
    default:
        abort();
    }
    if (memchr(r->detail, '\0', sizeof(r->detail)) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1, *nl;
    size_t len, qlen;
    unsigned flags;
    int mode, in_window;
    const struct ingress_app *app;
    struct push_request req;
    struct push_result res;
    json_t *query;
    char *body = NULL, *enc = NULL;

    if (size == 0)
        return 0;
    flags = data[0];
    mode = flags & 3;
    app = g_app[(flags >> 2) & 1];
    len = size - 1;
    nl = memchr(in, '\n', len);
    qlen = nl ? (size_t)(nl - in) : len;
    query = parse_query(in, qlen);
    if (!query)
        return 0;
    /* Our own timestamp is valid and in the window; the fuzzer's only if the clock follows it. */
    in_window = json_object_get(query, "timestamp") == NULL;
    memset(&req, 0, sizeof(req));
    req.is_post = mode != 3;
    req.query = push_query_json(query);
    req.body = nl ? nl + 1 : "";
    req.body_len = nl ? len - qlen - 1 : 0;
    req.now_ms = NOW_S * 1000 + 1234;
    if (flags & 64) {
        const char *ts = json_string_value(json_object_get(query, "timestamp"));
        long long t;
        /* The handler only accepts timestamps it can turn into milliseconds. */
        if (ts && util_parse_ll(ts, 0, INT64_MAX / 1000, &t) == 0) {
            req.now_ms = t * 1000;
            in_window = 1;
        }
    }

    if (mode == 1 || mode == 3) {
        sign(query, app, NULL);
    } else if (mode == 2) {
        const struct wx_aes_key *key = flags & 16 ? &g_app[0]->prev_key : &g_app[0]->key;
        const char *appid = flags & 32 ? "wx_some_other_app" : g_app[0]->appid;
        body = envelope(req.body, req.body_len, (flags & 8) != 0, key, appid, &enc);
        if (!body)
            goto out;
        sign(query, app, enc);
        req.body = body;
        req.body_len = strlen(body);
    }

    push_handle(&g_cfg, app, &req, &res);
    check_result(&res);
    /* Authenticated and within the window: the content can cause a dead letter, never a refusal. */
    if (mode == 2 && in_window && res.outcome == PUSH_REFUSE &&
        strcmp(res.reason, "out_of_memory") != 0) {
        fprintf(stderr, "authenticated push refused: %s (%s)\n", res.reason, res.detail);
        abort();
    }
    kmsg_clear(&res.msg);
out:
    free(body);
    free(enc);
    json_decref(query);
    return 0;
}
