/*
 * fake_wechat_log: the calls log and the counters of the fake WeChat API.
 *
 * The log keeps one compact JSON object per API call, oldest first, in a
 * ring bounded by entries and bytes: once full, the oldest entries are
 * dropped (and counted). Counters are per path and per errcode / HTTP
 * status / drop, kept apart from the log so they survive its bound.
 * Not thread-safe: the owner serializes access.
 */
#ifndef WXB_FAKE_WECHAT_LOG_H
#define WXB_FAKE_WECHAT_LOG_H

#include <jansson.h>
#include <stddef.h>

enum fwlog_outcome {
    FWLOG_ERRCODE, /* answered with an errcode (0 = accepted) */
    FWLOG_HTTP,    /* answered with a non-200 HTTP status (injected) */
    FWLOG_DROPPED, /* connection closed without an answer (injected) */
};

typedef struct fwlog fwlog;

/* A log of at most MAX_ENTRIES entries and MAX_BYTES bytes of JSON. NULL on ENOMEM. */
fwlog *fwlog_create(size_t max_entries, size_t max_bytes);

/* NULL-safe. */
void fwlog_destroy(fwlog *l);

/*
 * Counts one call on PATH with its outcome (CODE: the errcode or the HTTP
 * status) and, when ENTRY is not NULL, appends ENTRY, a malloc'd compact
 * JSON object text ("{...}") that the log takes over in every case.
 * PATH is copied; at most 32 distinct paths are told apart (the rest count
 * as "other"), and 64 distinct codes per path.
 */
void fwlog_add(fwlog *l, const char *path, char *entry, enum fwlog_outcome kind, int code);

/*
 * The log as one JSON array text, oldest first (malloc'd, caller frees;
 * NULL on ENOMEM): with ALL == 0 only accepted calls (errcode 0), as
 * logged; with ALL, every call with "errcode", "http_status" or
 * "dropped":true added.
 */
char *fwlog_calls(const fwlog *l, int all, size_t *len);

/* The counters as a new JSON object (see sim_api's README section). */
json_t *fwlog_stats(const fwlog *l);

/* Clears the log and every counter. */
void fwlog_reset(fwlog *l);

#endif
