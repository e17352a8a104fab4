/*
 * fake_wechat_testutil: fixture and call helpers for the fake_wechat unit
 * tests. See fake_wechat_testutil.h.
 */
#include "fake_wechat_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int64_t t_now(void *arg)
{
    return ((struct fwt_fixture *)arg)->now;
}

/* xorshift64: deterministic "random" bytes, so token and media ids repeat run to run. */
static void t_random(void *arg, unsigned char *buf, size_t n)
{
    struct fwt_fixture *fx = arg;
    for (size_t i = 0; i < n; i++) {
        fx->rnd ^= fx->rnd << 13;
        fx->rnd ^= fx->rnd >> 7;
        fx->rnd ^= fx->rnd << 17;
        buf[i] = (unsigned char)(fx->rnd >> 24);
    }
}

int fwt_setup(void **state)
{
    *state = calloc(1, sizeof(struct fwt_fixture));
    return *state ? 0 : -1;
}

int fwt_teardown(void **state)
{
    struct fwt_fixture *fx = *state;
    fw_destroy(fx->f);
    free(fx);
    return 0;
}

fw *fwt_make(struct fwt_fixture *fx, const char *cfg_text)
{
    json_error_t jerr;
    json_t *cfg = json_loads(cfg_text ? cfg_text : "{}", 0, &jerr);
    struct fw_env env = {t_now, t_random, fx};
    char err[4200];

    if (!cfg)
        fail_msg("bad test config: %s", jerr.text);
    fx->now = FWT_T0;
    fx->rnd = 0x9E3779B97F4A7C15ULL;
    if (fw_create(cfg, &env, &fx->f, err, sizeof(err)) < 0)
        fail_msg("fw_create: %s", err);
    json_decref(cfg);
    return fx->f;
}

json_t *fwt_request(fw *f, const char *method, const char *path, json_t *query, const char *ctype,
                    const char *body, size_t body_len, struct fw_response *resp)
{
    struct fw_request req = {method, path, query, body, body_len, ctype, 0};
    fw_handle(f, &req, resp);
    return json_loadb(resp->body ? resp->body : "", resp->body_len, JSON_DECODE_ANY, NULL);
}

int fwt_post_code(fw *f, const char *path, const char *token, const char *body)
{
    struct fw_response resp;
    json_t *q = token ? json_pack("{s:s}", "access_token", token) : json_object();
    json_t *j = fwt_request(f, "POST", path, q, "application/json", body, strlen(body), &resp);
    int code;

    assert_int_equal(resp.status, 200);
    assert_non_null(j);
    code = (int)json_integer_value(json_object_get(j, "errcode"));
    assert_int_equal(resp.errcode, code);
    json_decref(j);
    json_decref(q);
    fw_response_free(&resp);
    return code;
}

int fwt_send_text(fw *f, const char *token, const char *to)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"touser\":\"%s\",\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}", to);
    return fwt_post_code(f, "/cgi-bin/message/custom/send", token, body);
}

/* Takes the token and lifetime out of a token answer J. */
static int token_result(json_t *j, char **token, long long *expires_in)
{
    const char *t = json_string_value(json_object_get(j, "access_token"));
    if (token)
        *token = t ? strdup(t) : NULL;
    if (expires_in)
        *expires_in = json_integer_value(json_object_get(j, "expires_in"));
    return (int)json_integer_value(json_object_get(j, "errcode"));
}

int fwt_stable(fw *f, const char *appid, const char *secret, int force, char **token,
               long long *expires_in)
{
    struct fw_response resp;
    char body[512];
    json_t *j;
    int code;

    snprintf(body, sizeof(body),
             "{\"grant_type\":\"client_credential\",\"appid\":\"%s\",\"secret\":\"%s\","
             "\"force_refresh\":%s}",
             appid, secret, force ? "true" : "false");
    j = fwt_request(f, "POST", "/cgi-bin/stable_token", NULL, "application/json", body,
                    strlen(body), &resp);
    assert_non_null(j);
    code = token_result(j, token, expires_in);
    json_decref(j);
    fw_response_free(&resp);
    return code;
}

int fwt_legacy(fw *f, const char *appid, const char *secret, char **token)
{
    struct fw_response resp;
    json_t *q = json_pack("{s:s,s:s,s:s}", "grant_type", "client_credential", "appid", appid,
                          "secret", secret);
    json_t *j = fwt_request(f, "GET", "/cgi-bin/token", q, NULL, "", 0, &resp);
    int code;

    assert_non_null(j);
    code = token_result(j, token, NULL);
    json_decref(j);
    json_decref(q);
    fw_response_free(&resp);
    return code;
}

void fwt_admin_post(fw *f, const char *path, const char *body, int want_status)
{
    struct fw_response resp;
    json_t *j = fwt_request(f, "POST", path, NULL, "application/json", body, strlen(body), &resp);
    assert_int_equal(resp.status, want_status);
    json_decref(j);
    fw_response_free(&resp);
}

json_t *fwt_admin_get(fw *f, const char *path, json_t *query)
{
    struct fw_response resp;
    json_t *j = fwt_request(f, "GET", path, query, NULL, "", 0, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(j);
    fw_response_free(&resp);
    return j;
}
