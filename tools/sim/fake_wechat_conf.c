/*
 * fake_wechat_conf: configuration table and fault-set parser of the fake
 * WeChat API. See fake_wechat_conf.h and tools/sim/README.md for the keys.
 */
#include "fake_wechat_conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400LL

void fwconf_faults_clear(struct fw_faults *fl)
{
    json_decref(fl->users);
    free(fl->fail_next);
    memset(fl, 0, sizeof(*fl));
}

static void rate(json_t *obj, const char *path, const char *key, double *out, struct jc_errs *e)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
        jc_error(e, path, "\"%s\" must be a number between 0 and 1", key);
    else
        *out = json_number_value(v);
}

/* Parses the fail_next array at OBJ[KEY] into FL (replacing what it had). */
static void fail_next_parse(json_t *obj, const char *path, const char *key, struct fw_faults *fl,
                            struct jc_errs *e)
{
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;

    if (!arr)
        return;
    if (!json_is_array(arr) || json_array_size(arr) > FWCONF_FAIL_NEXT_MAX) {
        jc_error(e, path, "\"%s\" must be an array of at most %d errcodes", key,
                 FWCONF_FAIL_NEXT_MAX);
        return;
    }
    free(fl->fail_next);
    fl->nfail = fl->fail_pos = 0;
    fl->fail_next = calloc(json_array_size(arr) + 1, sizeof(*fl->fail_next));
    if (!fl->fail_next) {
        jc_error(e, path, "out of memory");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX) {
            jc_error(e, path, "\"%s\"[%zu] must be an integer errcode", key, i);
            continue;
        }
        fl->fail_next[fl->nfail++] = json_integer_value(v);
    }
}

void fwconf_faults_parse(json_t *obj, const char *path, struct fw_faults *fl, struct jc_errs *e)
{
    static const char *const known[] = {"latency_ms", "busy_rate", "http_5xx_rate", "drop_rate",
                                        "users",      "seed",      "fail_next",     NULL};
    json_t *users, *v;
    const char *k;

    fwconf_faults_clear(fl);
    if (!json_is_object(obj)) {
        jc_error(e, path, "the fault set must be a JSON object");
        return;
    }
    jc_known_keys(obj, path, known, e);
    jc_int(obj, path, "latency_ms", 0, 0, FWCONF_LATENCY_MAX, &fl->latency_ms, e);
    rate(obj, path, "busy_rate", &fl->busy_rate, e);
    rate(obj, path, "http_5xx_rate", &fl->http_5xx_rate, e);
    rate(obj, path, "drop_rate", &fl->drop_rate, e);
    fl->has_seed = json_object_get(obj, "seed") != NULL;
    jc_int(obj, path, "seed", 0, 0, INT64_MAX, &fl->seed, e);
    fail_next_parse(obj, path, "fail_next", fl, e);
    users = json_object_get(obj, "users");
    if (!users)
        return;
    if (!json_is_object(users)) {
        jc_error(e, path, "\"users\" must be an object {\"openid\": errcode}");
        return;
    }
    json_object_foreach(users, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            jc_error(e, path, "\"users\".\"%s\" must be an integer errcode", k);
    }
    fl->users = json_deep_copy(users);
}

json_t *fwconf_faults_json(const struct fw_faults *fl)
{
    json_t *o = json_object(), *arr = json_array();

    for (size_t i = fl->fail_pos; arr && i < fl->nfail; i++)
        json_array_append_new(arr, json_integer(fl->fail_next[i]));
    json_object_set_new(o, "latency_ms", json_integer(fl->latency_ms));
    json_object_set_new(o, "busy_rate", json_real(fl->busy_rate));
    json_object_set_new(o, "http_5xx_rate", json_real(fl->http_5xx_rate));
    json_object_set_new(o, "drop_rate", json_real(fl->drop_rate));
    json_object_set_new(o, "users", fl->users ? json_deep_copy(fl->users) : json_object());
    json_object_set_new(o, "seed", fl->has_seed ? json_integer(fl->seed) : json_null());
    json_object_set_new(o, "fail_next", arr);
    return o;
}

static void apps_parse(json_t *cfg, struct fw_conf *c, struct jc_errs *e)
{
    static const char *const known[] = {"appid", "secret", NULL};
    json_t *arr = json_object_get(cfg, "apps"), *app;
    size_t i;

    if (!arr)
        return;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        jc_error(e, "$", "\"apps\" must be a non-empty array (omit it to accept any appid)");
        return;
    }
    c->apps = calloc(json_array_size(arr), sizeof(*c->apps));
    if (!c->apps) {
        jc_error(e, "$.apps", "out of memory");
        return;
    }
    json_array_foreach(arr, i, app)
    {
        char path[48];
        struct fwtok_app *a = &c->apps[c->napps];
        snprintf(path, sizeof(path), "$.apps[%zu]", i);
        if (!json_is_object(app)) {
            jc_error(e, path, "must be an object {\"appid\":..,\"secret\":..}");
            continue;
        }
        jc_known_keys(app, path, known, e);
        jc_str(app, path, "appid", 1, NULL, &a->appid, e);
        jc_str(app, path, "secret", 1, NULL, &a->secret, e);
        if (!a->appid || !a->secret)
            continue;
        if (!*a->appid || strlen(a->appid) > FWTOK_APPID_MAX || !*a->secret ||
            strlen(a->secret) > FWTOK_SECRET_MAX) {
            jc_error(e, path, "appid needs 1..%d characters and secret 1..%d", FWTOK_APPID_MAX,
                     FWTOK_SECRET_MAX);
            continue;
        }
        for (size_t j = 0; j < c->napps; j++)
            if (strcmp(c->apps[j].appid, a->appid) == 0)
                jc_error(e, path, "appid \"%s\" is listed twice", a->appid);
        c->napps++;
    }
}

void fwconf_parse(json_t *cfg, struct fw_conf *c, struct jc_errs *e)
{
    static const char *const known[] = {"listen",
                                        "threads",
                                        "apps",
                                        "token_ttl_s",
                                        "stable_renew_before_s",
                                        "force_refresh_min_interval_s",
                                        "force_refresh_daily_limit",
                                        "legacy_grace_s",
                                        "token_length",
                                        "accept_any_media_id",
                                        "media_ttl_s",
                                        "media_max_bytes",
                                        "media_store_max_bytes",
                                        "media_store_max_files",
                                        "text_max_bytes",
                                        "calls_log_max_entries",
                                        "calls_log_max_bytes",
                                        "faults",
                                        "fail_next",
                                        NULL};

    memset(c, 0, sizeof(*c));
    if (!json_is_object(cfg)) {
        jc_error(e, "$", "the configuration must be a JSON object");
        cfg = NULL; /* every getter below then takes its default */
    } else {
        jc_known_keys(cfg, "$", known, e);
    }
    jc_int(cfg, "$", "token_ttl_s", 7200, 1, 30 * DAY_S, &c->token_ttl_s, e);
    jc_int(cfg, "$", "stable_renew_before_s", 300, 0, 30 * DAY_S, &c->renew_before_s, e);
    jc_int(cfg, "$", "force_refresh_min_interval_s", 30, 0, DAY_S, &c->force_min_interval_s, e);
    jc_int(cfg, "$", "force_refresh_daily_limit", 20, 0, 1000000000, &c->force_daily_limit, e);
    jc_int(cfg, "$", "legacy_grace_s", 300, 0, 30 * DAY_S, &c->legacy_grace_s, e);
    jc_int(cfg, "$", "token_length", 160, FWTOK_LEN_MIN, FWTOK_LEN_MAX, &c->token_length, e);
    jc_bool(cfg, "$", "accept_any_media_id", 0, &c->accept_any_media_id, e);
    jc_int(cfg, "$", "media_ttl_s", 3 * DAY_S, 1, 365 * DAY_S, &c->media_ttl_s, e);
    jc_int(cfg, "$", "media_max_bytes", 10LL << 20, 1, 1LL << 30, &c->media_max_bytes, e);
    jc_int(cfg, "$", "media_store_max_bytes", 256LL << 20, 1, 1LL << 34, &c->media_store_max_bytes,
           e);
    jc_int(cfg, "$", "media_store_max_files", 10000, 1, 10000000, &c->media_store_max_files, e);
    jc_int(cfg, "$", "text_max_bytes", 2048, 0, 1 << 20, &c->text_max_bytes, e);
    jc_int(cfg, "$", "calls_log_max_entries", 1000000, 0, 100000000, &c->log_max_entries, e);
    jc_int(cfg, "$", "calls_log_max_bytes", 512LL << 20, 0, 1LL << 36, &c->log_max_bytes, e);
    if (!cfg)
        return;
    apps_parse(cfg, c, e);
    if (json_object_get(cfg, "faults"))
        fwconf_faults_parse(json_object_get(cfg, "faults"), "$.faults", &c->faults, e);
    if (json_object_get(cfg, "fail_next")) {
        if (json_object_get(json_object_get(cfg, "faults"), "fail_next"))
            jc_error(e, "$", "give \"fail_next\" once: at the top level or inside \"faults\"");
        fail_next_parse(cfg, "$", "fail_next", &c->faults, e);
    }
}

void fwconf_free(struct fw_conf *c)
{
    if (!c)
        return;
    free(c->apps);
    c->apps = NULL;
    c->napps = 0;
    fwconf_faults_clear(&c->faults);
}
