/*
 * test_reply_cmd: reply commands, API bodies, result and dead-letter records
 * (consumer/reply_cmd): every file of tests/replier/commands/ (valid_*.json
 * must parse, invalid_<reason>__*.json must be refused with that reason; the
 * same files hold schema/reply.v1.schema.json to the same verdicts, see
 * check_schema.py), the exact details and limits, the WeChat bodies byte for
 * byte, peeking into refused commands, results and their parsing back, dead
 * letters, and the schemas' limits against the C constants.
 */
#include "reply_cmd.h"

#include "b64.h"
#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CMD_HEAD                                                                                   \
    "{\"schema\":\"wxbridge.reply.v1\",\"id\":\"r:1\",\"appid\":\"wx1\",\"touser\":\"o1\","

struct outcome {
    int rc;
    char reason[REPLY_REASON_MAX];
    char detail[512];
};

/* Parses TEXT, checks the invariants of both outcomes, frees what it parsed. */
static struct outcome parse_text(const char *buf, size_t len)
{
    struct outcome o;
    struct reply_cmd c;

    memset(&o, 0, sizeof(o));
    memset(&c, 0x5A, sizeof(c)); /* parse must set every field */
    o.rc = reply_cmd_parse(buf, len, &c, o.reason, sizeof(o.reason), o.detail, sizeof(o.detail));
    if (o.rc == 0) {
        assert_non_null(c.root);
        assert_string_equal(o.reason, "");
        assert_string_equal(o.detail, "");
    } else {
        assert_int_equal(o.rc, -1);
        assert_null(c.root);
        assert_null(c.id);
        assert_true(o.reason[0] != '\0');
        if (strncmp(o.detail, "$", 1) != 0)
            fail_msg("detail does not start with a JSON path: %s", o.detail);
    }
    reply_cmd_free(&c);
    assert_null(c.root);
    return o;
}

static struct outcome parse_str(const char *s)
{
    return parse_text(s, strlen(s));
}

static void expect_refusal(const char *cmd, const char *reason, const char *detail)
{
    struct outcome o = parse_str(cmd);
    if (o.rc != -1 || strcmp(o.reason, reason) != 0)
        fail_msg("%s: expected %s, got rc %d reason '%s' (%s)", cmd, reason, o.rc, o.reason,
                 o.detail);
    if (detail && strcmp(o.detail, detail) != 0)
        fail_msg("%s: detail\n  got      %s\n  expected %s", cmd, o.detail, detail);
}

static void test_command_files(void **state)
{
    DIR *d = opendir(WXB_REPLIER_COMMANDS);
    struct dirent *de;
    int valid = 0, invalid = 0;
    (void)state;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t nlen = strlen(name), len = 0;
        char path[1024], want[REPLY_REASON_MAX];
        struct reply_cmd c;
        char reason[REPLY_REASON_MAX], detail[512];
        char *buf;
        int rc;

        if (nlen < 5 || strcmp(name + nlen - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", WXB_REPLIER_COMMANDS, name);
        buf = tu_read_file(path, &len);
        assert_non_null(buf);
        rc = reply_cmd_parse(buf, len, &c, reason, sizeof(reason), detail, sizeof(detail));
        if (strncmp(name, "valid_", 6) == 0) {
            char *body;
            json_t *j;
            if (rc != 0)
                fail_msg("%s refused: %s (%s)", name, reason, detail);
            body = reply_cmd_api_body(&c, "MEDIA_FROM_UPLOAD");
            assert_non_null(body);
            j = tu_json(body);
            assert_string_equal(json_string_value(json_object_get(j, "touser")), c.touser);
            assert_null(json_object_get(j, "schema"));
            assert_null(json_object_get(j, "id"));
            json_decref(j);
            free(body);
            reply_cmd_free(&c);
            valid++;
        } else if (strncmp(name, "invalid_", 8) == 0) {
            const char *sep = strstr(name + 8, "__");
            assert_non_null(sep); /* invalid_<reason>__<what>.json */
            assert_true((size_t)(sep - (name + 8)) < sizeof(want));
            snprintf(want, sizeof(want), "%.*s", (int)(sep - (name + 8)), name + 8);
            if (rc != -1 || strcmp(reason, want) != 0)
                fail_msg("%s: expected %s, got rc %d reason '%s' (%s)", name, want, rc, reason,
                         detail);
            assert_null(c.root);
            invalid++;
        } else {
            fail_msg("%s: neither valid_ nor invalid_", name);
        }
        free(buf);
    }
    closedir(d);
    print_message("commands/: %d valid, %d invalid files\n", valid, invalid);
    assert_true(valid >= 20);
    assert_true(invalid >= 60);
}

static void test_fields(void **state)
{
    const char *s = CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"},"
                             "\"in_reply_to\":\"wx1:m:1\"}";
    struct reply_cmd c;
    char reason[32], detail[256];
    (void)state;

    assert_int_equal(
        reply_cmd_parse(s, strlen(s), &c, reason, sizeof(reason), detail, sizeof(detail)), 0);
    assert_string_equal(c.id, "r:1");
    assert_string_equal(c.appid, "wx1");
    assert_string_equal(c.touser, "o1");
    assert_string_equal(c.msgtype, "text");
    assert_string_equal(c.in_reply_to, "wx1:m:1");
    assert_int_equal(c.kind, REPLY_TEXT);
    assert_null(c.image_url);
    assert_null(c.typing_command);
    reply_cmd_free(&c);
    reply_cmd_free(&c); /* idempotent */
    reply_cmd_free(NULL);

    s = CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"url\":\"https://e.com/a.png\"},"
                 "\"in_reply_to\":null}";
    assert_int_equal(reply_cmd_parse(s, strlen(s), &c, NULL, 0, NULL, 0), 0);
    assert_int_equal(c.kind, REPLY_IMAGE);
    assert_string_equal(c.image_url, "https://e.com/a.png");
    assert_null(c.in_reply_to);
    reply_cmd_free(&c);

    s = CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"media_id\":\"M\"}}";
    assert_int_equal(reply_cmd_parse(s, strlen(s), &c, NULL, 0, NULL, 0), 0);
    assert_null(c.image_url);
    reply_cmd_free(&c);

    s = CMD_HEAD "\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":{\"title\":\"t\","
                 "\"pagepath\":\"p\",\"thumb_url\":\"http://e.com/t.png\"}}";
    assert_int_equal(reply_cmd_parse(s, strlen(s), &c, NULL, 0, NULL, 0), 0);
    assert_int_equal(c.kind, REPLY_MINIPROGRAMPAGE);
    assert_string_equal(c.image_url, "http://e.com/t.png");
    reply_cmd_free(&c);

    s = CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"CancelTyping\"}";
    assert_int_equal(reply_cmd_parse(s, strlen(s), &c, NULL, 0, NULL, 0), 0);
    assert_int_equal(c.kind, REPLY_TYPING);
    assert_string_equal(c.typing_command, "CancelTyping");
    reply_cmd_free(&c);

    s = CMD_HEAD "\"msgtype\":\"link\",\"link\":{\"title\":\"t\",\"description\":\"\","
                 "\"url\":\"u\",\"thumb_url\":\"\"}}";
    assert_int_equal(reply_cmd_parse(s, strlen(s), &c, NULL, 0, NULL, 0), 0);
    assert_int_equal(c.kind, REPLY_LINK);
    assert_null(c.image_url); /* a link's thumb_url is fetched by WeChat, not uploaded */
    reply_cmd_free(&c);

    assert_string_equal(reply_kind_name(REPLY_TEXT), "text");
    assert_string_equal(reply_kind_name(REPLY_MINIPROGRAMPAGE), "miniprogrampage");
    assert_string_equal(reply_kind_name(REPLY_TYPING), "typing");
    assert_string_equal(reply_kind_name((enum reply_kind)99), "unknown");
}

static void test_details(void **state)
{
    (void)state;
    expect_refusal("[]", "schema", "$: must be an object");
    expect_refusal("{\"id\":\"x\"}", "schema", "$.schema: required, must be \"wxbridge.reply.v1\"");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1 \"}", "schema",
                   "$.schema: must be \"wxbridge.reply.v1\"");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\"}", "missing_field",
                   "$.id: required string (1-128 characters) is missing");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\",\"id\":7}", "bad_field",
                   "$.id: must be a string of 1-128 characters");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"\"}}", "bad_field",
                   "$.text.content: must be a non-empty string of 1-8192 characters (has 0)");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\",\"id\":\"i\",\"appid\":\"wx-1\"}",
                   "bad_field", "$.appid: must be 1-64 characters of [A-Za-z0-9_]");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\",\"id\":\"i\",\"appid\":\"w\","
                   "\"touser\":\"a b\"}",
                   "bad_field",
                   "$.touser: must be 1-128 printable ASCII characters without spaces");
    expect_refusal(CMD_HEAD "\"msgtype\":\"voice\"}", "unknown_msgtype",
                   "$.msgtype: unknown msgtype \"voice\" (expected text, image, link, "
                   "miniprogrampage or typing)");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"},\"image\":{}}",
                   "schema", "$.image: not allowed with msgtype \"text\"");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"},\"extra\":1}",
                   "schema", "$.extra: unknown key");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"},\"command\":\"x\"}",
                   "schema", "$.command: only allowed with msgtype \"typing\"");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\",\"y\":1}}", "schema",
                   "$.text.y: unknown key");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\"}", "missing_field",
                   "$.text: required object for msgtype \"text\" is missing");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":1}", "bad_field",
                   "$.text: must be an object");
    expect_refusal(CMD_HEAD "\"msgtype\":\"image\",\"image\":{}}", "missing_field",
                   "$.image.media_id: required (or \"url\" instead) is missing");
    expect_refusal(CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"media_id\":\"m\",\"url\":\"u\"}}",
                   "schema", "$.image: must have only one of \"media_id\" and \"url\"");
    expect_refusal(CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"url\":\"file:///etc/passwd\"}}",
                   "bad_field", "$.image.url: must be a URL starting with http:// or https://");
    expect_refusal(CMD_HEAD "\"msgtype\":\"typing\"}", "missing_field",
                   "$.command: required (\"Typing\" or \"CancelTyping\") for msgtype \"typing\" "
                   "is missing");
    expect_refusal(CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"typing\"}", "bad_field",
                   "$.command: must be \"Typing\" or \"CancelTyping\"");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"a\\u0000b\"}}",
                   "bad_field", "$.text.content: must not contain U+0000");
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"},"
                            "\"in_reply_to\":[]}",
                   "bad_field", "$.in_reply_to: must be null or a string of 1-256 characters");
    /* A U+0000 inside schema or msgtype is not the expected value. */
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\\u0000\"}", "schema", NULL);
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\\u0000\",\"text\":{\"content\":\"x\"}}",
                   "unknown_msgtype", NULL);
    expect_refusal(CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"Typing\\u0000\"}", "bad_field",
                   NULL);
    /* The first failure in the documented order wins: id before appid before msgtype. */
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\",\"appid\":\"-\",\"msgtype\":\"v\"}",
                   "missing_field", "$.id: required string (1-128 characters) is missing");
    expect_refusal("{\"schema\":\"wxbridge.reply.v1\",\"id\":\"\",\"appid\":\"-\"}", "bad_field",
                   "$.id: must be a non-empty string of 1-128 characters (has 0)");
}

static void test_not_json(void **state)
{
    struct outcome o;
    (void)state;

    /* What Python's json would take but jansson (and so the replier) refuses. */
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"a\",\"content\":\"b\"}}",
                   "not_json", NULL);
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"\\ud800\"}}", "not_json",
                   NULL);
    expect_refusal(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"},\"n\":1e999}",
                   "not_json", NULL);
    o = parse_str("{\"schema\":");
    assert_string_equal(o.reason, "not_json");
    assert_non_null(strstr(o.detail, "$: not JSON: "));
    assert_non_null(strstr(o.detail, "(line 1, column "));
    o = parse_text(NULL, 0);
    assert_string_equal(o.reason, "not_json");
    assert_string_equal(o.detail, "$: empty command");
    /* A raw NUL byte (not the escape) is never JSON, even after the value. */
    {
        static const char with_nul[] = CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"Typing\"}";
        o = parse_text(with_nul, sizeof(with_nul) - 1);
        assert_int_equal(o.rc, 0);
        o = parse_text(with_nul, sizeof(with_nul)); /* the terminating NUL included */
        assert_string_equal(o.reason, "not_json");
    }
}

/* A valid text command of exactly LEN bytes (padded with spaces), malloc'd. */
static char *command_of_size(size_t len)
{
    const char *s = CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"x\"}}";
    size_t n = strlen(s);
    char *buf = malloc(len);

    assert_true(len >= n);
    assert_non_null(buf);
    memcpy(buf, s, n - 1);
    memset(buf + n - 1, ' ', len - n);
    buf[len - 1] = '}';
    return buf;
}

static void test_size_limit(void **state)
{
    char *buf;
    struct outcome o;
    (void)state;

    buf = command_of_size(REPLY_CMD_MAX_BYTES);
    o = parse_text(buf, REPLY_CMD_MAX_BYTES);
    assert_int_equal(o.rc, 0);
    free(buf);
    buf = command_of_size(REPLY_CMD_MAX_BYTES + 1);
    o = parse_text(buf, REPLY_CMD_MAX_BYTES + 1);
    assert_string_equal(o.reason, "too_large");
    assert_string_equal(o.detail, "$: the command has 65537 bytes, more than the 65536 allowed");
    free(buf);
}

static void test_length_boundaries(void **state)
{
    char *buf = malloc(3 * 9000 + 256), *p;
    struct outcome o;
    (void)state;

    /* text.content: 8192 three-byte characters pass, 8193 do not (characters, not bytes). */
    for (int n = 8192; n <= 8193; n++) {
        p = buf +
            snprintf(buf, 256, "%s", CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"");
        for (int i = 0; i < n; i++) {
            memcpy(p, "\xe4\xb8\xad", 3);
            p += 3;
        }
        memcpy(p, "\"}}", 4);
        o = parse_str(buf);
        if (n == 8192)
            assert_int_equal(o.rc, 0);
        else
            assert_string_equal(o.detail, "$.text.content: must be a non-empty string of "
                                          "1-8192 characters (has 8193)");
    }
    /* id: 128 four-byte characters pass, 129 do not. */
    for (int n = 128; n <= 129; n++) {
        p = buf + snprintf(buf, 256, "{\"schema\":\"wxbridge.reply.v1\",\"id\":\"");
        for (int i = 0; i < n; i++) {
            memcpy(p, "\xf0\x9f\x98\x80", 4);
            p += 4;
        }
        snprintf(p, 256,
                 "\",\"appid\":\"wx\",\"touser\":\"o\",\"msgtype\":\"typing\","
                 "\"command\":\"Typing\"}");
        o = parse_str(buf);
        assert_int_equal(o.rc, n == 128 ? 0 : -1);
    }
    /* image.url: 2048 characters pass, 2049 do not. */
    for (int n = 2048; n <= 2049; n++) {
        int head = snprintf(buf, 256, "%s",
                            CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"url\":\"https://e/");
        int pre = (int)strlen("https://e/");
        memset(buf + head, 'a', (size_t)(n - pre));
        memcpy(buf + head + n - pre, "\"}}", 4);
        o = parse_str(buf);
        assert_int_equal(o.rc, n == 2048 ? 0 : -1);
    }
    free(buf);
}

static void test_not_nul_terminated(void **state)
{
    const char *s = CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"Typing\"}GARBAGE";
    size_t len = strlen(s) - strlen("GARBAGE");
    char *copy = malloc(len); /* exactly LEN bytes: ASan catches a read past them */
    struct outcome o;
    (void)state;

    assert_non_null(copy);
    memcpy(copy, s, len);
    o = parse_text(copy, len);
    assert_int_equal(o.rc, 0);
    o = parse_text(copy, len - 1); /* cut: no closing brace */
    assert_string_equal(o.reason, "not_json");
    free(copy);
}

static void test_small_error_buffers(void **state)
{
    struct reply_cmd c;
    char reason[4], detail[8];
    (void)state;

    assert_int_equal(reply_cmd_parse("[", 1, &c, reason, sizeof(reason), detail, sizeof(detail)),
                     -1);
    assert_string_equal(reason, "not");
    assert_int_equal(strlen(detail), 7);
    assert_int_equal(reply_cmd_parse("[", 1, &c, NULL, 0, NULL, 0), -1);
}

static void expect_body(const char *cmd, const char *media_id, const char *want)
{
    struct reply_cmd c;
    char reason[32], detail[256];
    char *body;

    if (reply_cmd_parse(cmd, strlen(cmd), &c, reason, sizeof(reason), detail, sizeof(detail)))
        fail_msg("%s: %s", cmd, detail);
    body = reply_cmd_api_body(&c, media_id);
    if (!want) {
        assert_null(body);
    } else {
        assert_non_null(body);
        if (strcmp(body, want) != 0)
            fail_msg("body\n  got      %s\n  expected %s", body, want);
    }
    free(body);
    reply_cmd_free(&c);
}

static void test_api_body(void **state)
{
    (void)state;
    expect_body(CMD_HEAD "\"msgtype\":\"text\",\"text\":{\"content\":\"\\u4f60\\u597d\\/ \\\" "
                         "\\n\\u0001\"},\"in_reply_to\":\"x\"}",
                "IGNORED",
                "{\"touser\":\"o1\",\"msgtype\":\"text\",\"text\":{\"content\":"
                "\"\xe4\xbd\xa0\xe5\xa5\xbd/ \\\" \\n\\u0001\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"media_id\":\"M1\"}}", NULL,
                "{\"touser\":\"o1\",\"msgtype\":\"image\",\"image\":{\"media_id\":\"M1\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"url\":\"https://e/a.png\"}}", "UP1",
                "{\"touser\":\"o1\",\"msgtype\":\"image\",\"image\":{\"media_id\":\"UP1\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"image\",\"image\":{\"url\":\"https://e/a.png\"}}", NULL,
                NULL);
    expect_body(CMD_HEAD "\"msgtype\":\"link\",\"link\":{\"title\":\"T\",\"description\":\"D\","
                         "\"url\":\"U\",\"thumb_url\":\"P\"}}",
                NULL,
                "{\"touser\":\"o1\",\"msgtype\":\"link\",\"link\":{\"title\":\"T\","
                "\"description\":\"D\",\"url\":\"U\",\"thumb_url\":\"P\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":{\"title\":\"T\","
                         "\"thumb_url\":\"https://e/t.png\",\"pagepath\":\"pages/a?b=1\"}}",
                "UP2",
                "{\"touser\":\"o1\",\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":"
                "{\"title\":\"T\",\"thumb_media_id\":\"UP2\",\"pagepath\":\"pages/a?b=1\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":{\"title\":\"T\","
                         "\"pagepath\":\"p\",\"thumb_media_id\":\"TM\"}}",
                NULL,
                "{\"touser\":\"o1\",\"msgtype\":\"miniprogrampage\",\"miniprogrampage\":"
                "{\"title\":\"T\",\"pagepath\":\"p\",\"thumb_media_id\":\"TM\"}}");
    expect_body(CMD_HEAD "\"msgtype\":\"typing\",\"command\":\"Typing\",\"in_reply_to\":\"x\"}",
                NULL, "{\"touser\":\"o1\",\"command\":\"Typing\"}");
    assert_null(reply_cmd_api_body(NULL, "x"));
}

static void test_peek(void **state)
{
    char id[REPLY_ID_BUF], appid[REPLY_APPID_BUF], touser[REPLY_TOUSER_BUF], small[4];
    const char *s;
    (void)state;

    s = "{\"schema\":\"nope\",\"id\":\"r:9\",\"appid\":\"wx-bad\",\"touser\":\"o 1\"}";
    reply_cmd_peek(s, strlen(s), id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser));
    assert_string_equal(id, "r:9");
    assert_string_equal(appid, "wx-bad");
    assert_string_equal(touser, "o 1");

    /* Wrong types, U+0000, absent: "". */
    s = "{\"id\":5,\"appid\":\"a\\u0000b\"}";
    reply_cmd_peek(s, strlen(s), id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser));
    assert_string_equal(id, "");
    assert_string_equal(appid, "");
    assert_string_equal(touser, "");

    /* Not JSON, not an object, NULL: "". */
    snprintf(id, sizeof(id), "junk");
    reply_cmd_peek("{\"id\":\"x\"", 9, id, sizeof(id), NULL, 0, NULL, 0);
    assert_string_equal(id, "");
    reply_cmd_peek("[\"x\"]", 5, id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser));
    assert_string_equal(id, "");
    reply_cmd_peek(NULL, 0, id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser));
    assert_string_equal(id, "");

    /* Too long for the buffer: "" rather than a truncated (wrong) id. */
    s = "{\"id\":\"abcd\",\"touser\":\"abc\"}";
    reply_cmd_peek(s, strlen(s), small, sizeof(small), NULL, 0, touser, sizeof(touser));
    assert_string_equal(small, "");
    reply_cmd_peek(s, strlen(s), NULL, 0, NULL, 0, small, sizeof(small));
    assert_string_equal(small, "abc");

    /* A too_large command still gives its id. */
    {
        char *big = command_of_size(REPLY_CMD_MAX_BYTES + 100);
        reply_cmd_peek(big, REPLY_CMD_MAX_BYTES + 100, id, sizeof(id), appid, sizeof(appid), touser,
                       sizeof(touser));
        assert_string_equal(id, "r:1");
        assert_string_equal(touser, "o1");
        free(big);
    }
}

/* Loads a schema file of schema/. */
static json_t *load_schema(const char *name)
{
    char path[1024];
    json_error_t err;
    json_t *s;

    snprintf(path, sizeof(path), "%s/%s", WXB_SCHEMA_DIR, name);
    s = json_load_file(path, 0, &err);
    if (!s)
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    return s;
}

/* Every key of OBJ is in the schema's properties, and every required one is in OBJ. */
static void assert_keys_match_schema(const json_t *obj, const json_t *schema)
{
    json_t *props = json_object_get(schema, "properties"),
           *req = json_object_get(schema, "required");
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach((json_t *)obj, k, v)
    {
        if (!json_object_get(props, k))
            fail_msg("key %s is not in the schema", k);
    }
    json_array_foreach(req, i, v)
    {
        if (!json_object_get(obj, json_string_value(v)))
            fail_msg("required key %s is missing", json_string_value(v));
    }
}

static void test_result_json(void **state)
{
    struct reply_result r = {.id = "r:1",
                             .appid = "wx1",
                             .touser = "o1",
                             .status = REPLY_SENT,
                             .errcode = 0,
                             .errmsg = "ok",
                             .attempts = 1,
                             .latency_ms = 35,
                             .at_ms = 1714112445123LL,
                             .in_reply_to = "wx1:m:1"};
    json_t *schema = load_schema("reply_result.v1.schema.json"), *j;
    char *s, big[3000];
    (void)state;

    s = reply_result_json(&r);
    assert_string_equal(s, "{\"schema\":\"wxbridge.reply_result.v1\",\"id\":\"r:1\",\"appid\":"
                           "\"wx1\",\"touser\":\"o1\",\"status\":\"sent\",\"errcode\":0,"
                           "\"errmsg\":\"ok\",\"attempts\":1,\"latency_ms\":35,"
                           "\"at_ms\":1714112445123,\"in_reply_to\":\"wx1:m:1\"}");
    j = tu_json(s);
    assert_keys_match_schema(j, schema);
    json_decref(j);
    free(s);

    /* Unknown fields, no in_reply_to, WeChat's errmsg with invalid UTF-8. */
    r = (struct reply_result){.status = REPLY_REJECTED,
                              .errcode = 45015,
                              .errmsg = "bad \xff\xfe end \xe4\xbd",
                              .at_ms = 5};
    s = reply_result_json(&r);
    assert_string_equal(s, "{\"schema\":\"wxbridge.reply_result.v1\",\"id\":\"\",\"appid\":\"\","
                           "\"touser\":\"\",\"status\":\"rejected\",\"errcode\":45015,"
                           "\"errmsg\":\"bad \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd"
                           "\xef\xbf\xbd\",\"attempts\":0,\"latency_ms\":0,\"at_ms\":5}");
    j = tu_json(s); /* jansson refuses invalid UTF-8: this proves it is clean */
    assert_keys_match_schema(j, schema);
    json_decref(j);
    free(s);

    /* Overlong forms, surrogates and code points past U+10FFFF are invalid too. */
    r.errmsg = "\xe0\x80\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xc0\xaf|\xf0\x9f\x98\x80";
    s = reply_result_json(&r);
    j = tu_json(s);
    assert_string_equal(json_string_value(json_object_get(j, "errmsg")),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                        "\xf0\x9f\x98\x80");
    json_decref(j);
    free(s);

    /* errmsg is cut to REPLY_ERRMSG_MAX bytes, before a character crossing it. */
    memset(big, 'a', 1023);
    memcpy(big + 1023, "\xe4\xb8\xad", 3); /* bytes 1023..1025: must go whole */
    memset(big + 1026, 'b', 10);
    big[1036] = '\0';
    r.errmsg = big;
    r.status = REPLY_FAILED;
    s = reply_result_json(&r);
    j = tu_json(s);
    assert_int_equal(json_string_length(json_object_get(j, "errmsg")), 1023);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    json_decref(j);
    free(s);

    assert_null(reply_result_json(NULL));
    assert_string_equal(reply_status_name(REPLY_SENT), "sent");
    assert_string_equal(reply_status_name((enum reply_status)7), "unknown");
    json_decref(schema);
}

static void test_result_parse(void **state)
{
    struct reply_result r = {.id = "r:\xe4\xb8\xad",
                             .appid = "wx1",
                             .touser = "o1",
                             .status = REPLY_FAILED,
                             .errcode = -1,
                             .errmsg = "system busy",
                             .attempts = 5,
                             .latency_ms = 9000,
                             .at_ms = 1714112445123LL};
    char id[REPLY_ID_BUF], appid[REPLY_APPID_BUF], touser[REPLY_TOUSER_BUF];
    enum reply_status st = REPLY_SENT;
    long long at = 0;
    char *s = reply_result_json(&r);
    const char *bad;
    (void)state;

    assert_int_equal(reply_result_parse(s, strlen(s), id, sizeof(id), appid, sizeof(appid), touser,
                                        sizeof(touser), &st, &at),
                     0);
    assert_string_equal(id, "r:\xe4\xb8\xad");
    assert_string_equal(appid, "wx1");
    assert_string_equal(touser, "o1");
    assert_int_equal(st, REPLY_FAILED);
    assert_int_equal(at, 1714112445123LL);
    /* Outputs not wanted. */
    assert_int_equal(reply_result_parse(s, strlen(s), NULL, 0, NULL, 0, NULL, 0, NULL, NULL), 0);
    /* Buffer one byte short: refused rather than truncated. */
    assert_int_equal(reply_result_parse(s, strlen(s), id, 5, NULL, 0, NULL, 0, NULL, NULL), -1);
    assert_int_equal(reply_result_parse(s, strlen(s), id, 6, NULL, 0, NULL, 0, NULL, NULL), 0);
    free(s);

    bad = "{\"schema\":\"wxbridge.reply_result.v2\",\"id\":\"\",\"appid\":\"\",\"touser\":\"\","
          "\"status\":\"sent\",\"at_ms\":1}";
    assert_int_equal(reply_result_parse(bad, strlen(bad), NULL, 0, NULL, 0, NULL, 0, NULL, NULL),
                     -1);
    bad = "{\"schema\":\"wxbridge.reply_result.v1\",\"id\":\"\",\"appid\":\"\",\"touser\":\"\","
          "\"status\":\"done\",\"at_ms\":1}";
    assert_int_equal(reply_result_parse(bad, strlen(bad), NULL, 0, NULL, 0, NULL, 0, NULL, NULL),
                     -1);
    bad = "{\"schema\":\"wxbridge.reply_result.v1\",\"id\":\"\",\"appid\":\"\",\"touser\":\"\","
          "\"status\":\"sent\",\"at_ms\":1.5}";
    assert_int_equal(reply_result_parse(bad, strlen(bad), NULL, 0, NULL, 0, NULL, 0, NULL, NULL),
                     -1);
    bad = "{\"schema\":\"wxbridge.reply_result.v1\",\"appid\":\"\",\"touser\":\"\","
          "\"status\":\"sent\",\"at_ms\":1}";
    assert_int_equal(reply_result_parse(bad, strlen(bad), NULL, 0, NULL, 0, NULL, 0, NULL, NULL),
                     -1);
    bad = "{\"schema\":\"wxbridge.reply_result.v1\",\"id\":\"\",\"appid\":\"\",\"touser\":\"\","
          "\"status\":\"rejected\",\"at_ms\":-3}";
    assert_int_equal(reply_result_parse(bad, strlen(bad), NULL, 0, NULL, 0, NULL, 0, &st, &at), 0);
    assert_int_equal(st, REPLY_REJECTED);
    assert_int_equal(at, -3);
    assert_int_equal(reply_result_parse("[]", 2, NULL, 0, NULL, 0, NULL, 0, NULL, NULL), -1);
    assert_int_equal(reply_result_parse("{", 1, NULL, 0, NULL, 0, NULL, 0, NULL, NULL), -1);
    assert_int_equal(reply_result_parse(NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, NULL), -1);
}

/* Builds a DLQ record, checks it against the schema's keys, returns it parsed. */
static json_t *dlq(const char *reason, const char *detail, const long *errcode, const char *raw,
                   size_t rawlen)
{
    json_t *schema = load_schema("reply_dlq.v1.schema.json"), *j;
    char *s = reply_dlq_json(reason, detail, errcode, 2, 1714112445123LL, raw, rawlen);

    assert_non_null(s);
    j = tu_json(s);
    assert_keys_match_schema(j, schema);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "wxbridge.reply_dlq.v1");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "at_ms")), 1714112445123LL);
    free(s);
    json_decref(schema);
    return j;
}

static void test_dlq_json(void **state)
{
    const char *cmd = CMD_HEAD "\"msgtype\":\"voice\",\"voice\":{\"media_id\":\"m\"}}";
    const char raw[] = "{\"id\":\"a\xff\"}\0tail";
    long code = 45015;
    unsigned char *back;
    size_t backlen;
    json_t *j, *want;
    char *s;
    (void)state;

    /* Parsed: the command itself, no command_b64, errcode null. */
    j = dlq("unknown_msgtype", "$.msgtype: unknown msgtype \"voice\"", NULL, cmd, strlen(cmd));
    want = tu_json(cmd);
    tu_assert_json_equal(json_object_get(j, "command"), want, "command");
    assert_null(json_object_get(j, "command_b64"));
    assert_true(json_is_null(json_object_get(j, "errcode")));
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "unknown_msgtype");
    json_decref(want);
    json_decref(j);

    /* Not JSON (invalid UTF-8, a NUL byte): null + the bytes in base64, exactly. */
    j = dlq("not_json", "$: not JSON", &code, raw, sizeof(raw) - 1);
    assert_true(json_is_null(json_object_get(j, "command")));
    back = tu_unb64(json_string_value(json_object_get(j, "command_b64")), &backlen);
    assert_int_equal(backlen, sizeof(raw) - 1);
    assert_memory_equal(back, raw, backlen);
    assert_int_equal(json_integer_value(json_object_get(j, "errcode")), 45015);
    free(back);
    json_decref(j);

    /* JSON that would not survive a round trip (duplicate keys, U+0000) goes as bytes too. */
    s = "{\"a\":1,\"a\":2}";
    j = dlq("not_json", "", NULL, s, strlen(s));
    assert_true(json_is_null(json_object_get(j, "command")));
    assert_string_equal(json_string_value(json_object_get(j, "command_b64")),
                        "eyJhIjoxLCJhIjoyfQ==");
    json_decref(j);
    s = "{\"a\":\"\\u0000\"}";
    j = dlq("bad_field", "", NULL, s, strlen(s));
    assert_non_null(json_object_get(j, "command_b64"));
    json_decref(j);

    /* Any JSON value is kept as JSON, even a scalar. */
    j = dlq("schema", "$: must be an object", NULL, "42", 2);
    assert_int_equal(json_integer_value(json_object_get(j, "command")), 42);
    assert_null(json_object_get(j, "command_b64"));
    json_decref(j);

    /* Empty input: null and "". Reason and detail NULL: "". Detail cleaned and cut. */
    j = dlq(NULL, NULL, NULL, NULL, 0);
    assert_true(json_is_null(json_object_get(j, "command")));
    assert_string_equal(json_string_value(json_object_get(j, "command_b64")), "");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "");
    json_decref(j);
    {
        char detail[2000];
        memset(detail, 'd', sizeof(detail) - 1);
        detail[sizeof(detail) - 1] = '\0';
        detail[3] = '\x80';
        j = dlq("x", detail, NULL, "{}", 2);
        assert_int_equal(json_string_length(json_object_get(j, "detail")), REPLY_ERRMSG_MAX);
        assert_memory_equal(json_string_value(json_object_get(j, "detail")), "ddd\xef\xbf\xbd", 6);
        json_decref(j);
    }
}

static void test_schema_constants(void **state)
{
    json_t *s = load_schema("reply.v1.schema.json"), *p, *defs, *e;
    json_t *r = load_schema("reply_result.v1.schema.json");
    size_t i;
    (void)state;

    p = json_object_get(s, "properties");
    defs = json_object_get(s, "$defs");
    assert_string_equal(json_string_value(json_object_get(s, "$id")), REPLY_CMD_SCHEMA);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "schema"), "const")),
                        REPLY_CMD_SCHEMA);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "id"), "maxLength")),
                     REPLY_ID_MAX);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "appid"), "maxLength")),
                     REPLY_APPID_MAX);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "touser"), "maxLength")),
                     REPLY_TOUSER_MAX);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(json_object_get(p, "in_reply_to"), "anyOf"), 1),
            "maxLength")),
        REPLY_IN_REPLY_TO_MAX);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(defs, "text"), "maxLength")),
        REPLY_TEXT_MAX);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(defs, "text0"), "maxLength")),
        REPLY_TEXT_MAX);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(defs, "upload_url"), "maxLength")),
        REPLY_URL_MAX);
    e = json_object_get(json_object_get(p, "msgtype"), "enum");
    assert_int_equal(json_array_size(e), 5);
    for (i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(e, i)),
                            reply_kind_name((enum reply_kind)i));
    assert_string_equal(json_string_value(json_object_get(r, "$id")), REPLY_RESULT_SCHEMA);
    e = json_object_get(json_object_get(json_object_get(r, "properties"), "status"), "enum");
    assert_int_equal(json_array_size(e), 3);
    for (i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_array_get(e, i)),
                            reply_status_name((enum reply_status)i));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(r, "properties"), "errmsg"), "maxLength")),
                     REPLY_ERRMSG_MAX);
    json_decref(s);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_files),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_details),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_length_boundaries),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_small_error_buffers),
        cmocka_unit_test(test_api_body),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_result_json),
        cmocka_unit_test(test_result_parse),
        cmocka_unit_test(test_dlq_json),
        cmocka_unit_test(test_schema_constants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
