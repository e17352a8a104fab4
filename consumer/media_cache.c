/*
 * media_cache: image URL -> temporary media_id, bounded and expiring. The
 * design is described in media_cache.h.
 */
#include "media_cache.h"

#include "wx_crypto.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

struct entry {
    uint64_t h0, h1; /* 128 bits of SHA-256(appid NUL url) */
    int64_t put_ms;
    uint32_t prev, next; /* use order (NIL-terminated); next links the free list */
    char media_id[MEDIA_CACHE_ID_MAX + 1];
};

_Static_assert(sizeof(struct entry) + 2 * sizeof(uint32_t) == MEDIA_CACHE_BYTES_PER_ENTRY,
               "MEDIA_CACHE_BYTES_PER_ENTRY is the entry plus its two index slots");

struct media_cache {
    size_t max_entries, count;
    long long ttl_ms;
    struct entry *e;
    uint32_t head, tail; /* least / most recently used */
    uint32_t free_list;
    size_t slots;    /* 2 * max_entries */
    uint32_t *table; /* entry index + 1, 0 = empty */
    unsigned long long hits, misses, evictions, expired;
    EVP_MD_CTX *md;
};

media_cache *media_cache_new(size_t max_entries, long long ttl_ms)
{
    media_cache *c;

    if (max_entries < 1 || max_entries > MEDIA_CACHE_MAX_ENTRIES || ttl_ms <= 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max_entries = max_entries;
    c->ttl_ms = ttl_ms;
    c->slots = 2 * max_entries;
    c->e = calloc(max_entries, sizeof(*c->e));
    c->table = calloc(c->slots, sizeof(*c->table));
    c->md = EVP_MD_CTX_new();
    if (!c->e || !c->table || !c->md) {
        media_cache_free(c);
        return NULL;
    }
    for (size_t i = 0; i < max_entries; i++)
        c->e[i].next = i + 1 < max_entries ? (uint32_t)(i + 1) : NIL;
    c->free_list = 0;
    c->head = c->tail = NIL;
    return c;
}

void media_cache_free(media_cache *c)
{
    if (!c)
        return;
    free(c->e);
    free(c->table);
    EVP_MD_CTX_free(c->md);
    free(c);
}

static int hash_key(media_cache *c, const char *appid, const char *url, uint64_t *h0, uint64_t *h1)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* The NUL keeps ("ab", "c") and ("a", "bc") apart. */
    if (EVP_DigestInit_ex(c->md, wxc_sha256_md(), NULL) != 1 ||
        EVP_DigestUpdate(c->md, appid, strlen(appid) + 1) != 1 ||
        EVP_DigestUpdate(c->md, url, strlen(url)) != 1 ||
        EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen < 16)
        return -1;
    memcpy(h0, md, 8);
    memcpy(h1, md + 8, 8);
    return 0;
}

/* ---- index: linear probing, backward-shift deletion (as in dedup.c) ---- */

static size_t home(const media_cache *c, uint64_t h0)
{
    return (size_t)(((h0 >> 32) * (uint64_t)c->slots) >> 32);
}

static size_t next_slot(const media_cache *c, size_t i)
{
    return i + 1 == c->slots ? 0 : i + 1;
}

static size_t probe(const media_cache *c, uint64_t h0, uint64_t h1, int *found)
{
    size_t i = home(c, h0);

    for (;;) {
        uint32_t v = c->table[i];
        if (v == 0) {
            *found = 0;
            return i;
        }
        if (c->e[v - 1].h0 == h0 && c->e[v - 1].h1 == h1) {
            *found = 1;
            return i;
        }
        i = next_slot(c, i);
    }
}

static void table_delete(media_cache *c, size_t i)
{
    size_t j = i;

    for (;;) {
        uint32_t v;
        size_t k;

        j = next_slot(c, j);
        v = c->table[j];
        if (v == 0)
            break;
        k = home(c, c->e[v - 1].h0);
        /* The entry at J may fill I unless its home lies cyclically in (I, J]. */
        if (j > i ? (k <= i || k > j) : (k <= i && k > j)) {
            c->table[i] = v;
            i = j;
        }
    }
    c->table[i] = 0;
}

/* ---- use order ---- */

static void unlink_entry(media_cache *c, uint32_t x)
{
    struct entry *en = &c->e[x];

    if (en->prev != NIL)
        c->e[en->prev].next = en->next;
    else
        c->head = en->next;
    if (en->next != NIL)
        c->e[en->next].prev = en->prev;
    else
        c->tail = en->prev;
}

static void push_tail(media_cache *c, uint32_t x)
{
    c->e[x].prev = c->tail;
    c->e[x].next = NIL;
    if (c->tail != NIL)
        c->e[c->tail].next = x;
    else
        c->head = x;
    c->tail = x;
}

static void use(media_cache *c, uint32_t x)
{
    if (c->tail != x) {
        unlink_entry(c, x);
        push_tail(c, x);
    }
}

/* Removes entry X (found at index slot S) and frees its place. */
static void drop(media_cache *c, uint32_t x, size_t s)
{
    table_delete(c, s);
    unlink_entry(c, x);
    c->e[x].next = c->free_list;
    c->free_list = x;
    c->count--;
}

static int valid_at(const media_cache *c, const struct entry *en, long long now_ms)
{
    return now_ms - en->put_ms < c->ttl_ms;
}

/* Finds (APPID, URL): the index slot, with *FOUND; -1 on invalid arguments or hashing failure. */
static int lookup(media_cache *c, const char *appid, const char *url, long long t, uint64_t *h0,
                  uint64_t *h1, size_t *slot, int *found)
{
    if (!c || !appid || !url || !appid[0] || !url[0] || t < 0)
        return -1;
    if (hash_key(c, appid, url, h0, h1) < 0)
        return -1;
    *slot = probe(c, *h0, *h1, found);
    return 0;
}

int media_cache_get(media_cache *c, const char *appid, const char *url, long long now_ms, char *out,
                    size_t outlen)
{
    uint64_t h0, h1;
    size_t s, n;
    int found;
    uint32_t x;

    if (!out || outlen == 0)
        return -1;
    out[0] = '\0';
    if (lookup(c, appid, url, now_ms, &h0, &h1, &s, &found) < 0)
        return -1;
    if (!found) {
        c->misses++;
        return -1;
    }
    x = c->table[s] - 1;
    if (!valid_at(c, &c->e[x], now_ms)) {
        drop(c, x, s);
        c->expired++;
        c->misses++;
        return -1;
    }
    n = strlen(c->e[x].media_id);
    if (n >= outlen)
        return -1;
    memcpy(out, c->e[x].media_id, n + 1);
    use(c, x);
    c->hits++;
    return 0;
}

int media_cache_put(media_cache *c, const char *appid, const char *url, const char *media_id,
                    long long now_ms)
{
    uint64_t h0, h1;
    size_t s, n = media_id ? strlen(media_id) : 0;
    int found;
    uint32_t x;

    if (n < 1 || n > MEDIA_CACHE_ID_MAX)
        return -1;
    if (lookup(c, appid, url, now_ms, &h0, &h1, &s, &found) < 0)
        return -1;
    if (found) {
        x = c->table[s] - 1;
    } else {
        if (c->count == c->max_entries) {
            int hfound;
            uint32_t v = c->head;
            size_t vs = probe(c, c->e[v].h0, c->e[v].h1, &hfound);
            if (valid_at(c, &c->e[v], now_ms))
                c->evictions++;
            else
                c->expired++;
            drop(c, v, vs);
            s = probe(c, h0, h1, &found); /* deletion may have moved slots */
        }
        x = c->free_list;
        c->free_list = c->e[x].next;
        c->e[x].h0 = h0;
        c->e[x].h1 = h1;
        c->table[s] = x + 1;
        push_tail(c, x);
        c->count++;
    }
    memcpy(c->e[x].media_id, media_id, n + 1);
    c->e[x].put_ms = now_ms;
    use(c, x);
    return 0;
}

int media_cache_forget(media_cache *c, const char *appid, const char *url)
{
    uint64_t h0, h1;
    size_t s;
    int found;

    if (lookup(c, appid, url, 0, &h0, &h1, &s, &found) < 0)
        return -1;
    if (found)
        drop(c, c->table[s] - 1, s);
    return 0;
}

void media_cache_stats(const media_cache *c, struct media_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    out->entries = c->count;
    out->capacity = c->max_entries;
    out->bytes = sizeof(*c) + c->max_entries * sizeof(*c->e) + c->slots * sizeof(*c->table);
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->expired = c->expired;
}
