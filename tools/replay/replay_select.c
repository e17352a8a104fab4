/*
 * replay_select: time parsing, selection filters and replay ids. See
 * replay_select.h. No I/O, no clock, no locale: everything here is pure so
 * that the unit tests pin it down.
 */
#include "replay_select.h"

#include <string.h>

/* Reads exactly N digits at *P into *OUT and advances *P. Returns 0 or -1. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = yy / 400; /* yy >= 1969 here: no negative division */
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_unix_ms(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v = 0;

    if (n < 1 || n > 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int replay_parse_time(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off_h = 0, off_m = 0, sign = 0;
    int64_t t;

    if (!s || !*s)
        return -1;
    if (!strchr(s, '-'))
        return parse_unix_ms(s, out_ms);
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -1;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &sec))
            return -1;
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (*p == '.') {
            int n = 0;
            p++;
            while (*p >= '0' && *p <= '9') {
                if (n < 3)
                    ms = ms * 10 + (*p - '0');
                n++;
                p++;
            }
            if (n == 0 || n > 9)
                return -1;
            for (; n < 3; n++)
                ms *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (digits(&p, 2, &off_h) || *p++ != ':' || digits(&p, 2, &off_m) || off_h > 23 ||
                off_m > 59)
                return -1;
        } else {
            return -1; /* RFC 3339 requires the offset: a local time is ambiguous */
        }
        if (*p)
            return -1;
    }
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= sign * (off_h * 3600 + off_m * 60);
    if (t < 0)
        return -1;
    *out_ms = t * 1000 + ms;
    return 0;
}

void replay_filter_init(struct replay_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->from_ms = REPLAY_TIME_MIN;
    f->to_ms = REPLAY_TIME_MAX;
}

int replay_filter_add_appid(struct replay_filter *f, const char *value)
{
    if (f->nappids >= REPLAY_FILTER_MAX)
        return -1;
    f->appids[f->nappids++] = value;
    return 0;
}

int replay_filter_add_reason(struct replay_filter *f, const char *value)
{
    if (f->nreasons >= REPLAY_FILTER_MAX)
        return -1;
    f->reasons[f->nreasons++] = value;
    return 0;
}

int replay_filter_has_time(const struct replay_filter *f)
{
    return f->from_ms != REPLAY_TIME_MIN || f->to_ms != REPLAY_TIME_MAX;
}

static int any_of(const char *const *set, int n, const char *v)
{
    if (n == 0)
        return 1;
    if (!v)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(set[i], v) == 0)
            return 1;
    return 0;
}

int replay_filter_match(const struct replay_filter *f, const char *appid, const char *reason,
                        int64_t t_ms)
{
    if (replay_filter_has_time(f) && (t_ms < 0 || t_ms < f->from_ms || t_ms >= f->to_ms))
        return 0;
    return any_of(f->appids, f->nappids, appid) && any_of(f->reasons, f->nreasons, reason);
}

/* Code points of S, or -1 when S is not valid UTF-8 (RFC 3629). */
static long utf8_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p) {
        unsigned c = *p;
        int len = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
        unsigned cp;
        if (len == 0 || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
            return -1;
        cp = len == 1 ? c : c & (0x7Fu >> len);
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;
        p += len;
        n++;
    }
    return n;
}

int replay_reply_id(const char *orig, size_t max_chars, char *out, size_t outlen)
{
    long chars = orig ? utf8_chars(orig) : -1;
    size_t len;

    if (chars <= 0 || (size_t)chars + REPLAY_ID_PREFIX_LEN > max_chars)
        return -1;
    len = strlen(orig);
    if (REPLAY_ID_PREFIX_LEN + len + 1 > outlen)
        return -1;
    memcpy(out, REPLAY_ID_PREFIX, REPLAY_ID_PREFIX_LEN);
    memcpy(out + REPLAY_ID_PREFIX_LEN, orig, len + 1);
    return 0;
}
