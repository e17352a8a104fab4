/*
 * quota_guard: reply windows per user in fixed memory. The rules and the
 * design (users in a pool, an open-addressing index over it, a
 * least-recently-touched list) are described in quota_guard.h.
 */
#include "quota_guard.h"

#include "wx_crypto.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONE INT64_MIN /* no event of that kind */
#define NIL  UINT32_MAX

struct user {
    uint64_t h0, h1;          /* 128 bits of SHA-256(appid NUL openid) */
    int64_t msg_ms, enter_ms; /* latest message / enter, or NONE */
    int64_t sends[QG_SENDS];  /* latest send times, descending, NONE-padded */
    int64_t doubt_until;      /* may have lost history to an eviction before this (or 0) */
    uint32_t prev, next;      /* touch order (NIL-terminated); next links the free list */
};

_Static_assert(sizeof(struct user) + 2 * sizeof(uint32_t) == QG_BYTES_PER_USER,
               "QG_BYTES_PER_USER is the user plus its two index slots");

struct quota_guard {
    size_t max_users, count;
    struct user *users;
    uint32_t head, tail; /* least / most recently touched */
    uint32_t free_list;
    size_t slots;    /* 2 * max_users */
    uint32_t *table; /* user index + 1, 0 = empty */
    int64_t latest_ms;
    int64_t forgotten_until; /* an evicted user's window may be open until then (or 0) */
    unsigned long long evictions, expired;
    EVP_MD_CTX *md;
};

quota_guard *quota_guard_new(size_t max_users)
{
    quota_guard *q;

    if (max_users < 1 || max_users > QG_MAX_USERS)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->max_users = max_users;
    q->slots = 2 * max_users;
    q->users = calloc(max_users, sizeof(*q->users));
    q->table = calloc(q->slots, sizeof(*q->table));
    q->md = EVP_MD_CTX_new();
    if (!q->users || !q->table || !q->md) {
        quota_guard_free(q);
        return NULL;
    }
    for (size_t i = 0; i < max_users; i++)
        q->users[i].next = i + 1 < max_users ? (uint32_t)(i + 1) : NIL;
    q->free_list = 0;
    q->head = q->tail = NIL;
    q->latest_ms = 0;
    return q;
}

void quota_guard_free(quota_guard *q)
{
    if (!q)
        return;
    free(q->users);
    free(q->table);
    EVP_MD_CTX_free(q->md);
    free(q);
}

static int hash_user(quota_guard *q, const char *appid, const char *openid, uint64_t *h0,
                     uint64_t *h1)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* The NUL keeps ("ab", "c") and ("a", "bc") apart. */
    if (EVP_DigestInit_ex(q->md, wxc_sha256_md(), NULL) != 1 ||
        EVP_DigestUpdate(q->md, appid, strlen(appid) + 1) != 1 ||
        EVP_DigestUpdate(q->md, openid, strlen(openid)) != 1 ||
        EVP_DigestFinal_ex(q->md, md, &mdlen) != 1 || mdlen < 16)
        return QG_EHASH;
    memcpy(h0, md, 8);
    memcpy(h1, md + 8, 8);
    return QG_OK;
}

/* ---- index: linear probing over user positions, backward-shift deletion ---- */

static size_t home(const quota_guard *q, uint64_t h0)
{
    return (size_t)(((h0 >> 32) * (uint64_t)q->slots) >> 32);
}

static size_t next_slot(const quota_guard *q, size_t i)
{
    return i + 1 == q->slots ? 0 : i + 1;
}

/* The slot holding (H0, H1) with *FOUND = 1, or the empty slot ending its probe. */
static size_t probe(const quota_guard *q, uint64_t h0, uint64_t h1, int *found)
{
    size_t i = home(q, h0);

    for (;;) {
        uint32_t v = q->table[i];
        if (v == 0) {
            *found = 0;
            return i;
        }
        if (q->users[v - 1].h0 == h0 && q->users[v - 1].h1 == h1) {
            *found = 1;
            return i;
        }
        i = next_slot(q, i);
    }
}

static void table_delete(quota_guard *q, size_t i)
{
    size_t j = i;

    for (;;) {
        uint32_t v;
        size_t k;

        j = next_slot(q, j);
        v = q->table[j];
        if (v == 0)
            break;
        k = home(q, q->users[v - 1].h0);
        /* The entry at J may fill I unless its home lies cyclically in (I, J]. */
        if (j > i ? (k <= i || k > j) : (k <= i && k > j)) {
            q->table[i] = v;
            i = j;
        }
    }
    q->table[i] = 0;
}

/* ---- touch order ---- */

static void unlink_user(quota_guard *q, uint32_t u)
{
    struct user *x = &q->users[u];

    if (x->prev != NIL)
        q->users[x->prev].next = x->next;
    else
        q->head = x->next;
    if (x->next != NIL)
        q->users[x->next].prev = x->prev;
    else
        q->tail = x->prev;
}

static void push_tail(quota_guard *q, uint32_t u)
{
    q->users[u].prev = q->tail;
    q->users[u].next = NIL;
    if (q->tail != NIL)
        q->users[q->tail].next = u;
    else
        q->head = u;
    q->tail = u;
}

static void touch(quota_guard *q, uint32_t u)
{
    if (q->tail != u) {
        unlink_user(q, u);
        push_tail(q, u);
    }
}

/* The time of U's latest event. */
static int64_t last_event(const struct user *u)
{
    int64_t t = u->msg_ms;
    if (u->enter_ms > t)
        t = u->enter_ms;
    if (u->sends[0] > t)
        t = u->sends[0];
    return t;
}

/* Nothing of U can matter for a check at or after the latest time seen. */
static int is_expired(const quota_guard *q, const struct user *u)
{
    return q->latest_ms - last_event(u) >= QG_MESSAGE_WINDOW_MS;
}

/* Removes user U from the index and the touch order, and frees its place. */
static void drop(quota_guard *q, uint32_t u)
{
    int found;
    size_t s = probe(q, q->users[u].h0, q->users[u].h1, &found);

    if (found)
        table_delete(q, s);
    unlink_user(q, u);
    q->users[u].next = q->free_list;
    q->free_list = u;
    q->count--;
}

/* Reclaims expired users at the old end of the touch order (a few per call). */
static void reclaim(quota_guard *q)
{
    for (int i = 0; i < 2 && q->head != NIL && is_expired(q, &q->users[q->head]); i++) {
        drop(q, q->head);
        q->expired++;
    }
}

/* Makes room for one user: the oldest latest event among the least recently touched. */
static void make_room(quota_guard *q)
{
    uint32_t victim = q->head, u = q->head;

    for (int i = 0; i < QG_EVICT_SCAN && u != NIL; i++, u = q->users[u].next)
        if (last_event(&q->users[u]) < last_event(&q->users[victim]))
            victim = u;
    if (is_expired(q, &q->users[victim])) {
        q->expired++;
    } else {
        const struct user *v = &q->users[victim];
        q->evictions++;
        if (v->msg_ms != NONE && v->msg_ms + QG_MESSAGE_WINDOW_MS > q->forgotten_until)
            q->forgotten_until = v->msg_ms + QG_MESSAGE_WINDOW_MS;
        if (v->enter_ms != NONE && v->enter_ms + QG_ENTER_WINDOW_MS > q->forgotten_until)
            q->forgotten_until = v->enter_ms + QG_ENTER_WINDOW_MS;
    }
    drop(q, victim);
}

static int valid_args(const quota_guard *q, const char *appid, const char *openid, long long t)
{
    return q && appid && openid && appid[0] && openid[0] && t >= 0 && t <= QG_TIME_MAX;
}

/* Looks the user up at time T (creating it if CREATE); *OUT is its index or NIL. */
static int find(quota_guard *q, const char *appid, const char *openid, long long t, int create,
                uint32_t *out)
{
    uint64_t h0, h1;
    size_t s;
    int found, rc;
    uint32_t u;

    *out = NIL;
    if (!valid_args(q, appid, openid, t))
        return QG_EINVAL;
    if ((rc = hash_user(q, appid, openid, &h0, &h1)) < 0)
        return rc;
    if (t > q->latest_ms)
        q->latest_ms = t;
    reclaim(q);
    s = probe(q, h0, h1, &found);
    if (found) {
        *out = q->table[s] - 1;
        touch(q, *out);
        return QG_OK;
    }
    if (!create)
        return QG_OK;
    if (q->count == q->max_users) {
        make_room(q);
        s = probe(q, h0, h1, &found); /* deletion may have moved slots */
    }
    u = q->free_list;
    q->free_list = q->users[u].next;
    q->users[u].h0 = h0;
    q->users[u].h1 = h1;
    q->users[u].msg_ms = q->users[u].enter_ms = NONE;
    for (int i = 0; i < QG_SENDS; i++)
        q->users[u].sends[i] = NONE;
    /* It may be a user evicted before: what it had then is lost. */
    q->users[u].doubt_until = q->forgotten_until;
    q->table[s] = u + 1;
    push_tail(q, u);
    q->count++;
    *out = u;
    return QG_OK;
}

/*
 * An event at AT_MS this far behind the latest time seen cannot matter any
 * more (to a check at or after that time).
 */
static int too_old(const quota_guard *q, long long at_ms)
{
    return q->latest_ms - at_ms >= QG_MESSAGE_WINDOW_MS;
}

int quota_guard_inbound(quota_guard *q, const char *appid, const char *openid, enum qg_kind kind,
                        long long at_ms)
{
    uint32_t u;
    int64_t *t;
    int rc;

    if ((kind != QG_MESSAGE && kind != QG_ENTER) || !valid_args(q, appid, openid, at_ms))
        return QG_EINVAL;
    if (too_old(q, at_ms))
        return QG_OK;
    if ((rc = find(q, appid, openid, at_ms, 1, &u)) < 0)
        return rc;
    t = kind == QG_MESSAGE ? &q->users[u].msg_ms : &q->users[u].enter_ms;
    if (at_ms > *t)
        *t = at_ms;
    return QG_OK;
}

int quota_guard_sent(quota_guard *q, const char *appid, const char *openid, long long at_ms)
{
    uint32_t u;
    int64_t *s;
    int rc, i;

    if (!valid_args(q, appid, openid, at_ms))
        return QG_EINVAL;
    if (too_old(q, at_ms))
        return QG_OK;
    if ((rc = find(q, appid, openid, at_ms, 1, &u)) < 0)
        return rc;
    /* Insert into the descending list; the oldest kept time falls off the end. */
    s = q->users[u].sends;
    if (at_ms <= s[QG_SENDS - 1])
        return QG_OK; /* older than the QG_SENDS kept: cannot change a verdict */
    for (i = QG_SENDS - 1; i > 0 && s[i - 1] < at_ms; i--)
        s[i] = s[i - 1];
    s[i] = at_ms;
    return QG_OK;
}

/* Sends of U in [START, NOW]. */
static int used(const struct user *u, int64_t start, int64_t now)
{
    int n = 0;
    for (int i = 0; i < QG_SENDS && u->sends[i] != NONE; i++)
        n += u->sends[i] >= start && u->sends[i] <= now;
    return n;
}

enum qg_verdict quota_guard_check(quota_guard *q, const char *appid, const char *openid,
                                  long long now_ms)
{
    const struct user *x;
    uint32_t u;
    int msg_open, enter_open;

    if (find(q, appid, openid, now_ms, 0, &u) < 0)
        return QG_ALLOW; /* fail open: WeChat decides */
    if (u == NIL)        /* unknown: never seen, or evicted while a window may still be open */
        return now_ms < q->forgotten_until ? QG_ALLOW : QG_NO_WINDOW;
    x = &q->users[u];
    /* A start after NOW (clocks apart) counts as open. */
    msg_open = x->msg_ms != NONE && now_ms - x->msg_ms < QG_MESSAGE_WINDOW_MS;
    enter_open = x->enter_ms != NONE && now_ms - x->enter_ms < QG_ENTER_WINDOW_MS;
    if ((msg_open && used(x, x->msg_ms, now_ms) < QG_MESSAGE_SENDS) ||
        (enter_open && used(x, x->enter_ms, now_ms) < QG_ENTER_SENDS) ||
        now_ms < x->doubt_until) /* a refusal could rest on forgotten history */
        return QG_ALLOW;
    return msg_open || enter_open ? QG_USED_UP : QG_NO_WINDOW;
}

void quota_guard_stats(const quota_guard *q, struct quota_guard_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!q)
        return;
    out->users = q->count;
    out->capacity = q->max_users;
    out->bytes = sizeof(*q) + q->max_users * sizeof(*q->users) + q->slots * sizeof(*q->table);
    out->evictions = q->evictions;
    out->expired = q->expired;
}
