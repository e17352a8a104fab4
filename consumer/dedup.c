/*
 * dedup: a time window of record ids in fixed memory. The design (hashes in a
 * FIFO ring, an open-addressing index over it) is described in dedup.h.
 */
#include "dedup.h"

#include "wx_crypto.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Ring time marking an entry forgotten out of order (not in the table any more). */
#define DEAD INT64_MIN

struct entry {
    uint64_t h0, h1; /* 128 bits of SHA-256(id) */
    int64_t at_ms;   /* when the id was handled, or DEAD */
};

struct dedup {
    int64_t window_ms;
    int64_t latest_ms; /* the latest time any call has passed */
    size_t max_ids;    /* ring capacity */
    size_t head, len;  /* ring entries head .. head+len-1 (mod max_ids), dead ones included */
    size_t count;      /* live entries, each referenced by exactly one table slot */
    struct entry *ring;
    size_t slots;    /* 2 * max_ids */
    uint32_t *table; /* ring position + 1, 0 = empty */
    uint64_t evictions, expired;
    EVP_MD_CTX *md;
};

dedup *dedup_new(int64_t window_ms, size_t max_ids)
{
    dedup *d;

    if (window_ms < 1 || window_ms > DEDUP_WINDOW_MAX || max_ids < 1 || max_ids > DEDUP_MAX_IDS)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->window_ms = window_ms;
    d->max_ids = max_ids;
    d->slots = 2 * max_ids;
    d->ring = calloc(max_ids, sizeof(*d->ring));
    d->table = calloc(d->slots, sizeof(*d->table));
    d->md = EVP_MD_CTX_new();
    if (!d->ring || !d->table || !d->md) {
        dedup_free(d);
        return NULL;
    }
    return d;
}

void dedup_free(dedup *d)
{
    if (!d)
        return;
    free(d->ring);
    free(d->table);
    EVP_MD_CTX_free(d->md);
    free(d);
}

static int hash_id(dedup *d, const char *id, uint64_t *h0, uint64_t *h1)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_DigestInit_ex(d->md, wxc_sha256_md(), NULL) != 1 ||
        EVP_DigestUpdate(d->md, id, strlen(id)) != 1 ||
        EVP_DigestFinal_ex(d->md, md, &mdlen) != 1 || mdlen < 16)
        return DEDUP_EHASH;
    memcpy(h0, md, 8);
    memcpy(h1, md + 8, 8);
    return DEDUP_OK;
}

/* Home slot of a hash: multiply-shift maps 32 well-mixed bits onto [0, slots). */
static size_t home(const dedup *d, uint64_t h0)
{
    return (size_t)(((h0 >> 32) * (uint64_t)d->slots) >> 32);
}

static size_t next_slot(const dedup *d, size_t i)
{
    return i + 1 == d->slots ? 0 : i + 1;
}

/*
 * Finds the slot referencing hash (H0, H1): returns its index with *FOUND = 1,
 * or the empty slot ending the probe with *FOUND = 0. The load factor is at
 * most 0.5, so an empty slot always exists.
 */
static size_t probe(const dedup *d, uint64_t h0, uint64_t h1, int *found)
{
    size_t i = home(d, h0);

    for (;;) {
        uint32_t v = d->table[i];
        if (v == 0) {
            *found = 0;
            return i;
        }
        if (d->ring[v - 1].h0 == h0 && d->ring[v - 1].h1 == h1) {
            *found = 1;
            return i;
        }
        i = next_slot(d, i);
    }
}

/* Empties slot I, shifting back the entries of its probe run that may move. */
static void table_delete(dedup *d, size_t i)
{
    size_t j = i;

    for (;;) {
        uint32_t v;
        size_t k;

        j = next_slot(d, j);
        v = d->table[j];
        if (v == 0)
            break;
        k = home(d, d->ring[v - 1].h0);
        /* The entry at J may fill I unless its home lies cyclically in (I, J]. */
        if (j > i ? (k <= i || k > j) : (k <= i && k > j)) {
            d->table[i] = v;
            i = j;
        }
    }
    d->table[i] = 0;
}

/* Forgets the live entry at ring position POS (referenced by the table). */
static void forget(dedup *d, size_t pos)
{
    int found;
    size_t s = probe(d, d->ring[pos].h0, d->ring[pos].h1, &found);

    if (found && d->table[s] == pos + 1)
        table_delete(d, s);
    d->ring[pos].at_ms = DEAD;
    d->count--;
}

static void pop_head(dedup *d, int evicting)
{
    if (d->ring[d->head].at_ms != DEAD) {
        forget(d, d->head);
        if (evicting)
            d->evictions++;
        else
            d->expired++;
    }
    d->head = d->head + 1 == d->max_ids ? 0 : d->head + 1;
    d->len--;
}

/* Drops the head entries whose window has passed relative to the latest time. */
static void expire(dedup *d)
{
    while (d->len > 0) {
        int64_t at = d->ring[d->head].at_ms;
        if (at != DEAD && d->latest_ms - at < d->window_ms)
            break;
        pop_head(d, 0);
    }
}

static void insert(dedup *d, uint64_t h0, uint64_t h1, int64_t at_ms)
{
    size_t pos, s;
    int found;

    if (d->len == d->max_ids)
        pop_head(d, 1);
    pos = d->head + d->len;
    if (pos >= d->max_ids)
        pos -= d->max_ids;
    d->ring[pos].h0 = h0;
    d->ring[pos].h1 = h1;
    d->ring[pos].at_ms = at_ms;
    d->len++;
    d->count++;
    s = probe(d, h0, h1, &found); /* after pop_head(), which may move slots */
    d->table[s] = (uint32_t)(pos + 1);
}

enum { MODE_SEEN, MODE_CHECK_ADD, MODE_ADD };

/*
 * The three public calls in one: looks ID up at time T (duplicate when
 * remembered at a time u with T - u < window), then remembers it if MODE
 * says so. Returns 1 (duplicate), 0 (new) or a negative DEDUP_E*.
 */
static int lookup(dedup *d, const char *id, int64_t t, int mode)
{
    uint64_t h0, h1;
    size_t s;
    int found, rc;

    if (!d || !id || !id[0] || t < 0 || t > DEDUP_TIME_MAX)
        return DEDUP_EINVAL;
    if ((rc = hash_id(d, id, &h0, &h1)) < 0)
        return rc;
    if (t > d->latest_ms)
        d->latest_ms = t;
    expire(d);
    s = probe(d, h0, h1, &found);
    if (found) {
        struct entry *en = &d->ring[d->table[s] - 1];
        if (t - en->at_ms < d->window_ms) {
            if (mode != MODE_SEEN && t < en->at_ms)
                en->at_ms = t; /* the window runs from the first handling */
            return 1;
        }
        if (mode == MODE_SEEN)
            return 0;
        /* Remembered but expired, held back behind a younger head: forget
         * it here, its ring slot stays dead until the head passes it. */
        forget(d, d->table[s] - 1);
        d->expired++;
    }
    if (mode == MODE_SEEN || (mode == MODE_ADD && d->latest_ms - t >= d->window_ms))
        return 0;
    insert(d, h0, h1, t);
    return 0;
}

int dedup_check_and_add(dedup *d, const char *id, int64_t now_ms)
{
    return lookup(d, id, now_ms, MODE_CHECK_ADD);
}

int dedup_seen(dedup *d, const char *id, int64_t now_ms)
{
    return lookup(d, id, now_ms, MODE_SEEN);
}

int dedup_add(dedup *d, const char *id, int64_t at_ms)
{
    int rc = lookup(d, id, at_ms, MODE_ADD);
    return rc < 0 ? rc : DEDUP_OK;
}

void dedup_stats(const dedup *d, struct dedup_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!d)
        return;
    out->count = d->count;
    out->capacity = d->max_ids;
    out->evictions = d->evictions;
    out->expired = d->expired;
    out->bytes = sizeof(*d) + d->max_ids * sizeof(*d->ring) + d->slots * sizeof(*d->table);
    out->bytes_per_id = (d->max_ids * sizeof(*d->ring) + d->slots * sizeof(*d->table)) / d->max_ids;
}
