/*
 * test_jsonw: the JSON writer produces byte for byte what jansson's
 * json_dumps(JSON_COMPACT) produces, for every golden parse output and for
 * hand-made edge cases (escapes, control characters, NUL inside strings,
 * big integers, reals, nesting), and it honours its size bound.
 */
#include "jsonw.h"

#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Asserts jsonw's text for V equals json_dumps(V, JSON_COMPACT). */
static void assert_same_as_jansson(const json_t *v, const char *what)
{
    struct jsonw w;
    size_t len = 0;
    char *mine, *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    jsonw_init(&w, 1 << 20);
    jsonw_value(&w, v);
    mine = jsonw_finish(&w, &len);
    assert_non_null(mine);
    assert_non_null(theirs);
    if (strcmp(mine, theirs) != 0)
        fail_msg("%s:\n jsonw:   %s\n jansson: %s", what, mine, theirs);
    assert_int_equal(len, strlen(theirs));
    free(mine);
    free(theirs);
}

static void test_golden_outputs(void **state)
{
    DIR *d = opendir(WXB_TEST_DATA "/parse");
    struct dirent *de;
    int n = 0;
    (void)state;

    assert_non_null(d);
    while ((de = readdir(d))) {
        char path[1024];
        json_error_t err;
        json_t *v;
        if (!strstr(de->d_name, ".expected.json"))
            continue;
        snprintf(path, sizeof(path), "%s/parse/%s", WXB_TEST_DATA, de->d_name);
        v = json_load_file(path, 0, &err);
        assert_non_null(v);
        assert_same_as_jansson(v, de->d_name);
        json_decref(v);
        n++;
    }
    closedir(d);
    assert_true(n >= 30);
}

static void test_edge_cases(void **state)
{
    json_t *v;
    (void)state;

    v = json_pack("{s:s, s:s#, s:I, s:I, s:f, s:f, s:b, s:n, s:[], s:{}, s:[i,[s,{}]]}", "esc",
                  "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f ctl\x01\x1f del\x7f", "nul",
                  "a\0b", (int)3, "max", (json_int_t)INT64_MAX, "min", (json_int_t)INT64_MIN,
                  "real", 1.5, "whole", 2.0, "t", 1, "n", "ea", "eo", "deep", 1, "x");
    assert_non_null(v);
    assert_same_as_jansson(v, "edge cases");
    json_decref(v);
    v = json_string("\xe4\xbd\xa0\xe5\xa5\xbd emoji \xf0\x9f\x98\x80");
    assert_same_as_jansson(v, "utf-8");
    json_decref(v);
    v = json_pack("{s:{s:s}}", "k\"ey", "\n", "v");
    assert_same_as_jansson(v, "escaped keys");
    json_decref(v);
}

static void test_bound_and_writer_calls(void **state)
{
    struct jsonw w;
    size_t len;
    char *out;
    (void)state;

    jsonw_init(&w, 1024);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "a");
    jsonw_str(&w, NULL);
    jsonw_key(&w, "b");
    jsonw_arr_begin(&w);
    jsonw_int(&w, -7);
    jsonw_bool(&w, 0);
    jsonw_null(&w);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    out = jsonw_finish(&w, &len);
    assert_string_equal(out, "{\"a\":null,\"b\":[-7,false,null]}");
    assert_int_equal(len, strlen(out));
    free(out);

    /* Past the bound the writer fails as a whole, never truncates. */
    jsonw_init(&w, 16);
    jsonw_str(&w, "this string is longer than sixteen bytes");
    assert_null(jsonw_finish(&w, &len));
    jsonw_init(&w, 16);
    jsonw_str(&w, "0123456789abcd"); /* 16 with quotes: fits exactly */
    out = jsonw_finish(&w, &len);
    assert_string_equal(out, "\"0123456789abcd\"");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_outputs),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_bound_and_writer_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
