/*
 * Unit tests of fake_wechat (the protocol logic of `wxbridge-sim api`),
 * part 1: stable/legacy token rules, 41001/40001/42001, every message type
 * valid and invalid, media upload/get and the media_id check, and the
 * multipart parser. Driven through fw_handle() with the fake clock and RNG
 * of fake_wechat_testutil. Faults, the calls log and the config are in
 * test_fake_wechat_faults.c.
 */
#include "fake_wechat.h"
#include "fake_wechat_media.h"
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

/* ---- tokens ---- */

static void test_stable_same_then_renewed(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    char *t1, *t2, *t3;
    long long exp;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t1, &exp), 0);
    assert_true(strlen(t1) >= 136);
    assert_int_equal(exp, 7200);
    fx->now += 100 * 1000;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t2, &exp), 0);
    assert_string_equal(t1, t2);
    assert_int_equal(exp, 7100);
    free(t2);
    /* 299 s left: a new token; the old one stays valid until its own expiry. */
    fx->now = FWT_T0 + (7200 - 299) * 1000LL;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t2, &exp), 0);
    assert_string_not_equal(t1, t2);
    assert_int_equal(exp, 7200);
    assert_int_equal(fwt_send_text(f, t1, FWT_OPENID), 0);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t3, &exp), 0);
    assert_string_equal(t2, t3);
    fx->now = FWT_T0 + 7200 * 1000LL;
    assert_int_equal(fwt_send_text(f, t1, FWT_OPENID), 42001);
    assert_int_equal(fwt_send_text(f, t2, FWT_OPENID), 0);
    free(t1);
    free(t2);
    free(t3);
}

static void test_force_refresh(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"force_refresh_daily_limit\":3}");
    char *t1, *t2, *t3, *t4;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t1, NULL), 0);
    fx->now += 40 * 1000;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t2, NULL), 0);
    assert_string_not_equal(t1, t2);
    assert_int_equal(fwt_send_text(f, t1, FWT_OPENID), 40001);
    assert_int_equal(fwt_send_text(f, t2, FWT_OPENID), 0);
    fx->now += 29 * 1000; /* closer than 30 s to the previous forced refresh */
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t3, NULL), 45011);
    free(t3);
    assert_int_equal(fwt_send_text(f, t2, FWT_OPENID), 0);
    fx->now += 1000;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t3, NULL), 0);
    assert_int_equal(fwt_send_text(f, t2, FWT_OPENID), 40001);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t4, NULL), 0);
    assert_string_equal(t3, t4); /* normal mode now hands out the refreshed one */
    free(t4);
    fx->now += 30 * 1000;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t4, NULL), 0);
    free(t4);
    fx->now += 30 * 1000; /* the 4th forced refresh of the day */
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t4, NULL), 45009);
    free(t4);
    fx->now += 86400 * 1000LL;
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 1, &t4, NULL), 0);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
}

static void test_legacy_grace(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    char *s1, *l1, *l2, *l3;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &s1, NULL), 0);
    assert_int_equal(fwt_legacy(f, FWT_APPID, FWT_SECRET, &l1), 0);
    assert_string_not_equal(s1, l1);
    fx->now += 1000;
    assert_int_equal(fwt_legacy(f, FWT_APPID, FWT_SECRET, &l2), 0);
    assert_string_not_equal(l1, l2);
    assert_int_equal(fwt_send_text(f, l1, FWT_OPENID), 0); /* within the 300 s grace */
    assert_int_equal(fwt_send_text(f, l2, FWT_OPENID), 0);
    fx->now += 300 * 1000;
    assert_int_equal(fwt_send_text(f, l1, FWT_OPENID), 40001);
    assert_int_equal(fwt_send_text(f, l2, FWT_OPENID), 0);
    assert_int_equal(fwt_legacy(f, FWT_APPID, FWT_SECRET, &l3), 0);
    assert_int_equal(fwt_send_text(f, l2, FWT_OPENID), 0);
    free(l1);
    assert_int_equal(fwt_legacy(f, FWT_APPID, FWT_SECRET, &l1), 0); /* a fourth one */
    assert_int_equal(fwt_send_text(f, l2, FWT_OPENID), 40001); /* two generations old: at once */
    assert_int_equal(fwt_send_text(f, l3, FWT_OPENID), 0);
    assert_int_equal(fwt_send_text(f, l1, FWT_OPENID), 0);
    assert_int_equal(fwt_send_text(f, s1, FWT_OPENID),
                     0); /* the families do not touch each other */
    free(s1);
    free(l1);
    free(l2);
    free(l3);
}

static void test_token_errors(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"token_ttl_s\":600}");
    struct fw_response resp;
    char *t, *t2;
    json_t *j;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    assert_int_equal(fwt_send_text(f, NULL, FWT_OPENID), 41001);
    assert_int_equal(fwt_send_text(f, "", FWT_OPENID), 41001);
    assert_int_equal(fwt_send_text(f, "not-a-token", FWT_OPENID), 40001);
    fx->now += 600 * 1000;
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 42001);
    free(t);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);
    fwt_admin_post(f, "/_sim/expire_tokens", "", 200);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 42001);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t2, NULL), 0);
    assert_string_not_equal(t, t2);
    fwt_admin_post(f, "/_sim/invalidate_tokens", "", 200);
    assert_int_equal(fwt_send_text(f, t2, FWT_OPENID), 40001);
    free(t);
    free(t2);
    /* credentials */
    assert_int_equal(fwt_stable(f, FWT_APPID, "wrong", 0, NULL, NULL), 40125);
    assert_int_equal(fwt_stable(f, "", FWT_SECRET, 0, NULL, NULL), 41002);
    assert_int_equal(fwt_stable(f, FWT_APPID, "", 0, NULL, NULL), 41004);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/stable_token", NULL,
                                   "{\"grant_type\":\"password\",\"appid\":\"" FWT_APPID
                                   "\",\"secret\":\"" FWT_SECRET "\"}"),
                     40002);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/stable_token", NULL, "{nope"), 47001);
    /* methods */
    j = fwt_request(f, "GET", "/cgi-bin/stable_token", NULL, NULL, "", 0, &resp);
    assert_int_equal(json_integer_value(json_object_get(j, "errcode")), 43002);
    json_decref(j);
    fw_response_free(&resp);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/token", NULL, "{}"), 43001);
}

static void test_listed_apps(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"apps\":[{\"appid\":\"wxone\",\"secret\":\"s1\"}]}");
    char *t;

    assert_int_equal(fwt_stable(f, "wxone", "s1", 0, &t, NULL), 0);
    free(t);
    assert_int_equal(fwt_stable(f, "wxone", "wxone-secret", 0, NULL, NULL), 40125);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, NULL, NULL), 40013);
    assert_int_equal(fwt_legacy(f, "wxtwo", "wxtwo-secret", &t), 40013);
    free(t);
}

/* ---- messages ---- */

static void test_send_types(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"text_max_bytes\":10}");
    const char *path = "/cgi-bin/message/custom/send";
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"link\",\"link\":{\"title\":"
                                   "\"T\",\"description\":\"D\",\"url\":\"https://x.example/\","
                                   "\"thumb_url\":\"https://x.example/t.png\"}}"),
                     0);
    assert_int_equal(fwt_send_text(f, t, FWT_OPENID), 0);
    /* refusals, one rule at a time */
    assert_int_equal(fwt_post_code(f, path, t, ""), 44002);
    assert_int_equal(fwt_post_code(f, path, t, "{\"touser\":"), 47001);
    assert_int_equal(fwt_post_code(f, path, t, "[1]"), 47001);
    assert_int_equal(fwt_send_text(f, t, ""), 40003);
    assert_int_equal(fwt_send_text(f, t, "not an openid"), 40003);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"msgtype\":\"text\",\"text\":{\"content\":\"x\"}}"), 40003);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"voice\"}"), 40008);
    assert_int_equal(fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\"}"), 40008);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"text\"}"), 47001);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"text\",\"text\":{}}"),
                     47001);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"text\",\"text\":{\"content\":\"\"}}"),
                     44004);
    assert_int_equal(
        fwt_post_code(f, path, t,
                      "{\"touser\":\"" FWT_OPENID
                      "\",\"msgtype\":\"text\",\"text\":{\"content\":\"01234567890\"}}"),
        45002);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"image\",\"image\":{\"media_id\":\"nope\"}}"),
                     40007);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"image\",\"image\":{}}"),
                     47001);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID
                                   "\",\"msgtype\":\"link\",\"link\":{\"title\":"
                                   "\"T\",\"description\":\"D\",\"thumb_url\":\"u\"}}"),
                     47001);
    assert_int_equal(
        fwt_post_code(f, path, t,
                      "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"miniprogrampage\","
                      "\"miniprogrampage\":{\"title\":\"T\",\"thumb_media_id\":\"m\"}}"),
        47001);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"miniprogrampage\","
                                   "\"miniprogrampage\":{\"title\":\"T\",\"pagepath\":\"p/i\","
                                   "\"thumb_media_id\":\"unknown\"}}"),
                     40007);
    free(t);
}

static void test_accept_any_media_id(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"accept_any_media_id\":true}");
    const char *path = "/cgi-bin/message/custom/send";
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    assert_int_equal(
        fwt_post_code(f, path, t,
                      "{\"touser\":\"" FWT_OPENID
                      "\",\"msgtype\":\"image\",\"image\":{\"media_id\":\"whatever\"}}"),
        0);
    assert_int_equal(fwt_post_code(f, path, t,
                                   "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"miniprogrampage\","
                                   "\"miniprogrampage\":{\"title\":\"T\",\"pagepath\":\"p/i\","
                                   "\"thumb_media_id\":\"any\"}}"),
                     0);
    free(t);
}

static void test_typing(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    const char *path = "/cgi-bin/message/custom/typing";
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\",\"command\":\"Typing\"}"), 0);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\",\"command\":\"CancelTyping\"}"),
        0);
    assert_int_equal(
        fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\",\"command\":\"typing\"}"), 45072);
    assert_int_equal(fwt_post_code(f, path, t, "{\"touser\":\"" FWT_OPENID "\"}"), 45072);
    assert_int_equal(fwt_post_code(f, path, t, "{\"touser\":\"a b\",\"command\":\"Typing\"}"),
                     40003);
    assert_int_equal(
        fwt_post_code(f, path, NULL, "{\"touser\":\"" FWT_OPENID "\",\"command\":\"Typing\"}"),
        41001);
    free(t);
}

/* ---- media ---- */

#define BOUNDARY "----wxbsimBOUNDARY"
#define MP_CTYPE "multipart/form-data; boundary=" BOUNDARY

static size_t multipart(char *out, size_t cap, const char *field, const char *data, size_t len)
{
    size_t n = (size_t)snprintf(out, cap,
                                "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"other\""
                                "\r\n\r\nx\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; "
                                "name=\"%s\"; filename=\"pic.png\"\r\nContent-Type: image/png"
                                "\r\n\r\n",
                                field);
    memcpy(out + n, data, len);
    n += len;
    n += (size_t)snprintf(out + n, cap - n, "\r\n--" BOUNDARY "--\r\n");
    return n;
}

static json_t *upload(fw *f, const char *token, const char *type, const char *field,
                      const char *data, size_t len, struct fw_response *resp)
{
    char body[1024];
    size_t n = multipart(body, sizeof(body), field, data, len);
    json_t *q = json_pack("{s:s,s:s}", "access_token", token, "type", type);
    json_t *j = fwt_request(f, "POST", "/cgi-bin/media/upload", q, MP_CTYPE, body, n, resp);
    json_decref(q);
    return j;
}

static void test_media_round_trip(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, NULL);
    static const char png[] = "\x89PNG\r\n\x1a\n\0binary--\r\nbytes";
    struct fw_response resp;
    char *t, body[512];
    const char *id;
    json_t *j, *q;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    j = upload(f, t, "image", "media", png, sizeof(png) - 1, &resp);
    fw_response_free(&resp);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "image");
    assert_int_equal(json_integer_value(json_object_get(j, "created_at")), FWT_T0 / 1000);
    id = json_string_value(json_object_get(j, "media_id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), FWMEDIA_ID_LEN);

    q = json_pack("{s:s,s:s}", "access_token", t, "media_id", id);
    json_decref(fwt_request(f, "GET", "/cgi-bin/media/get", q, NULL, "", 0, &resp));
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "image/png");
    assert_string_equal(resp.filename, "pic.png");
    assert_int_equal(resp.body_len, sizeof(png) - 1);
    assert_memory_equal(resp.body, png, sizeof(png) - 1);
    fw_response_free(&resp);

    snprintf(body, sizeof(body),
             "{\"touser\":\"" FWT_OPENID
             "\",\"msgtype\":\"image\",\"image\":{\"media_id\":\"%s\"}}",
             id);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/send", t, body), 0);
    snprintf(body, sizeof(body),
             "{\"touser\":\"" FWT_OPENID "\",\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":"
             "{\"title\":\"T\",\"pagepath\":\"pages/i\",\"thumb_media_id\":\"%s\"}}",
             id);
    assert_int_equal(fwt_post_code(f, "/cgi-bin/message/custom/send", t, body), 0);

    /* three days later it is gone (and the token too: take a new one) */
    fx->now += 3 * 86400 * 1000LL;
    free(t);
    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
    json_object_set_new(q, "access_token", json_string(t));
    json_decref(fwt_request(f, "GET", "/cgi-bin/media/get", q, NULL, "", 0, &resp));
    assert_true(strncmp(resp.content_type, "application/json", 16) == 0);
    assert_non_null(strstr(resp.body, "40007"));
    fw_response_free(&resp);
    json_decref(q);
    json_decref(j);
    free(t);
}

static void test_media_refusals(void **state)
{
    struct fwt_fixture *fx = *state;
    fw *f = fwt_make(fx, "{\"media_max_bytes\":8}");
    struct fw_response resp;
    struct fw_request req;
    json_t *j, *q;
    char *t;

    assert_int_equal(fwt_stable(f, FWT_APPID, FWT_SECRET, 0, &t, NULL), 0);
#define UPLOAD_CODE(type, field, data, len, want)                                                  \
    do {                                                                                           \
        j = upload(f, t, type, field, data, len, &resp);                                           \
        assert_int_equal(json_integer_value(json_object_get(j, "errcode")), want);                 \
        json_decref(j);                                                                            \
        fw_response_free(&resp);                                                                   \
    } while (0)
    UPLOAD_CODE("voice", "media", "abc", 3, 40004);
    UPLOAD_CODE("image", "file", "abc", 3, 41005);
    UPLOAD_CODE("image", "media", "", 0, 44001);
    UPLOAD_CODE("image", "media", "123456789", 9, 40006);
    UPLOAD_CODE("image", "media", "12345678", 8, 0);
    /* a body the HTTP layer stopped keeping */
    q = json_pack("{s:s,s:s}", "access_token", t, "type", "image");
    req = (struct fw_request){"POST", "/cgi-bin/media/upload", q, "", 0, MP_CTYPE, 1};
    fw_handle(f, &req, &resp);
    assert_non_null(strstr(resp.body, "40006"));
    fw_response_free(&resp);
    /* not multipart at all */
    j = fwt_request(f, "POST", "/cgi-bin/media/upload", q, "application/octet-stream", "abc", 3,
                    &resp);
    assert_int_equal(json_integer_value(json_object_get(j, "errcode")), 41005);
    json_decref(j);
    fw_response_free(&resp);
    json_decref(q);
    q = json_pack("{s:s,s:s}", "access_token", t, "media_id", "unknown");
    j = fwt_request(f, "GET", "/cgi-bin/media/get", q, NULL, "", 0, &resp);
    assert_int_equal(json_integer_value(json_object_get(j, "errcode")), 40007);
    json_decref(j);
    fw_response_free(&resp);
    json_decref(q);
    free(t);
}

static void test_multipart_parser(void **state)
{
    struct fwmedia_part p;
    const char *b1 = "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"media\"; "
                     "filename=\"a \\\"q\\\".jpg\"\r\n\r\nDATA\r\n--xyz--\r\n";
    const char *b2 = "--xyz\r\nContent-Disposition: form-data; name=\"media\"\r\n\r\nDATA";
    const char *b3 = "--xyz\r\ncontent-disposition: form-data; filename=\"f\"; name=media\r\n"
                     "content-type: image/jpeg \r\n\r\n\r\n--xyz--";
    (void)state;
    assert_int_equal(fwmedia_multipart_field("multipart/form-data; boundary=\"xyz\"", b1,
                                             strlen(b1), "media", &p),
                     0);
    assert_int_equal(p.len, 4);
    assert_memory_equal(p.data, "DATA", 4);
    assert_string_equal(p.filename, "a \"q\".jpg");
    assert_string_equal(p.content_type, "");
    assert_int_equal(
        fwmedia_multipart_field("multipart/form-data; boundary=xyz", b2, strlen(b2), "media", &p),
        -1); /* no closing delimiter */
    assert_int_equal(
        fwmedia_multipart_field("Multipart/Form-Data;BOUNDARY=xyz", b3, strlen(b3), "media", &p),
        0);
    assert_int_equal(p.len, 0);
    assert_string_equal(p.content_type, "image/jpeg");
    assert_int_equal(fwmedia_multipart_field("text/plain", b1, strlen(b1), "media", &p), -1);
    assert_int_equal(
        fwmedia_multipart_field("multipart/form-data; boundary=xyz", b1, strlen(b1), "x", &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stable_same_then_renewed, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_force_refresh, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_legacy_grace, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_token_errors, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_listed_apps, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_send_types, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_accept_any_media_id, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_typing, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_media_round_trip, fwt_setup, fwt_teardown),
        cmocka_unit_test_setup_teardown(test_media_refusals, fwt_setup, fwt_teardown),
        cmocka_unit_test(test_multipart_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
