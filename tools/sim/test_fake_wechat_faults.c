/*
 * Unit tests of fake_wechat, part 2: fault injection (seeded decisions,
 * drop, 503, latency, users, busy, fail_next order), the admin endpoints,
 * the calls log and counters, and configuration checks.
 */
#include "fake_wechat.h"
#include "fake_wechat_testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEND "/cgi-bin/message/custom/send"

/* N sends; OUT[i] = the errcode of the i-th. */
static void send_n(fw *f, const char *token, int n, int *out)
{
    for (int i = 0; i < n; i++)
        out[i] = fwt_send_text(f, token, FWT_OPENID);
}

static void test_seeded_busy_is_deterministic(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"faults\":{\"busy_rate\":0.5,\"seed\":42}}");
    int a[64], b[64], busy = 0;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    send_n(f, t, 64, a);
    fwt_admin_post(f, "/_sim/faults", "{\"busy_rate\":0.5,\"seed\":42}", 200);
    send_n(f, t, 64, b);
    assert_memory_equal(a, b, sizeof(a));
    for (int i = 0; i < 64; i++) {
        assert_true(a[i] == 0 || a[i] == -1);
        busy += a[i] == -1;
    }
    assert_in_range(busy, 16, 48); /* both outcomes, roughly half each */
    fwt_admin_post(f, "/_sim/faults", "{\"busy_rate\":0.5,\"seed\":43}", 200);
    send_n(f, t, 64, b);
    assert_memory_not_equal(a, b, sizeof(a));
    /* busy_rate also answers typing, never tokens */
    fwt_admin_post(f, "/_sim/faults", "{\"busy_rate\":1}", 200);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/typing", t,
                                   "{\"touser\":\"" FWT_OPENID "\",\"command\":\"Typing\"}"),
                     -1);
    free(t);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    free(t);
}

static void test_drop_5xx_latency(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"faults\":{\"latency_ms\":50}}");
    struct fw_response resp;
    json_t *j, *q;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    q = json_pack("{s:s}", "access_token", t);
    j = fwt_request(f, "POST", SEND, q, NULL, "{}", 2, &resp);
    assert_int_equal(resp.delay_ms, 50);
    json_decref(j);
    fw_response_free(&resp);
    j = fwt_request(f, "GET", "/_sim/faults", NULL, NULL, "", 0, &resp);
    assert_int_equal(resp.delay_ms, 0); /* admin calls are never delayed */
    assert_int_equal(json_integer_value(json_object_get(j, "latency_ms")), 50);
    json_decref(j);
    fw_response_free(&resp);

    fwt_admin_post(f, "/_sim/faults", "{\"drop_rate\":1,\"latency_ms\":5}", 200);
    j = fwt_request(f, "POST", SEND, q, NULL, "{}", 2, &resp);
    assert_true(resp.drop);
    assert_int_equal(resp.delay_ms, 5);
    json_decref(j);
    fw_response_free(&resp);

    fwt_admin_post(f, "/_sim/faults", "{\"http_5xx_rate\":1}", 200);
    j = fwt_request(f, "POST", "/cgi-bin/stable_token", NULL, NULL, "{}", 2, &resp);
    assert_null(j); /* not JSON */
    assert_int_equal(resp.status, 503);
    assert_false(resp.drop);
    assert_string_equal(resp.content_type, "text/html");
    assert_int_equal(resp.delay_ms, 0);
    fw_response_free(&resp);
    json_decref(q);
    free(t);
}

static void test_users_and_fail_next(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"fail_next\":[45015,-1,0,45047]}");
    json_t *j;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    j = fwt_admin_get(f, "/_sim/faults", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "fail_next")), 4);
    json_decref(j);
    /* fail_next applies to sends only, in order; a 0 lets the call through */
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/typing", t,
                                   "{\"touser\":\"" FWT_OPENID "\",\"command\":\"Typing\"}"),
                     0);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 45015);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), -1);
    assert_int_equal(fwt_send_text(f, t, "bad openid"), 40003);
    j = fwt_admin_get(f, "/_sim/faults", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "fail_next")), 1);
    json_decref(j);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 45047);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);

    fwt_admin_post(f, "/_sim/faults", "{\"users\":{\"o-gone\":45015,\"o-full\":45047}}", 200);
    assert_int_equal(fwt_send_text(f, t, "o-gone"), 45015);
    assert_int_equal(fwt_send_text(f, t, "o-full"), 45047);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/typing", t,
                                   "{\"touser\":\"o-gone\",\"command\":\"Typing\"}"),
                     45015);
    /* a bad fault set is refused whole and the old one stays */
    fwt_admin_post(f, "/_sim/faults", "{\"busy_rate\":2}", 400);
    fwt_admin_post(f, "/_sim/faults", "{\"latency\":5}", 400);
    fwt_admin_post(f, "/_sim/faults", "[1]", 400);
    assert_int_equal(fwt_send_text(f, t, "o-gone"), 45015);
    fwt_admin_post(f, "/_sim/faults", "{}", 200);
    assert_int_equal(fwt_send_text(f, t, "o-gone"), 0);
    free(t);
}

static void test_calls_log(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    json_t *calls, *all, *e, *q, *st;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    fx->now += 5;
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);
    assert_int_equal(fwt_send_text(f, t, "bad openid"), 40003);
    assert_int_equal(fwt_post_code(f, SEND, t, "not json"), 47001);
    fwt_admin_post(f, "/_sim/faults", "{\"drop_rate\":1}", 200);
    json_decref(fwt_admin_get(f, "/_sim/stats", NULL)); /* admin calls are not logged */
    {
        struct fw_response resp;
        json_decref(fwt_request(f, "POST", SEND, NULL, NULL, "{}", 2, &resp));
        fw_response_free(&resp);
    }
    fwt_admin_post(f, "/_sim/faults", "{}", 200);

    calls = fwt_admin_get(f, "/_sim/calls", NULL);
    assert_int_equal(json_array_size(calls), 2);
    e = json_array_get(calls, 0);
    assert_string_equal(json_string_value(json_object_get(e, "path")), "/cgi-bin/stable_token");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "body"), "grant_type")),
        "client_credential");
    assert_int_equal(json_integer_value(json_object_get(e, "at_ms")), FWT_T0);
    assert_null(json_object_get(e, "errcode"));
    e = json_array_get(calls, 1);
    assert_string_equal(json_string_value(json_object_get(e, "path")), SEND);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "query"), "access_token")), t);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(e, "body"), "text"), "content")),
                        "hi");
    assert_int_equal(json_integer_value(json_object_get(e, "at_ms")), FWT_T0 + 5);

    q = json_pack("{s:s}", "all", "1");
    all = fwt_admin_get(f, "/_sim/calls", q);
    assert_int_equal(json_array_size(all), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "errcode")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 2), "errcode")), 40003);
    e = json_array_get(all, 3);
    assert_int_equal(json_integer_value(json_object_get(e, "errcode")), 47001);
    assert_true(json_is_null(json_object_get(e, "body")));
    assert_string_equal(json_string_value(json_object_get(e, "raw")), "not json");
    assert_true(json_is_true(json_object_get(json_array_get(all, 4), "dropped")));

    st = fwt_admin_get(f, "/_sim/stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "calls")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "by_errcode"), "0")),
                     2);
    e = json_object_get(json_object_get(st, "by_path"), SEND);
    assert_int_equal(json_integer_value(json_object_get(e, "calls")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "errcodes"), "40003")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(e, "dropped")), 1);
    json_decref(st);

    fwt_admin_post(f, "/_sim/reset", "", 200);
    json_decref(calls);
    calls = fwt_admin_get(f, "/_sim/calls", q);
    assert_int_equal(json_array_size(calls), 0);
    st = fwt_admin_get(f, "/_sim/stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "calls")), 0);
    json_decref(st);
    json_decref(calls);
    json_decref(all);
    json_decref(q);
    free(t);
}

static void test_calls_log_bound(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"calls_log_max_entries\":3}");
    json_t *calls, *st;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    for (int i = 0; i < 5; i++) {
        fx->now++;
        assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);
    }
    calls = fwt_admin_get(f, "/_sim/calls", NULL);
    assert_int_equal(json_array_size(calls), 3); /* the newest three, oldest first */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 0), "at_ms")),
                     FWT_T0 + 3);
    st = fwt_admin_get(f, "/_sim/stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "log_dropped")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "calls")), 6);
    json_decref(st);
    json_decref(calls);
    free(t);
}

static void test_routes_and_admin_errors(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    struct fw_response resp;
    json_t *j;

    j = fwt_request(f, "GET", "/cgi-bin/nope", NULL, NULL, "", 0, &resp);
    assert_int_equal(resp.status, 404);
    json_decref(j);
    fw_response_free(&resp);
    j = fwt_request(f, "GET", "/_sim/reset", NULL, NULL, "", 0, &resp);
    assert_int_equal(resp.status, 405);
    json_decref(j);
    fw_response_free(&resp);
    j = fwt_request(f, "GET", "/_sim/nope", NULL, NULL, "", 0, &resp);
    assert_int_equal(resp.status, 404);
    json_decref(j);
    fw_response_free(&resp);
    /* the business/ aliases answer like the classic paths */
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/business/send", NULL, "{}"), 41001);
}

static int check(const char *text, struct jc_errs *e)
{
    json_t *cfg = json_loads(text, 0, NULL);
    int rc;
    assert_non_null(cfg);
    memset(e, 0, sizeof(*e));
    rc = fw_config_check(cfg, e);
    json_decref(cfg);
    return rc;
}

static void test_config_checks(void **state)
{
    struct jc_errs e;
    (void)state;
    assert_int_equal(check("{}", &e), 0);
    assert_int_equal(check("{\"listen\":\"127.0.0.1:0\",\"threads\":2,\"token_ttl_s\":60,"
                           "\"apps\":[{\"appid\":\"wx1\",\"secret\":\"s\"}],"
                           "\"faults\":{\"latency_ms\":5,\"users\":{\"o1\":45015}}}",
                           &e),
                     0);
    assert_int_equal(check("{\"tokn_ttl_s\":60}", &e), -1);
    assert_non_null(strstr(e.text, "tokn_ttl_s"));
    assert_int_equal(check("{\"apps\":[{\"appid\":\"wx1\"}]}", &e), -1);
    assert_non_null(strstr(e.text, "$.apps[0]"));
    assert_int_equal(check("{\"apps\":[]}", &e), -1);
    assert_int_equal(check("{\"faults\":{\"drop_rate\":-0.1,\"users\":{\"o\":\"x\"}}}", &e), -1);
    assert_int_equal(e.count, 2);
    assert_non_null(strstr(e.text, "$.faults"));
    assert_int_equal(check("{\"fail_next\":[1],\"faults\":{\"fail_next\":[2]}}", &e), -1);
    assert_int_equal(check("{\"token_length\":8}", &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seeded_busy_is_deterministic, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_drop_5xx_latency, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_users_and_fail_next, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_calls_log, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_calls_log_bound, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_admin_errors, fwt_setup, fwt_teardown),
        cmocka_unit_test(test_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
