/*
 * ingress_config: validation of the ingress config. See ingress_config.h.
 */
#include "ingress_config.h"

#include "kafka_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const top_keys[] = {
    "listen",
    "metrics_listen",
    "kafka",
    "topic",
    "dlq_topic",
    "spool_dir",
    "spool_max_bytes",
    "timestamp_tolerance_s",
    "body_max_bytes",
    "ack_timeout_ms",
    "threads",
    "shutdown_timeout_ms",
    "log_level",
    "apps",
    NULL,
};

static const char *const app_keys[] = {
    "appid",
    "path",
    "token",
    "aes_key",
    "previous_aes_key",
    "previous_aes_key_until",
    "format",
    "require_encryption",
    NULL,
};

/*
 * "previous_aes_key_until": when a rotation ends, as RFC 3339 UTC
 * ("2026-12-01T00:00:00Z") or unix seconds. Returns wall ms, or -1.
 */
static int64_t parse_until(const json_t *v)
{
    struct tm tm = {0};
    const char *s, *end;
    time_t t;

    if (json_is_integer(v))
        return json_integer_value(v) > 0 && json_integer_value(v) < (1LL << 40)
                   ? (int64_t)json_integer_value(v) * 1000
                   : -1;
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0))
        return -1;
    t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000 : -1;
}

static void load_app(json_t *japp, const char *path, struct ingress_app *app, struct jc_errs *e)
{
    const char *p = NULL, *key = NULL, *prev = NULL, *fmt = NULL;
    size_t tl;

    if (!json_is_object(japp)) {
        jc_error(e, path, "must be an object");
        return;
    }
    jc_known_keys(japp, path, app_keys, e);
    jc_str(japp, path, "appid", 1, NULL, &app->appid, e);
    jc_str(japp, path, "token", 1, NULL, &app->token, e);
    jc_str(japp, path, "path", 0, NULL, &p, e);
    jc_str(japp, path, "aes_key", 0, NULL, &key, e);
    jc_str(japp, path, "previous_aes_key", 0, NULL, &prev, e);
    jc_str(japp, path, "format", 0, "auto", &fmt, e);

    if (app->appid && (strlen(app->appid) == 0 || strlen(app->appid) >= WXC_APPID_MAX))
        jc_error(e, path, "\"appid\" must be 1 to %d characters", WXC_APPID_MAX - 1);
    tl = app->token ? strlen(app->token) : 0;
    if (app->token && (tl < 3 || tl > 32))
        jc_error(e, path, "\"token\" must be 3 to 32 characters (WeChat's limit)");
    if (p && p[0] != '/')
        jc_error(e, path, "\"path\" must start with '/'");
    if (p && strlen(p) >= sizeof(app->path))
        jc_error(e, path, "\"path\" must be at most %zu characters", sizeof(app->path) - 1);
    if (p)
        snprintf(app->path, sizeof(app->path), "%s", p);
    else if (app->appid)
        snprintf(app->path, sizeof(app->path), "/wx/%s", app->appid);
    if (key) {
        if (wxc_key_from_encoding(key, &app->key) == 0)
            app->has_key = 1;
        else
            jc_error(e, path, "\"aes_key\" must be 43 characters of [A-Za-z0-9]");
    }
    if (prev) {
        if (!key)
            jc_error(e, path, "\"previous_aes_key\" needs \"aes_key\"");
        else if (wxc_key_from_encoding(prev, &app->prev_key) == 0)
            app->has_prev_key = 1;
        else
            jc_error(e, path, "\"previous_aes_key\" must be 43 characters of [A-Za-z0-9]");
    }
    if (json_object_get(japp, "previous_aes_key_until")) {
        app->prev_key_until_ms = parse_until(json_object_get(japp, "previous_aes_key_until"));
        if (!prev)
            jc_error(e, path, "\"previous_aes_key_until\" needs \"previous_aes_key\"");
        if (app->prev_key_until_ms < 0)
            jc_error(e, path,
                     "\"previous_aes_key_until\" must be a UTC time like "
                     "\"2026-12-01T00:00:00Z\" or unix seconds");
    }
    if (strcmp(fmt, "auto") == 0)
        app->format = 0;
    else if (strcmp(fmt, "xml") == 0)
        app->format = WX_FORMAT_XML;
    else if (strcmp(fmt, "json") == 0)
        app->format = WX_FORMAT_JSON;
    else
        jc_error(e, path, "\"format\" must be \"auto\", \"xml\" or \"json\"");
    jc_bool(japp, path, "require_encryption", key != NULL, &app->require_encryption, e);
    if (app->require_encryption && !key)
        jc_error(e, path, "\"require_encryption\" needs \"aes_key\"");
}

int ingress_config_load(json_t *root, struct ingress_config *cfg, struct jc_errs *e)
{
    json_t *apps;
    int before = e->count;

    memset(cfg, 0, sizeof(*cfg));
    cfg->root = json_incref(root);
    jc_known_keys(root, "$", top_keys, e);
    jc_str(root, "$", "listen", 0, "127.0.0.1:8080", &cfg->listen, e);
    jc_str(root, "$", "metrics_listen", 0, NULL, &cfg->metrics_listen, e);
    jc_str(root, "$", "topic", 0, "wx.inbound", &cfg->topic, e);
    jc_str(root, "$", "dlq_topic", 0, "wx.inbound.dlq", &cfg->dlq_topic, e);
    jc_str(root, "$", "spool_dir", 0, "var/spool", &cfg->spool_dir, e);
    jc_enum(root, "$", "log_level", "info", jc_log_levels, &cfg->log_level, e);
    jc_int(root, "$", "spool_max_bytes", 1024LL * 1024 * 1024, 1024 * 1024, 1LL << 40,
           &cfg->spool_max_bytes, e);
    jc_int(root, "$", "timestamp_tolerance_s", 300, 0, 86400 * 365, &cfg->timestamp_tolerance_s, e);
    jc_int(root, "$", "body_max_bytes", 1024 * 1024, 1024, 16 * 1024 * 1024, &cfg->body_max_bytes,
           e);
    /* WeChat gives up after 5 s: the spool fallback must fit in what remains. */
    jc_int(root, "$", "ack_timeout_ms", 2000, 50, 4000, &cfg->ack_timeout_ms, e);
    /* libmicrohttpd 0.9.75 with epoll and a single thread stalls every connection once
     * ~128 connect at once (seen with wrk and wxbridge-sim load); two or more do not. */
    jc_int(root, "$", "threads", 2, 2, 64, &cfg->threads, e);
    jc_int(root, "$", "shutdown_timeout_ms", 10000, 0, 600000, &cfg->shutdown_timeout_ms, e);
    cfg->kafka = json_object_get(root, "kafka");
    kafka_conf_check(cfg->kafka, e);

    apps = json_object_get(root, "apps");
    if (!json_is_array(apps) || json_array_size(apps) == 0) {
        jc_error(e, "$", "\"apps\" must be a non-empty array");
    } else {
        cfg->napps = json_array_size(apps);
        cfg->apps = calloc(cfg->napps, sizeof(*cfg->apps));
        for (size_t i = 0; cfg->apps && i < cfg->napps; i++) {
            char path[64];
            snprintf(path, sizeof(path), "$.apps[%zu]", i);
            load_app(json_array_get(apps, i), path, &cfg->apps[i], e);
            for (size_t j = 0; j < i; j++) {
                if (cfg->apps[j].path[0] && strcmp(cfg->apps[j].path, cfg->apps[i].path) == 0)
                    jc_error(e, path, "path \"%s\" is already used by $.apps[%zu]",
                             cfg->apps[i].path, j);
            }
        }
    }
    if (strcmp(cfg->topic, cfg->dlq_topic) == 0)
        jc_error(e, "$", "\"topic\" and \"dlq_topic\" must differ");
    if (e->count > before) {
        ingress_config_free(cfg);
        return -1;
    }
    return 0;
}

void ingress_config_free(struct ingress_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->apps)
        memset(cfg->apps, 0, cfg->napps * sizeof(*cfg->apps)); /* keys out of memory */
    free(cfg->apps);
    json_decref(cfg->root);
    memset(cfg, 0, sizeof(*cfg));
}

const struct ingress_app *ingress_config_app(const struct ingress_config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->napps; i++)
        if (strcmp(cfg->apps[i].path, path) == 0)
            return &cfg->apps[i];
    return NULL;
}
