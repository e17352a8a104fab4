/*
 * replay_select: the pure decisions of wxbridge-replay that do not need
 * Kafka: parsing the --from/--to times, deciding whether an entry is
 * selected (time range, appid, reason), and deriving the id of a replayed
 * reply command.
 *
 * Times are wall-clock milliseconds since the epoch. A range is half-open:
 * --from is inclusive, --to exclusive, so consecutive ranges
 * [10:00, 11:00) and [11:00, 12:00) never select an entry twice.
 */
#ifndef WXB_REPLAY_SELECT_H
#define WXB_REPLAY_SELECT_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_TIME_MIN      INT64_MIN /* no lower bound */
#define REPLAY_TIME_MAX      INT64_MAX /* no upper bound */
#define REPLAY_FILTER_MAX    16        /* values of --appid or --reason */
#define REPLAY_ID_PREFIX     "replay:"
#define REPLAY_ID_PREFIX_LEN 7

/*
 * Parses S into *OUT_MS:
 *   - unix milliseconds: 1 to 16 decimal digits ("1795772439439");
 *   - RFC 3339: "2026-11-27T10:00:00Z", "2026-11-27T18:00:00+08:00",
 *     fractional seconds ("10:00:00.250Z", milliseconds kept, finer digits
 *     dropped), 't' or ' ' instead of 'T', 'z' for 'Z';
 *   - a full date "2026-11-27" alone: midnight UTC.
 * Years 1970-9999; every field is range-checked (Feb 29 only in leap
 * years; second 60, a leap second, counts as the next second). Returns 0, or
 * -1 leaving *OUT_MS untouched.
 */
int replay_parse_time(const char *s, int64_t *out_ms);

/*
 * Which entries are selected. Strings are borrowed. An empty list means
 * "any"; otherwise the entry's value must equal one of the values (bytewise).
 */
struct replay_filter {
    int64_t from_ms; /* inclusive; REPLAY_TIME_MIN = unbounded */
    int64_t to_ms;   /* exclusive; REPLAY_TIME_MAX = unbounded */
    int nappids;
    const char *appids[REPLAY_FILTER_MAX];
    int nreasons;
    const char *reasons[REPLAY_FILTER_MAX];
};

/* An unbounded filter that selects everything. */
void replay_filter_init(struct replay_filter *f);

/* Adds VALUE to the appid (resp. reason) list. Returns 0, or -1 when full. */
int replay_filter_add_appid(struct replay_filter *f, const char *value);
int replay_filter_add_reason(struct replay_filter *f, const char *value);

/* 1 when F has a time bound. */
int replay_filter_has_time(const struct replay_filter *f);

/*
 * 1 when an entry of APPID and REASON (NULL = unknown, which matches only an
 * empty list) at T_MS (< 0 = unknown, which matches only an unbounded range)
 * is selected by F, else 0.
 */
int replay_filter_match(const struct replay_filter *f, const char *appid, const char *reason,
                        int64_t t_ms);

/*
 * The id of a replayed reply command: REPLAY_ID_PREFIX + ORIG, into OUT
 * (OUTLEN bytes). Deterministic, so replaying the same dead letter twice
 * gives the same id and the replier, which sends at most once per id, skips
 * the second. A command replayed, dead-lettered again and replayed again
 * gets "replay:replay:..": a new attempt, as it should be. MAX_CHARS bounds
 * the result in Unicode characters (the command schema's limit on id).
 * Returns 0, or -1 when ORIG is empty or not valid UTF-8, or the result
 * exceeds MAX_CHARS or OUTLEN.
 */
int replay_reply_id(const char *orig, size_t max_chars, char *out, size_t outlen);

#endif
