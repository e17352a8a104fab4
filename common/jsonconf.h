/*
 * jsonconf: loading and validating the JSON config files of every program.
 *
 * A config is loaded once at start, ${NAME} references in strings are
 * replaced by environment variables, and each program validates it with the
 * getters below. Getters never stop at the first mistake: every problem is
 * recorded with its JSON path ("$.apps[0].token: required string missing") so
 * --check-config can print them all at once.
 */
#ifndef WXB_JSONCONF_H
#define WXB_JSONCONF_H

#include <jansson.h>
#include <stddef.h>

#define JC_ERRS_MAX 4096

struct jc_errs {
    int count;
    char text[JC_ERRS_MAX]; /* one problem per line */
};

/* Records one problem at PATH. */
void jc_error(struct jc_errs *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Reads FILE, parses it and expands ${NAME} in every string value (an unset
 * variable is an error naming the path). Returns a new reference, or NULL with
 * the problems in E.
 */
json_t *jc_load_file(const char *file, struct jc_errs *e);

/* Same as jc_load_file() on a string already in memory. */
json_t *jc_load_string(const char *text, struct jc_errs *e);

/* Replaces ${NAME} in every string below ROOT (in place). */
void jc_expand_env(json_t *root, const char *path, struct jc_errs *e);

/*
 * Typed getters on OBJ[KEY]; PATH is OBJ's own path ("$", "$.apps[0]").
 * A missing optional key leaves *OUT = DEF. Wrong types and out-of-range
 * values are recorded in E and leave the default in place.
 * Returned strings are borrowed from the JSON tree.
 */
void jc_str(json_t *obj, const char *path, const char *key, int required, const char *def,
            const char **out, struct jc_errs *e);
void jc_int(json_t *obj, const char *path, const char *key, long long def, long long min,
            long long max, long long *out, struct jc_errs *e);
void jc_bool(json_t *obj, const char *path, const char *key, int def, int *out, struct jc_errs *e);

/* A string that must be one of ALLOWED (NULL-terminated); otherwise recorded and *OUT = DEF. */
void jc_enum(json_t *obj, const char *path, const char *key, const char *def,
             const char *const *allowed, const char **out, struct jc_errs *e);

/* The log levels every program's "log_level" accepts (log_level_parse()). */
extern const char *const jc_log_levels[];

/* Records every key of OBJ that is not in KNOWN (NULL-terminated). */
void jc_known_keys(json_t *obj, const char *path, const char *const *known, struct jc_errs *e);

#endif
