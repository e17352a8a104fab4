/*
 * test_jsonconf: config loading, ${NAME} expansion from the environment
 * (errors name the JSON path), and the validating getters whose messages
 * name the path and key so --check-config can print every problem at once.
 */
#include "jsonconf.h"

#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int setup_env(void **state)
{
    (void)state;
    setenv("WXB_T_TOKEN", "tok3n", 1);
    setenv("WXB_T_HOST", "127.0.0.1", 1);
    setenv("WXB_T_PORT", "9092", 1);
    setenv("WXB_T_EMPTY", "", 1);
    setenv("WXB_T_RECURSE", "${WXB_T_TOKEN}", 1);
    unsetenv("WXB_T_UNSET");
    unsetenv("WXB_T_UNSET2");
    return 0;
}

static json_t *load(const char *text, struct jc_errs *e)
{
    memset(e, 0, sizeof(*e));
    return jc_load_string(text, e);
}

static void test_expansion(void **state)
{
    struct jc_errs e;
    json_t *root = load("{\"kafka\":{\"bootstrap.servers\":\"${WXB_T_HOST}:${WXB_T_PORT}\"},"
                        "\"apps\":[{\"token\":\"${WXB_T_TOKEN}\",\"n\":5,\"b\":true},"
                        "\"pre-${WXB_T_TOKEN}-post\"],"
                        "\"empty\":\"[${WXB_T_EMPTY}]\",\"again\":\"${WXB_T_RECURSE}\","
                        "\"plain\":\"no $ {refs} here $\",\"${WXB_T_TOKEN}\":\"key kept\"}",
                        &e);
    json_t *want;
    (void)state;

    assert_non_null(root);
    assert_int_equal(e.count, 0);
    assert_string_equal(e.text, "");
    want = tu_json("{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:9092\"},"
                   "\"apps\":[{\"token\":\"tok3n\",\"n\":5,\"b\":true},\"pre-tok3n-post\"],"
                   "\"empty\":\"[]\",\"again\":\"${WXB_T_TOKEN}\","
                   "\"plain\":\"no $ {refs} here $\",\"${WXB_T_TOKEN}\":\"key kept\"}");
    /* Values are expanded once (no recursion into the expansion); keys are not. */
    tu_assert_json_equal(root, want, "expanded config");
    json_decref(want);
    json_decref(root);
}

static void test_unset_variable_names_path(void **state)
{
    struct jc_errs e;
    json_t *root = load("{\"kafka\":{\"bootstrap.servers\":\"x\"},"
                        "\"apps\":[{\"appid\":\"a\"},{\"token\":\"${WXB_T_UNSET}\"}]}",
                        &e);
    (void)state;

    assert_null(root);
    assert_int_equal(e.count, 1);
    assert_string_equal(e.text, "$.apps[1].token: environment variable WXB_T_UNSET is not set\n");

    /* Every problem is reported, not only the first. */
    root = load("{\"a\":\"${WXB_T_UNSET}\",\"b\":[\"ok\",\"${WXB_T_UNSET2}\"],"
                "\"c\":\"${WXB_T_TOKEN}\"}",
                &e);
    assert_null(root);
    assert_int_equal(e.count, 2);
    assert_non_null(strstr(e.text, "$.a: environment variable WXB_T_UNSET is not set\n"));
    assert_non_null(strstr(e.text, "$.b[1]: environment variable WXB_T_UNSET2 is not set\n"));

    /* An empty variable is set. */
    root = load("{\"a\":\"${WXB_T_EMPTY}\"}", &e);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "a")), "");
    json_decref(root);
}

static void test_malformed_reference(void **state)
{
    static const char *const bad[] = {
        "{\"x\":{\"y\":\"${WXB_T_TOKEN\"}}",
        "{\"x\":{\"y\":\"abc${}\"}}",
        "{\"x\":{\"y\":\"${\"}}",
    };
    struct jc_errs e;
    char longname[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(load(bad[i], &e));
        assert_int_equal(e.count, 1);
        assert_string_equal(e.text, "$.x.y: malformed ${NAME} reference\n");
    }
    /* A name too long for any environment variable is refused, not truncated. */
    memset(longname, 'A', 200);
    longname[200] = '\0';
    {
        char doc[512];
        snprintf(doc, sizeof(doc), "{\"k\":\"${%s}\"}", longname);
        assert_null(load(doc, &e));
        assert_int_equal(e.count, 1);
        assert_string_equal(e.text, "$.k: malformed ${NAME} reference\n");
    }
}

static void test_load_errors(void **state)
{
    struct jc_errs e;
    (void)state;

    assert_null(load("{\"a\":1,}", &e));
    assert_int_equal(e.count, 1);
    assert_memory_equal(e.text, "$: config: line 1", 17);
    assert_null(load("[1,2]", &e));
    assert_int_equal(e.count, 1);
    assert_string_equal(e.text, "$: config must be a JSON object\n");
    assert_null(load("{\"a\":1,\"a\":2}", &e));
    assert_int_equal(e.count, 1);
    assert_null(load("", &e));
    assert_int_equal(e.count, 1);
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/wxb-test-jsonconf-XXXXXX";
    const char *text = "{\n  \"token\": \"${WXB_T_TOKEN}\",\n  \"bad\": \n}\n";
    const char *good = "{\"token\": \"${WXB_T_TOKEN}\"}";
    struct jc_errs e;
    json_t *root;
    int fd = mkstemp(path);
    FILE *f;
    (void)state;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(good, f);
    fclose(f);
    memset(&e, 0, sizeof(e));
    root = jc_load_file(path, &e);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "token")), "tok3n");
    json_decref(root);

    /* A syntax error names the file and the line. */
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    memset(&e, 0, sizeof(e));
    assert_null(jc_load_file(path, &e));
    assert_int_equal(e.count, 1);
    assert_non_null(strstr(e.text, path));
    assert_non_null(strstr(e.text, "line 4"));
    unlink(path);

    memset(&e, 0, sizeof(e));
    assert_null(jc_load_file("/nonexistent/wxb/config.json", &e));
    assert_int_equal(e.count, 1);
    assert_non_null(strstr(e.text, "/nonexistent/wxb/config.json"));
}

static void test_jc_int(void **state)
{
    json_t *o = tu_json("{\"n\":5,\"lo\":1,\"hi\":64,\"big\":65,\"neg\":-1,\"s\":\"5\","
                        "\"f\":5.0,\"max\":9223372036854775807}");
    struct jc_errs e;
    long long v;
    (void)state;

    memset(&e, 0, sizeof(e));
    jc_int(o, "$.apps[0]", "n", 7, 1, 64, &v, &e);
    assert_int_equal(v, 5);
    jc_int(o, "$.apps[0]", "lo", 7, 1, 64, &v, &e);
    assert_int_equal(v, 1);
    jc_int(o, "$.apps[0]", "hi", 7, 1, 64, &v, &e);
    assert_int_equal(v, 64);
    jc_int(o, "$.apps[0]", "missing", 7, 1, 64, &v, &e);
    assert_int_equal(v, 7);
    jc_int(o, "$", "max", 0, 0, INT64_MAX, &v, &e);
    assert_true(v == INT64_MAX);
    assert_int_equal(e.count, 0);

    jc_int(o, "$.apps[0]", "big", 7, 1, 64, &v, &e);
    assert_int_equal(v, 7);
    assert_int_equal(e.count, 1);
    assert_string_equal(e.text, "$.apps[0]: \"big\" must be between 1 and 64\n");
    memset(&e, 0, sizeof(e));
    jc_int(o, "$.x", "neg", 7, 0, 10, &v, &e);
    assert_int_equal(v, 7);
    assert_string_equal(e.text, "$.x: \"neg\" must be between 0 and 10\n");
    memset(&e, 0, sizeof(e));
    jc_int(o, "$", "s", 7, 0, 10, &v, &e);
    jc_int(o, "$", "f", 7, 0, 10, &v, &e);
    assert_int_equal(v, 7);
    assert_int_equal(e.count, 2);
    assert_string_equal(e.text, "$: \"s\" must be an integer\n$: \"f\" must be an integer\n");
    json_decref(o);
}

static void test_jc_str_bool(void **state)
{
    json_t *o = tu_json("{\"s\":\"v\",\"n\":1,\"t\":true,\"f\":false,\"z\":null}");
    struct jc_errs e;
    const char *s;
    int b;
    (void)state;

    memset(&e, 0, sizeof(e));
    jc_str(o, "$", "s", 1, NULL, &s, &e);
    assert_string_equal(s, "v");
    jc_str(o, "$", "missing", 0, "dflt", &s, &e);
    assert_string_equal(s, "dflt");
    jc_bool(o, "$", "t", 0, &b, &e);
    assert_int_equal(b, 1);
    jc_bool(o, "$", "f", 1, &b, &e);
    assert_int_equal(b, 0);
    jc_bool(o, "$", "missing", 1, &b, &e);
    assert_int_equal(b, 1);
    assert_int_equal(e.count, 0);

    jc_str(o, "$.apps[2]", "token", 1, NULL, &s, &e);
    assert_null(s);
    jc_str(o, "$", "n", 0, "dflt", &s, &e);
    assert_string_equal(s, "dflt");
    jc_bool(o, "$", "z", 1, &b, &e);
    assert_int_equal(b, 1);
    jc_bool(o, "$", "s", 0, &b, &e);
    assert_int_equal(e.count, 4);
    assert_string_equal(e.text, "$.apps[2]: required string \"token\" is missing\n"
                                "$: \"n\" must be a string\n"
                                "$: \"z\" must be true or false\n"
                                "$: \"s\" must be true or false\n");
    json_decref(o);
}

static void test_known_keys(void **state)
{
    static const char *const known[] = {"appid", "token", "aes_key", NULL};
    json_t *o = tu_json("{\"appid\":\"a\",\"tokne\":\"t\",\"aes_key\":\"k\",\"AppId\":1}");
    struct jc_errs e;
    (void)state;

    memset(&e, 0, sizeof(e));
    jc_known_keys(o, "$.apps[0]", known, &e);
    assert_int_equal(e.count, 2);
    assert_string_equal(e.text, "$.apps[0]: unknown key \"tokne\"\n"
                                "$.apps[0]: unknown key \"AppId\"\n");
    json_decref(o);

    o = tu_json("{\"appid\":\"a\",\"token\":\"t\"}");
    memset(&e, 0, sizeof(e));
    jc_known_keys(o, "$", known, &e);
    assert_int_equal(e.count, 0);
    assert_string_equal(e.text, "");
    json_decref(o);
}

static void test_error_buffer_bounded(void **state)
{
    struct jc_errs e;
    (void)state;

    memset(&e, 0, sizeof(e));
    for (int i = 0; i < 1000; i++)
        jc_error(&e, "$.apps[999]", "problem number %d with a long description", i);
    /* Every problem is counted; the text stays NUL-terminated inside its buffer. */
    assert_int_equal(e.count, 1000);
    assert_true(strlen(e.text) < sizeof(e.text));
    assert_true(strlen(e.text) > sizeof(e.text) - 64);
    assert_memory_equal(e.text, "$.apps[999]: problem number 0 with", 34);
    /* A later, short problem does not get spliced after a cut-off line. */
    jc_error(&e, "$", "x");
    assert_int_equal(e.count, 1001);
    assert_null(strstr(e.text, "$: x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_unset_variable_names_path),
        cmocka_unit_test(test_malformed_reference),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_jc_int),
        cmocka_unit_test(test_jc_str_bool),
        cmocka_unit_test(test_known_keys),
        cmocka_unit_test(test_error_buffer_bounded),
    };
    return cmocka_run_group_tests(tests, setup_env, NULL);
}
