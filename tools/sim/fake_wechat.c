/*
 * fake_wechat: routing, faults and the API handlers of the fake WeChat
 * API. See fake_wechat.h.
 *
 * Order of the checks on a /cgi-bin call, so tests can predict every
 * answer: latency (always added), drop_rate, http_5xx_rate, the HTTP method
 * (43001/43002), the access_token (41001/40001/42001), then per API —
 * send: fail_next, busy_rate, the body, users; typing: busy_rate, the body,
 * users; upload: type, size, the media field. Random faults draw from a
 * splitmix64 stream only when their rate is strictly between 0 and 1, so a
 * seed reproduces the same decisions for the same sequence of calls.
 */
#include "fake_wechat.h"

#include "fake_wechat_conf.h"
#include "fake_wechat_log.h"
#include "fake_wechat_msg.h"
#include "fake_wechat_tokens.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define JSON_BODY_MAX ((size_t)1 << 20)
#define UPLOAD_SLACK  ((size_t)64 << 10) /* multipart framing around the file */
#define RAW_LOG_MAX   1024               /* bytes of an unparsable body kept in the calls log */
#define JSON_CTYPE    "application/json; encoding=utf-8" /* what WeChat sends */
#define MAX_TOKENS    100000
#define MAX_APPS      10000

struct fw {
    pthread_mutex_t mu;
    struct fw_env env;
    struct fw_conf c; /* scalars only: apps and faults are moved out at creation */
    fwtok *tok;
    fwmedia *media;
    fwlog *log;
    struct fw_faults faults;
    uint64_t rng;
};

/* One /cgi-bin call being answered. */
struct call {
    fw *f;
    const struct fw_request *req;
    struct fw_response *resp;
    int64_t now;
    json_t *body;     /* the parsed JSON body, or NULL */
    json_t *log_body; /* what the calls log shows as "body" (owned) */
};

enum route_kind { R_STABLE, R_TOKEN, R_SEND, R_TYPING, R_UPLOAD, R_MEDIA_GET };

struct route {
    const char *path;
    int post; /* 1: POST only (43002 otherwise), 0: GET only (43001) */
    int json_body;
    int (*handle)(struct call *c);
};

/* ---- environment ---- */

static int64_t default_now(void *arg)
{
    (void)arg;
    return util_wall_ms();
}

static void default_random(void *arg, unsigned char *buf, size_t n)
{
    (void)arg;
    while (n > 0) {
        ssize_t got = getrandom(buf, n, 0);
        if (got <= 0) {
            /* Not expected once the pool is up; still never hand out zeros. */
            uint64_t x = (uint64_t)util_mono_us() | 1;
            for (; n > 0; n--, buf++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                *buf = (unsigned char)(x >> 56);
            }
            return;
        }
        buf += got;
        n -= (size_t)got;
    }
}

static void env_random(void *arg, unsigned char *buf, size_t n)
{
    fw *f = arg;
    f->env.random(f->env.arg, buf, n);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Decides one fault of probability P. */
static int hit(fw *f, double p)
{
    if (p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    return (double)(splitmix64(&f->rng) >> 11) * 0x1.0p-53 < p;
}

/* Installs FL (taken over, FL zeroed) as the fault set; a seed restarts the random stream. */
static void faults_install(fw *f, struct fw_faults *fl)
{
    fwconf_faults_clear(&f->faults);
    f->faults = *fl;
    memset(fl, 0, sizeof(*fl));
    if (f->faults.has_seed)
        f->rng = (uint64_t)f->faults.seed;
}

/* ---- life cycle ---- */

int fw_config_check(json_t *cfg, struct jc_errs *e)
{
    struct fw_conf c;
    int before = e->count;
    fwconf_parse(cfg, &c, e);
    fwconf_free(&c);
    return e->count > before ? -1 : 0;
}

int fw_create(json_t *cfg, const struct fw_env *env, fw **out, char *err, size_t errlen)
{
    struct jc_errs e = {0};
    fw *f = NULL;
    int rc = -1;

    *out = NULL;
    f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    pthread_mutex_init(&f->mu, NULL);
    f->env.now_ms = env && env->now_ms ? env->now_ms : default_now;
    f->env.random = env && env->random ? env->random : default_random;
    f->env.arg = env ? env->arg : NULL;
    fwconf_parse(cfg, &f->c, &e);
    if (e.count) {
        snprintf(err, errlen, "%s", e.text);
        goto out;
    }
    f->env.random(f->env.arg, (unsigned char *)&f->rng, sizeof(f->rng));
    faults_install(f, &f->c.faults);
    f->tok = fwtok_create(&(struct fwtok_conf){
        .apps = f->c.apps,
        .napps = f->c.napps,
        .ttl_ms = f->c.token_ttl_s * 1000,
        .renew_before_ms = f->c.renew_before_s * 1000,
        .force_min_interval_ms = f->c.force_min_interval_s * 1000,
        .force_daily_limit = f->c.force_daily_limit,
        .legacy_grace_ms = f->c.legacy_grace_s * 1000,
        .token_len = (size_t)f->c.token_length,
        .max_tokens = MAX_TOKENS,
        .max_apps = MAX_APPS,
        .random = env_random,
        .random_arg = f,
    });
    f->media = fwmedia_create(&(struct fwmedia_conf){
        .ttl_ms = f->c.media_ttl_s * 1000,
        .max_count = (size_t)f->c.media_store_max_files,
        .max_total_bytes = (size_t)f->c.media_store_max_bytes,
        .random = env_random,
        .random_arg = f,
    });
    f->log = fwlog_create((size_t)f->c.log_max_entries, (size_t)f->c.log_max_bytes);
    if (!f->tok || !f->media || !f->log) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fwconf_free(&f->c); /* the apps were copied into tok; their strings belong to CFG */
    *out = f;
    f = NULL;
    rc = 0;
out:
    fw_destroy(f);
    return rc;
}

void fw_destroy(fw *f)
{
    if (!f)
        return;
    fwtok_destroy(f->tok);
    fwmedia_destroy(f->media);
    fwlog_destroy(f->log);
    fwconf_faults_clear(&f->faults);
    fwconf_free(&f->c);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void fw_response_free(struct fw_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

size_t fw_body_limit(const fw *f, const char *path)
{
    if (strcmp(path, "/cgi-bin/media/upload") == 0)
        return (size_t)f->c.media_max_bytes + UPLOAD_SLACK;
    return JSON_BODY_MAX;
}

/* ---- answers ---- */

/* Serializes OBJ (reference stolen) as RESP's body with STATUS. */
static void set_json(struct fw_response *resp, int status, json_t *obj, const char *ctype)
{
    free(resp->body);
    resp->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    resp->status = status;
    if (!resp->body) {
        resp->status = 500;
        resp->body = strdup("{\"error\":\"out of memory\"}");
    }
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", ctype);
}

static void set_errcode(struct fw_response *resp, int code)
{
    resp->errcode = code;
    set_json(resp, 200, json_pack("{s:i,s:s}", "errcode", code, "errmsg", fwmsg_errmsg(code)),
             JSON_CTYPE);
}

static void set_admin_error(struct fw_response *resp, int status, const char *msg)
{
    set_json(resp, status, json_pack("{s:s}", "error", msg), "application/json");
}

static const char *qget(const struct fw_request *req, const char *name)
{
    const json_t *v = req->query ? json_object_get(req->query, name) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *sget(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- API handlers: each returns the errcode; on 0 it has set the answer ---- */

static int check_token(struct call *c)
{
    return fwtok_check(c->f->tok, qget(c->req, "access_token"), c->now);
}

/* 0 when the JSON body is an object, else 44002 (empty) or 47001. */
static int body_object(const struct call *c)
{
    if (c->req->body_too_large)
        return 47001;
    if (c->req->body_len == 0)
        return 44002;
    return json_is_object(c->body) ? 0 : 47001;
}

/* The errcode the users fault assigns to the body's touser, or 0. */
static int user_fault(const struct call *c)
{
    const json_t *v = json_object_get(c->f->faults.users, sget(c->body, "touser"));
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static void token_answer(struct call *c, const char *token, long long expires_in)
{
    set_json(c->resp, 200,
             json_pack("{s:s,s:I}", "access_token", token, "expires_in", (json_int_t)expires_in),
             JSON_CTYPE);
}

static int h_stable(struct call *c)
{
    char token[FWTOK_LEN_MAX + 1];
    long long expires_in = 0;
    const json_t *force;
    const char *grant;
    int rc = body_object(c);

    if (rc)
        return rc;
    grant = sget(c->body, "grant_type");
    if (!grant || strcmp(grant, "client_credential") != 0)
        return 40002;
    force = json_object_get(c->body, "force_refresh");
    if (force && !json_is_boolean(force))
        return 47001;
    rc = fwtok_stable(c->f->tok, sget(c->body, "appid"), sget(c->body, "secret"),
                      json_is_true(force), c->now, token, sizeof(token), &expires_in);
    if (rc == 0)
        token_answer(c, token, expires_in);
    return rc;
}

static int h_token(struct call *c)
{
    char token[FWTOK_LEN_MAX + 1];
    long long expires_in = 0;
    const char *grant = qget(c->req, "grant_type");
    int rc;

    if (!grant || strcmp(grant, "client_credential") != 0)
        return 40002;
    rc = fwtok_legacy(c->f->tok, qget(c->req, "appid"), qget(c->req, "secret"), c->now, token,
                      sizeof(token), &expires_in);
    if (rc == 0)
        token_answer(c, token, expires_in);
    return rc;
}

static int media_known(void *arg, const char *id)
{
    fw *f = ((struct call *)arg)->f;
    return f->c.accept_any_media_id || fwmedia_get(f->media, id, ((struct call *)arg)->now);
}

static int h_send(struct call *c)
{
    struct fw_faults *fl = &c->f->faults;
    int rc = check_token(c);

    if (rc)
        return rc;
    if (fl->fail_pos < fl->nfail && (rc = (int)fl->fail_next[fl->fail_pos++]) != 0)
        return rc;
    if (hit(c->f, fl->busy_rate))
        return -1;
    if ((rc = body_object(c)) != 0)
        return rc;
    rc = fwmsg_check_send(c->body, media_known, c, (size_t)c->f->c.text_max_bytes);
    return rc ? rc : user_fault(c);
}

static int h_typing(struct call *c)
{
    int rc = check_token(c);

    if (rc)
        return rc;
    if (hit(c->f, c->f->faults.busy_rate))
        return -1;
    if ((rc = body_object(c)) != 0)
        return rc;
    rc = fwmsg_check_typing(c->body);
    return rc ? rc : user_fault(c);
}

static int h_upload(struct call *c)
{
    struct fwmedia_part part;
    char id[FWMEDIA_ID_LEN + 1];
    const char *type = qget(c->req, "type");
    int rc = check_token(c);

    if (rc)
        return rc;
    if (!type || strcmp(type, "image") != 0)
        return 40004; /* Mini Program customer service sends images only */
    if (c->req->body_too_large)
        return 40006;
    if (fwmedia_multipart_field(c->req->content_type, c->req->body, c->req->body_len, "media",
                                &part) < 0)
        return 41005;
    json_decref(c->log_body);
    c->log_body = json_pack("{s:{s:s,s:s,s:I}}", "media", "filename", part.filename, "content_type",
                            part.content_type, "bytes", (json_int_t)part.len);
    if (part.len > (size_t)c->f->c.media_max_bytes)
        return 40006;
    if (part.len == 0)
        return 44001;
    if (fwmedia_put(c->f->media, type, part.content_type, part.filename, part.data, part.len,
                    c->now, id) < 0)
        return -1;
    set_json(c->resp, 200,
             json_pack("{s:s,s:s,s:I}", "type", type, "media_id", id, "created_at",
                       (json_int_t)(c->now / 1000)),
             JSON_CTYPE);
    return 0;
}

static int h_media_get(struct call *c)
{
    const struct fwmedia_item *it;
    const char *id = qget(c->req, "media_id");
    int rc = check_token(c);

    if (rc)
        return rc;
    if (!id || !*id)
        return 41006;
    it = fwmedia_get(c->f->media, id, c->now);
    if (!it)
        return 40007;
    free(c->resp->body);
    c->resp->body = malloc(it->len + 1);
    if (!c->resp->body)
        return -1;
    memcpy(c->resp->body, it->data, it->len);
    c->resp->body[it->len] = '\0';
    c->resp->body_len = it->len;
    c->resp->status = 200;
    snprintf(c->resp->content_type, sizeof(c->resp->content_type), "%s",
             it->content_type[0] ? it->content_type : "application/octet-stream");
    snprintf(c->resp->filename, sizeof(c->resp->filename), "%s", it->filename);
    return 0;
}

static const struct route routes[] = {
    {"/cgi-bin/stable_token", 1, 1, h_stable},
    {"/cgi-bin/token", 0, 0, h_token},
    {"/cgi-bin/message/custom/send", 1, 1, h_send},
    {"/cgi-bin/message/custom/business/send", 1, 1, h_send},
    {"/cgi-bin/message/custom/typing", 1, 1, h_typing},
    {"/cgi-bin/message/custom/business/typing", 1, 1, h_typing},
    {"/cgi-bin/media/upload", 1, 0, h_upload},
    {"/cgi-bin/media/get", 0, 0, h_media_get},
};

/* ---- the calls log ---- */

/* The body as the calls log shows it when it is not JSON: null, plus its start as "raw". */
static void log_raw_body(struct call *c, json_t *entry)
{
    size_t n = c->req->body_len < RAW_LOG_MAX ? c->req->body_len : RAW_LOG_MAX;
    json_t *raw = n ? json_stringn(c->req->body, n) : NULL;
    json_object_set_new(entry, "body", json_null());
    if (raw)
        json_object_set_new(entry, "raw", raw);
}

static void record(struct call *c, const char *path, enum fwlog_outcome kind, int code)
{
    char *text = NULL;

    if (c->f->c.log_max_entries > 0) {
        json_t *entry = json_object();
        json_object_set_new(entry, "path", json_string(path));
        json_object_set_new(entry, "query",
                            c->req->query ? json_deep_copy(c->req->query) : json_object());
        if (c->log_body)
            json_object_set(entry, "body", c->log_body);
        else if (c->req->body_len && !c->req->body_too_large)
            log_raw_body(c, entry);
        else
            json_object_set_new(entry, "body", json_object());
        json_object_set_new(entry, "at_ms", json_integer(c->now));
        text = json_dumps(entry, JSON_COMPACT);
        json_decref(entry);
    }
    fwlog_add(c->f->log, path, text, kind, code);
    if (log_enabled(LOG_DEBUG)) {
        char num[16];
        snprintf(num, sizeof(num), "%d", code);
        log_event(LOG_DEBUG, "api_call", "path", path, "outcome",
                  kind == FWLOG_ERRCODE ? "errcode"
                  : kind == FWLOG_HTTP  ? "http"
                                        : "dropped",
                  "#code", num, NULL);
    }
}

static void api_call(fw *f, const struct route *r, const struct fw_request *req,
                     struct fw_response *resp, int64_t now)
{
    struct call c = {f, req, resp, now, NULL, NULL};
    int rc;

    resp->delay_ms = f->faults.latency_ms;
    if (r->json_body && req->body_len && !req->body_too_large)
        c.body = json_loadb(req->body, req->body_len, 0, NULL);
    if (c.body)
        c.log_body = json_incref(c.body);
    else if (!req->body_len)
        c.log_body = json_object();
    if (hit(f, f->faults.drop_rate)) {
        resp->drop = 1;
        record(&c, r->path, FWLOG_DROPPED, 0);
        goto out;
    }
    if (hit(f, f->faults.http_5xx_rate)) {
        static const char page[] = "<html><body><h1>503 Service Unavailable</h1></body></html>\n";
        resp->status = 503;
        resp->body = strdup(page);
        resp->body_len = resp->body ? strlen(page) : 0;
        snprintf(resp->content_type, sizeof(resp->content_type), "text/html");
        record(&c, r->path, FWLOG_HTTP, 503);
        goto out;
    }
    if (strcmp(req->method, r->post ? "POST" : "GET") != 0)
        rc = r->post ? 43002 : 43001;
    else
        rc = r->handle(&c);
    if (rc != 0 || !resp->body)
        set_errcode(resp, rc); /* errors, and the plain {"errcode":0,"errmsg":"ok"} */
    resp->errcode = rc;
    record(&c, r->path, FWLOG_ERRCODE, rc);
out:
    json_decref(c.body);
    json_decref(c.log_body);
}

/* ---- admin endpoints (/_sim/...): no faults, not logged ---- */

static void admin_ok(struct fw_response *resp, json_t *extra)
{
    json_t *o = extra ? extra : json_object();
    json_object_set_new(o, "ok", json_true());
    set_json(resp, 200, o, "application/json");
}

static void admin_set_faults(fw *f, const struct fw_request *req, struct fw_response *resp)
{
    struct fw_faults fl = {0};
    struct jc_errs e = {0};
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    char *dump;

    if (!body) {
        set_admin_error(resp, 400, "the body must be a JSON object (the new fault set)");
        return;
    }
    fwconf_faults_parse(body, "$", &fl, &e);
    json_decref(body);
    if (e.count) {
        fwconf_faults_clear(&fl);
        set_admin_error(resp, 400, e.text);
        return;
    }
    faults_install(f, &fl);
    body = fwconf_faults_json(&f->faults);
    dump = json_dumps(body, JSON_COMPACT);
    log_event(LOG_INFO, "sim_faults_set", "#faults", dump ? dump : "null", NULL);
    free(dump);
    admin_ok(resp, json_pack("{s:o}", "faults", body));
}

static void admin_calls(fw *f, const struct fw_request *req, struct fw_response *resp)
{
    const char *all = qget(req, "all");
    size_t len = 0;
    char *text =
        fwlog_calls(f->log, all && (strcmp(all, "1") == 0 || strcmp(all, "true") == 0), &len);
    if (!text) {
        set_admin_error(resp, 500, "out of memory");
        return;
    }
    free(resp->body);
    resp->body = text;
    resp->body_len = len;
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
}

static void admin_stats(fw *f, struct fw_response *resp)
{
    json_t *st = fwlog_stats(f->log);
    size_t tokens, apps, files, bytes;

    fwtok_usage(f->tok, &tokens, &apps);
    fwmedia_usage(f->media, &files, &bytes);
    json_object_set_new(st, "tokens", json_integer((json_int_t)tokens));
    json_object_set_new(st, "apps", json_integer((json_int_t)apps));
    json_object_set_new(st, "media_files", json_integer((json_int_t)files));
    json_object_set_new(st, "media_bytes", json_integer((json_int_t)bytes));
    set_json(resp, st ? 200 : 500, st, "application/json");
}

static void admin(fw *f, const struct fw_request *req, struct fw_response *resp)
{
    const char *p = req->path + strlen("/_sim/");
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;

    if (strcmp(p, "faults") == 0 && get) {
        set_json(resp, 200, fwconf_faults_json(&f->faults), "application/json");
    } else if (strcmp(p, "faults") == 0 && post) {
        admin_set_faults(f, req, resp);
    } else if (strcmp(p, "expire_tokens") == 0 && post) {
        fwtok_expire_all(f->tok);
        log_event(LOG_INFO, "sim_tokens_expired", NULL);
        admin_ok(resp, NULL);
    } else if (strcmp(p, "invalidate_tokens") == 0 && post) {
        fwtok_invalidate_all(f->tok);
        log_event(LOG_INFO, "sim_tokens_invalidated", NULL);
        admin_ok(resp, NULL);
    } else if (strcmp(p, "calls") == 0 && get) {
        admin_calls(f, req, resp);
    } else if (strcmp(p, "reset") == 0 && post) {
        fwlog_reset(f->log);
        log_event(LOG_INFO, "sim_calls_reset", NULL);
        admin_ok(resp, NULL);
    } else if (strcmp(p, "stats") == 0 && get) {
        admin_stats(f, resp);
    } else if (strcmp(p, "faults") == 0 || strcmp(p, "expire_tokens") == 0 ||
               strcmp(p, "invalidate_tokens") == 0 || strcmp(p, "calls") == 0 ||
               strcmp(p, "reset") == 0 || strcmp(p, "stats") == 0) {
        set_admin_error(resp, 405, "method not allowed");
    } else {
        set_admin_error(resp, 404, "no such admin endpoint");
    }
}

void fw_handle(fw *f, const struct fw_request *req, struct fw_response *resp)
{
    const struct route *r = NULL;

    memset(resp, 0, sizeof(*resp));
    pthread_mutex_lock(&f->mu);
    if (strncmp(req->path, "/_sim/", 6) == 0) {
        admin(f, req, resp);
        goto out;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(req->path, routes[i].path) == 0)
            r = &routes[i];
    if (r) {
        api_call(f, r, req, resp, f->env.now_ms(f->env.arg));
    } else {
        /* Not an API this fake knows: WeChat's own answer is an errcode; a 404 is clearer here. */
        if (strncmp(req->path, "/cgi-bin/", 9) == 0)
            resp->delay_ms = f->faults.latency_ms;
        fwlog_add(f->log, "other", NULL, FWLOG_HTTP, 404);
        set_json(resp, 404,
                 json_pack("{s:i,s:s}", "errcode", 404, "errmsg", "not faked by wxbridge-sim"),
                 JSON_CTYPE);
    }
out:
    pthread_mutex_unlock(&f->mu);
}
