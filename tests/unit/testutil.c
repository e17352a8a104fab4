/*
 * testutil: helpers shared by the unit tests. See testutil.h.
 */
#include "testutil.h"

#include "b64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (!buf)
        goto out;
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

char *tu_b64(const void *in, size_t n)
{
    char *out = malloc(B64_ENCODED_SIZE(n));
    assert_non_null(out);
    b64_encode(in, n, out);
    return out;
}

unsigned char *tu_unb64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(B64_DECODED_MAX(n) + 1);
    long r;

    assert_non_null(out);
    r = b64_decode(s, n, out);
    assert_true(r >= 0);
    *len = (size_t)r;
    return out;
}

json_t *tu_json(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("bad JSON in test (line %d: %s): %s", err.line, err.text, text);
    return v;
}

void tu_assert_json_equal(const json_t *a, const json_t *b, const char *what)
{
    if (!json_equal(a, b)) {
        char *sa = json_dumps(a, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *sb = json_dumps(b, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        print_error("%s:\n  got      %s\n  expected %s\n", what, sa ? sa : "(null)",
                    sb ? sb : "(null)");
        free(sa);
        free(sb);
        fail_msg("%s: JSON differs", what);
    }
}
