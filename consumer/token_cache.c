/*
 * token_cache: access tokens per app. See token_cache.h.
 */
#include "token_cache.h"

#include "log.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_RETRY_MIN_MS 500
#define FETCH_RETRY_MAX_MS 30000
#define REFRESH_MIN_GAP_MS 10000 /* between background refreshes that returned the same token */

struct app_token {
    token_cache *owner;
    const struct replier_app *app;
    char *token;
    unsigned gen;
    int64_t expires_ms;     /* monotonic */
    int64_t fetched_ms;     /* monotonic, last successful fetch */
    int64_t last_forced_ms; /* monotonic, last force_refresh */
    int64_t retry_at_ms;    /* after a failed fetch */
    int failures;
    int fetching;
    int want_force;
    mcounter *c_ok, *c_err, *c_forced;
};

struct token_cache {
    const struct replier_config *cfg;
    http_client *hc;
    token_changed_fn fn;
    void *arg;
    int n;
    struct app_token apps[REPLIER_APPS_MAX];
};

static struct app_token *find(token_cache *t, const char *appid)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->apps[i].app->appid, appid) == 0)
            return &t->apps[i];
    return NULL;
}

token_cache *token_cache_new(const struct replier_config *cfg, http_client *hc, metrics *m,
                             token_changed_fn fn, void *arg)
{
    token_cache *t = calloc(1, sizeof(*t));
    char labels[160];

    if (!t)
        return NULL;
    t->cfg = cfg;
    t->hc = hc;
    t->fn = fn;
    t->arg = arg;
    t->n = cfg->napps;
    for (int i = 0; i < t->n; i++) {
        struct app_token *a = &t->apps[i];
        a->owner = t;
        a->app = &cfg->apps[i];
        a->last_forced_ms = INT64_MIN / 2;
        snprintf(labels, sizeof(labels), "appid=\"%s\",result=\"ok\"", a->app->appid);
        a->c_ok = metrics_counter(m, "wxbridge_replier_token_refreshes_total",
                                  "Access token fetches by outcome", labels);
        snprintf(labels, sizeof(labels), "appid=\"%s\",result=\"error\"", a->app->appid);
        a->c_err = metrics_counter(m, "wxbridge_replier_token_refreshes_total",
                                   "Access token fetches by outcome", labels);
        snprintf(labels, sizeof(labels), "appid=\"%s\"", a->app->appid);
        a->c_forced = metrics_counter(m, "wxbridge_replier_token_forced_refreshes_total",
                                      "Forced refreshes after WeChat refused a token", labels);
    }
    return t;
}

void token_cache_free(token_cache *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->apps[i].token);
    free(t);
}

static void fetch_failed(struct app_token *a, const char *why)
{
    int64_t d = FETCH_RETRY_MIN_MS << (a->failures < 6 ? a->failures : 6);
    a->failures++;
    a->retry_at_ms = util_mono_ms() + (d > FETCH_RETRY_MAX_MS ? FETCH_RETRY_MAX_MS : d);
    mcounter_add(a->c_err, 1);
    log_event(LOG_WARN, "token_refresh_failed", "appid", a->app->appid, "error", why, NULL);
    a->owner->fn(a->owner->arg, a->app->appid, a->token != NULL, why);
}

static void on_token(void *arg, const struct hc_response *r)
{
    struct app_token *a = arg;
    json_t *doc = NULL, *tok, *exp, *code;
    char why[200], ttl[32];
    const char *s;

    a->fetching = 0;
    if (!r->ok) {
        snprintf(why, sizeof(why), "%s", r->error);
        goto fail;
    }
    if (r->status != 200) {
        snprintf(why, sizeof(why), "HTTP %ld", r->status);
        goto fail;
    }
    doc = json_loadb(r->body, r->len, 0, NULL);
    tok = json_object_get(doc, "access_token");
    exp = json_object_get(doc, "expires_in");
    code = json_object_get(doc, "errcode");
    if (!json_is_string(tok) || !json_is_integer(exp) || json_integer_value(exp) <= 0) {
        if (json_is_integer(code))
            snprintf(why, sizeof(why), "errcode %lld: %s", (long long)json_integer_value(code),
                     json_string_value(json_object_get(doc, "errmsg")) ?: "");
        else
            snprintf(why, sizeof(why), "answer without access_token/expires_in");
        goto fail;
    }
    s = json_string_value(tok);
    if (strlen(s) == 0 || strlen(s) >= TOKEN_MAX) {
        snprintf(why, sizeof(why), "token of %zu characters", strlen(s));
        goto fail;
    }
    if (!a->token || strcmp(a->token, s) != 0) {
        char *copy = strdup(s);
        if (!copy) {
            snprintf(why, sizeof(why), "out of memory");
            goto fail;
        }
        free(a->token);
        a->token = copy;
        a->gen++;
    }
    a->fetched_ms = util_mono_ms();
    a->expires_ms = a->fetched_ms - r->elapsed_ms + json_integer_value(exp) * 1000;
    a->failures = 0;
    mcounter_add(a->c_ok, 1);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)json_integer_value(exp));
    log_event(LOG_INFO, "token_refreshed", "appid", a->app->appid, "#expires_in", ttl, NULL);
    json_decref(doc);
    a->owner->fn(a->owner->arg, a->app->appid, 1, NULL);
    return;
fail:
    json_decref(doc);
    fetch_failed(a, why);
}

static void fetch(struct app_token *a, int force)
{
    token_cache *t = a->owner;
    char url[2048], esc_id[200], esc_secret[400];
    int rc;

    if (a->fetching)
        return;
    a->want_force = 0;
    if (hc_escape(a->app->appid, esc_id, sizeof(esc_id)) < 0 ||
        (a->app->secret && hc_escape(a->app->secret, esc_secret, sizeof(esc_secret)) < 0)) {
        fetch_failed(a, "appid or secret too long");
        return;
    }
    if (a->app->mode == TOKEN_STABLE) {
        json_t *body = json_pack("{s:s, s:s, s:s, s:b}", "grant_type", "client_credential", "appid",
                                 a->app->appid, "secret", a->app->secret, "force_refresh", force);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        snprintf(url, sizeof(url), "%s/cgi-bin/stable_token", t->cfg->api_base);
        rc = text ? hc_post_json(t->hc, url, text, strlen(text), on_token, a) : -1;
        free(text);
        json_decref(body);
    } else if (a->app->mode == TOKEN_LEGACY) {
        snprintf(url, sizeof(url),
                 "%s/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s",
                 t->cfg->api_base, esc_id, esc_secret);
        rc = hc_get(t->hc, url, on_token, a);
    } else {
        snprintf(url, sizeof(url), "%s%cappid=%s", a->app->token_url,
                 strchr(a->app->token_url, '?') ? '&' : '?', esc_id);
        rc = hc_get(t->hc, url, on_token, a);
    }
    if (rc < 0) {
        fetch_failed(a, "cannot start the request");
        return;
    }
    a->fetching = 1;
    if (force) {
        a->last_forced_ms = util_mono_ms();
        mcounter_add(a->c_forced, 1);
    }
}

const char *token_cache_get(token_cache *t, const char *appid, unsigned *gen)
{
    struct app_token *a = find(t, appid);
    int64_t now = util_mono_ms();

    *gen = 0;
    if (!a)
        return NULL;
    if (a->token && now < a->expires_ms) {
        *gen = a->gen;
        return a->token;
    }
    if (!a->fetching && now >= a->retry_at_ms)
        fetch(a, a->want_force);
    return NULL;
}

void token_cache_invalid(token_cache *t, const char *appid, unsigned gen)
{
    struct app_token *a = find(t, appid);
    int64_t now = util_mono_ms();

    if (!a || gen != a->gen || !a->token)
        return; /* already replaced: the next get() returns the new one */
    free(a->token);
    a->token = NULL;
    a->retry_at_ms = 0;
    log_event(LOG_WARN, "token_invalid", "appid", appid, NULL);
    /* stable_token: a normal call would hand back the same refused token, so force one
     * (WeChat allows few forced refreshes: at most one per interval). */
    a->want_force = a->app->mode == TOKEN_STABLE &&
                    now - a->last_forced_ms >= t->cfg->force_refresh_min_interval_s * 1000;
    if (!a->fetching)
        fetch(a, a->want_force);
}

void token_cache_tick(token_cache *t)
{
    int64_t now = util_mono_ms();
    for (int i = 0; i < t->n; i++) {
        struct app_token *a = &t->apps[i];
        if (a->fetching || now < a->retry_at_ms)
            continue;
        if (a->token && now >= a->expires_ms - t->cfg->token_refresh_margin_s * 1000 &&
            now - a->fetched_ms >= REFRESH_MIN_GAP_MS)
            fetch(a, 0);
        else if (!a->token && a->failures > 0)
            fetch(a, a->want_force);
    }
}
