/*
 * fake_wechat_tokens: apps and access tokens. See fake_wechat_tokens.h.
 *
 * Every token gets a sequence number when issued. Invalidation is done by
 * moving thresholds rather than by touching tokens: an app's stable tokens
 * below stable_min_seq are invalid (forced refresh), only legacy_cur and,
 * during the grace period, legacy_prev are valid legacy tokens, and the
 * global expire/invalidate thresholds cover every token issued before the
 * admin call. So each operation is O(1) whatever the number of tokens.
 */
#include "fake_wechat_tokens.h"

#include "fake_wechat_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (86400LL * 1000)

enum kind { K_STABLE, K_LEGACY };

struct tok {
    char appid[FWTOK_APPID_MAX + 1];
    enum kind kind;
    uint64_t seq;
    int64_t expires_ms;
};

struct app {
    char secret[FWTOK_SECRET_MAX + 1];
    char stable_cur[FWTOK_LEN_MAX + 1]; /* "" until the first stable token */
    uint64_t stable_min_seq;
    int forced; /* a forced refresh happened (last_force_ms is set) */
    int64_t last_force_ms;
    int64_t day_start_ms; /* rolling-day window of force_daily_limit */
    long long day_forced;
    uint64_t legacy_cur, legacy_prev; /* 0: none */
    int64_t legacy_prev_until;
};

struct fwtok {
    struct fwtok_conf c;
    int listed;    /* apps come from the configuration */
    fwmap *apps;   /* appid -> struct app */
    fwmap *tokens; /* token -> struct tok */
    uint64_t next_seq;
    uint64_t expire_before_seq, invalid_before_seq;
};

fwtok *fwtok_create(const struct fwtok_conf *c)
{
    fwtok *t;

    if (c->token_len < FWTOK_LEN_MIN || c->token_len > FWTOK_LEN_MAX || !c->random)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->c = *c;
    t->c.apps = NULL;
    t->listed = c->napps > 0;
    t->next_seq = 1;
    t->apps = fwmap_create(t->listed ? 0 : c->max_apps, free);
    t->tokens = fwmap_create(c->max_tokens, free);
    if (!t->apps || !t->tokens)
        goto fail;
    for (size_t i = 0; i < c->napps; i++) {
        struct app *a = calloc(1, sizeof(*a));
        if (!a || strlen(c->apps[i].appid) > FWTOK_APPID_MAX ||
            strlen(c->apps[i].secret) > FWTOK_SECRET_MAX ||
            fwmap_put(t->apps, c->apps[i].appid, a) < 0) {
            free(a);
            goto fail;
        }
        snprintf(a->secret, sizeof(a->secret), "%s", c->apps[i].secret);
    }
    return t;
fail:
    fwtok_destroy(t);
    return NULL;
}

void fwtok_destroy(fwtok *t)
{
    if (!t)
        return;
    fwmap_destroy(t->apps);
    fwmap_destroy(t->tokens);
    free(t);
}

static int appid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FWTOK_APPID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Finds (or, in the any-appid mode, creates) the app and checks the secret. */
static int auth(fwtok *t, const char *appid, const char *secret, struct app **out)
{
    struct app *a;
    char want[FWTOK_APPID_MAX + 16];

    if (!appid || !*appid)
        return 41002;
    if (!secret || !*secret)
        return 41004;
    a = fwmap_get(t->apps, appid);
    if (t->listed) {
        if (!a)
            return 40013;
        if (strcmp(a->secret, secret) != 0)
            return 40125;
        *out = a;
        return 0;
    }
    if (!appid_ok(appid))
        return 40013;
    snprintf(want, sizeof(want), "%s-secret", appid);
    if (strcmp(want, secret) != 0)
        return 40125;
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (!a || fwmap_put(t->apps, appid, a) < 0) {
            free(a);
            return -1;
        }
    }
    *out = a;
    return 0;
}

/* Issues a new token of KIND for APPID into OUT; returns its sequence number, or 0 on ENOMEM. */
static uint64_t issue(fwtok *t, const char *appid, enum kind kind, int64_t now_ms, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[FWTOK_LEN_MAX];
    struct tok *k = calloc(1, sizeof(*k));

    if (!k)
        return 0;
    do {
        t->c.random(t->c.random_arg, rnd, t->c.token_len);
        for (size_t i = 0; i < t->c.token_len; i++)
            out[i] = alphabet[rnd[i] & 63];
        out[0] = alphabet[rnd[0] % 62]; /* never a leading '-' */
        out[t->c.token_len] = '\0';
    } while (fwmap_get(t->tokens, out));
    snprintf(k->appid, sizeof(k->appid), "%s", appid);
    k->kind = kind;
    k->seq = t->next_seq++;
    k->expires_ms = now_ms + t->c.ttl_ms;
    if (fwmap_put(t->tokens, out, k) < 0) {
        free(k);
        return 0;
    }
    return k->seq;
}

/* 0, 40001 or 42001 for a token found in the table. */
static int tok_state(const fwtok *t, const struct tok *k, int64_t now_ms)
{
    const struct app *a = fwmap_get(t->apps, k->appid);

    if (!a || k->seq < t->invalid_before_seq)
        return 40001;
    if (k->kind == K_STABLE && k->seq < a->stable_min_seq)
        return 40001;
    if (k->kind == K_LEGACY && k->seq != a->legacy_cur &&
        !(k->seq == a->legacy_prev && now_ms < a->legacy_prev_until))
        return 40001;
    if (k->seq < t->expire_before_seq || now_ms >= k->expires_ms)
        return 42001;
    return 0;
}

int fwtok_stable(fwtok *t, const char *appid, const char *secret, int force, int64_t now_ms,
                 char *out, size_t outlen, long long *expires_in)
{
    struct app *a = NULL;
    int rc = auth(t, appid, secret, &a);
    uint64_t seq;

    if (rc)
        return rc;
    if (outlen < t->c.token_len + 1)
        return -1;
    if (!force && a->stable_cur[0]) {
        const struct tok *k = fwmap_get(t->tokens, a->stable_cur);
        if (k && tok_state(t, k, now_ms) == 0 && k->expires_ms - now_ms >= t->c.renew_before_ms) {
            snprintf(out, outlen, "%s", a->stable_cur);
            *expires_in = (k->expires_ms - now_ms) / 1000;
            return 0;
        }
    }
    if (force) {
        if (a->forced && now_ms - a->last_force_ms < t->c.force_min_interval_ms)
            return 45011;
        if (!a->forced || now_ms - a->day_start_ms >= DAY_MS) {
            a->day_start_ms = now_ms;
            a->day_forced = 0;
        }
        if (t->c.force_daily_limit > 0 && a->day_forced >= t->c.force_daily_limit)
            return 45009;
    }
    seq = issue(t, appid, K_STABLE, now_ms, out);
    if (!seq)
        return -1;
    if (force) {
        a->forced = 1;
        a->last_force_ms = now_ms;
        a->day_forced++;
        a->stable_min_seq = seq;
    }
    snprintf(a->stable_cur, sizeof(a->stable_cur), "%s", out);
    *expires_in = t->c.ttl_ms / 1000;
    return 0;
}

int fwtok_legacy(fwtok *t, const char *appid, const char *secret, int64_t now_ms, char *out,
                 size_t outlen, long long *expires_in)
{
    struct app *a = NULL;
    int rc = auth(t, appid, secret, &a);
    uint64_t seq;

    if (rc)
        return rc;
    if (outlen < t->c.token_len + 1)
        return -1;
    seq = issue(t, appid, K_LEGACY, now_ms, out);
    if (!seq)
        return -1;
    a->legacy_prev = a->legacy_cur;
    a->legacy_prev_until = now_ms + t->c.legacy_grace_ms;
    a->legacy_cur = seq;
    *expires_in = t->c.ttl_ms / 1000;
    return 0;
}

int fwtok_check(fwtok *t, const char *token, int64_t now_ms)
{
    const struct tok *k;
    if (!token || !*token)
        return 41001;
    k = fwmap_get(t->tokens, token);
    return k ? tok_state(t, k, now_ms) : 40001;
}

void fwtok_expire_all(fwtok *t)
{
    t->expire_before_seq = t->next_seq;
}

void fwtok_invalidate_all(fwtok *t)
{
    t->invalid_before_seq = t->next_seq;
}

void fwtok_usage(const fwtok *t, size_t *tokens, size_t *apps)
{
    *tokens = fwmap_count(t->tokens);
    *apps = fwmap_count(t->apps);
}
