/*
 * test_route_rules: the routing rules of wxbridge-router (consumer/route_rules
 * and consumer/reply_tpl): every matcher, first match and "continue", drop,
 * default topics, unrouted reasons, topic placeholders, reply templating and
 * deterministic reply ids, every validation error with its exact JSON path,
 * and the example in deploy/ routing its three cases.
 *
 * JSON in this file is written with single quotes (J() turns them into double
 * quotes) so that documents stay readable.
 */
#include "reply_tpl.h"
#include "route_rules.h"

#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef WXB_DEPLOY_DIR
#error "WXB_DEPLOY_DIR must name the deploy/ directory"
#endif

#define APPID  "wxba5fad812f8e6fb9"
#define OPENID "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"

/* Parses TEXT after replacing every ' by ". */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    json_t *v;

    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    v = tu_json(s);
    free(s);
    return v;
}

static route_rules *load_ok(const char *text)
{
    struct jc_errs e;
    route_rules *r = NULL;
    json_t *doc = J(text);
    int rc;

    memset(&e, 0, sizeof(e));
    rc = route_rules_load(doc, "$", &r, &e);
    json_decref(doc); /* the rules keep nothing of the JSON */
    if (rc != 0)
        fail_msg("rules did not load (%d):\n%s", rc, e.text);
    assert_int_equal(e.count, 0);
    assert_non_null(r);
    return r;
}

/* Loads TEXT, which must fail with exactly the problems WANT (one per line). */
static void expect_errors(const char *text, const char *want)
{
    struct jc_errs e;
    route_rules *r = (route_rules *)&e; /* must be reset to NULL */
    json_t *doc = J(text);
    int rc;

    memset(&e, 0, sizeof(e));
    rc = route_rules_load(doc, "$", &r, &e);
    json_decref(doc);
    if (rc != ROUTE_EINVAL || strcmp(e.text, want) != 0)
        fail_msg("document %s\n  rc %d, problems:\n%s  expected:\n%s", text, rc, e.text, want);
    assert_null(r);
}

/*
 * A canonical inbound record. EVENT may be NULL (JSON null); PAYLOAD_EXTRA is
 * merged into the payload, which already has the common WeChat fields.
 */
static json_t *mkrec(const char *appid, const char *msg_type, const char *event,
                     const char *payload_extra)
{
    static int seq;
    char id[96];
    json_t *payload =
        json_pack("{s:s, s:s, s:i, s:s}", "ToUserName", "gh_97417a04a28d", "FromUserName", OPENID,
                  "CreateTime", 1714112445, "MsgType", msg_type);
    json_t *rec;

    assert_non_null(payload);
    if (event)
        json_object_set_new(payload, "Event", json_string(event));
    if (payload_extra) {
        json_t *extra = J(payload_extra);
        json_object_update(payload, extra);
        json_decref(extra);
    }
    snprintf(id, sizeof(id), "%s:m:%d", appid, ++seq);
    rec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:n, s:o, s:s, s:b, s:I}", "schema",
                  "wxbridge.inbound.v1", "id", id, "appid", appid, "to", "gh_97417a04a28d", "from",
                  OPENID, "create_time", 1714112445, "msg_type", msg_type, "event",
                  event ? json_string(event) : json_null(), "msg_id", "payload", payload, "format",
                  "json", "encrypted", 1, "received_at_ms", (json_int_t)1714112445123LL);
    assert_non_null(rec);
    return rec;
}

static void route(const route_rules *r, const json_t *rec, struct route_result *res)
{
    char err[128] = "";
    int rc = route_rules_eval(r, rec, res, err, sizeof(err));
    if (rc != 0)
        fail_msg("eval failed (%d): %s", rc, err);
}

/* Asserts the topics of RES are exactly the NULL-terminated list. */
static void assert_topics(const struct route_result *res, ...)
{
    va_list ap;
    size_t n = 0;
    const char *t;

    va_start(ap, res);
    while ((t = va_arg(ap, const char *)) != NULL) {
        if (n >= res->n_topics)
            fail_msg("topic %zu missing: expected \"%s\"", n, t);
        if (strcmp(res->topics[n], t) != 0)
            fail_msg("topic %zu is \"%s\", expected \"%s\"", n, res->topics[n], t);
        n++;
    }
    va_end(ap);
    if (n != res->n_topics)
        fail_msg("%zu topics, expected %zu (first extra: \"%s\")", res->n_topics, n,
                 res->topics[n]);
}

static void assert_matched(const struct route_result *res, ...)
{
    va_list ap;
    size_t n = 0;
    const char *t;

    va_start(ap, res);
    while ((t = va_arg(ap, const char *)) != NULL) {
        assert_true(n < res->n_matched);
        assert_string_equal(res->matched[n], t);
        n++;
    }
    va_end(ap);
    assert_int_equal(res->n_matched, n);
}

/* Routes REC (consumed) and asserts it went to the single topic WANT. */
static void expect_route(const route_rules *r, json_t *rec, const char *want)
{
    struct route_result res;
    route(r, rec, &res);
    assert_false(res.unrouted);
    assert_topics(&res, want, NULL);
    route_result_clear(&res);
    json_decref(rec);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
    route_rules *r = load_ok("{}");
    struct route_result res;
    json_t *rec;
    (void)state;

    assert_int_equal(route_rules_count(r), 0);
    assert_string_equal(route_rules_unrouted_topic(r), "wx.unrouted");
    rec = mkrec(APPID, "text", NULL, "{'Content':'hi','MsgId':'1'}");
    route(r, rec, &res);
    assert_false(res.dropped);
    assert_false(res.unrouted);
    assert_null(res.unrouted_code);
    assert_string_equal(res.reason, "");
    assert_topics(&res, "wx.msg.text", NULL);
    assert_int_equal(res.n_replies, 0);
    assert_int_equal(res.n_matched, 0);
    route_result_clear(&res);
    json_decref(rec);

    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'x'}"),
                 "wx.event.user_enter_tempsession");
    expect_route(r, mkrec(APPID, "miniprogrampage", NULL, NULL), "wx.msg.miniprogrampage");
    route_rules_free(r);

    /* Custom defaults with placeholders; empty rules array. */
    r = load_ok("{'rules':[],'defaults':{'message_topic':'in.{appid}.m.{msg_type}',"
                "'event_topic':'in.{appid}.{msg_type}.{event}','unrouted_topic':'dead'}}");
    expect_route(r, mkrec(APPID, "image", NULL, NULL), "in." APPID ".m.image");
    expect_route(r, mkrec(APPID, "event", "debug_demo", NULL), "in." APPID ".event.debug_demo");
    assert_string_equal(route_rules_unrouted_topic(r), "dead");
    route_rules_free(r);
    route_rules_free(NULL);
    assert_int_equal(route_rules_count(NULL), 0);
}

/* ------------------------------------------------------------ matchers */

static void test_match_appid_msg_type_event(void **state)
{
    route_rules *r = load_ok("{'rules':["
                             "{'name':'one-app','match':{'appid':'wxA'},'publish':['a']},"
                             "{'name':'apps','match':{'appid':['wxB','wxC']},'publish':['b']},"
                             "{'name':'types','match':{'msg_type':['image','miniprogrampage']},"
                             " 'publish':['c']},"
                             "{'name':'ev','match':{'event':'debug_demo'},'publish':['d']},"
                             "{'name':'evs','match':{'msg_type':'event','event':['x','y']},"
                             " 'publish':['e']}]}");
    (void)state;

    expect_route(r, mkrec("wxA", "text", NULL, NULL), "a");
    expect_route(r, mkrec("wxB", "text", NULL, NULL), "b");
    expect_route(r, mkrec("wxC", "event", "y", NULL), "b");
    expect_route(r, mkrec("wxD", "image", NULL, NULL), "c");
    expect_route(r, mkrec("wxD", "miniprogrampage", NULL, NULL), "c");
    expect_route(r, mkrec("wxD", "event", "debug_demo", NULL), "d");
    expect_route(r, mkrec("wxD", "event", "y", NULL), "e");
    /* Case-sensitive, exact. */
    expect_route(r, mkrec("wxa", "text", NULL, NULL), "wx.msg.text");
    expect_route(r, mkrec("wxD", "event", "Debug_demo", NULL), "wx.event.Debug_demo");
    /* A message has no event: an event matcher never matches it. */
    expect_route(r, mkrec("wxD", "debug_demo", NULL, "{'Event':'debug_demo'}"),
                 "wx.msg.debug_demo");
    route_rules_free(r);
}

static void test_match_content(void **state)
{
    route_rules *r = load_ok("{'rules':["
                             "{'name':'exact-short','match':{'content':'help'},'publish':['a']},"
                             "{'name':'exact','match':{'content':{'exact':''}},'publish':['b']},"
                             "{'name':'prefix','match':{'content':{'prefix':'order '}},"
                             " 'publish':['c']},"
                             "{'name':'regex','match':{'content':{'regex':'^(refund|return)[ "
                             "]+#[0-9]{4,}$'}},'publish':['d']},"
                             "{'name':'regex-any','match':{'content':{'regex':'urgent|\\\\?'}},"
                             " 'publish':['e']}]}");
    (void)state;

    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'help'}"), "a");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'help me'}"), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'Help'}"), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':''}"), "b");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'order 42'}"), "c");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'order'}"), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'refund  #12345'}"), "d");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'refund #123'}"), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'my refund #12345'}"), "wx.msg.text");
    /* Unanchored regex; '\\?' is a literal question mark. */
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'this is urgent!'}"), "e");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'why?'}"), "e");
    /* Missing or non-string Content never matches, even the empty exact. */
    expect_route(r, mkrec(APPID, "text", NULL, NULL), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':42}"), "wx.msg.text");
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':null}"), "wx.msg.text");
    route_rules_free(r);
}

static void test_match_session_from(void **state)
{
    route_rules *r = load_ok("{'rules':["
                             "{'name':'vip','match':{'session_from':{'regex':'^vip'}},"
                             " 'publish':['vip']},"
                             "{'name':'shop','match':{'session_from':{'prefix':'shop:'}},"
                             " 'publish':['shop']},"
                             "{'name':'plain','match':{'session_from':'home'},"
                             " 'publish':['home']}]}");
    (void)state;

    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'vip-7'}"),
                 "vip");
    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'a vip'}"),
                 "wx.event.user_enter_tempsession");
    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'shop:12'}"),
                 "shop");
    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'home'}"),
                 "home");
    expect_route(r, mkrec(APPID, "event", "user_enter_tempsession", NULL),
                 "wx.event.user_enter_tempsession");
    /* The matcher reads the payload field, never Content. */
    expect_route(r, mkrec(APPID, "text", NULL, "{'Content':'vip'}"), "wx.msg.text");
    route_rules_free(r);
}

static void test_match_fields(void **state)
{
    route_rules *r =
        load_ok("{'rules':["
                "{'name':'str','match':{'fields':{'Title':'Order','AppId':'wxZ'}},"
                " 'publish':['str']},"
                "{'name':'int','match':{'fields':{'Scene':1001}},'publish':['int']},"
                "{'name':'bool','match':{'fields':{'Flag':true}},'publish':['bool']},"
                "{'name':'obj','match':{'fields':{'List':{'a':[1,2]}}},"
                " 'publish':['obj']},"
                "{'name':'null','match':{'msg_type':'nulltest','fields':{'Gone':null}},"
                " 'publish':['null']}]}");
    (void)state;

    expect_route(r, mkrec(APPID, "miniprogrampage", NULL, "{'Title':'Order','AppId':'wxZ'}"),
                 "str");
    /* Every field must hold. */
    expect_route(r, mkrec(APPID, "miniprogrampage", NULL, "{'Title':'Order','AppId':'wxY'}"),
                 "wx.msg.miniprogrampage");
    expect_route(r, mkrec(APPID, "miniprogrampage", NULL, "{'Title':'Order'}"),
                 "wx.msg.miniprogrampage");
    /* An integer matches the integer and its decimal text (XML), nothing else. */
    expect_route(r, mkrec(APPID, "event", "e", "{'Scene':1001}"), "int");
    expect_route(r, mkrec(APPID, "event", "e", "{'Scene':'1001'}"), "int");
    expect_route(r, mkrec(APPID, "event", "e", "{'Scene':'01001'}"), "wx.event.e");
    expect_route(r, mkrec(APPID, "event", "e", "{'Scene':1001.5}"), "wx.event.e");
    expect_route(r, mkrec(APPID, "event", "e", "{'Flag':true}"), "bool");
    expect_route(r, mkrec(APPID, "event", "e", "{'Flag':'true'}"), "wx.event.e");
    expect_route(r, mkrec(APPID, "event", "e", "{'List':{'a':[1,2]}}"), "obj");
    expect_route(r, mkrec(APPID, "event", "e", "{'List':{'a':[2,1]}}"), "wx.event.e");
    /* null matches an absent or null field. */
    expect_route(r, mkrec(APPID, "nulltest", NULL, NULL), "null");
    expect_route(r, mkrec(APPID, "nulltest", NULL, "{'Gone':null}"), "null");
    expect_route(r, mkrec(APPID, "nulltest", NULL, "{'Gone':''}"), "wx.msg.nulltest");
    route_rules_free(r);
}

static void test_match_all_combined(void **state)
{
    route_rules *r = load_ok("{'rules':[{'name':'all','match':{'appid':'" APPID "',"
                             "'msg_type':'event','event':'user_enter_tempsession',"
                             "'session_from':{'prefix':'vip'},'fields':{'Lang':'zh'}},"
                             "'publish':['hit']},"
                             "{'name':'empty-match','match':{},'publish':['fallback']}]}");
    (void)state;

    expect_route(
        r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'vip1','Lang':'zh'}"),
        "hit");
    expect_route(
        r, mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'vip1','Lang':'en'}"),
        "fallback");
    expect_route(
        r,
        mkrec("wxOther", "event", "user_enter_tempsession", "{'SessionFrom':'vip1','Lang':'zh'}"),
        "fallback");
    route_rules_free(r);
}

/* ------------------------------------------------------------ evaluation order */

static void test_first_match_wins(void **state)
{
    route_rules *r = load_ok("{'rules':["
                             "{'name':'first','match':{'msg_type':'text'},'publish':['one']},"
                             "{'name':'second','match':{'msg_type':'text'},'publish':['two']}]}");
    struct route_result res;
    json_t *rec = mkrec(APPID, "text", NULL, NULL);
    (void)state;

    route(r, rec, &res);
    assert_topics(&res, "one", NULL); /* no default topic either: a final rule matched */
    assert_matched(&res, "first", NULL);
    route_result_clear(&res);
    route_result_clear(&res); /* idempotent */
    json_decref(rec);
    route_rules_free(r);
}

static void test_continue(void **state)
{
    route_rules *r = load_ok(
        "{'rules':["
        "{'name':'tap','match':{},'publish':['audit.all','wx.msg.{msg_type}'],'continue':true},"
        "{'name':'tap-text','match':{'msg_type':'text'},'publish':['audit.text','audit.all'],"
        " 'continue':true},"
        "{'name':'final-text','match':{'msg_type':'text','content':{'prefix':'!'}},"
        " 'publish':['commands']},"
        "{'name':'after','match':{},'publish':['never']}]}");
    struct route_result res;
    json_t *rec;
    (void)state;

    /* Continue rules accumulate (deduplicated, first-seen order), the final rule stops. */
    rec = mkrec(APPID, "text", NULL, "{'Content':'!stop'}");
    route(r, rec, &res);
    assert_topics(&res, "audit.all", "wx.msg.text", "audit.text", "commands", NULL);
    assert_matched(&res, "tap", "tap-text", "final-text", NULL);
    route_result_clear(&res);
    json_decref(rec);

    /* The catch-all "after" is final too. */
    rec = mkrec(APPID, "text", NULL, "{'Content':'hello'}");
    route(r, rec, &res);
    assert_topics(&res, "audit.all", "wx.msg.text", "audit.text", "never", NULL);
    assert_matched(&res, "tap", "tap-text", "after", NULL);
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);

    /* Only continue rules matched: the default topic is added as well. */
    r = load_ok("{'rules':[{'name':'tap','match':{'msg_type':'image'},'publish':['analytics'],"
                "'continue':true}]}");
    rec = mkrec(APPID, "image", NULL, NULL);
    route(r, rec, &res);
    assert_topics(&res, "analytics", "wx.msg.image", NULL);
    assert_matched(&res, "tap", NULL);
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

static void test_drop(void **state)
{
    route_rules *r =
        load_ok("{'rules':["
                "{'name':'greet','match':{},'reply':{'msgtype':'typing','command':'Typing'},"
                " 'publish':['audit'],'continue':true},"
                "{'name':'no-debug','match':{'event':'debug_demo'},'drop':true,'continue':false},"
                "{'name':'rest','match':{},'publish':['rest']}]}");
    struct route_result res;
    json_t *rec = mkrec(APPID, "event", "debug_demo", NULL);
    (void)state;

    /* drop discards the topics and the reply of earlier continue rules. */
    route(r, rec, &res);
    assert_true(res.dropped);
    assert_false(res.unrouted);
    assert_int_equal(res.n_topics, 0);
    assert_int_equal(res.n_replies, 0);
    assert_matched(&res, "greet", "no-debug", NULL);
    route_result_clear(&res);
    json_decref(rec);

    rec = mkrec(APPID, "event", "other", NULL);
    route(r, rec, &res);
    assert_false(res.dropped);
    assert_topics(&res, "audit", "rest", NULL);
    assert_int_equal(res.n_replies, 1);
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

/* ------------------------------------------------------------ topics and unrouted */

static void test_topic_placeholders(void **state)
{
    route_rules *r =
        load_ok("{'rules':[{'name':'p','match':{'appid':'" APPID "'},"
                "'publish':['t.{appid}.{msg_type}.{event}','{msg_type}','x-{event}-{event}']}]}");
    struct route_result res;
    json_t *rec = mkrec(APPID, "event", "wxa_media_check", NULL);
    (void)state;

    route(r, rec, &res);
    assert_topics(&res, "t." APPID ".event.wxa_media_check", "event",
                  "x-wxa_media_check-wxa_media_check", NULL);
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

static void expect_unrouted(const route_rules *r, json_t *rec, const char *code, const char *reason)
{
    struct route_result res;

    route(r, rec, &res);
    assert_true(res.unrouted);
    assert_false(res.dropped);
    assert_non_null(res.unrouted_code);
    assert_string_equal(res.unrouted_code, code);
    assert_string_equal(res.reason, reason);
    assert_topics(&res, route_rules_unrouted_topic(r), NULL);
    assert_int_equal(res.n_replies, 0);
    route_result_clear(&res);
    json_decref(rec);
}

static void test_unrouted_bad_records(void **state)
{
    route_rules *r = load_ok("{'rules':[{'name':'all','match':{},"
                             "'reply':{'msgtype':'typing','command':'Typing'},'continue':true}],"
                             "'defaults':{'unrouted_topic':'wx.unrouted.test'}}");
    json_t *rec;
    (void)state;

    expect_unrouted(r, J("[1]"), "bad_record", "record is not a JSON object");
    expect_unrouted(r, J("'text'"), "bad_record", "record is not a JSON object");
    expect_unrouted(r, J("{}"), "bad_record", "schema is not wxbridge.inbound.v1");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_set_new(rec, "schema", json_string("wxbridge.inbound.v2"));
    expect_unrouted(r, rec, "bad_record", "schema is not wxbridge.inbound.v1");

    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_del(rec, "msg_type");
    expect_unrouted(r, rec, "bad_record", "msg_type must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_set_new(rec, "msg_type", json_string(""));
    expect_unrouted(r, rec, "bad_record", "msg_type must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_set_new(rec, "msg_type", json_integer(1));
    expect_unrouted(r, rec, "bad_record", "msg_type must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_del(rec, "id");
    expect_unrouted(r, rec, "bad_record", "id must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_set_new(rec, "appid", json_null());
    expect_unrouted(r, rec, "bad_record", "appid must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_del(rec, "from");
    expect_unrouted(r, rec, "bad_record", "from must be a non-empty string");
    rec = mkrec(APPID, "text", NULL, NULL);
    json_object_set_new(rec, "payload", json_string("x"));
    expect_unrouted(r, rec, "bad_record", "payload must be an object");
    rec = mkrec(APPID, "event", "x", NULL);
    json_object_set_new(rec, "event", json_integer(3));
    expect_unrouted(r, rec, "bad_record", "event must be a string or null");
    {
        char *longid = malloc(1100);
        assert_non_null(longid);
        memset(longid, 'a', 1099);
        longid[1099] = '\0';
        rec = mkrec(APPID, "text", NULL, NULL);
        json_object_set_new(rec, "id", json_string(longid));
        free(longid);
        expect_unrouted(r, rec, "bad_record", "id longer than 1024 bytes");
    }
    route_rules_free(r);
}

static void test_unrouted_topics(void **state)
{
    route_rules *r =
        load_ok("{'rules':["
                "{'name':'reply-first','match':{'appid':'wxR'},"
                " 'reply':{'msgtype':'text','text':{'content':'x'}},'continue':true},"
                "{'name':'needs-event','match':{'msg_type':'text'},'publish':['t.{event}']},"
                "{'name':'literal','match':{'appid':'wxL'},'publish':['events.noevent']}]}");
    json_t *rec;
    char big[300];
    (void)state;

    /* An event without Event on the default route, or a {event} topic for a message. */
    expect_unrouted(r, mkrec(APPID, "event", NULL, NULL), "no_event",
                    "topic \"wx.event.{event}\" needs {event} but the event record has no Event");
    rec = mkrec(APPID, "event", "x", NULL);
    json_object_set_new(rec, "event", json_string("")); /* empty = no event */
    expect_unrouted(r, rec, "no_event",
                    "topic \"wx.event.{event}\" needs {event} but the event record has no Event");
    expect_unrouted(r, mkrec(APPID, "text", NULL, NULL), "no_event",
                    "topic \"t.{event}\" needs {event} but the record is not an event");
    /* A rule with a literal topic routes it fine. */
    expect_route(r, mkrec("wxL", "event", NULL, NULL), "events.noevent");

    /* Values that are not valid in a topic name are not sanitized. */
    expect_unrouted(r, mkrec(APPID, "event", "a/b", NULL), "bad_topic_value",
                    "{event} value \"a/b\" has characters not allowed in a topic name");
    expect_unrouted(r, mkrec(APPID, "te xt", NULL, NULL), "bad_topic_value",
                    "{msg_type} value \"te xt\" has characters not allowed in a topic name");
    expect_unrouted(r, mkrec(APPID, "\xe6\x96\x87", NULL, NULL), "bad_topic_value",
                    "{msg_type} value \"\xe6\x96\x87\" has characters not allowed in a topic "
                    "name");
    memset(big, 'e', 245);
    big[245] = '\0';
    expect_unrouted(r, mkrec(APPID, "event", big, NULL), "bad_topic_value",
                    "topic \"wx.event.{event}\" expands to more than 249 bytes");
    memset(big, 'e', 240); /* 9 + 240 = 249: the longest valid name */
    big[240] = '\0';
    {
        struct route_result res;
        char want[320];
        snprintf(want, sizeof(want), "wx.event.%s", big);
        rec = mkrec(APPID, "event", big, NULL);
        route(r, rec, &res);
        assert_topics(&res, want, NULL);
        route_result_clear(&res);
        json_decref(rec);
    }
    /* An unrouted record emits no reply, even one collected before. */
    expect_unrouted(r, mkrec("wxR", "event", NULL, NULL), "no_event",
                    "topic \"wx.event.{event}\" needs {event} but the event record has no Event");
    route_rules_free(r);

    r = load_ok("{'rules':[{'name':'dot','match':{},'publish':['{msg_type}']}]}");
    expect_unrouted(r, mkrec(APPID, "..", NULL, NULL), "bad_topic_value",
                    "\"..\" is not a valid topic name");
    route_rules_free(r);
}

static void test_unrouted_too_many(void **state)
{
    char doc[8192];
    size_t n = 0;
    route_rules *r;
    (void)state;

    /* 3 continue rules of 12 distinct topics: 36 > ROUTE_TOPICS_MAX (32). */
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{'rules':[");
    for (int i = 0; i < 3; i++) {
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{'name':'r%d','publish':[", i ? "," : "",
                              i);
        for (int j = 0; j < 12; j++)
            n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s't%d_%d'", j ? "," : "", i, j);
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "],'continue':true}");
    }
    snprintf(doc + n, sizeof(doc) - n, "]}");
    r = load_ok(doc);
    expect_unrouted(r, mkrec(APPID, "text", NULL, NULL), "too_many_targets", "more than 32 topics");
    route_rules_free(r);

    /* 9 replying continue rules: more than ROUTE_REPLIES_MAX (8). */
    n = 0;
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{'rules':[");
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n,
                              "%s{'name':'r%d','reply':{'msgtype':'typing','command':'Typing'},"
                              "'continue':true}",
                              i ? "," : "", i);
    snprintf(doc + n, sizeof(doc) - n, "]}");
    r = load_ok(doc);
    expect_unrouted(r, mkrec(APPID, "text", NULL, NULL), "too_many_targets", "more than 8 replies");
    route_rules_free(r);
}

static void test_eval_arguments(void **state)
{
    route_rules *r = load_ok("{}");
    struct route_result res;
    char err[64] = "";
    (void)state;

    assert_int_equal(route_rules_eval(NULL, NULL, &res, err, sizeof(err)), ROUTE_EINVAL);
    assert_string_equal(err, "route_rules_eval: NULL argument");
    assert_int_equal(route_rules_eval(r, NULL, NULL, err, sizeof(err)), ROUTE_EINVAL);
    /* A NULL record is a record that cannot be interpreted. */
    assert_int_equal(route_rules_eval(r, NULL, &res, err, sizeof(err)), 0);
    assert_true(res.unrouted);
    route_result_clear(&res);
    route_result_clear(NULL);
    route_rules_free(r);
}

/* ------------------------------------------------------------ replies */

static void test_reply_text(void **state)
{
    route_rules *r =
        load_ok("{'rules':[{'name':'echo','match':{'msg_type':'text'},"
                "'reply':{'msgtype':'text','text':{'content':"
                "'{{from}} said {{Content}} [{{Missing}}] to {{appid}} "
                "({{msg_type}}/{{event}}, {{MsgId}}, #{{create_time}}) {x} }} {'}}}]}");
    struct route_result res;
    json_t *rec =
        mkrec(APPID, "text", NULL, "{'Content':'hi {{from}}','MsgId':'6054768590064713728'}");
    char want[1024];
    json_t *expected;
    (void)state;

    route(r, rec, &res);
    assert_int_equal(res.n_topics, 0); /* a final rule that only replies publishes nothing */
    assert_int_equal(res.n_replies, 1);
    snprintf(want, sizeof(want),
             "{'schema':'wxbridge.reply.v1','id':'%s','appid':'" APPID "','touser':'" OPENID "',"
             "'msgtype':'text','text':{'content':'" OPENID " said hi {{from}} [] to " APPID
             " (text/, 6054768590064713728, #1714112445) {x} }} {'},"
             "'in_reply_to':'%s'}",
             json_string_value(json_object_get(res.replies[0], "id")),
             json_string_value(json_object_get(rec, "id")));
    expected = J(want);
    tu_assert_json_equal(res.replies[0], expected, "text reply");
    json_decref(expected);
    /* Envelope first, then the template, then in_reply_to. */
    {
        char *dump = json_dumps(res.replies[0], JSON_COMPACT);
        assert_non_null(dump);
        assert_true(strncmp(dump, "{\"schema\":\"wxbridge.reply.v1\",\"id\":\"r:", 38) == 0);
        assert_non_null(strstr(dump, "\"},\"in_reply_to\":\""));
        free(dump);
    }
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

static void test_reply_nested_and_types(void **state)
{
    route_rules *r =
        load_ok("{'rules':["
                "{'name':'link','match':{'msg_type':'miniprogrampage'},'reply':{'msgtype':'link',"
                " 'link':{'title':'Re: {{Title}}','description':'page {{PagePath}} of {{AppId}}',"
                " 'url':'https://example.com/p?u={{from}}&n={{Count}}&r={{Ratio}}&b={{Flag}}',"
                " 'thumb_url':'{{List}}'}}},"
                "{'name':'mp','match':{'msg_type':'image'},'reply':{'msgtype':'miniprogrampage',"
                " 'miniprogrampage':{'title':'Got {{MediaId}}','pagepath':'pages/img?id={{id}}',"
                " 'thumb_media_id':'{{MediaId}}'}},'continue':true},"
                "{'name':'img','match':{'msg_type':'image'},'reply':{'msgtype':'image',"
                " 'image':{'media_id':'{{MediaId}}'}},'publish':['images']}]}");
    struct route_result res;
    json_t *rec, *body;
    (void)state;

    rec = mkrec(APPID, "miniprogrampage", NULL,
                "{'Title':'Shop','PagePath':'pages/a','AppId':'wxMP','Count':3,'Ratio':0.5,"
                "'Flag':false,'List':{'b':[1,'x'],'a':null}}");
    route(r, rec, &res);
    assert_int_equal(res.n_replies, 1);
    body = json_object_get(res.replies[0], "link");
    assert_string_equal(json_string_value(json_object_get(body, "title")), "Re: Shop");
    assert_string_equal(json_string_value(json_object_get(body, "description")),
                        "page pages/a of wxMP");
    assert_string_equal(json_string_value(json_object_get(body, "url")),
                        "https://example.com/p?u=" OPENID "&n=3&r=0.5&b=false");
    /* Objects are inserted as compact JSON with sorted keys. */
    assert_string_equal(json_string_value(json_object_get(body, "thumb_url")),
                        "{\"a\":null,\"b\":[1,\"x\"]}");
    route_result_clear(&res);
    json_decref(rec);

    rec = mkrec(APPID, "image", NULL, "{'MediaId':'MEDIA_1','PicUrl':'http://x'}");
    route(r, rec, &res);
    assert_topics(&res, "images", NULL);
    assert_matched(&res, "mp", "img", NULL);
    assert_int_equal(res.n_replies, 2);
    body = json_object_get(res.replies[0], "miniprogrampage");
    assert_string_equal(json_string_value(json_object_get(body, "title")), "Got MEDIA_1");
    assert_string_equal(json_string_value(json_object_get(body, "thumb_media_id")), "MEDIA_1");
    {
        char want[128];
        snprintf(want, sizeof(want), "pages/img?id=%s",
                 json_string_value(json_object_get(rec, "id")));
        assert_string_equal(json_string_value(json_object_get(body, "pagepath")), want);
    }
    assert_string_equal(json_string_value(json_object_get(res.replies[1], "msgtype")), "image");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(res.replies[1], "image"), "media_id")),
        "MEDIA_1");
    /* Two rules, two different ids, both answering the same record. */
    assert_string_not_equal(json_string_value(json_object_get(res.replies[0], "id")),
                            json_string_value(json_object_get(res.replies[1], "id")));
    assert_string_equal(json_string_value(json_object_get(res.replies[1], "in_reply_to")),
                        json_string_value(json_object_get(rec, "id")));
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

static void test_reply_typing_and_missing(void **state)
{
    route_rules *r = load_ok("{'rules':[{'name':'t','match':{},"
                             "'reply':{'msgtype':'typing','command':'CancelTyping'}},"
                             "{'name':'never','match':{},'publish':['x']}]}");
    struct route_result res;
    json_t *rec = mkrec(APPID, "text", NULL, NULL), *want;
    char text[512];
    (void)state;

    route(r, rec, &res);
    snprintf(text, sizeof(text),
             "{'schema':'wxbridge.reply.v1','id':'%s','appid':'" APPID "','touser':'" OPENID
             "','msgtype':'typing','command':'CancelTyping','in_reply_to':'%s'}",
             json_string_value(json_object_get(res.replies[0], "id")),
             json_string_value(json_object_get(rec, "id")));
    want = J(text);
    tu_assert_json_equal(res.replies[0], want, "typing reply");
    json_decref(want);
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);

    /* Missing, null and record-level null fields all render as "". */
    r = load_ok("{'rules':[{'name':'m','reply':{'msgtype':'text',"
                "'text':{'content':'[{{Nope}}][{{Null}}][{{event}}][{{msg_id}}][{{to}}]'}}}]}");
    rec = mkrec(APPID, "text", NULL, "{'Null':null}");
    json_object_del(rec, "to");
    route(r, rec, &res);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(res.replies[0], "text"), "content")),
        "[][][][][]");
    route_result_clear(&res);
    json_decref(rec);
    route_rules_free(r);
}

static void test_reply_truncation(void **state)
{
    route_rules *r = load_ok("{'rules':[{'name':'echo',"
                             "'reply':{'msgtype':'text','text':{'content':'>{{Content}}<'}}}]}");
    struct route_result res;
    json_t *rec = mkrec(APPID, "text", NULL, NULL);
    char *content = malloc(REPLY_TPL_TEXT_MAX + 16);
    const char *got;
    size_t n;
    (void)state;

    assert_non_null(content);
    /* ">" + 8189 'a' + "文" (3 bytes) crosses 8192 in the middle of the character. */
    memset(content, 'a', REPLY_TPL_TEXT_MAX - 3);
    memcpy(content + REPLY_TPL_TEXT_MAX - 3, "\xe6\x96\x87", 4);
    json_object_set_new(json_object_get(rec, "payload"), "Content", json_string(content));
    route(r, rec, &res);
    got = json_string_value(json_object_get(json_object_get(res.replies[0], "text"), "content"));
    n = strlen(got);
    assert_int_equal(n, REPLY_TPL_TEXT_MAX - 2); /* ">" + the 'a's, the character dropped */
    assert_int_equal(got[0], '>');
    assert_int_equal(got[n - 1], 'a');
    route_result_clear(&res);

    /* Exactly at the bound: nothing is cut. */
    memset(content, 'b', REPLY_TPL_TEXT_MAX - 2);
    content[REPLY_TPL_TEXT_MAX - 2] = '\0';
    json_object_set_new(json_object_get(rec, "payload"), "Content", json_string(content));
    route(r, rec, &res);
    got = json_string_value(json_object_get(json_object_get(res.replies[0], "text"), "content"));
    assert_int_equal(strlen(got), REPLY_TPL_TEXT_MAX);
    assert_int_equal(got[REPLY_TPL_TEXT_MAX - 1], '<');
    route_result_clear(&res);

    free(content);
    json_decref(rec);
    route_rules_free(r);
}

static void test_reply_ids(void **state)
{
    const char *doc = "{'rules':[{'name':'greet','reply':{'msgtype':'typing','command':'Typing'},"
                      "'continue':true},{'name':'other','reply':{'msgtype':'typing',"
                      "'command':'Typing'}}]}";
    route_rules *r = load_ok(doc), *r2;
    struct route_result a, b;
    json_t *rec = mkrec("wx1", "text", NULL, NULL), *rec2;
    char id[REPLY_TPL_ID_LEN + 1];
    (void)state;

    /* Known vector: "r:" + hex(SHA-256("wx1:m:1" NUL "greet"))[:32]. */
    assert_int_equal(reply_tpl_id("wx1:m:1", "greet", id), 0);
    assert_string_equal(id, "r:ef3ab9421bde559ecd59a30580dc49e1");
    assert_int_equal(strlen(id), REPLY_TPL_ID_LEN);
    assert_int_equal(reply_tpl_id("wx1:m:1", "greet", id), 0);
    assert_string_equal(id, "r:ef3ab9421bde559ecd59a30580dc49e1");
    /* The NUL separator: moving a byte between id and name changes the id. */
    assert_int_equal(reply_tpl_id("wx1:m:1g", "reet", id), 0);
    assert_string_not_equal(id, "r:ef3ab9421bde559ecd59a30580dc49e1");

    route(r, rec, &a);
    assert_int_equal(a.n_replies, 2);
    reply_tpl_id(json_string_value(json_object_get(rec, "id")), "greet", id);
    assert_string_equal(json_string_value(json_object_get(a.replies[0], "id")), id);
    reply_tpl_id(json_string_value(json_object_get(rec, "id")), "other", id);
    assert_string_equal(json_string_value(json_object_get(a.replies[1], "id")), id);

    /* Reprocessing the same record, even after a reload, yields the same ids. */
    r2 = load_ok(doc);
    route(r2, rec, &b);
    assert_int_equal(b.n_replies, 2);
    tu_assert_json_equal(a.replies[0], b.replies[0], "reprocessed reply");
    tu_assert_json_equal(a.replies[1], b.replies[1], "reprocessed reply");
    route_result_clear(&b);

    /* Another record: other ids. */
    rec2 = mkrec("wx1", "text", NULL, NULL);
    route(r, rec2, &b);
    assert_string_not_equal(json_string_value(json_object_get(a.replies[0], "id")),
                            json_string_value(json_object_get(b.replies[0], "id")));
    route_result_clear(&b);
    route_result_clear(&a);
    json_decref(rec2);
    json_decref(rec);
    route_rules_free(r2);
    route_rules_free(r);
}

/* ------------------------------------------------------------ validation */

struct err_case {
    const char *doc;
    const char *want;
};

static void run_cases(const struct err_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_errors(c[i].doc, c[i].want);
}

#define R0(body) "{'rules':[{'name':'a'," body "}]}"

static void test_errors_document(void **state)
{
    static const struct err_case cases[] = {
        {"[]", "$: routing rules must be a JSON object\n"},
        {"{'rules':{},'extra':1}",
         "$: unknown key \"extra\"\n$.rules: must be an array of rules\n"},
        {"{'rules':[1,'x']}", "$.rules[0]: must be an object\n$.rules[1]: must be an object\n"},
        {"{'_comment':5}", "$._comment: must be a string\n"},
        {"{'$schema':'x','defaults':[]}", "$.defaults: must be an object\n"},
        {"{'defaults':{'events':'x','_comment':['no']}}",
         "$.defaults: unknown key \"events\"\n$.defaults._comment: must be a string\n"},
        {"{'defaults':{'message_topic':'wx.{event}'}}",
         "$.defaults.message_topic: {event} cannot be used here: messages have no event\n"},
        {"{'defaults':{'unrouted_topic':'wx.{appid}'}}",
         "$.defaults.unrouted_topic: placeholders are not allowed in this topic\n"},
        {"{'defaults':{'event_topic':5}}", "$.defaults: \"event_topic\" must be a string\n"},
        {"{'defaults':{'message_topic':'','unrouted_topic':'.'}}",
         "$.defaults.message_topic: topic name must not be empty\n"
         "$.defaults.unrouted_topic: \".\" is not a valid topic name\n"},
    };
    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_errors_rule(void **state)
{
    static const struct err_case cases[] = {
        {"{'rules':[{'publish':['a']}]}", "$.rules[0]: required string \"name\" is missing\n"},
        {"{'rules':[{'name':7,'publish':['a']}]}", "$.rules[0]: \"name\" must be a string\n"},
        {"{'rules':[{'name':'has space','publish':['a']}]}",
         "$.rules[0].name: must be 1-64 characters of [A-Za-z0-9._-]\n"},
        {"{'rules':[{'name':'','publish':['a']}]}",
         "$.rules[0].name: must be 1-64 characters of [A-Za-z0-9._-]\n"},
        {"{'rules':[{'name':'a','publish':['x']},{'name':'b','publish':['x']},"
         "{'name':'a','publish':['x']}]}",
         "$.rules[2].name: duplicate rule name \"a\" (also in $.rules[0])\n"},
        {R0("'mach':{},'publish':['x']"), "$.rules[0]: unknown key \"mach\"\n"},
        {R0("'_comment':{}"),
         "$.rules[0]._comment: must be a string\n"
         "$.rules[0]: rule has no action: give \"publish\", \"reply\" or \"drop\"\n"},
        {R0("'match':{'msg_type':'text'}"),
         "$.rules[0]: rule has no action: give \"publish\", \"reply\" or \"drop\"\n"},
        {R0("'continue':true"),
         "$.rules[0]: rule has no action: give \"publish\", \"reply\" or \"drop\"\n"},
        {R0("'drop':true,'publish':['x']"),
         "$.rules[0]: \"drop\" cannot be combined with \"publish\", \"reply\" or \"continue\"\n"},
        {R0("'drop':true,'continue':true"),
         "$.rules[0]: \"drop\" cannot be combined with \"publish\", \"reply\" or \"continue\"\n"},
        {R0("'drop':true,'reply':{'msgtype':'typing','command':'Typing'}"),
         "$.rules[0]: \"drop\" cannot be combined with \"publish\", \"reply\" or \"continue\"\n"},
        {R0("'drop':'yes'"),
         "$.rules[0]: \"drop\" must be true or false\n"
         "$.rules[0]: rule has no action: give \"publish\", \"reply\" or \"drop\"\n"},
        {R0("'continue':1,'publish':['x']"), "$.rules[0]: \"continue\" must be true or false\n"},
    };
    char doc[16384];
    size_t n = 0;
    (void)state;

    run_cases(cases, sizeof(cases) / sizeof(cases[0]));

    /* A 65-character name, and more than ROUTE_RULES_MAX rules. */
    expect_errors("{'rules':[{'name':'"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',"
                  "'publish':['x']}]}",
                  "$.rules[0].name: must be 1-64 characters of [A-Za-z0-9._-]\n");
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{'rules':[");
    for (int i = 0; i < ROUTE_RULES_MAX + 1; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{'name':'r%d','drop':true}",
                              i ? "," : "", i);
    snprintf(doc + n, sizeof(doc) - n, "]}");
    expect_errors(doc, "$.rules: at most 256 rules\n");
}

static void test_errors_match(void **state)
{
    static const struct err_case cases[] = {
        {R0("'match':[],'drop':true"), "$.rules[0].match: must be an object\n"},
        {R0("'match':{'msgtype':'text','_comment':'ok'},'drop':true"),
         "$.rules[0].match: unknown key \"msgtype\"\n"},
        {R0("'match':{'_comment':1},'drop':true"), "$.rules[0].match._comment: must be a string\n"},
        {R0("'match':{'appid':''},'drop':true"), "$.rules[0].match.appid: must not be empty\n"},
        {R0("'match':{'appid':[]},'drop':true"),
         "$.rules[0].match.appid: must hold 1 to 64 strings\n"},
        {R0("'match':{'msg_type':['text',3]},'drop':true"),
         "$.rules[0].match.msg_type[1]: must be a non-empty string\n"},
        {R0("'match':{'event':true},'drop':true"),
         "$.rules[0].match.event: must be a string or an array of strings\n"},
        {R0("'match':{'content':5},'drop':true"),
         "$.rules[0].match.content: must be a string or an object with one of \"exact\", "
         "\"prefix\", \"regex\"\n"},
        {R0("'match':{'content':{}},'drop':true"),
         "$.rules[0].match.content: needs exactly one of \"exact\", \"prefix\" or \"regex\"\n"},
        {R0("'match':{'content':{'exact':'a','prefix':'b'}},'drop':true"),
         "$.rules[0].match.content: needs exactly one of \"exact\", \"prefix\" or \"regex\"\n"},
        {R0("'match':{'content':{'suffix':'a'}},'drop':true"),
         "$.rules[0].match.content: unknown key \"suffix\"\n"
         "$.rules[0].match.content: needs exactly one of \"exact\", \"prefix\" or \"regex\"\n"},
        {R0("'match':{'content':{'prefix':'a','icase':true}},'drop':true"),
         "$.rules[0].match.content: unknown key \"icase\"\n"},
        {R0("'match':{'session_from':{'prefix':1}},'drop':true"),
         "$.rules[0].match.session_from.prefix: must be a string\n"},
        {R0("'match':{'content':{'regex':'a(b'}},'drop':true"),
         "$.rules[0].match.content.regex: invalid POSIX extended regular expression: "
         "Unmatched ( or \\(\n"},
        {R0("'match':{'session_from':{'regex':'[z-a]'}},'drop':true"),
         "$.rules[0].match.session_from.regex: invalid POSIX extended regular expression: "
         "Invalid range end\n"},
        {R0("'match':{'fields':[]},'drop':true"),
         "$.rules[0].match.fields: must be an object of payload field names and values\n"},
        {R0("'match':{'fields':{'':1}},'drop':true"),
         "$.rules[0].match.fields: field names must not be empty\n"},
    };
    char doc[2048], re[ROUTE_REGEX_MAX + 2];
    size_t n = 0;
    (void)state;

    run_cases(cases, sizeof(cases) / sizeof(cases[0]));

    memset(re, 'a', ROUTE_REGEX_MAX + 1);
    re[ROUTE_REGEX_MAX + 1] = '\0';
    snprintf(doc, sizeof(doc), R0("'match':{'content':{'regex':'%s'}},'drop':true"), re);
    expect_errors(doc, "$.rules[0].match.content.regex: regular expression longer than 512 "
                       "bytes\n");
    re[ROUTE_REGEX_MAX] = '\0'; /* exactly the limit is fine */
    snprintf(doc, sizeof(doc), R0("'match':{'content':{'regex':'%s'}},'drop':true"), re);
    route_rules_free(load_ok(doc));

    n += (size_t)snprintf(doc + n, sizeof(doc) - n,
                          "{'rules':[{'name':'a','drop':true,'match':{'fields':{");
    for (int i = 0; i < ROUTE_FIELDS_MAX + 1; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s'F%d':%d", i ? "," : "", i, i);
    snprintf(doc + n, sizeof(doc) - n, "}}}]}");
    expect_errors(doc, "$.rules[0].match.fields: at most 32 fields\n");
}

static void test_errors_publish(void **state)
{
    static const struct err_case cases[] = {
        {R0("'publish':[]"), "$.rules[0].publish: must be a non-empty array of topic names\n"},
        {R0("'publish':'x'"), "$.rules[0].publish: must be a non-empty array of topic names\n"},
        {R0("'publish':[1,'ok',null]"),
         "$.rules[0].publish[0]: must be a string\n$.rules[0].publish[2]: must be a string\n"},
        {R0("'publish':['']"), "$.rules[0].publish[0]: topic name must not be empty\n"},
        {R0("'publish':['a/b']"),
         "$.rules[0].publish[0]: character '/' is not allowed in a topic name (allowed: A-Z a-z "
         "0-9 . _ -)\n"},
        {R0("'publish':['a b']"),
         "$.rules[0].publish[0]: character ' ' is not allowed in a topic name (allowed: A-Z a-z "
         "0-9 . _ -)\n"},
        {R0("'publish':['wx.\xc3\xa9']"),
         "$.rules[0].publish[0]: byte 0xc3 is not allowed in a topic name (allowed: A-Z a-z 0-9 "
         ". _ -)\n"},
        {R0("'publish':['wx.{foo}']"),
         "$.rules[0].publish[0]: unknown placeholder {foo} (known: {msg_type}, {event}, "
         "{appid})\n"},
        {R0("'publish':['wx.{}']"),
         "$.rules[0].publish[0]: unknown placeholder {} (known: {msg_type}, {event}, {appid})\n"},
        {R0("'publish':['wx.{msg_type']"),
         "$.rules[0].publish[0]: \"{\" without a matching \"}\"\n"},
        {R0("'publish':['wx.}']"), "$.rules[0].publish[0]: \"}\" without a matching \"{\"\n"},
        {R0("'publish':['..','.','ok.{event}']"),
         "$.rules[0].publish[0]: \"..\" is not a valid topic name\n"
         "$.rules[0].publish[1]: \".\" is not a valid topic name\n"},
    };
    char doc[4096], t[ROUTE_TOPIC_MAX + 2];
    size_t n = 0;
    (void)state;

    run_cases(cases, sizeof(cases) / sizeof(cases[0]));

    memset(t, 't', ROUTE_TOPIC_MAX + 1);
    t[ROUTE_TOPIC_MAX + 1] = '\0';
    snprintf(doc, sizeof(doc), R0("'publish':['%s']"), t);
    expect_errors(doc, "$.rules[0].publish[0]: topic name longer than 249 bytes\n");
    t[ROUTE_TOPIC_MAX] = '\0';
    snprintf(doc, sizeof(doc), R0("'publish':['%s']"), t);
    route_rules_free(load_ok(doc));

    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{'rules':[{'name':'a','publish':[");
    for (int i = 0; i < ROUTE_PUBLISH_MAX + 1; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s't%d'", i ? "," : "", i);
    snprintf(doc + n, sizeof(doc) - n, "]}]}");
    expect_errors(doc, "$.rules[0].publish: at most 16 topics\n");
}

static void test_errors_reply(void **state)
{
    static const struct err_case cases[] = {
        {R0("'reply':'hi'"),
         "$.rules[0].reply: must be an object (a reply command without its envelope)\n"},
        {R0("'reply':{}"), "$.rules[0].reply: required string \"msgtype\" is missing\n"},
        {R0("'reply':{'msgtype':['text']}"), "$.rules[0].reply: \"msgtype\" must be a string\n"},
        {R0("'reply':{'msgtype':'video'}"),
         "$.rules[0].reply.msgtype: unknown msgtype \"video\" (expected text, image, link, "
         "miniprogrampage or typing)\n"},
        {R0("'reply':{'msgtype':'{{MsgType}}'}"),
         "$.rules[0].reply.msgtype: unknown msgtype \"{{MsgType}}\" (expected text, image, link, "
         "miniprogrampage or typing)\n"},
        {R0("'reply':{'msgtype':'text'}"),
         "$.rules[0].reply: required object \"text\" is missing\n"},
        {R0("'reply':{'msgtype':'text','text':'hi'}"),
         "$.rules[0].reply.text: must be an object\n"},
        {R0("'reply':{'msgtype':'text','text':{}}"),
         "$.rules[0].reply.text: required string \"content\" is missing\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'hi','extra':1}}"),
         "$.rules[0].reply.text: unknown key \"extra\"\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':1}}"),
         "$.rules[0].reply.text: \"content\" must be a string\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'x'},'touser':'o','id':'i'}"),
         "$.rules[0].reply.touser: is set by the router, not by the template\n"
         "$.rules[0].reply.id: is set by the router, not by the template\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'x'},'image':{},'_comment':'c'}"),
         "$.rules[0].reply: unknown key \"image\" for msgtype \"text\"\n"
         "$.rules[0].reply: unknown key \"_comment\" for msgtype \"text\"\n"},
        {R0("'reply':{'msgtype':'typing'}"),
         "$.rules[0].reply: required string \"command\" is missing\n"},
        {R0("'reply':{'msgtype':'typing','command':'Type','text':{}}"),
         "$.rules[0].reply: unknown key \"text\" for msgtype \"typing\"\n"
         "$.rules[0].reply.command: must be \"Typing\" or \"CancelTyping\"\n"},
        {R0("'reply':{'msgtype':'link','link':{'title':'t','url':'u'}}"),
         "$.rules[0].reply.link: required string \"description\" is missing\n"
         "$.rules[0].reply.link: required string \"thumb_url\" is missing\n"},
        {R0("'reply':{'msgtype':'miniprogrampage','miniprogrampage':{'title':'t',"
            "'pagepath':'p','thumb_media_id':'m','appid':'wx'}}"),
         "$.rules[0].reply.miniprogrampage: unknown key \"appid\"\n"},
        {R0("'reply':{'msgtype':'image','image':{'media_id':'{{MediaId}'}}"),
         "$.rules[0].reply.image.media_id: malformed placeholder at byte 0: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'hi {{ name}}'}}"),
         "$.rules[0].reply.text.content: malformed placeholder at byte 3: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'{{}}'}}"),
         "$.rules[0].reply.text.content: malformed placeholder at byte 0: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'ok {{a}} {{a-b}}'}}"),
         "$.rules[0].reply.text.content: malformed placeholder at byte 9: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'{{{x}}}'}}"),
         "$.rules[0].reply.text.content: malformed placeholder at byte 0: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
        {R0("'reply':{'msgtype':'text','text':{'content':'tail {{Content'}}"),
         "$.rules[0].reply.text.content: malformed placeholder at byte 5: expected {{Name}}, "
         "Name being 1-64 characters of [A-Za-z0-9_]\n"},
    };
    char *doc = malloc(REPLY_TPL_TEXT_MAX + 256), name[80];
    char *text = malloc(REPLY_TPL_TEXT_MAX + 2);
    (void)state;

    run_cases(cases, sizeof(cases) / sizeof(cases[0]));

    assert_non_null(doc);
    assert_non_null(text);
    memset(text, 'x', REPLY_TPL_TEXT_MAX + 1);
    text[REPLY_TPL_TEXT_MAX + 1] = '\0';
    snprintf(doc, REPLY_TPL_TEXT_MAX + 256,
             R0("'reply':{'msgtype':'text','text':{'content':'%s'}}"), text);
    expect_errors(doc, "$.rules[0].reply.text.content: longer than 8192 bytes\n");
    /* Placeholder names: 64 characters are fine, 65 are not. */
    memset(name, 'N', 65);
    name[65] = '\0';
    snprintf(doc, REPLY_TPL_TEXT_MAX + 256,
             R0("'reply':{'msgtype':'text','text':{'content':'{{%s}}'}}"), name);
    expect_errors(doc, "$.rules[0].reply.text.content: malformed placeholder at byte 0: "
                       "expected {{Name}}, Name being 1-64 characters of [A-Za-z0-9_]\n");
    name[64] = '\0';
    snprintf(doc, REPLY_TPL_TEXT_MAX + 256,
             R0("'reply':{'msgtype':'text','text':{'content':'{{%s}} { } }}'}}"), name);
    route_rules_free(load_ok(doc));
    free(text);
    free(doc);
}

/* Every mistake of a document is reported at once, in document order. */
static void test_errors_all_collected(void **state)
{
    struct jc_errs e;
    route_rules *r = NULL;
    json_t *doc = J("{'rules':["
                    "{'name':'ok','match':{'content':{'regex':'^hi'}},'publish':['a.{appid}']},"
                    "{'name':'ok','match':{'content':{'regex':'('},'apid':'x'},"
                    " 'publish':['b/{event}'],'reply':{'msgtype':'text','text':{}}},"
                    "{'match':{'fields':5},'publish':[]}],"
                    "'defaults':{'event_topic':'{evnt}'},'extra':true}");
    (void)state;

    memset(&e, 0, sizeof(e));
    /* Problems already in E (from the rest of a config) are kept. */
    jc_error(&e, "$.kafka", "earlier problem");
    assert_int_equal(route_rules_load(doc, "$.routing", &r, &e), ROUTE_EINVAL);
    assert_null(r);
    assert_string_equal(
        e.text, "$.kafka: earlier problem\n"
                "$.routing: unknown key \"extra\"\n"
                "$.routing.rules[1].name: duplicate rule name \"ok\" (also in $.routing.rules[0])\n"
                "$.routing.rules[1].match: unknown key \"apid\"\n"
                "$.routing.rules[1].match.content.regex: invalid POSIX extended regular "
                "expression: Unmatched ( or \\(\n"
                "$.routing.rules[1].publish[0]: character '/' is not allowed in a topic name "
                "(allowed: A-Z a-z 0-9 . _ -)\n"
                "$.routing.rules[1].reply.text: required string \"content\" is missing\n"
                "$.routing.rules[2]: required string \"name\" is missing\n"
                "$.routing.rules[2].match.fields: must be an object of payload field names and "
                "values\n"
                "$.routing.rules[2].publish: must be a non-empty array of topic names\n"
                "$.routing.defaults.event_topic: unknown placeholder {evnt} (known: {msg_type}, "
                "{event}, {appid})\n");
    assert_int_equal(e.count, 11);

    /* A valid document with earlier problems in E still loads. */
    json_decref(doc);
    doc = J("{'rules':[{'name':'x','drop':true}]}");
    assert_int_equal(route_rules_load(doc, NULL, &r, &e), 0);
    assert_int_equal(e.count, 11);
    assert_int_equal(route_rules_count(r), 1);
    route_rules_free(r);
    json_decref(doc);
}

static void test_comments_ignored(void **state)
{
    route_rules *r = load_ok("{'_comment':'top','$schema':'../schema/rules.v1.schema.json',"
                             "'rules':[{'_comment':'rule','name':'c','match':{'_comment':'m',"
                             "'msg_type':'text'},'publish':['t']}],"
                             "'defaults':{'_comment':'d'}}");
    (void)state;
    expect_route(r, mkrec(APPID, "text", NULL, NULL), "t");
    route_rules_free(r);
}

/* ------------------------------------------------------------ deploy example */

static void test_deploy_example(void **state)
{
    struct jc_errs e;
    route_rules *r = NULL;
    struct route_result res;
    json_t *doc, *rec;
    char rid[REPLY_TPL_ID_LEN + 1];
    (void)state;

    memset(&e, 0, sizeof(e));
    doc = jc_load_file(WXB_DEPLOY_DIR "/router.rules.example.json", &e);
    if (!doc)
        fail_msg("%s", e.text);
    if (route_rules_load(doc, "$", &r, &e) != 0)
        fail_msg("deploy example does not load:\n%s", e.text);
    json_decref(doc);
    assert_int_equal(route_rules_count(r), 3);

    /* 1. user_enter_tempsession: greeted, and still on its default topic. */
    rec = mkrec(APPID, "event", "user_enter_tempsession", "{'SessionFrom':'home-page'}");
    route(r, rec, &res);
    assert_false(res.unrouted);
    assert_topics(&res, "wx.event.user_enter_tempsession", NULL);
    assert_matched(&res, "greet-tempsession", NULL);
    assert_int_equal(res.n_replies, 1);
    reply_tpl_id(json_string_value(json_object_get(rec, "id")), "greet-tempsession", rid);
    assert_string_equal(json_string_value(json_object_get(res.replies[0], "id")), rid);
    assert_string_equal(json_string_value(json_object_get(res.replies[0], "schema")),
                        "wxbridge.reply.v1");
    assert_string_equal(json_string_value(json_object_get(res.replies[0], "touser")), OPENID);
    assert_string_equal(json_string_value(json_object_get(res.replies[0], "appid")), APPID);
    assert_string_equal(json_string_value(json_object_get(res.replies[0], "msgtype")), "text");
    assert_true(strlen(json_string_value(
                    json_object_get(json_object_get(res.replies[0], "text"), "content"))) > 0);
    route_result_clear(&res);
    json_decref(rec);

    /* 2. Text: to the reply service topic of its app, no reply, no default. */
    rec = mkrec(APPID, "text", NULL, "{'Content':'where is my order?','MsgId':'1'}");
    route(r, rec, &res);
    assert_topics(&res, "reply-service.in." APPID, NULL);
    assert_matched(&res, "text-to-reply-service", NULL);
    assert_int_equal(res.n_replies, 0);
    route_result_clear(&res);
    json_decref(rec);

    /* 3. Image: analytics and its default topic. */
    rec = mkrec(APPID, "image", NULL, "{'PicUrl':'http://x','MediaId':'M'}");
    route(r, rec, &res);
    assert_topics(&res, "analytics.images", "wx.msg.image", NULL);
    assert_matched(&res, "images-to-analytics", NULL);
    route_result_clear(&res);
    json_decref(rec);

    /* Anything else takes the default routes. */
    expect_route(r, mkrec(APPID, "miniprogrampage", NULL, NULL), "wx.msg.miniprogrampage");
    expect_route(r, mkrec(APPID, "event", "debug_demo", NULL), "wx.event.debug_demo");
    route_rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_match_appid_msg_type_event),
        cmocka_unit_test(test_match_content),
        cmocka_unit_test(test_match_session_from),
        cmocka_unit_test(test_match_fields),
        cmocka_unit_test(test_match_all_combined),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_continue),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_topic_placeholders),
        cmocka_unit_test(test_unrouted_bad_records),
        cmocka_unit_test(test_unrouted_topics),
        cmocka_unit_test(test_unrouted_too_many),
        cmocka_unit_test(test_eval_arguments),
        cmocka_unit_test(test_reply_text),
        cmocka_unit_test(test_reply_nested_and_types),
        cmocka_unit_test(test_reply_typing_and_missing),
        cmocka_unit_test(test_reply_truncation),
        cmocka_unit_test(test_reply_ids),
        cmocka_unit_test(test_errors_document),
        cmocka_unit_test(test_errors_rule),
        cmocka_unit_test(test_errors_match),
        cmocka_unit_test(test_errors_publish),
        cmocka_unit_test(test_errors_reply),
        cmocka_unit_test(test_errors_all_collected),
        cmocka_unit_test(test_comments_ignored),
        cmocka_unit_test(test_deploy_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
