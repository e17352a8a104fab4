/*
 * replay_tally: counters and the summary object. See replay_tally.h.
 */
#include "replay_tally.h"

#include "jsonw.h"

#include <stdio.h>
#include <string.h>

#define OTHER "(other)"
#define NONE  "(none)"

static const char *const k_cols[RT_COLS] = {"selected", "published", "skipped", "failed"};

static int find_row(const struct replay_table *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].name, name) == 0)
            return i;
    return -1;
}

void replay_table_add(struct replay_table *t, const char *name, int col, uint64_t n)
{
    int i;

    if (col < 0 || col >= RT_COLS)
        return;
    if (!name || !*name)
        name = NONE;
    /* A name that does not fit whole is not truncated: another name could share the prefix. */
    if (strlen(name) >= REPLAY_TALLY_NAME)
        name = OTHER;
    i = find_row(t, name);
    if (i < 0 && t->n < REPLAY_TALLY_ROWS - 1) {
        i = t->n++;
        snprintf(t->rows[i].name, sizeof(t->rows[i].name), "%s", name);
    } else if (i < 0) {
        /* The last row is kept for everything beyond the bound. */
        i = find_row(t, OTHER);
        if (i < 0) {
            i = t->n++;
            snprintf(t->rows[i].name, sizeof(t->rows[i].name), "%s", OTHER);
        }
    }
    t->rows[i].c[col] += n;
}

uint64_t replay_table_get(const struct replay_table *t, const char *name, int col)
{
    int i = find_row(t, name);
    return i < 0 || col < 0 || col >= RT_COLS ? 0 : t->rows[i].c[col];
}

void replay_tally_count(struct replay_tally *t, int col, const char *reason, const char *cause)
{
    if (col < 0 || col >= RT_COLS)
        return;
    t->c[col]++;
    if (reason)
        replay_table_add(&t->by_reason, reason, col, 1);
    if (col == RT_FAILED)
        replay_table_add(&t->failures, cause, RT_FAILED, 1);
    else if (col == RT_SKIPPED)
        replay_table_add(&t->skips, cause, RT_SKIPPED, 1);
}

/* {"name":count,...} of column COL. */
static void write_column(struct jsonw *w, const struct replay_table *t, int col)
{
    jsonw_obj_begin(w);
    for (int i = 0; i < t->n; i++) {
        jsonw_key(w, t->rows[i].name);
        jsonw_int(w, (int64_t)t->rows[i].c[col]);
    }
    jsonw_obj_end(w);
}

char *replay_tally_json(const struct replay_tally *t, const char *command, int dry_run,
                        const char *error)
{
    struct jsonw w;
    size_t len;

    jsonw_init(&w, 1 << 20);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "command");
    jsonw_str(&w, command);
    jsonw_key(&w, "dry_run");
    jsonw_bool(&w, dry_run);
    jsonw_key(&w, "complete");
    jsonw_bool(&w, error == NULL);
    if (error) {
        jsonw_key(&w, "error");
        jsonw_str(&w, error);
    }
    jsonw_key(&w, "scanned");
    jsonw_int(&w, (int64_t)t->scanned);
    for (int c = 0; c < RT_COLS; c++) {
        jsonw_key(&w, k_cols[c]);
        jsonw_int(&w, (int64_t)t->c[c]);
    }
    if (dry_run) {
        jsonw_key(&w, "would_publish");
        jsonw_int(&w, (int64_t)t->would_publish);
    }
    jsonw_key(&w, "by_reason");
    jsonw_obj_begin(&w);
    for (int i = 0; i < t->by_reason.n; i++) {
        jsonw_key(&w, t->by_reason.rows[i].name);
        jsonw_obj_begin(&w);
        for (int c = 0; c < RT_COLS; c++) {
            jsonw_key(&w, k_cols[c]);
            jsonw_int(&w, (int64_t)t->by_reason.rows[i].c[c]);
        }
        jsonw_obj_end(&w);
    }
    jsonw_obj_end(&w);
    jsonw_key(&w, "failures");
    write_column(&w, &t->failures, RT_FAILED);
    jsonw_key(&w, "skips");
    write_column(&w, &t->skips, RT_SKIPPED);
    jsonw_key(&w, "topics");
    write_column(&w, &t->topics, RT_PUBLISHED);
    jsonw_obj_end(&w);
    return jsonw_finish(&w, &len);
}
