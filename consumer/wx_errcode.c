/*
 * wx_errcode: classes and meanings of WeChat API errcodes, and retry
 * backoff. See wx_errcode.h.
 */
#include "wx_errcode.h"

#include <stddef.h>

/* Seed used when a caller's xorshift state is 0 (xorshift would stay at 0). */
#define RNG_SEED 0x9E3779B97F4A7C15ULL

static const struct {
    long code;
    const char *text;
} k_codes[] = {
    {-1, "system busy, retry later"},
    {0, "ok"},
    {40001, "invalid credential (access_token invalid or not the latest)"},
    {40002, "invalid grant_type"},
    {40003, "invalid openid"},
    {40007, "invalid media_id"},
    {40008, "invalid message type"},
    {40013, "invalid appid"},
    {40014, "invalid access_token"},
    {40033, "invalid charset (\\uxxxx escapes are not accepted)"},
    {40125, "invalid appsecret"},
    {40164, "caller IP not in the API IP whitelist"},
    {41001, "access_token missing"},
    {42001, "access_token expired"},
    {43004, "user has not subscribed"},
    {44002, "empty POST body"},
    {44004, "empty text content"},
    {45002, "content too long"},
    {45009, "API daily quota reached"},
    {45011, "API minute quota reached, retry later"},
    {45015, "reply window over (48 h after the user's message)"},
    {45047, "reply count used up for this window"},
    {45080, "typing needs a message exchange within the last 30 s"},
    {45081, "already typing"},
    {47001, "malformed JSON or XML body"},
    {48001, "API not authorized for this account"},
};

enum wx_err_class wx_errcode_class(long errcode)
{
    switch (errcode) {
    case 0:
        return WXE_OK;
    case -1:
    case 45009:
    case 45011:
        return WXE_RETRY;
    case 40001:
    case 40014:
    case 42001:
        return WXE_TOKEN;
    default:
        return WXE_FINAL;
    }
}

const char *wx_err_class_name(enum wx_err_class c)
{
    switch (c) {
    case WXE_OK:
        return "ok";
    case WXE_RETRY:
        return "retry";
    case WXE_TOKEN:
        return "token";
    case WXE_FINAL:
        break;
    }
    return "final";
}

const char *wx_errcode_text(long errcode)
{
    for (size_t i = 0; i < sizeof(k_codes) / sizeof(k_codes[0]); i++)
        if (k_codes[i].code == errcode)
            return k_codes[i].text;
    return "unknown";
}

uint64_t wx_xorshift64(uint64_t *state)
{
    uint64_t x = *state ? *state : RNG_SEED;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

long long wx_backoff_ms(int attempt, long long base_ms, long long max_ms, uint64_t *rng)
{
    long long d, lo;

    if (base_ms <= 0 || max_ms <= 0)
        return 0;
    if (attempt < 1)
        attempt = 1;
    /* Double until the cap; stopping there also keeps d * 2 from overflowing. */
    d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    if (!rng)
        return d;
    lo = d / 2;
    return lo + (long long)(wx_xorshift64(rng) % (uint64_t)(d - lo + 1));
}
