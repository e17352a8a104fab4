/*
 * jsonw: compact JSON writer. See jsonw.h.
 */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
}

void jsonw_free(struct jsonw *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
    char *out;
    if (w->failed || !w->buf) {
        jsonw_free(w);
        return NULL;
    }
    out = w->buf;
    out[w->len] = '\0';
    if (len)
        *len = w->len;
    w->buf = NULL;
    return out;
}

/* Makes room for N more bytes and the final NUL. */
static int reserve(struct jsonw *w, size_t n)
{
    size_t need = w->len + n + 1, ncap;
    char *nb;

    if (w->failed)
        return -1;
    if (need <= w->cap)
        return 0;
    if (need > w->max + 1) {
        w->failed = 1;
        return -1;
    }
    ncap = w->cap ? w->cap * 2 : 512;
    while (ncap < need)
        ncap *= 2;
    if (ncap > w->max + 1)
        ncap = w->max + 1;
    nb = realloc(w->buf, ncap);
    if (!nb) {
        w->failed = 1;
        return -1;
    }
    w->buf = nb;
    w->cap = ncap;
    return 0;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n) == 0) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

/* A comma before every value but the first at its level. */
static void sep(struct jsonw *w)
{
    if (w->need_comma)
        put(w, ",", 1);
    w->need_comma = 1;
}

void jsonw_obj_begin(struct jsonw *w)
{
    sep(w);
    put(w, "{", 1);
    w->need_comma = 0;
}

void jsonw_obj_end(struct jsonw *w)
{
    put(w, "}", 1);
    w->need_comma = 1;
}

void jsonw_arr_begin(struct jsonw *w)
{
    sep(w);
    put(w, "[", 1);
    w->need_comma = 0;
}

void jsonw_arr_end(struct jsonw *w)
{
    put(w, "]", 1);
    w->need_comma = 1;
}

static void put_escaped(struct jsonw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    size_t run = 0;

    put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        /* Copy the plain run before this character in one go. */
        put(w, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, u, 6);
        }
        }
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

void jsonw_key(struct jsonw *w, const char *key)
{
    sep(w);
    put_escaped(w, key, strlen(key));
    put(w, ":", 1);
    w->need_comma = 0;
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (!s) {
        jsonw_null(w);
        return;
    }
    sep(w);
    put_escaped(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRId64, v);
    sep(w);
    put(w, b, (size_t)n);
}

void jsonw_bool(struct jsonw *w, int v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    sep(w);
    put(w, "null", 4);
}

void jsonw_value(struct jsonw *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *c;
        jsonw_obj_begin(w);
        json_object_foreach((json_t *)v, k, c)
        {
            jsonw_key(w, k);
            jsonw_value(w, c);
        }
        jsonw_obj_end(w);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *c;
        jsonw_arr_begin(w);
        json_array_foreach(v, i, c)
        {
            jsonw_value(w, c);
        }
        jsonw_arr_end(w);
        break;
    }
    case JSON_STRING:
        sep(w);
        put_escaped(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jsonw_int(w, json_integer_value(v));
        break;
    case JSON_REAL: {
        /* Same text as jansson's: shortest %.17g that round-trips, with a ".0" if integral. */
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        sep(w);
        if (s)
            put(w, s, strlen(s));
        else
            w->failed = 1;
        free(s);
        break;
    }
    case JSON_TRUE:
        jsonw_bool(w, 1);
        break;
    case JSON_FALSE:
        jsonw_bool(w, 0);
        break;
    case JSON_NULL:
        jsonw_null(w);
        break;
    }
}
