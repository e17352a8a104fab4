/*
 * fake_wechat_log: ring of JSON call entries plus counters. See
 * fake_wechat_log.h.
 *
 * Entries are stored as the text they will be served as, so GET
 * /_sim/calls is a concatenation, even for a million entries; the outcome
 * is kept beside the text and spliced in before the closing brace for the
 * ?all=1 view.
 */
#include "fake_wechat_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATHS_MAX 32
#define CODES_MAX 64

struct entry {
    char *json;
    size_t len;
    enum fwlog_outcome kind;
    int code;
};

struct code_count {
    enum fwlog_outcome kind;
    int code;
    unsigned long long n;
};

struct path_stats {
    char path[96];
    unsigned long long calls, other_codes;
    struct code_count codes[CODES_MAX];
    size_t ncodes;
};

struct fwlog {
    struct entry *ring;
    size_t cap, head, count, max_entries;
    size_t bytes, max_bytes;
    unsigned long long dropped_entries, calls;
    struct path_stats paths[PATHS_MAX + 1]; /* the last one is "other" */
    size_t npaths;
};

fwlog *fwlog_create(size_t max_entries, size_t max_bytes)
{
    fwlog *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->max_entries = max_entries;
    l->max_bytes = max_bytes;
    snprintf(l->paths[PATHS_MAX].path, sizeof(l->paths[PATHS_MAX].path), "other");
    return l;
}

static void clear_entries(fwlog *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->ring[(l->head + i) % l->cap].json);
    l->head = l->count = l->bytes = 0;
}

void fwlog_destroy(fwlog *l)
{
    if (!l)
        return;
    clear_entries(l);
    free(l->ring);
    free(l);
}

static void drop_oldest(fwlog *l)
{
    struct entry *e = &l->ring[l->head];
    l->bytes -= e->len;
    free(e->json);
    l->head = (l->head + 1) % l->cap;
    l->count--;
    l->dropped_entries++;
}

/* Makes room for one more entry; returns 0, or -1 when the ring cannot grow (ENOMEM). */
static int make_room(fwlog *l, size_t len)
{
    while (l->count > 0 && (l->count >= l->max_entries || l->bytes + len > l->max_bytes))
        drop_oldest(l);
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        struct entry *r;
        if (ncap > l->max_entries)
            ncap = l->max_entries;
        r = malloc(ncap * sizeof(*r));
        if (!r)
            return -1;
        for (size_t i = 0; i < l->count; i++)
            r[i] = l->ring[(l->head + i) % l->cap];
        free(l->ring);
        l->ring = r;
        l->cap = ncap;
        l->head = 0;
    }
    return 0;
}

static struct path_stats *path_slot(fwlog *l, const char *path)
{
    for (size_t i = 0; i < l->npaths; i++)
        if (strcmp(l->paths[i].path, path) == 0)
            return &l->paths[i];
    if (l->npaths < PATHS_MAX && strlen(path) < sizeof(l->paths[0].path)) {
        struct path_stats *p = &l->paths[l->npaths++];
        snprintf(p->path, sizeof(p->path), "%s", path);
        return p;
    }
    return &l->paths[PATHS_MAX];
}

static void count(fwlog *l, const char *path, enum fwlog_outcome kind, int code)
{
    struct path_stats *p = path_slot(l, path);
    size_t i;

    if (kind == FWLOG_DROPPED)
        code = 0;
    l->calls++;
    p->calls++;
    for (i = 0; i < p->ncodes; i++)
        if (p->codes[i].kind == kind && p->codes[i].code == code)
            break;
    if (i == p->ncodes) {
        if (p->ncodes == CODES_MAX) {
            p->other_codes++;
            return;
        }
        p->codes[p->ncodes++] = (struct code_count){kind, code, 0};
    }
    p->codes[i].n++;
}

void fwlog_add(fwlog *l, const char *path, char *entry, enum fwlog_outcome kind, int code)
{
    size_t len;

    count(l, path, kind, code);
    if (!entry)
        return;
    len = strlen(entry);
    if (len < 2 || entry[len - 1] != '}' || l->max_entries == 0 || len > l->max_bytes ||
        make_room(l, len) < 0) {
        free(entry);
        l->dropped_entries++;
        return;
    }
    l->ring[(l->head + l->count) % l->cap] = (struct entry){entry, len, kind, code};
    l->count++;
    l->bytes += len;
}

char *fwlog_calls(const fwlog *l, int all, size_t *len)
{
    /* Each entry may grow by the outcome suffix: at most ,"http_status":-2147483648 */
    size_t cap = l->bytes + l->count * 32 + 3, n = 0;
    char *out = malloc(cap);

    if (!out)
        return NULL;
    out[n++] = '[';
    for (size_t i = 0; i < l->count; i++) {
        const struct entry *e = &l->ring[(l->head + i) % l->cap];
        if (!all && !(e->kind == FWLOG_ERRCODE && e->code == 0))
            continue;
        if (n > 1)
            out[n++] = ',';
        if (!all) {
            memcpy(out + n, e->json, e->len);
            n += e->len;
            continue;
        }
        memcpy(out + n, e->json, e->len - 1);
        n += e->len - 1;
        if (e->kind == FWLOG_ERRCODE)
            n += (size_t)snprintf(out + n, cap - n, ",\"errcode\":%d}", e->code);
        else if (e->kind == FWLOG_HTTP)
            n += (size_t)snprintf(out + n, cap - n, ",\"http_status\":%d}", e->code);
        else
            n += (size_t)snprintf(out + n, cap - n, ",\"dropped\":true}");
    }
    out[n++] = ']';
    out[n] = '\0';
    *len = n;
    return out;
}

/* Adds N to OBJ[KEY of CODE]. */
static void add_code(json_t *obj, int code, unsigned long long n)
{
    char key[16];
    json_t *v;
    snprintf(key, sizeof(key), "%d", code);
    v = json_object_get(obj, key);
    json_object_set_new(
        obj, key,
        json_integer((json_int_t)(n + (v ? (unsigned long long)json_integer_value(v) : 0))));
}

json_t *fwlog_stats(const fwlog *l)
{
    json_t *root = json_object(), *by_path = json_object(), *by_err = json_object(),
           *by_http = json_object();
    unsigned long long dropped = 0;

    if (!root || !by_path || !by_err || !by_http)
        goto fail;
    for (size_t i = 0; i <= PATHS_MAX; i++) {
        const struct path_stats *p = &l->paths[i];
        json_t *o, *errs, *http;
        unsigned long long pdropped = 0;
        if ((i >= l->npaths && i < PATHS_MAX) || p->calls == 0)
            continue;
        o = json_object();
        errs = json_object();
        http = json_object();
        for (size_t k = 0; k < p->ncodes; k++) {
            const struct code_count *c = &p->codes[k];
            if (c->kind == FWLOG_ERRCODE) {
                add_code(errs, c->code, c->n);
                add_code(by_err, c->code, c->n);
            } else if (c->kind == FWLOG_HTTP) {
                add_code(http, c->code, c->n);
                add_code(by_http, c->code, c->n);
            } else {
                pdropped += c->n;
            }
        }
        dropped += pdropped;
        json_object_set_new(o, "calls", json_integer((json_int_t)p->calls));
        json_object_set_new(o, "errcodes", errs);
        json_object_set_new(o, "http_status", http);
        json_object_set_new(o, "dropped", json_integer((json_int_t)pdropped));
        if (p->other_codes)
            json_object_set_new(o, "other_codes", json_integer((json_int_t)p->other_codes));
        json_object_set_new(by_path, p->path, o);
    }
    json_object_set_new(root, "calls", json_integer((json_int_t)l->calls));
    json_object_set_new(root, "by_path", by_path);
    json_object_set_new(root, "by_errcode", by_err);
    json_object_set_new(root, "by_http_status", by_http);
    json_object_set_new(root, "dropped", json_integer((json_int_t)dropped));
    json_object_set_new(root, "log_entries", json_integer((json_int_t)l->count));
    json_object_set_new(root, "log_bytes", json_integer((json_int_t)l->bytes));
    json_object_set_new(root, "log_max_entries", json_integer((json_int_t)l->max_entries));
    json_object_set_new(root, "log_dropped", json_integer((json_int_t)l->dropped_entries));
    return root;
fail:
    json_decref(root);
    json_decref(by_path);
    json_decref(by_err);
    json_decref(by_http);
    return NULL;
}

void fwlog_reset(fwlog *l)
{
    clear_entries(l);
    l->dropped_entries = l->calls = 0;
    memset(l->paths, 0, sizeof(l->paths));
    l->npaths = 0;
    snprintf(l->paths[PATHS_MAX].path, sizeof(l->paths[PATHS_MAX].path), "other");
}
