/*
 * testutil: small helpers shared by the unit tests (files, base64, JSON).
 * Every returned buffer is malloc'd and owned by the caller.
 */
#ifndef WXB_TESTUTIL_H
#define WXB_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>

/* Reads the whole file PATH; *LEN gets its size. Returns NULL on error. */
char *tu_read_file(const char *path, size_t *len);

/* Base64 of N bytes (NUL-terminated). */
char *tu_b64(const void *in, size_t n);

/* Decodes a NUL-terminated base64 string into a malloc'd buffer; *LEN its size. */
unsigned char *tu_unb64(const char *s, size_t *len);

/* Parses TEXT with jansson (fails the test on error). */
json_t *tu_json(const char *text);

/* Fails the test unless A and B are equal JSON, printing both. */
void tu_assert_json_equal(const json_t *a, const json_t *b, const char *what);

#endif
