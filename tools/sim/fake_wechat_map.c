/*
 * fake_wechat_map: chained hash table plus a doubly linked insertion list.
 * See fake_wechat_map.h.
 *
 * The table doubles when the load factor passes 1; lookups hash with
 * FNV-1a. The keys here are random tokens and ids, so no keyed hash is
 * needed against collision attacks.
 */
#include "fake_wechat_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ent {
    struct ent *chain;         /* next in the bucket */
    struct ent *older, *newer; /* insertion order */
    void *value;
    uint64_t hash;
    char key[]; /* NUL-terminated */
};

struct fwmap {
    struct ent **buckets;
    size_t nbuckets; /* power of two */
    size_t count, cap;
    struct ent *oldest, *newest;
    fwmap_free_fn free_value;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

fwmap *fwmap_create(size_t cap, fwmap_free_fn free_value)
{
    fwmap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    m->cap = cap;
    m->free_value = free_value;
    return m;
}

static void free_ent(fwmap *m, struct ent *e)
{
    if (m->free_value && e->value)
        m->free_value(e->value);
    free(e);
}

void fwmap_destroy(fwmap *m)
{
    struct ent *e, *next;
    if (!m)
        return;
    for (e = m->oldest; e; e = next) {
        next = e->newer;
        free_ent(m, e);
    }
    free(m->buckets);
    free(m);
}

static struct ent **slot(const fwmap *m, const char *key, uint64_t h)
{
    struct ent **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
        p = &(*p)->chain;
    return p;
}

void *fwmap_get(const fwmap *m, const char *key)
{
    struct ent *e = *slot(m, key, fnv1a(key));
    return e ? e->value : NULL;
}

/* Unlinks E from its bucket and from the insertion list, then frees it. */
static void remove_ent(fwmap *m, struct ent **p)
{
    struct ent *e = *p;
    *p = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    m->count--;
    free_ent(m, e);
}

/* Doubles the bucket array; on ENOMEM the map just stays denser. */
static void grow(fwmap *m)
{
    size_t n = m->nbuckets * 2;
    struct ent **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (struct ent *e = m->oldest; e; e = e->newer) {
        struct ent **p = &b[e->hash & (n - 1)];
        e->chain = *p;
        *p = e;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int fwmap_put(fwmap *m, const char *key, void *value)
{
    uint64_t h = fnv1a(key);
    size_t klen = strlen(key);
    struct ent **p = slot(m, key, h);
    struct ent *e;

    if (*p)
        remove_ent(m, p);
    e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return -1;
    if (m->cap && m->count >= m->cap)
        fwmap_del(m, m->oldest->key);
    if (m->count >= m->nbuckets)
        grow(m);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    p = &m->buckets[h & (m->nbuckets - 1)];
    e->chain = *p;
    *p = e;
    e->newer = NULL;
    e->older = m->newest;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
    m->count++;
    return 0;
}

int fwmap_del(fwmap *m, const char *key)
{
    struct ent **p = slot(m, key, fnv1a(key));
    if (!*p)
        return -1;
    remove_ent(m, p);
    return 0;
}

void *fwmap_oldest(const fwmap *m, const char **key)
{
    if (!m->oldest)
        return NULL;
    if (key)
        *key = m->oldest->key;
    return m->oldest->value;
}

size_t fwmap_count(const fwmap *m)
{
    return m->count;
}

void fwmap_foreach(const fwmap *m, void (*fn)(void *arg, const char *key, void *value), void *arg)
{
    for (const struct ent *e = m->oldest; e; e = e->newer)
        fn(arg, e->key, e->value);
}
