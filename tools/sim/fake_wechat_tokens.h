/*
 * fake_wechat_tokens: the apps and access tokens of the fake WeChat API.
 *
 * Two independent token families per app, as on WeChat:
 *  - stable (POST /cgi-bin/stable_token): normal mode hands every caller
 *    the same current token until less than renew_before remains, then a
 *    new one (the old one stays valid until its own expiry); force_refresh
 *    issues a new token and invalidates every earlier stable token of the
 *    app, at most once per force_min_interval and force_daily_limit times
 *    per rolling day.
 *  - legacy (GET /cgi-bin/token): every call issues a new token; the
 *    previous one stays valid for legacy_grace, older ones are invalid.
 * Tokens are random strings of [A-Za-z0-9_-]. Time is passed in by the
 * caller (wall-clock ms), randomness comes from the configured function,
 * so unit tests drive both. Not thread-safe: the owner serializes access.
 */
#ifndef WXB_FAKE_WECHAT_TOKENS_H
#define WXB_FAKE_WECHAT_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define FWTOK_APPID_MAX  64
#define FWTOK_SECRET_MAX 128
#define FWTOK_LEN_MIN    32
#define FWTOK_LEN_MAX    512

struct fwtok_app {
    const char *appid;  /* 1..FWTOK_APPID_MAX characters */
    const char *secret; /* 1..FWTOK_SECRET_MAX characters */
};

struct fwtok_conf {
    /* The only apps accepted; NAPPS == 0: any appid whose secret is "<appid>-secret". Copied. */
    const struct fwtok_app *apps;
    size_t napps;
    int64_t ttl_ms;                /* token lifetime */
    int64_t renew_before_ms;       /* stable normal mode renews when less than this remains */
    int64_t force_min_interval_ms; /* between two forced refreshes of an app */
    long long force_daily_limit;   /* forced refreshes per app per rolling day; 0: no limit */
    int64_t legacy_grace_ms;       /* the previous legacy token's remaining validity */
    size_t token_len;              /* FWTOK_LEN_MIN..FWTOK_LEN_MAX */
    size_t max_tokens;             /* tokens remembered (oldest forgotten first: then 40001) */
    size_t max_apps;               /* apps remembered in the any-appid mode */
    void (*random)(void *arg, unsigned char *buf, size_t n);
    void *random_arg;
};

typedef struct fwtok fwtok;

/* Returns NULL on ENOMEM or a bad configuration (token_len out of range). */
fwtok *fwtok_create(const struct fwtok_conf *c);

/* NULL-safe. */
void fwtok_destroy(fwtok *t);

/*
 * POST /cgi-bin/stable_token for APPID/SECRET at NOW_MS. Returns 0 with the
 * token in OUT (OUTLEN >= token_len + 1) and its remaining lifetime in
 * *EXPIRES_IN (seconds), or the errcode: 41002 appid missing, 41004 secret
 * missing, 40013 unknown appid, 40125 wrong secret, 45011 forced refresh
 * within force_min_interval of the previous one, 45009 daily limit of
 * forced refreshes reached, -1 out of memory.
 */
int fwtok_stable(fwtok *t, const char *appid, const char *secret, int force, int64_t now_ms,
                 char *out, size_t outlen, long long *expires_in);

/* GET /cgi-bin/token: same contract, without the forced-refresh codes. */
int fwtok_legacy(fwtok *t, const char *appid, const char *secret, int64_t now_ms, char *out,
                 size_t outlen, long long *expires_in);

/*
 * Checks an access_token at NOW_MS: 0 valid, 41001 missing (NULL or ""),
 * 40001 unknown or invalidated, 42001 expired.
 */
int fwtok_check(fwtok *t, const char *token, int64_t now_ms);

/* Every token issued so far expires now (42001 on use) / becomes invalid (40001). */
void fwtok_expire_all(fwtok *t);
void fwtok_invalidate_all(fwtok *t);

/* Tokens and apps remembered. */
void fwtok_usage(const fwtok *t, size_t *tokens, size_t *apps);

#endif
