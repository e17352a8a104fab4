/*
 * jsonw: a compact JSON writer into a growing buffer.
 *
 * Records are written on every request; building a jansson object only to
 * serialize it, and jansson's serializer itself (which re-validates UTF-8
 * character by character), were the largest costs of the ingress's request
 * path. jsonw writes the same compact JSON directly. Strings given to it
 * must be valid UTF-8 (jansson's strings always are); they are escaped as
 * jansson does (", \, control characters; '/' is not escaped).
 *
 * Errors are sticky: after an allocation failure or a bound overflow every
 * call does nothing and jsonw_finish() returns NULL.
 */
#ifndef WXB_JSONW_H
#define WXB_JSONW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
    char *buf;
    size_t len, cap, max;
    int failed;
    int need_comma; /* a value was written at the current level */
};

/* Starts a writer whose output may grow to MAX bytes. */
void jsonw_init(struct jsonw *w, size_t max);
/* Frees the buffer (after a failure, or when the output is not wanted). */
void jsonw_free(struct jsonw *w);
/* Returns the NUL-terminated output (owned by the caller) and its length, or NULL. */
char *jsonw_finish(struct jsonw *w, size_t *len);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
/* An object key; the next call writes its value. */
void jsonw_key(struct jsonw *w, const char *key);
/* A string, or null when S is NULL. */
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, int v);
void jsonw_null(struct jsonw *w);
/* Any jansson value, written as json_dumps(JSON_COMPACT) would. */
void jsonw_value(struct jsonw *w, const json_t *v);

#endif
