/*
 * replier_config: the validated configuration of wxbridge-replier.
 *
 *   { "kafka": { "bootstrap.servers": "..." }, "api_base": "http://127.0.0.1:PORT",
 *     "apps": [ { "appid": "wx...", "secret": "${WX_SECRET}" } ] }
 *
 * is a complete config: group wxbridge-replier on wx.replies, results on
 * wx.replies.results, invalid and undeliverable commands on wx.replies.dlq,
 * the quota guard fed from wx.inbound, stable_token access tokens, 64 sends
 * in flight. Every other key has a default (see replier_config.c and
 * docs/CONFIG.md).
 */
#ifndef WXB_REPLIER_CONFIG_H
#define WXB_REPLIER_CONFIG_H

#include "jsonconf.h"

#include <jansson.h>

#define REPLIER_APPS_MAX 256

enum token_mode { TOKEN_STABLE, TOKEN_LEGACY, TOKEN_URL };

struct replier_app {
    const char *appid;
    const char *secret; /* NULL for TOKEN_URL */
    enum token_mode mode;
    const char *token_url; /* TOKEN_URL: GET <token_url>?appid=<appid> */
    double rate_per_s;     /* 0: unlimited */
    double burst;
};

struct replier_config {
    json_t *root;
    const json_t *kafka;
    const char *group_id;
    const char *input_topic;
    const char *results_topic;
    const char *dlq_topic;
    const char *inbound_topic;
    const char *inflight_topic; /* send intents (at_most_once) */
    const char *api_base;
    const char *metrics_listen; /* NULL: no HTTP endpoints */
    const char *log_level;
    struct replier_app apps[REPLIER_APPS_MAX];
    int napps;
    long long max_in_flight;
    long long max_pending;
    long long http_timeout_ms;
    long long connect_timeout_ms;
    long long max_attempts;
    long long backoff_base_ms;
    long long backoff_max_ms;
    int quota_guard;
    int at_most_once;
    long long quota_wait_ms;
    long long quota_max_users;
    long long finished_window_s;
    long long finished_max_ids;
    long long commit_interval_ms;
    long long shutdown_timeout_ms;
    long long media_max_bytes;
    long long media_cache_max;
    long long token_refresh_margin_s;
    long long force_refresh_min_interval_s;
};

/* Validates ROOT (a reference is taken) into CFG; every mistake goes into E
 * with its JSON path. Returns 0, or -1 with CFG freed. */
int replier_config_load(json_t *root, struct replier_config *cfg, struct jc_errs *e);

/* The app APPID, or NULL. */
const struct replier_app *replier_config_app(const struct replier_config *cfg, const char *appid);

void replier_config_free(struct replier_config *cfg);

#endif
