/*
 * replier_config: validation of the replier config. See replier_config.h.
 */
#include "replier_config.h"

#include "kafka_conf.h"

#include <stdio.h>
#include <string.h>

static const char *const keys[] = {
    "kafka",
    "group_id",
    "input_topic",
    "results_topic",
    "dlq_topic",
    "inbound_topic",
    "inflight_topic",
    "at_most_once",
    "api_base",
    "apps",
    "metrics_listen",
    "log_level",
    "max_in_flight",
    "max_pending",
    "http_timeout_ms",
    "connect_timeout_ms",
    "max_attempts",
    "backoff_base_ms",
    "backoff_max_ms",
    "quota_guard",
    "quota_wait_ms",
    "quota_max_users",
    "finished_window_s",
    "finished_max_ids",
    "commit_interval_ms",
    "shutdown_timeout_ms",
    "media_max_bytes",
    "media_cache_max",
    "token_refresh_margin_s",
    "force_refresh_min_interval_s",
    NULL,
};

static const char *const app_keys[] = {
    "appid", "secret", "token_mode", "token_url", "rate_per_s", "burst", "_comment", NULL,
};

static int valid_appid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static int http_url(const char *s)
{
    return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strlen(s) < 1024;
}

static void load_app(json_t *a, const char *path, struct replier_app *app, struct jc_errs *e)
{
    const char *mode = NULL;
    long long rate = 0, burst = 0;

    if (!json_is_object(a)) {
        jc_error(e, path, "must be an object");
        return;
    }
    jc_known_keys(a, path, app_keys, e);
    jc_str(a, path, "appid", 1, NULL, &app->appid, e);
    if (app->appid && !valid_appid(app->appid))
        jc_error(e, path, "\"appid\" must be 1-64 characters of [A-Za-z0-9_]");
    jc_str(a, path, "token_mode", 0, "stable", &mode, e);
    if (mode && strcmp(mode, "stable") == 0)
        app->mode = TOKEN_STABLE;
    else if (mode && strcmp(mode, "legacy") == 0)
        app->mode = TOKEN_LEGACY;
    else if (mode && strcmp(mode, "url") == 0)
        app->mode = TOKEN_URL;
    else
        jc_error(e, path, "\"token_mode\" must be \"stable\", \"legacy\" or \"url\"");
    jc_str(a, path, "secret", app->mode != TOKEN_URL, NULL, &app->secret, e);
    jc_str(a, path, "token_url", app->mode == TOKEN_URL, NULL, &app->token_url, e);
    if (app->token_url && !http_url(app->token_url))
        jc_error(e, path, "\"token_url\" must be an http:// or https:// URL");
    jc_int(a, path, "rate_per_s", 0, 0, 100000, &rate, e);
    jc_int(a, path, "burst", 0, 0, 100000, &burst, e);
    app->rate_per_s = (double)rate;
    app->burst = burst > 0 ? (double)burst : (rate > 0 ? (double)rate : 0);
}

static void load_apps(json_t *root, struct replier_config *cfg, struct jc_errs *e)
{
    json_t *apps = json_object_get(root, "apps"), *a;
    size_t i;
    char path[64];

    if (!json_is_array(apps) || json_array_size(apps) == 0) {
        jc_error(e, "$", "\"apps\" must be a non-empty array of {appid, secret}");
        return;
    }
    if (json_array_size(apps) > REPLIER_APPS_MAX) {
        jc_error(e, "$.apps", "at most %d apps", REPLIER_APPS_MAX);
        return;
    }
    json_array_foreach(apps, i, a)
    {
        snprintf(path, sizeof(path), "$.apps[%zu]", i);
        load_app(a, path, &cfg->apps[i], e);
        for (size_t j = 0; j < i; j++)
            if (cfg->apps[i].appid && cfg->apps[j].appid &&
                strcmp(cfg->apps[i].appid, cfg->apps[j].appid) == 0)
                jc_error(e, path, "appid \"%s\" listed twice", cfg->apps[i].appid);
    }
    cfg->napps = (int)json_array_size(apps);
}

int replier_config_load(json_t *root, struct replier_config *cfg, struct jc_errs *e)
{
    int before = e->count;

    memset(cfg, 0, sizeof(*cfg));
    cfg->root = json_incref(root);
    jc_known_keys(root, "$", keys, e);
    cfg->kafka = json_object_get(root, "kafka");
    kafka_conf_check(cfg->kafka, e);
    jc_str(root, "$", "group_id", 0, "wxbridge-replier", &cfg->group_id, e);
    jc_str(root, "$", "input_topic", 0, "wx.replies", &cfg->input_topic, e);
    jc_str(root, "$", "results_topic", 0, "wx.replies.results", &cfg->results_topic, e);
    jc_str(root, "$", "dlq_topic", 0, "wx.replies.dlq", &cfg->dlq_topic, e);
    jc_str(root, "$", "inbound_topic", 0, "wx.inbound", &cfg->inbound_topic, e);
    jc_str(root, "$", "inflight_topic", 0, "wx.replies.inflight", &cfg->inflight_topic, e);
    jc_bool(root, "$", "at_most_once", 1, &cfg->at_most_once, e);
    jc_str(root, "$", "api_base", 0, "https://api.weixin.qq.com", &cfg->api_base, e);
    if (cfg->api_base && !http_url(cfg->api_base))
        jc_error(e, "$.api_base", "must be an http:// or https:// URL");
    jc_str(root, "$", "metrics_listen", 0, NULL, &cfg->metrics_listen, e);
    jc_enum(root, "$", "log_level", "info", jc_log_levels, &cfg->log_level, e);
    load_apps(root, cfg, e);
    jc_int(root, "$", "max_in_flight", 64, 1, 4096, &cfg->max_in_flight, e);
    jc_int(root, "$", "max_pending", 10000, 1, 1000000, &cfg->max_pending, e);
    jc_int(root, "$", "http_timeout_ms", 5000, 100, 120000, &cfg->http_timeout_ms, e);
    jc_int(root, "$", "connect_timeout_ms", 2000, 100, 60000, &cfg->connect_timeout_ms, e);
    jc_int(root, "$", "max_attempts", 5, 1, 100, &cfg->max_attempts, e);
    jc_int(root, "$", "backoff_base_ms", 200, 1, 600000, &cfg->backoff_base_ms, e);
    jc_int(root, "$", "backoff_max_ms", 30000, 1, 3600000, &cfg->backoff_max_ms, e);
    jc_bool(root, "$", "quota_guard", 1, &cfg->quota_guard, e);
    jc_int(root, "$", "quota_wait_ms", 3000, 0, 60000, &cfg->quota_wait_ms, e);
    jc_int(root, "$", "quota_max_users", 1000000, 16, 100000000, &cfg->quota_max_users, e);
    jc_int(root, "$", "finished_window_s", 7 * 86400, 60, 30 * 86400, &cfg->finished_window_s, e);
    jc_int(root, "$", "finished_max_ids", 1024 * 1024, 1024, 1LL << 28, &cfg->finished_max_ids, e);
    jc_int(root, "$", "commit_interval_ms", 200, 1, 60000, &cfg->commit_interval_ms, e);
    jc_int(root, "$", "shutdown_timeout_ms", 10000, 0, 600000, &cfg->shutdown_timeout_ms, e);
    jc_int(root, "$", "media_max_bytes", 10 * 1024 * 1024, 1024, 64 * 1024 * 1024,
           &cfg->media_max_bytes, e);
    jc_int(root, "$", "media_cache_max", 10000, 1, 10000000, &cfg->media_cache_max, e);
    jc_int(root, "$", "token_refresh_margin_s", 300, 0, 3600, &cfg->token_refresh_margin_s, e);
    jc_int(root, "$", "force_refresh_min_interval_s", 30, 0, 86400,
           &cfg->force_refresh_min_interval_s, e);
    if (cfg->backoff_max_ms < cfg->backoff_base_ms)
        jc_error(e, "$.backoff_max_ms", "must be at least backoff_base_ms");
    if (e->count > before) {
        replier_config_free(cfg);
        return -1;
    }
    return 0;
}

const struct replier_app *replier_config_app(const struct replier_config *cfg, const char *appid)
{
    for (int i = 0; i < cfg->napps; i++)
        if (strcmp(cfg->apps[i].appid, appid) == 0)
            return &cfg->apps[i];
    return NULL;
}

void replier_config_free(struct replier_config *cfg)
{
    if (!cfg)
        return;
    json_decref(cfg->root);
    memset(cfg, 0, sizeof(*cfg));
}
