/*
 * replay_tally: the counters of one wxbridge-replay run and the summary JSON
 * object printed on stdout at its end:
 *
 *   {"command":"inbound-dlq","dry_run":false,"complete":true,
 *    "scanned":5,"selected":3,"published":2,"skipped":0,"failed":1,
 *    "by_reason":{"decrypt_failed":{"selected":3,"published":2,"skipped":0,"failed":1}},
 *    "failures":{"decrypt_failed":1},"skips":{},"topics":{"wx.inbound":2}}
 *
 * scanned   records read from the source topic within the snapshot
 * selected  of those, the ones the filters kept (and --limit allowed)
 * published selected entries whose every output Kafka acknowledged
 * skipped   selected entries deliberately not republished (a duplicate id
 *           within the run, a record a rule drops, ...): "skips" by cause
 * failed    selected entries that could not be replayed (they still fail,
 *           or Kafka refused an output): "failures" by cause
 * by_reason the same four counts by the entry's stored reason (dead letters)
 * topics    output messages acknowledged, by topic
 * A dry run adds "would_publish" (entries a real run would publish) and
 * "error" is added when the run stopped early. Tables are bounded: beyond
 * REPLAY_TALLY_ROWS names, counts go to the row "(other)".
 */
#ifndef WXB_REPLAY_TALLY_H
#define WXB_REPLAY_TALLY_H

#include <stdint.h>

#define REPLAY_TALLY_ROWS 64
#define REPLAY_TALLY_NAME 250 /* a topic name (249) and its NUL */

enum { RT_SELECTED, RT_PUBLISHED, RT_SKIPPED, RT_FAILED, RT_COLS };

struct replay_table {
    int n;
    struct {
        char name[REPLAY_TALLY_NAME];
        uint64_t c[RT_COLS];
    } rows[REPLAY_TALLY_ROWS];
};

struct replay_tally {
    uint64_t scanned;
    uint64_t c[RT_COLS];
    uint64_t would_publish;
    struct replay_table by_reason; /* all four columns */
    struct replay_table failures;  /* column RT_FAILED */
    struct replay_table skips;     /* column RT_SKIPPED */
    struct replay_table topics;    /* column RT_PUBLISHED: messages acknowledged */
};

/* Adds N to column COL of the row NAME of T (created as needed; NULL/"" = "(none)"). */
void replay_table_add(struct replay_table *t, const char *name, int col, uint64_t n);

/* The value of column COL of row NAME, 0 when absent (for tests). */
uint64_t replay_table_get(const struct replay_table *t, const char *name, int col);

/*
 * Counts one entry outcome: column COL of the totals and of REASON's row
 * (NULL = no stored reason: by_reason untouched), and CAUSE in "failures" /
 * "skips" for RT_FAILED / RT_SKIPPED.
 */
void replay_tally_count(struct replay_tally *t, int col, const char *reason, const char *cause);

/*
 * The summary object as a malloc'd compact JSON string (no newline), or NULL
 * when out of memory. COMMAND is the subcommand name; ERROR NULL when the run
 * completed.
 */
char *replay_tally_json(const struct replay_tally *t, const char *command, int dry_run,
                        const char *error);

#endif
