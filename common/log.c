/*
 * log: JSON-lines logging to stderr. See log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_level g_min = LOG_INFO;
static const char *g_prog = "wxbridge";

void log_init(const char *prog, enum log_level min)
{
    if (prog)
        g_prog = prog;
    g_min = min;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= g_min;
}

/* Appends s JSON-escaped; stops silently when the line is full. */
static size_t put_escaped(char *buf, size_t pos, size_t cap, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p && pos + 7 < cap; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static size_t put_raw(char *buf, size_t pos, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (pos + n >= cap)
        n = cap - pos - 1;
    memcpy(buf + pos, s, n);
    return pos + n;
}

void log_event(enum log_level lvl, const char *event, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char buf[LOG_LINE_MAX];
    size_t cap = sizeof(buf) - 2; /* room for "}\n" */
    size_t pos = 0;
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (lvl < g_min)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    pos += strftime(buf, cap, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t)snprintf(buf + pos, cap - pos, ".%03ldZ\",\"level\":\"%s\",\"prog\":\"",
                            (long)(tv.tv_usec / 1000), names[lvl]);
    pos = put_escaped(buf, pos, cap, g_prog);
    pos = put_raw(buf, pos, cap, "\",\"event\":\"");
    pos = put_escaped(buf, pos, cap, event);
    pos = put_raw(buf, pos, cap, "\"");

    va_start(ap, event);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        const char *v;
        int raw;
        if (!k)
            break;
        v = va_arg(ap, const char *);
        raw = k[0] == '#';
        pos = put_raw(buf, pos, cap, ",\"");
        pos = put_escaped(buf, pos, cap, raw ? k + 1 : k);
        pos = put_raw(buf, pos, cap, "\":");
        if (!v) {
            pos = put_raw(buf, pos, cap, "null");
        } else if (raw) {
            pos = put_raw(buf, pos, cap, v);
        } else {
            pos = put_raw(buf, pos, cap, "\"");
            pos = put_escaped(buf, pos, cap, v);
            pos = put_raw(buf, pos, cap, "\"");
        }
    }
    va_end(ap);
    buf[pos++] = '}';
    buf[pos++] = '\n';
    /* One write keeps lines whole across threads; a short write is not retried. */
    if (write(STDERR_FILENO, buf, pos) < 0)
        return;
}
