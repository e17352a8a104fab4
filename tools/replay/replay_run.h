/*
 * replay_run: one wxbridge-replay run. Scans the source topic
 * (replay_scan), selects entries (replay_select), plans each one
 * (replay_entry), skips ids already published in this run (dedup, bounded),
 * then publishes (replay_out) or, in a dry run, prints one JSON line per
 * selected entry on OUT:
 *
 *   {"partition":0,"offset":12,"id":"wx..:m:42","reason":"decrypt_failed",
 *    "action":"publish","topic":"wx.inbound"}
 *
 * plus "cause" and "detail" for skip/fail, "replay_of" (replies-dlq) and
 * "topics" (reroute: every output topic). Counts go into the tally.
 */
#ifndef WXB_REPLAY_RUN_H
#define WXB_REPLAY_RUN_H

#include "replay_entry.h"
#include "replay_select.h"
#include "replay_tally.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

struct replay_run_cfg {
    const char *command; /* "inbound-dlq", "replies-dlq", "reroute" (for logs) */
    struct replay_ctx ctx;
    const json_t *kafka; /* librdkafka properties (borrowed) */
    const char *source;  /* topic read */
    const struct replay_filter *filter;
    long long limit; /* at most this many selected entries; 0 = no limit */
    int dry_run;
    int idle_timeout_ms;  /* see replay_scan_opts */
    int flush_timeout_ms; /* wait for acknowledgements at the end */
    size_t dedup_max_ids; /* ids remembered for the in-run dedup */
    volatile sig_atomic_t *stop;
};

/*
 * Runs C, counting into T (zeroed by the caller) and printing dry-run lines
 * on OUT. Returns 0 when the scan completed and every output was resolved
 * (entries may still have failed: see T), or -1 with ERR when it stopped
 * early (T then holds what was done).
 */
int replay_run(const struct replay_run_cfg *c, struct replay_tally *t, FILE *out, char *err,
               size_t errlen);

#endif
