/*
 * test_record: the canonical inbound record (CONTRACT.md) built from parsed
 * pushes: every field, the Kafka key, topic and headers, the record id rules
 * (messages by MsgId; events by a digest that is stable across retries and
 * distinguishes distinct pushes sharing a CreateTime) and field validation.
 */
#include "record.h"

#include "testutil.h"
#include "wx_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define APPID "wxba5fad812f8e6fb9"
#define TOPIC "wx.inbound"

static json_t *parse_doc(const char *doc)
{
    json_t *v = NULL;
    char err[256];
    int rc = wxp_parse(doc, strlen(doc), 0, &v, NULL, err, sizeof(err));
    if (rc != WXP_OK)
        fail_msg("test document does not parse (%s): %s", err, doc);
    return v;
}

/* Builds the record of DOC; returns the record_build() code, message in *M, id in ID. */
static int build(const char *doc, enum wx_format fmt, int encrypted, int64_t now, struct kmsg *m,
                 char *id)
{
    json_t *p = parse_doc(doc);
    struct record_meta meta = {APPID, fmt, encrypted, now};
    char err[256] = "";
    int rc = record_build(p, &meta, TOPIC, m, id, err, sizeof(err));
    json_decref(p);
    if (rc != REC_OK) {
        assert_true(strlen(err) > 0);
        assert_null(m->value);
        assert_null(m->key);
        assert_int_equal(m->hdr_count, 0);
    }
    return rc;
}

/* The id of DOC's record (fails the test if there is none). */
static void id_of(const char *doc, char *id)
{
    struct kmsg m;
    assert_int_equal(build(doc, wxp_detect(doc, strlen(doc)), 0, 1, &m, id), REC_OK);
    kmsg_clear(&m);
}

static void assert_headers(const struct kmsg *m, const char *const *want, int n)
{
    assert_int_equal(m->hdr_count, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(m->hdr_name[i], want[2 * i]);
        assert_string_equal(m->hdr_value[i], want[2 * i + 1]);
    }
}

/* Compares M's value with the record WANT whose "payload" is DOC parsed. */
static void assert_record(const struct kmsg *m, const char *doc, json_t *want)
{
    json_t *got = tu_json(m->value);
    json_object_set_new(want, "payload", parse_doc(doc));
    assert_int_equal(m->value_len, strlen(m->value));
    tu_assert_json_equal(got, want, "record");
    json_decref(got);
    json_decref(want);
}

static int is_event_id(const char *id)
{
    const char *prefix = APPID ":e:";
    if (strncmp(id, prefix, strlen(prefix)) != 0 || strlen(id) != strlen(prefix) + 32)
        return 0;
    for (const char *p = id + strlen(prefix); *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* ---- full records ---- */

static void test_json_text_message(void **state)
{
    const char *doc = "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":"
                      "\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\",\"CreateTime\":1714112445,"
                      "\"MsgType\":\"text\",\"Content\":\"hi\",\"MsgId\":6054768590064713728}";
    static const char *const hdrs[] = {
        "wx-schema",   RECORD_SCHEMA, "wx-appid", APPID,
        "wx-msg-type", "text",        "wx-id",    APPID ":m:6054768590064713728"};
    struct kmsg m;
    char id[RECORD_ID_MAX];
    (void)state;

    assert_int_equal(build(doc, WX_FORMAT_JSON, 1, 1714112445123LL, &m, id), REC_OK);
    assert_string_equal(id, APPID ":m:6054768590064713728");
    assert_string_equal(m.topic, TOPIC);
    assert_string_equal(m.key, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_headers(&m, hdrs, 4);
    /* msg_id is a JSON string, never a number. */
    assert_non_null(strstr(m.value, "\"msg_id\":\"6054768590064713728\""));
    assert_record(&m, doc,
                  tu_json("{\"schema\":\"wxbridge.inbound.v1\","
                          "\"id\":\"" APPID ":m:6054768590064713728\","
                          "\"appid\":\"" APPID "\",\"to\":\"gh_97417a04a28d\","
                          "\"from\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","
                          "\"create_time\":1714112445,\"msg_type\":\"text\",\"event\":null,"
                          "\"msg_id\":\"6054768590064713728\",\"format\":\"json\","
                          "\"encrypted\":true,\"received_at_ms\":1714112445123}"));
    kmsg_clear(&m);
}

static void test_xml_text_message(void **state)
{
    /* The seed's example: CreateTime and MsgId arrive as strings. */
    const char *doc = "<xml> <ToUserName><![CDATA[toUser]]></ToUserName> "
                      "<FromUserName><![CDATA[fromUser]]></FromUserName> "
                      "<CreateTime>1482048670</CreateTime> <MsgType><![CDATA[text]]></MsgType> "
                      "<Content><![CDATA[this is a test]]></Content> "
                      "<MsgId>1234567890123456</MsgId></xml>";
    static const char *const hdrs[] = {
        "wx-schema",   RECORD_SCHEMA, "wx-appid", APPID,
        "wx-msg-type", "text",        "wx-id",    APPID ":m:1234567890123456"};
    struct kmsg m;
    char id[RECORD_ID_MAX];
    (void)state;

    assert_int_equal(build(doc, WX_FORMAT_XML, 0, 42, &m, id), REC_OK);
    assert_string_equal(id, APPID ":m:1234567890123456");
    assert_string_equal(m.key, "fromUser");
    assert_headers(&m, hdrs, 4);
    assert_record(&m, doc,
                  tu_json("{\"schema\":\"wxbridge.inbound.v1\","
                          "\"id\":\"" APPID ":m:1234567890123456\","
                          "\"appid\":\"" APPID "\",\"to\":\"toUser\",\"from\":\"fromUser\","
                          "\"create_time\":1482048670,\"msg_type\":\"text\",\"event\":null,"
                          "\"msg_id\":\"1234567890123456\",\"format\":\"xml\","
                          "\"encrypted\":false,\"received_at_ms\":42}"));
    kmsg_clear(&m);
}

static void test_event_record(void **state)
{
    const char *doc = "{\"ToUserName\":\"toUser\",\"FromUserName\":\"fromUser\","
                      "\"CreateTime\":1482048670,\"MsgType\":\"event\","
                      "\"Event\":\"user_enter_tempsession\",\"SessionFrom\":\"sessionFrom\"}";
    struct kmsg m;
    char id[RECORD_ID_MAX], want_rec[1024];
    (void)state;

    assert_int_equal(build(doc, WX_FORMAT_JSON, 0, 7, &m, id), REC_OK);
    assert_true(is_event_id(id));
    assert_string_equal(m.key, "fromUser");
    {
        const char *const hdrs[] = {"wx-schema",   RECORD_SCHEMA,
                                    "wx-appid",    APPID,
                                    "wx-msg-type", "event",
                                    "wx-event",    "user_enter_tempsession",
                                    "wx-id",       id};
        assert_headers(&m, hdrs, 5);
    }
    snprintf(want_rec, sizeof(want_rec),
             "{\"schema\":\"wxbridge.inbound.v1\",\"id\":\"%s\",\"appid\":\"" APPID "\","
             "\"to\":\"toUser\",\"from\":\"fromUser\",\"create_time\":1482048670,"
             "\"msg_type\":\"event\",\"event\":\"user_enter_tempsession\",\"msg_id\":null,"
             "\"format\":\"json\",\"encrypted\":false,\"received_at_ms\":7}",
             id);
    assert_record(&m, doc, tu_json(want_rec));
    kmsg_clear(&m);

    /* record_id() agrees with record_build(). */
    {
        json_t *p = parse_doc(doc);
        char id2[RECORD_ID_MAX], err[128];
        assert_int_equal(record_id(p, APPID, id2, err, sizeof(err)), REC_OK);
        assert_string_equal(id2, id);
        json_decref(p);
    }
}

static void test_official_debug_demo(void **state)
{
    const char *doc =
        "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","
        "\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event\":\"debug_demo\",\"debug_str\":"
        "\"hello world\"}";
    struct kmsg m;
    char id[RECORD_ID_MAX];
    json_t *rec;
    (void)state;

    assert_int_equal(build(doc, WX_FORMAT_JSON, 1, 1714112445123LL, &m, id), REC_OK);
    rec = tu_json(m.value);
    assert_string_equal(json_string_value(json_object_get(rec, "event")), "debug_demo");
    assert_true(json_is_null(json_object_get(rec, "msg_id")));
    assert_int_equal(json_integer_value(json_object_get(rec, "create_time")), 1714112445);
    assert_true(json_is_true(json_object_get(rec, "encrypted")));
    assert_int_equal(json_object_size(rec), 13);
    json_decref(rec);
    kmsg_clear(&m);
}

static void test_msg_id_forms(void **state)
{
    struct kmsg m;
    char id[RECORD_ID_MAX];
    json_t *rec;
    (void)state;

    /* Over int64 in JSON: wx_parse keeps it as a string, the record too. */
    assert_int_equal(build("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"text\","
                           "\"MsgId\":18446744073709551615}",
                           WX_FORMAT_JSON, 0, 1, &m, id),
                     REC_OK);
    assert_string_equal(id, APPID ":m:18446744073709551615");
    rec = tu_json(m.value);
    assert_string_equal(json_string_value(json_object_get(rec, "msg_id")), "18446744073709551615");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "payload"), "MsgId")),
        "18446744073709551615");
    /* No ToUserName: "to" is null. */
    assert_true(json_is_null(json_object_get(rec, "to")));
    json_decref(rec);
    kmsg_clear(&m);

    /* Non-numeric MsgId (seen in official examples). */
    assert_int_equal(build("<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
                           "<MsgType>text</MsgType><MsgId>abc-DEF_1</MsgId></xml>",
                           WX_FORMAT_XML, 0, 1, &m, id),
                     REC_OK);
    assert_string_equal(id, APPID ":m:abc-DEF_1");
    rec = tu_json(m.value);
    assert_string_equal(json_string_value(json_object_get(rec, "msg_id")), "abc-DEF_1");
    json_decref(rec);
    kmsg_clear(&m);

    /* int64 maximum as an integer. */
    assert_int_equal(build("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"text\","
                           "\"MsgId\":9223372036854775807}",
                           WX_FORMAT_JSON, 0, 1, &m, id),
                     REC_OK);
    assert_string_equal(id, APPID ":m:9223372036854775807");
    kmsg_clear(&m);
}

/* ---- ids ---- */

#define EV_JSON(from, ct, ev, extra)                                                               \
    "{\"ToUserName\":\"gh_x\",\"FromUserName\":\"" from "\",\"CreateTime\":" ct ","                \
    "\"MsgType\":\"event\",\"Event\":\"" ev "\"" extra "}"

static void test_event_id_stable(void **state)
{
    char a[RECORD_ID_MAX], b[RECORD_ID_MAX];
    const char *xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName> <FromUserName><![CDATA["
                      "fromUser]]></FromUserName> <CreateTime>1482048670</CreateTime> <MsgType>"
                      "<![CDATA[event]]></MsgType> <Event><![CDATA[user_enter_tempsession]]>"
                      "</Event> <SessionFrom><![CDATA[sessionFrom]]></SessionFrom> </xml>";
    const char *json = "{\"ToUserName\": \"toUser\",\"FromUserName\": \"fromUser\",\"CreateTime\":"
                       " 1482048670,\"MsgType\": \"event\",\"Event\": \"user_enter_tempsession\","
                       "\"SessionFrom\": \"sessionFrom\"}";
    struct kmsg m;
    (void)state;

    /* A retry (same document, later, other flags) gets the same id. */
    id_of(xml, a);
    assert_int_equal(build(xml, WX_FORMAT_XML, 1, 999999, &m, b), REC_OK);
    kmsg_clear(&m);
    assert_string_equal(a, b);
    assert_true(is_event_id(a));
    id_of(json, b);
    id_of(json, a);
    assert_string_equal(a, b);
    /* The XML and JSON forms of one push agree (CreateTime string vs integer). */
    id_of(xml, a);
    assert_string_equal(a, b);
    /* CreateTime as a numeric string in JSON, and whitespace/key order, do not matter. */
    id_of("{\"MsgType\":\"event\",\"CreateTime\":\"1482048670\",\"Event\":"
          "\"user_enter_tempsession\",\"FromUserName\":\"fromUser\",\"ToUserName\":\"toUser\","
          "\"SessionFrom\":\"sessionFrom\"}",
          a);
    assert_string_equal(a, b);
}

static void test_event_id_distinguishes(void **state)
{
    char base[RECORD_ID_MAX], x[RECORD_ID_MAX];
    (void)state;

    id_of(EV_JSON("u1", "100", "user_enter_tempsession", ""), base);
    id_of(EV_JSON("u1", "101", "user_enter_tempsession", ""), x);
    assert_string_not_equal(base, x);
    id_of(EV_JSON("u1", "100", "debug_demo", ""), x);
    assert_string_not_equal(base, x);
    id_of(EV_JSON("u2", "100", "user_enter_tempsession", ""), x);
    assert_string_not_equal(base, x);
    id_of("{\"FromUserName\":\"u1\",\"CreateTime\":100,\"MsgType\":\"image\"}", x);
    assert_string_not_equal(base, x);
    /* Same event for another Mini Program. */
    {
        json_t *p = parse_doc(EV_JSON("u1", "100", "user_enter_tempsession", ""));
        char err[128];
        assert_int_equal(record_id(p, "wxother", x, err, sizeof(err)), REC_OK);
        json_decref(p);
        assert_memory_equal(x, "wxother:e:", 10);
        assert_string_equal(x + 10, base + strlen(APPID ":e:"));
    }
    /* Field boundaries cannot be shifted: "u1"+"100" vs "u11"+"00". */
    id_of(EV_JSON("u11", "0", "user_enter_tempsession", ""), base);
    id_of(EV_JSON("u1", "10", "user_enter_tempsession", ""), x);
    assert_string_not_equal(base, x);
}

static void test_media_check_trace_id(void **state)
{
    char a[RECORD_ID_MAX], b[RECORD_ID_MAX], c[RECORD_ID_MAX];
    (void)state;

    /* Two media checks of one user in the same second. */
    id_of(EV_JSON("u", "1625816558", "wxa_media_check",
                  ",\"trace_id\":\"60e7e0f5-5b9a45dc-3b8e7b4d\",\"result\":{\"suggest\":\"pass\","
                  "\"label\":100},\"detail\":[{\"strategy\":\"content_model\",\"suggest\":"
                  "\"pass\"}]"),
          a);
    id_of(EV_JSON("u", "1625816558", "wxa_media_check",
                  ",\"trace_id\":\"60e7e0f5-5b9a45dc-3b8e7b4e\",\"result\":{\"suggest\":\"pass\","
                  "\"label\":100},\"detail\":[{\"strategy\":\"content_model\",\"suggest\":"
                  "\"pass\"}]"),
          b);
    assert_true(is_event_id(a));
    assert_string_not_equal(a, b);
    /* Same trace_id, different result: still distinct pushes. */
    id_of(EV_JSON("u", "1625816558", "wxa_media_check",
                  ",\"trace_id\":\"60e7e0f5-5b9a45dc-3b8e7b4d\",\"result\":{\"suggest\":\"risky\","
                  "\"label\":20001},\"detail\":[{\"strategy\":\"content_model\",\"suggest\":"
                  "\"risky\"}]"),
          c);
    assert_string_not_equal(a, c);
    /* XML form: same CreateTime, different trace_id. */
    id_of("<xml><FromUserName>u</FromUserName><CreateTime>1626959646</CreateTime><MsgType>event"
          "</MsgType><Event>wxa_media_check</Event><trace_id>t1</trace_id><result><suggest>pass"
          "</suggest></result></xml>",
          a);
    id_of("<xml><FromUserName>u</FromUserName><CreateTime>1626959646</CreateTime><MsgType>event"
          "</MsgType><Event>wxa_media_check</Event><trace_id>t2</trace_id><result><suggest>pass"
          "</suggest></result></xml>",
          b);
    assert_string_not_equal(a, b);
}

static void test_subscribe_list_contents(void **state)
{
    char a[RECORD_ID_MAX], b[RECORD_ID_MAX];
    (void)state;

    id_of(EV_JSON("u", "1620963428", "subscribe_msg_popup_event",
                  ",\"List\":{\"TemplateId\":\"T1\",\"SubscribeStatusString\":\"accept\","
                  "\"PopupScene\":\"0\"}"),
          a);
    id_of(EV_JSON("u", "1620963428", "subscribe_msg_popup_event",
                  ",\"List\":{\"TemplateId\":\"T2\",\"SubscribeStatusString\":\"accept\","
                  "\"PopupScene\":\"0\"}"),
          b);
    assert_string_not_equal(a, b);
    /* Key order inside List is irrelevant (the same push). */
    id_of(EV_JSON("u", "1620963428", "subscribe_msg_popup_event",
                  ",\"List\":{\"PopupScene\":\"0\",\"SubscribeStatusString\":\"accept\","
                  "\"TemplateId\":\"T1\"}"),
          b);
    assert_string_equal(a, b);
    /* An array of several entries differs from one of them. */
    id_of(EV_JSON("u", "1620963428", "subscribe_msg_popup_event",
                  ",\"List\":[{\"TemplateId\":\"T1\",\"SubscribeStatusString\":\"accept\","
                  "\"PopupScene\":\"0\"},{\"TemplateId\":\"T2\",\"SubscribeStatusString\":"
                  "\"reject\",\"PopupScene\":\"0\"}]"),
          b);
    assert_string_not_equal(a, b);
    id_of(EV_JSON("u", "1620963428", "subscribe_msg_popup_event",
                  ",\"List\":[{\"TemplateId\":\"T1\",\"SubscribeStatusString\":\"accept\","
                  "\"PopupScene\":\"0\"},{\"TemplateId\":\"T2\",\"SubscribeStatusString\":"
                  "\"accept\",\"PopupScene\":\"0\"}]"),
          a);
    assert_string_not_equal(a, b);
    /* XML: the List sits inside SubscribeMsgPopupEvent. */
    id_of("<xml><FromUserName>u</FromUserName><CreateTime>1610969440</CreateTime><MsgType>event"
          "</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List>"
          "<TemplateId>T1</TemplateId><SubscribeStatusString>accept</SubscribeStatusString>"
          "</List></SubscribeMsgPopupEvent></xml>",
          a);
    id_of("<xml><FromUserName>u</FromUserName><CreateTime>1610969440</CreateTime><MsgType>event"
          "</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List>"
          "<TemplateId>T1</TemplateId><SubscribeStatusString>reject</SubscribeStatusString>"
          "</List></SubscribeMsgPopupEvent></xml>",
          b);
    assert_string_not_equal(a, b);
}

static void test_message_id_ignores_other_fields(void **state)
{
    char a[RECORD_ID_MAX], b[RECORD_ID_MAX];
    (void)state;
    /* Retries of a message carry the same MsgId: the id depends on it alone. */
    id_of("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"text\",\"MsgId\":5}", a);
    id_of("{\"FromUserName\":\"u\",\"CreateTime\":2,\"MsgType\":\"text\",\"MsgId\":\"5\"}", b);
    assert_string_equal(a, APPID ":m:5");
    assert_string_equal(a, b);
}

/* ---- validation ---- */

static int build_rc(const char *doc)
{
    struct kmsg m;
    char id[RECORD_ID_MAX];
    int rc = build(doc, WX_FORMAT_JSON, 0, 1, &m, id);
    kmsg_clear(&m);
    return rc;
}

static void test_missing_fields(void **state)
{
    json_t *p;
    struct kmsg m;
    struct record_meta meta = {APPID, WX_FORMAT_JSON, 0, 1};
    char id[RECORD_ID_MAX], err[256];
    (void)state;

    assert_int_equal(build_rc("{\"CreateTime\":1,\"MsgType\":\"text\",\"MsgId\":1}"), REC_EMISSING);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgId\":1}"),
                     REC_EMISSING);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"MsgType\":\"text\",\"MsgId\":1}"),
                     REC_EMISSING);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"MsgType\":\"event\"}"), REC_EMISSING);
    assert_int_equal(build_rc("{}"), REC_EMISSING);

    /* The detail names the field. */
    p = parse_doc("{\"FromUserName\":\"u\",\"MsgType\":\"text\"}");
    assert_int_equal(record_build(p, &meta, TOPIC, &m, id, err, sizeof(err)), REC_EMISSING);
    assert_non_null(strstr(err, "CreateTime"));
    assert_int_equal(record_id(p, APPID, id, err, sizeof(err)), REC_EMISSING);
    json_decref(p);
    p = parse_doc("<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>");
    assert_int_equal(record_build(p, &meta, TOPIC, &m, id, err, sizeof(err)), REC_EMISSING);
    assert_non_null(strstr(err, "FromUserName"));
    json_decref(p);
}

static void test_wrong_types(void **state)
{
    (void)state;
    assert_int_equal(build_rc("{\"FromUserName\":123,\"CreateTime\":1,\"MsgType\":\"text\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"\",\"CreateTime\":1,\"MsgType\":\"text\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":null,\"CreateTime\":1,\"MsgType\":\"text\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":[\"text\"]}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":{}}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":\"abc\",\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":\"12x\",\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":\"\",\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1.5,\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":true,\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":null,\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(build_rc("{\"FromUserName\":\"u\",\"CreateTime\":[1],\"MsgType\":\"t\"}"),
                     REC_ETYPE);
    assert_int_equal(
        build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"t\",\"MsgId\":{}}"),
        REC_ETYPE);
    assert_int_equal(
        build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"t\",\"MsgId\":1.5}"),
        REC_ETYPE);
    assert_int_equal(
        build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"t\",\"MsgId\":[1]}"),
        REC_ETYPE);
    assert_int_equal(
        build_rc("{\"FromUserName\":\"u\",\"CreateTime\":1,\"MsgType\":\"t\",\"MsgId\":true}"),
        REC_ETYPE);
    /* Numeric-string CreateTime is fine (official examples use it). */
    assert_int_equal(
        build_rc("{\"FromUserName\":\"u\",\"CreateTime\":\"1620963428\",\"MsgType\":\"t\"}"),
        REC_OK);
}

static void test_kmsg_headers(void **state)
{
    struct kmsg m;
    (void)state;

    memset(&m, 0, sizeof(m));
    for (int i = 0; i < RECORD_HDR_MAX; i++)
        assert_int_equal(kmsg_add_header(&m, "n", "v"), 0);
    assert_int_equal(kmsg_add_header(&m, "n", "v"), -1);
    assert_int_equal(m.hdr_count, RECORD_HDR_MAX);
    kmsg_clear(&m);
    assert_int_equal(m.hdr_count, 0);
    assert_null(m.hdr_name[0]);
    kmsg_clear(&m);
    kmsg_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text_message),
        cmocka_unit_test(test_xml_text_message),
        cmocka_unit_test(test_event_record),
        cmocka_unit_test(test_official_debug_demo),
        cmocka_unit_test(test_msg_id_forms),
        cmocka_unit_test(test_event_id_stable),
        cmocka_unit_test(test_event_id_distinguishes),
        cmocka_unit_test(test_media_check_trace_id),
        cmocka_unit_test(test_subscribe_list_contents),
        cmocka_unit_test(test_message_id_ignores_other_fields),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_kmsg_headers),
    };
    int failed;
    wxp_global_init();
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    return failed;
}
