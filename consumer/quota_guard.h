/*
 * quota_guard: WeChat's customer-service reply windows per user, learned
 * from the inbound stream and from the replier's own sends, so that
 * wxbridge-replier refuses a command WeChat would refuse anyway (45015,
 * 45047) without spending an API call, and keeps the user's remaining quota
 * for the replies that can still go out.
 *
 * WeChat's rules (docs/PROTOCOL.md section 4)
 *
 *   - A user message at time M opens a window [M, M + 48 h) with 5 sends.
 *   - A user_enter_tempsession event at time E opens [E, E + 60 s) with 2
 *     sends.
 *   - A newer message (enter) replaces the previous message (enter) window
 *     with a fresh one: sends before it no longer count against it.
 *   - A send is allowed when either window is open at that time and has
 *     sends left; every send counts against both windows it falls in.
 *
 * What is kept per user: the latest message time, the latest enter time and
 * the QG_SENDS latest send times. A window's used count at time NOW is the
 * number of kept sends t with start <= t <= NOW. At most 5 + 2 sends can be
 * allowed across the two windows and 8 are kept, so every verdict is exact
 * for sends recorded up to NOW (a window is "used up" at its 5th or 2nd send;
 * the count never needs to go beyond). A send at the very millisecond of the
 * check counts (it happened before; bursts are answered within one ms), a
 * send later than NOW (history replayed with a clock ahead) does not.
 *
 * Order does not matter: calls may come live or rebuilt from history (the
 * inbound topic and wx.replies.results), interleaved and out of order; for
 * checks at or after every recorded time (as live checks are) the verdicts
 * only depend on the set of events recorded, not on their order (barring
 * evictions). Time only moves forward as far as the guard can tell: it keeps
 * the latest time any call passed, and an event already 48 h older than that
 * is dropped, since no such check can see it. A window closes at exactly
 * start + 48 h (60 s): the edge WeChat does not document, taken on the side
 * that wastes no quota. Time before a window's start (clocks of the ingress
 * and the replier a little apart) counts as inside it: the guard must not
 * refuse a reply to a message it saw "from the future".
 *
 * The guard saves quota; WeChat stays the authority. It therefore fails
 * open: a check on invalid arguments or after an internal error allows.
 *
 * Memory: quota_guard_new() allocates everything: QG_BYTES_PER_USER (120)
 * bytes per user of capacity, plus a fixed header and one OpenSSL digest
 * context; 100 000 users = 12 MB. A user is keyed by 128 bits of
 * SHA-256(appid NUL openid), never by its strings (see dedup.h for the odds
 * of a collision: negligible). Users are kept in least-recently-touched
 * order (every call on a user touches it). When the guard is full, a new user
 * replaces the user whose latest event is oldest among the QG_EVICT_SCAN
 * least recently touched ones; that is an expiry when its latest event is
 * 48 h older than the latest time seen (nothing of it mattered any more),
 * else an eviction: its windows are forgotten, so until the last of them
 * would have closed, the guard fails open for any user it cannot vouch for
 * (unknown, or created since the eviction: it may be the evicted one): it
 * allows and WeChat decides. A full guard therefore costs WeChat calls, never
 * a wrong refusal: size max_users >= users active in 48 h, and alert on
 * evictions. Expired users at the old end of the order are also reclaimed
 * as calls go by.
 *
 * Times are wall-clock milliseconds (util_wall_ms(); an inbound record's
 * received_at_ms; a result's at_ms) in [0, QG_TIME_MAX]. Not thread-safe.
 */
#ifndef WXB_QUOTA_GUARD_H
#define WXB_QUOTA_GUARD_H

#include <stddef.h>

#define QG_MESSAGE_WINDOW_MS (48LL * 60 * 60 * 1000)
#define QG_MESSAGE_SENDS     5
#define QG_ENTER_WINDOW_MS   (60LL * 1000)
#define QG_ENTER_SENDS       2
#define QG_SENDS             8 /* send times kept per user */
#define QG_EVICT_SCAN        8 /* least recently touched users compared when full */
#define QG_BYTES_PER_USER    120
#define QG_MAX_USERS         (1u << 28)
#define QG_TIME_MAX          (1LL << 62)

enum {
    QG_OK = 0,
    QG_EINVAL = -1, /* NULL guard or id, empty id, time outside [0, QG_TIME_MAX] */
    QG_EHASH = -2,  /* OpenSSL could not hash (out of memory) */
};

typedef struct quota_guard quota_guard;

enum qg_kind { QG_MESSAGE, QG_ENTER };

/* The verdicts carry WeChat's errcodes, so a refusal can be reported as WeChat would. */
enum qg_verdict { QG_ALLOW = 0, QG_NO_WINDOW = 45015, QG_USED_UP = 45047 };

/*
 * Creates a guard for MAX_USERS users (1..QG_MAX_USERS), allocating all its
 * memory now. Returns NULL on an invalid argument or when out of memory. Free
 * with quota_guard_free().
 */
quota_guard *quota_guard_new(size_t max_users);

/* Frees Q (NULL-safe). */
void quota_guard_free(quota_guard *q);

/*
 * Records that user OPENID of APPID sent a message (QG_MESSAGE: any user
 * message, which opens the 48 h window) or entered the session
 * (QG_ENTER: the user_enter_tempsession event) at AT_MS. An event already
 * 48 h older than the latest time seen is ignored (it cannot matter any
 * more). Returns QG_OK, QG_EINVAL or QG_EHASH.
 */
int quota_guard_inbound(quota_guard *q, const char *appid, const char *openid, enum qg_kind kind,
                        long long at_ms);

/*
 * Records one send WeChat accepted for the user at AT_MS (live, or rebuilt
 * from wx.replies.results); call it once per accepted send, and not for
 * typing, which uses no quota. A user never seen before is created (its
 * inbound events may be replayed later). Ignored when 48 h older than the
 * latest time seen. Returns QG_OK, QG_EINVAL or QG_EHASH.
 */
int quota_guard_sent(quota_guard *q, const char *appid, const char *openid, long long at_ms);

/*
 * The verdict for a send at NOW_MS, without recording it: QG_ALLOW when a
 * window is open with sends left, QG_USED_UP when a window is open but every
 * open one is used up, QG_NO_WINDOW when none is open (or the user is
 * unknown). QG_ALLOW on invalid arguments or a hashing failure, and for a
 * user an eviction may have made the guard forget (fail open).
 */
enum qg_verdict quota_guard_check(quota_guard *q, const char *appid, const char *openid,
                                  long long now_ms);

struct quota_guard_stats {
    size_t users;                 /* users held now */
    size_t capacity;              /* max_users */
    size_t bytes;                 /* bytes allocated by the guard (header, users, table) */
    unsigned long long evictions; /* users forgotten while a window could still matter */
    unsigned long long expired;   /* users reclaimed after 48 h without events */
};

/* Fills OUT with Q's counters and memory use (all zero for NULL). */
void quota_guard_stats(const quota_guard *q, struct quota_guard_stats *out);

#endif
