/*
 * fake_wechat_media: bounded media store and multipart parser. See
 * fake_wechat_media.h.
 *
 * The parser works on a body the HTTP layer has already bounded and
 * buffered whole; it never reads outside [body, body + len) and copies
 * header values into fixed-size fields, truncating what does not fit.
 */
#include "fake_wechat_media.h"

#include "fake_wechat_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70 /* RFC 2046 */

struct fwmedia {
    struct fwmedia_conf c;
    fwmap *items; /* media_id -> struct fwmedia_item, oldest first */
    size_t bytes;
};

static void item_free(void *v)
{
    struct fwmedia_item *it = v;
    free(it->data);
    free(it);
}

fwmedia *fwmedia_create(const struct fwmedia_conf *c)
{
    fwmedia *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->c = *c;
    /* Eviction goes through evict_oldest() so the byte count stays right: no map cap. */
    s->items = fwmap_create(0, item_free);
    if (!s->items) {
        free(s);
        return NULL;
    }
    return s;
}

void fwmedia_destroy(fwmedia *s)
{
    if (!s)
        return;
    fwmap_destroy(s->items);
    free(s);
}

static void evict_oldest(fwmedia *s)
{
    const char *key;
    struct fwmedia_item *it = fwmap_oldest(s->items, &key);
    if (!it)
        return;
    s->bytes -= it->len;
    fwmap_del(s->items, key);
}

static void make_id(fwmedia *s, char id[FWMEDIA_ID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[FWMEDIA_ID_LEN];
    s->c.random(s->c.random_arg, rnd, sizeof(rnd));
    for (size_t i = 0; i < FWMEDIA_ID_LEN; i++)
        id[i] = alphabet[rnd[i] & 63];
    id[0] = alphabet[rnd[0] % 52]; /* a letter first, as in WeChat's ids */
    id[FWMEDIA_ID_LEN] = '\0';
}

int fwmedia_put(fwmedia *s, const char *type, const char *content_type, const char *filename,
                const void *data, size_t len, int64_t now_ms, char id[FWMEDIA_ID_LEN + 1])
{
    struct fwmedia_item *it = NULL;
    int rc = -1;

    if (len > s->c.max_total_bytes)
        goto out;
    it = calloc(1, sizeof(*it));
    if (!it)
        goto out;
    it->data = malloc(len ? len : 1);
    if (!it->data)
        goto out;
    memcpy(it->data, data, len);
    it->len = len;
    it->created_ms = now_ms;
    snprintf(it->type, sizeof(it->type), "%s", type);
    snprintf(it->content_type, sizeof(it->content_type), "%s", content_type);
    snprintf(it->filename, sizeof(it->filename), "%s", filename);
    while (fwmap_count(s->items) > 0 &&
           (fwmap_count(s->items) >= s->c.max_count || s->bytes + len > s->c.max_total_bytes))
        evict_oldest(s);
    do
        make_id(s, id);
    while (fwmap_get(s->items, id));
    if (fwmap_put(s->items, id, it) < 0)
        goto out;
    s->bytes += len;
    it = NULL;
    rc = 0;
out:
    if (it)
        item_free(it);
    return rc;
}

const struct fwmedia_item *fwmedia_get(fwmedia *s, const char *id, int64_t now_ms)
{
    struct fwmedia_item *it = fwmap_get(s->items, id);
    if (!it)
        return NULL;
    if (now_ms - it->created_ms >= s->c.ttl_ms) {
        s->bytes -= it->len;
        fwmap_del(s->items, id);
        return NULL;
    }
    return it;
}

void fwmedia_usage(const fwmedia *s, size_t *count, size_t *bytes)
{
    *count = fwmap_count(s->items);
    *bytes = s->bytes;
}

/* ---- multipart/form-data ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/*
 * Finds parameter KEY (case-insensitive) in a header value like
 * `form-data; name="media"; filename="a.png"` and copies its value
 * (unquoted) into OUT. Returns 0, or -1 when absent.
 */
static int header_param(const char *v, const char *end, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = memchr(v, ';', (size_t)(end - v));

    while (p && p < end) {
        p = skip_ws(p + 1, end);
        if ((size_t)(end - p) > klen && strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = 0;
            p += klen + 1;
            if (p < end && *p == '"') {
                for (p++; p < end && *p != '"'; p++) {
                    if (*p == '\\' && p + 1 < end)
                        p++;
                    if (n + 1 < outlen)
                        out[n++] = *p;
                }
            } else {
                for (; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++)
                    if (n + 1 < outlen)
                        out[n++] = *p;
            }
            out[n] = '\0';
            return 0;
        }
        p = memchr(p, ';', (size_t)(end - p));
    }
    return -1;
}

/* The boundary parameter of a multipart/form-data Content-Type, or -1. */
static int get_boundary(const char *ctype, char *out, size_t outlen)
{
    const char *end;
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0)
        return -1;
    end = ctype + strlen(ctype);
    if (header_param(ctype, end, "boundary", out, outlen) < 0 || !out[0])
        return -1;
    return 0;
}

/* Parses one part's headers [H, HEND) into *OUT; returns the form field name's length or -1. */
static int part_headers(const char *h, const char *hend, char *name, size_t namelen,
                        struct fwmedia_part *out)
{
    int have_disp = 0;

    out->filename[0] = '\0';
    out->content_type[0] = '\0';
    name[0] = '\0';
    while (h < hend) {
        const char *eol = memmem(h, (size_t)(hend - h), "\r\n", 2);
        const char *colon, *v;
        if (!eol)
            eol = hend;
        colon = memchr(h, ':', (size_t)(eol - h));
        if (colon) {
            v = skip_ws(colon + 1, eol);
            if ((size_t)(colon - h) == 19 && strncasecmp(h, "Content-Disposition", 19) == 0) {
                have_disp = 1;
                header_param(v, eol, "name", name, namelen);
                header_param(v, eol, "filename", out->filename, sizeof(out->filename));
            } else if ((size_t)(colon - h) == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
                size_t n = (size_t)(eol - v);
                while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                    n--;
                if (n >= sizeof(out->content_type))
                    n = sizeof(out->content_type) - 1;
                memcpy(out->content_type, v, n);
                out->content_type[n] = '\0';
            }
        }
        h = eol + 2;
    }
    return have_disp ? (int)strlen(name) : -1;
}

int fwmedia_multipart_field(const char *content_type, const char *body, size_t len,
                            const char *name, struct fwmedia_part *out)
{
    char boundary[BOUNDARY_MAX + 2], delim[BOUNDARY_MAX + 8], pname[128];
    const char *end = body + len, *p;
    size_t dlen;

    if (get_boundary(content_type, boundary, sizeof(boundary)) < 0 ||
        strlen(boundary) > BOUNDARY_MAX)
        return -1;
    /* Parts are separated by CRLF--boundary; the first may start the body. */
    dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        p = body + dlen - 2;
    else {
        p = memmem(body, len, delim, dlen);
        if (!p)
            return -1;
        p += dlen;
    }
    for (;;) {
        const char *hend, *next, *data;
        /* After a delimiter: "--" closes the body, else optional padding and CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return -1;
        p = skip_ws(p, end);
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return -1;
        p += 2;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* no headers at all */
            data = p + 2;
        } else {
            hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
            if (!hend)
                return -1;
            data = hend + 4;
        }
        next = memmem(data, (size_t)(end - data), delim, dlen);
        if (!next)
            return -1;
        if (part_headers(p, hend, pname, sizeof(pname), out) >= 0 && strcmp(pname, name) == 0) {
            out->data = data;
            out->len = (size_t)(next - data);
            return 0;
        }
        p = next + dlen;
    }
}
