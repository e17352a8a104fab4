/*
 * test_replay: unit tests of wxbridge-replay's pure parts, with no Kafka:
 * time parsing, selection filters, replay ids, the summary, the flags, and
 * the plan of each subcommand. Inbound dead letters are made by push_handle()
 * itself (a push encrypted with one key reaching a config with another), so
 * the replay is checked against exactly what the ingress would publish.
 */
#include "kafka_topic.h"
#include "push_handler.h"
#include "replay_entry.h"
#include "replay_opts.h"
#include "replay_select.h"
#include "replay_tally.h"
#include "reply_cmd.h"
#include "wx_crypto.h"
#include "wx_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define APPID       "wxba5fad812f8e6fb9"
#define TOKEN       "AAAAA"
#define K1          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define K2          "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define PLAIN_APPID "wxplain0000000001"
#define OPENID      "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
#define RECEIVED_MS 1795773600123LL /* 2026-11-27T10:00:00.123Z */

/* ---- times ---- */

static void test_parse_time(void **state)
{
    int64_t t = 0, u = 0;
    (void)state;
    assert_int_equal(replay_parse_time("2026-11-27T10:00:00Z", &t), 0);
    assert_int_equal(t, 1795773600000LL);
    assert_int_equal(replay_parse_time("2026-11-27T18:00:00+08:00", &u), 0);
    assert_int_equal(u, t);
    assert_int_equal(replay_parse_time("2026-11-27t05:30:00-04:30", &u), 0);
    assert_int_equal(u, t);
    assert_int_equal(replay_parse_time("2026-11-27 10:00:00.5z", &u), 0);
    assert_int_equal(u, t + 500);
    assert_int_equal(replay_parse_time("2026-11-27T10:00:00.123456789Z", &u), 0);
    assert_int_equal(u, t + 123);
    assert_int_equal(replay_parse_time("2026-11-27", &u), 0);
    assert_int_equal(u, t - 10 * 3600 * 1000LL);
    assert_int_equal(replay_parse_time("1795773600000", &u), 0);
    assert_int_equal(u, t);
    assert_int_equal(replay_parse_time("0", &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(replay_parse_time("2024-02-29T00:00:00Z", &u), 0);
    assert_int_equal(u, 1709164800000LL);
    assert_int_equal(replay_parse_time("2026-12-31T23:59:60Z", &u), 0); /* leap second */
    assert_int_equal(u, 1798761600000LL);
    assert_int_equal(replay_parse_time("9999-12-31T23:59:59Z", &u), 0);
    assert_int_equal(u, 253402300799000LL);

    static const char *const bad[] = {
        "",
        "abc",
        "12a",
        "12345678901234567",     /* 17 digits */
        "-5",                    /* negative */
        "2026-11-27T10:00:00",   /* no offset: local time is ambiguous */
        "2026-02-29T00:00:00Z",  /* not a leap year */
        "2026-13-01T00:00:00Z",  /* month */
        "2026-11-31T00:00:00Z",  /* day */
        "2026-11-27T24:00:00Z",  /* hour */
        "2026-11-27T10:60:00Z",  /* minute */
        "2026-11-27T10:00:61Z",  /* second */
        "2026-11-27T10:00:00.Z", /* empty fraction */
        "2026-11-27T10:00:00+8:00",
        "2026-11-27T10:00:00+08:60",
        "2026-11-27T10:00:00Zjunk",
        "1969-12-31T23:59:59Z", /* before the epoch */
        "1970-01-01T00:00:00+01:00",
        "2026-11-27T10:00Z",
        "26-11-27",
        "2026-11-27X",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u = 42;
        assert_int_equal(replay_parse_time(bad[i], &u), -1);
        assert_int_equal(u, 42); /* untouched */
    }
    assert_int_equal(replay_parse_time(NULL, &u), -1);
}

/* ---- filters ---- */

static void test_filter(void **state)
{
    struct replay_filter f;
    (void)state;

    replay_filter_init(&f);
    assert_false(replay_filter_has_time(&f));
    assert_true(replay_filter_match(&f, NULL, NULL, -1)); /* everything, unknowns too */
    assert_true(replay_filter_match(&f, "a", "r", 5));

    f.from_ms = 1000;
    f.to_ms = 2000;
    assert_true(replay_filter_has_time(&f));
    assert_true(replay_filter_match(&f, "a", "r", 1000)); /* from inclusive */
    assert_true(replay_filter_match(&f, "a", "r", 1999));
    assert_false(replay_filter_match(&f, "a", "r", 2000)); /* to exclusive */
    assert_false(replay_filter_match(&f, "a", "r", 999));
    assert_false(replay_filter_match(&f, "a", "r", -1)); /* unknown time and a bound */

    replay_filter_init(&f);
    f.to_ms = 2000;
    assert_true(replay_filter_match(&f, NULL, NULL, 0));
    assert_false(replay_filter_match(&f, NULL, NULL, 2000));

    replay_filter_init(&f);
    assert_int_equal(replay_filter_add_appid(&f, "wxa"), 0);
    assert_int_equal(replay_filter_add_appid(&f, "wxb"), 0);
    assert_int_equal(replay_filter_add_reason(&f, "decrypt_failed"), 0);
    assert_true(replay_filter_match(&f, "wxb", "decrypt_failed", -1));
    assert_false(replay_filter_match(&f, "wxc", "decrypt_failed", -1));
    assert_false(replay_filter_match(&f, "wxa", "unparseable", -1));
    assert_false(replay_filter_match(&f, NULL, "decrypt_failed", -1)); /* unknown appid */
    assert_false(replay_filter_match(&f, "wxa", NULL, -1));
    assert_false(replay_filter_match(&f, "wxa2", "decrypt_failed", -1)); /* exact, not prefix */

    replay_filter_init(&f);
    for (int i = 0; i < REPLAY_FILTER_MAX; i++)
        assert_int_equal(replay_filter_add_reason(&f, "r"), 0);
    assert_int_equal(replay_filter_add_reason(&f, "r"), -1);
}

/* ---- replay ids ---- */

static void test_reply_id(void **state)
{
    char out[REPLAY_ID_BUF], again[REPLAY_ID_BUF], twice[REPLAY_ID_BUF], orig[200];
    (void)state;

    assert_int_equal(replay_reply_id("r:0123456789abcdef0123456789abcdef", 128, out, sizeof(out)),
                     0);
    assert_string_equal(out, "replay:r:0123456789abcdef0123456789abcdef");
    /* Deterministic: the same dead letter replayed twice has the same id. */
    assert_int_equal(
        replay_reply_id("r:0123456789abcdef0123456789abcdef", 128, again, sizeof(again)), 0);
    assert_string_equal(out, again);
    /* A replayed command dead-lettered again is a new attempt. */
    assert_int_equal(replay_reply_id(out, 128, twice, sizeof(twice)), 0);
    assert_string_equal(twice, "replay:replay:r:0123456789abcdef0123456789abcdef");

    /* 121 characters + 7 = 128: the schema's limit. */
    memset(orig, 'x', 121);
    orig[121] = '\0';
    assert_int_equal(replay_reply_id(orig, 128, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), 128);
    orig[121] = 'x';
    orig[122] = '\0';
    assert_int_equal(replay_reply_id(orig, 128, out, sizeof(out)), -1);
    /* Characters, not bytes: 121 three-byte characters fit. */
    for (int i = 0; i < 60; i++)
        memcpy(orig + 3 * i, "\xe4\xbd\xa0", 3);
    orig[180] = '\0';
    assert_int_equal(replay_reply_id(orig, 128, out, sizeof(out)), 0);
    assert_int_equal(replay_reply_id(orig, 128, out, 100), -1); /* buffer too small */
    assert_int_equal(replay_reply_id("", 128, out, sizeof(out)), -1);
    assert_int_equal(replay_reply_id(NULL, 128, out, sizeof(out)), -1);
    assert_int_equal(replay_reply_id("bad\xff", 128, out, sizeof(out)), -1);
    assert_int_equal(replay_reply_id("\xc0\x80", 128, out, sizeof(out)), -1); /* overlong NUL */
}

/* ---- summary ---- */

static void test_tally(void **state)
{
    struct replay_tally *t = calloc(1, sizeof(*t));
    json_t *j;
    char *s, name[32];
    (void)state;

    t->scanned = 5;
    replay_tally_count(t, RT_SELECTED, "decrypt_failed", NULL);
    replay_tally_count(t, RT_SELECTED, "decrypt_failed", NULL);
    replay_tally_count(t, RT_SELECTED, "unparseable", NULL);
    replay_tally_count(t, RT_PUBLISHED, "decrypt_failed", NULL);
    replay_tally_count(t, RT_FAILED, "decrypt_failed", "decrypt_failed");
    replay_tally_count(t, RT_SKIPPED, "unparseable", "duplicate_in_run");
    replay_table_add(&t->topics, "wx.inbound", RT_PUBLISHED, 1);
    s = replay_tally_json(t, "inbound-dlq", 0, NULL);
    assert_non_null(s);
    j = json_loads(s, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "command")), "inbound-dlq");
    assert_true(json_is_true(json_object_get(j, "complete")));
    assert_null(json_object_get(j, "error"));
    assert_null(json_object_get(j, "would_publish"));
    assert_int_equal(json_integer_value(json_object_get(j, "scanned")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "selected")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "published")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "skipped")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 1);
    json_t *r = json_object_get(json_object_get(j, "by_reason"), "decrypt_failed");
    assert_int_equal(json_integer_value(json_object_get(r, "selected")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "published")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "failed")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "failures"), "decrypt_failed")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "skips"), "duplicate_in_run")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "topics"), "wx.inbound")), 1);
    json_decref(j);
    free(s);

    /* Bounded: beyond the rows, counts go to "(other)". */
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "reason_%d", i);
        replay_tally_count(t, RT_FAILED, name, name);
    }
    assert_int_equal(t->failures.n, REPLAY_TALLY_ROWS);
    assert_int_equal(replay_table_get(&t->failures, "(other)", RT_FAILED), 200 - 62);
    s = replay_tally_json(t, "inbound-dlq", 1, "interrupted");
    j = json_loads(s, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "complete")));
    assert_string_equal(json_string_value(json_object_get(j, "error")), "interrupted");
    assert_non_null(json_object_get(j, "would_publish"));
    json_decref(j);
    free(s);
    free(t);
}

/* ---- flags ---- */

/* The options point into argv, as they do into main's: BUF outlives the call (until the next). */
static int parse(struct replay_opts *o, const char *line)
{
    static char buf[1024];
    char *argv[64];
    int argc = 0;
    FILE *null = fopen("/dev/null", "w");
    int rc;

    snprintf(buf, sizeof(buf), "wxbridge-replay %s", line);
    for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    rc = replay_opts_parse(argc, argv, o, null, null);
    fclose(null);
    return rc;
}

static void test_opts(void **state)
{
    struct replay_opts o;
    (void)state;

    assert_int_equal(parse(&o, "inbound-dlq --ingress-config i.json"), -1);
    assert_int_equal(o.kind, REPLAY_INBOUND_DLQ);
    assert_int_equal(parse(&o, "replies-dlq --brokers b:1 --from 2026-11-27T10:00:00Z --to "
                               "1795777200000 --appid wxa --appid wxb --reason bad_field "
                               "--limit 5 --dry-run"),
                     -1);
    assert_int_equal(o.kind, REPLAY_REPLIES_DLQ);
    assert_int_equal(o.filter.from_ms, 1795773600000LL);
    assert_int_equal(o.filter.to_ms, 1795777200000LL);
    assert_int_equal(o.filter.nappids, 2);
    assert_int_equal(o.filter.nreasons, 1);
    assert_int_equal(o.limit, 5);
    assert_true(o.dry_run);
    assert_int_equal(parse(&o, "reroute --brokers b:1 --to-topic-prefix backfill. --no-replies"),
                     -1);
    assert_string_equal(o.prefix, "backfill.");
    assert_int_equal(parse(&o, "reroute --brokers b:1 --into-live --rules r.json"), -1);
    assert_true(o.into_live);
    assert_int_equal(parse(&o, "--help"), 0);
    assert_int_equal(parse(&o, "reroute --help"), 0);
    assert_int_equal(parse(&o, "--version"), 0);

    static const char *const bad[] = {
        "",
        "frobnicate --brokers b:1",
        "replies-dlq",                                       /* no Kafka */
        "inbound-dlq --brokers b:1",                         /* no ingress config */
        "replies-dlq --brokers b:1 --ingress-config i.json", /* wrong subcommand */
        "replies-dlq --brokers b:1 --rules r.json",
        "reroute --brokers b:1",                                  /* no destination */
        "reroute --brokers b:1 --into-live --to-topic-prefix p.", /* both */
        "reroute --brokers b:1 --into-live --reason x",
        "reroute --brokers b:1 --into-live --output-topic x",
        "reroute --brokers b:1 --to-topic-prefix bad/prefix",
        "replies-dlq --brokers b:1 --from 2026-11-27T11:00:00Z --to 2026-11-27T10:00:00Z",
        "replies-dlq --brokers b:1 --from yesterday",
        "replies-dlq --brokers b:1 --limit 0",
        "replies-dlq --brokers b:1 --limit -3",
        "replies-dlq --brokers b:1 --limit 3x",
        "replies-dlq --brokers b:1 --bogus",
        "replies-dlq --brokers b:1 extra",
        "replies-dlq --brokers b:1 --topic wx.replies --output-topic wx.replies",
        "replies-dlq --brokers",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(&o, bad[i]), 2);
}

/* ---- inbound-dlq plans ---- */

static int load_ingress(const char *text, struct ingress_config *cfg)
{
    struct jc_errs e;
    json_t *root;
    int rc;

    memset(&e, 0, sizeof(e));
    root = jc_load_string(text, &e);
    assert_non_null(root);
    rc = ingress_config_load(root, cfg, &e);
    json_decref(root);
    if (rc)
        print_error("%s", e.text);
    cfg->timestamp_tolerance_s = 0; /* as wxbridge-replay does */
    return rc;
}

#define INGRESS_CFG(token, key)                                                                    \
    "{\"kafka\":{\"bootstrap.servers\":\"127.0.0.1:1\"},\"apps\":[{\"appid\":\"" APPID             \
    "\",\"token\":\"" token "\",\"aes_key\":\"" key "\"},{\"appid\":\"" PLAIN_APPID                \
    "\",\"token\":\"plaintok\"}]}"

struct req {
    json_t *query;
    char *body;
    struct push_request r;
};

/* A safe-mode push of a text message encrypted with KEY, as WeChat sends it. */
static void make_push(struct req *q, const char *key_text, const char *msg_id, int64_t now_ms)
{
    struct wx_aes_key key;
    char doc[512], *enc = NULL, sig[WXC_SIG_HEX_LEN + 1], msig[WXC_SIG_HEX_LEN + 1];
    const char *ts = "1795773600", *nonce = "12345";

    snprintf(
        doc, sizeof(doc),
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[" OPENID
        "]]></FromUserName><CreateTime>1795773600</CreateTime><MsgType><![CDATA[text]]>"
        "</MsgType><Content><![CDATA[hello]]></Content><MsgId>%s</MsgId></xml>",
        msg_id);
    assert_int_equal(wxc_key_from_encoding(key_text, &key), 0);
    assert_int_equal(wxc_encrypt(&key, NULL, doc, strlen(doc), APPID, &enc), 0);
    const char *p3[] = {TOKEN, ts, nonce}, *p4[] = {TOKEN, ts, nonce, enc};
    wxc_signature(p3, 3, sig);
    wxc_signature(p4, 4, msig);
    q->query = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "signature", sig, "timestamp", ts, "nonce",
                         nonce, "openid", OPENID, "encrypt_type", "aes", "msg_signature", msig);
    q->body = malloc(strlen(enc) + 64);
    snprintf(q->body, strlen(enc) + 64, "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"%s\"}",
             enc);
    free(enc);
    q->r = (struct push_request){1, push_query_json(q->query), q->body, strlen(q->body), now_ms};
}

static void free_push(struct req *q)
{
    json_decref(q->query);
    free(q->body);
}

static struct replay_input input_of(const char *value)
{
    struct replay_input in = {NULL, 0, value, value ? strlen(value) : 0, NULL, 42};
    return in;
}

/* kafka_headers_str(), which reads the wx-appid, wx-dlq-reason and wx-id headers of entries. */
static void test_headers(void **state)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char buf[7];

    (void)state;
    assert_null(kafka_headers_str(NULL, "wx-id", buf, sizeof(buf)));
    rd_kafka_header_add(h, "wx-id", -1, "first", -1);
    rd_kafka_header_add(h, "wx-id", -1, "last", -1);
    rd_kafka_header_add(h, "wx-long", -1, "sixsix", -1);
    rd_kafka_header_add(h, "wx-null", -1, NULL, 0);
    rd_kafka_header_add(h, "wx-nul", -1, "ab\0cd", 5);
    assert_string_equal(kafka_headers_str(h, "wx-id", buf, sizeof(buf)), "last");
    assert_null(kafka_headers_str(h, "wx-absent", buf, sizeof(buf)));
    assert_null(kafka_headers_str(h, "wx-long", buf, 6)); /* 6 bytes and the NUL do not fit */
    assert_string_equal(kafka_headers_str(h, "wx-long", buf, 7), "sixsix");
    assert_null(kafka_headers_str(h, "wx-null", buf, sizeof(buf)));
    assert_null(kafka_headers_str(h, "wx-nul", buf, sizeof(buf))); /* not "ab" */
    rd_kafka_headers_destroy(h);
}

static void test_inbound_plan(void **state)
{
    struct ingress_config k1, k2, badtoken, noapp;
    struct push_result dl, direct;
    struct req q;
    struct replay_entry e;
    struct replay_plan p;
    struct replay_ctx ctx = {.kind = REPLAY_INBOUND_DLQ};
    struct replay_input in;
    char buf[64];
    (void)state;

    assert_int_equal(load_ingress(INGRESS_CFG(TOKEN, K1), &k1), 0);
    assert_int_equal(load_ingress(INGRESS_CFG(TOKEN, K2), &k2), 0);
    assert_int_equal(load_ingress(INGRESS_CFG("BBBBB", K2), &badtoken), 0);
    assert_int_equal(load_ingress("{\"kafka\":{\"bootstrap.servers\":\"x:1\"},\"apps\":[{\"appid\":"
                                  "\"" PLAIN_APPID "\",\"token\":\"plaintok\"}]}",
                                  &noapp),
                     0);

    /* Encrypted with K2, received by an ingress holding K1: a dead letter. */
    make_push(&q, K2, "424242", RECEIVED_MS);
    push_handle(&k1, &k1.apps[0], &q.r, &dl);
    assert_int_equal(dl.outcome, PUSH_DLQ);
    assert_string_equal(dl.reason, "decrypt_failed");
    /* What an ingress holding K2 publishes for the same request. */
    push_handle(&k2, &k2.apps[0], &q.r, &direct);
    assert_int_equal(direct.outcome, PUSH_PUBLISH);

    in = input_of(dl.msg.value);
    replay_entry_read(REPLAY_INBOUND_DLQ, &in, &e);
    assert_string_equal(e.appid, APPID);
    assert_string_equal(e.reason, "decrypt_failed");
    assert_int_equal(e.time_ms, RECEIVED_MS);

    /* Replayed with K2: exactly the direct record (id, key, headers, bytes). */
    ctx.ingress = &k2;
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_int_equal(p.action, REPLAY_PUBLISH);
    assert_string_equal(p.id, APPID ":m:424242");
    assert_string_equal(p.id, direct.id);
    assert_int_equal(p.nmsgs, 1);
    assert_string_equal(p.msgs[0].topic, "wx.inbound");
    assert_int_equal(p.msgs[0].key_len, strlen(OPENID));
    assert_memory_equal(p.msgs[0].key, OPENID, strlen(OPENID));
    assert_int_equal(p.msgs[0].value_len, direct.msg.value_len);
    assert_memory_equal(p.msgs[0].value, direct.msg.value, direct.msg.value_len);
    assert_string_equal(kafka_headers_str(p.msgs[0].hdrs, "wx-id", buf, sizeof(buf)), p.id);
    assert_string_equal(kafka_headers_str(p.msgs[0].hdrs, "wx-msg-type", buf, sizeof(buf)), "text");
    assert_int_equal(rd_kafka_header_cnt(p.msgs[0].hdrs), direct.msg.hdr_count);
    replay_plan_clear(&p);

    /* --output-topic. */
    ctx.output_topic = "replayed.inbound";
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_string_equal(p.msgs[0].topic, "replayed.inbound");
    replay_plan_clear(&p);
    ctx.output_topic = NULL;

    /* Still the wrong key: still fails, with the ingress's reason. */
    ctx.ingress = &k1;
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "decrypt_failed");
    assert_int_equal(p.nmsgs, 0);
    replay_plan_clear(&p);

    /* Signatures are still verified: another token refuses it. */
    ctx.ingress = &badtoken;
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "signature_mismatch");
    replay_plan_clear(&p);

    ctx.ingress = &noapp;
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "app_not_configured");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    /* Not a dead letter at all. */
    ctx.ingress = &k2;
    in = input_of("not json");
    replay_entry_read(REPLAY_INBOUND_DLQ, &in, &e);
    assert_null(e.appid);
    assert_int_equal(e.time_ms, 42); /* the Kafka timestamp */
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "bad_entry");
    replay_plan_clear(&p);
    replay_entry_clear(&e);
    in = input_of("{\"reason\":\"decrypt_failed\",\"appid\":\"" APPID "\",\"body_b64\":\"!!\","
                  "\"query\":{},\"received_at_ms\":1}");
    replay_entry_read(REPLAY_INBOUND_DLQ, &in, &e);
    replay_entry_plan(&ctx, &in, &e, &p);
    assert_string_equal(p.cause, "bad_entry");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    kmsg_clear(&dl.msg);
    kmsg_clear(&direct.msg);
    free_push(&q);
    ingress_config_free(&k1);
    ingress_config_free(&k2);
    ingress_config_free(&badtoken);
    ingress_config_free(&noapp);
}

/* ---- replies-dlq plans ---- */

static void plan_reply(const char *value, struct replay_entry *e, struct replay_plan *p)
{
    struct replay_ctx ctx = {.kind = REPLAY_REPLIES_DLQ, .output_topic = "wx.replies"};
    struct replay_input in = input_of(value);
    replay_entry_read(REPLAY_REPLIES_DLQ, &in, e);
    replay_entry_plan(&ctx, &in, e, p);
}

#define CMD(id, extra)                                                                             \
    "{\"schema\":\"wxbridge.reply.v1\",\"id\":\"" id "\",\"appid\":\"" APPID                       \
    "\",\"touser\":\"" OPENID "\",\"msgtype\":\"text\"" extra "}"
#define DLQ(reason, command)                                                                       \
    "{\"schema\":\"wxbridge.reply_dlq.v1\",\"reason\":\"" reason "\",\"detail\":\"x\","            \
    "\"errcode\":45015,\"attempts\":3,\"at_ms\":1795773600000,\"command\":" command "}"

static void test_reply_plan(void **state)
{
    struct replay_entry e;
    struct replay_plan p;
    struct reply_cmd c;
    char buf[256];
    (void)state;

    plan_reply(
        DLQ("wx_45015", CMD("r:abc", ",\"text\":{\"content\":\"hi\"},\"in_reply_to\":\"x\"")), &e,
        &p);
    assert_string_equal(e.appid, APPID);
    assert_string_equal(e.reason, "wx_45015");
    assert_int_equal(e.time_ms, 1795773600000LL);
    assert_int_equal(p.action, REPLAY_PUBLISH);
    assert_string_equal(p.id, "replay:r:abc");
    assert_string_equal(p.orig_id, "r:abc");
    assert_int_equal(p.nmsgs, 1);
    assert_string_equal(p.msgs[0].topic, "wx.replies");
    assert_memory_equal(p.msgs[0].key, OPENID, strlen(OPENID));
    assert_string_equal(kafka_headers_str(p.msgs[0].hdrs, "wx-replay-of", buf, sizeof(buf)),
                        "r:abc");
    assert_string_equal(kafka_headers_str(p.msgs[0].hdrs, "wx-schema", buf, sizeof(buf)),
                        "wxbridge.reply.v1");
    /* A valid command for the replier, with nothing added but the new id. */
    assert_int_equal(reply_cmd_parse(p.msgs[0].value, p.msgs[0].value_len, &c, NULL, 0, NULL, 0),
                     0);
    assert_string_equal(c.id, "replay:r:abc");
    assert_string_equal(c.in_reply_to, "x");
    assert_null(json_object_get(c.root, "replay_of"));
    assert_int_equal(json_object_size(c.root), 7);
    reply_cmd_free(&c);
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    /* command null: unparsable, reported. */
    plan_reply("{\"schema\":\"wxbridge.reply_dlq.v1\",\"reason\":\"not_json\",\"detail\":\"\","
               "\"errcode\":null,\"attempts\":0,\"at_ms\":1,\"command\":null,\"command_b64\":"
               "\"e30=\"}",
               &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "command_unparsable");
    assert_null(e.appid);
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    /* Still invalid for the replier: reported with its reason. */
    plan_reply(DLQ("missing_field", CMD("r:def", "")), &e, &p);
    assert_int_equal(p.action, REPLAY_FAIL);
    assert_string_equal(p.cause, "missing_field");
    assert_string_equal(p.id, "replay:r:def");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    plan_reply(DLQ("schema", "[1,2]"), &e, &p);
    assert_string_equal(p.cause, "missing_id");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    plan_reply(DLQ("bad_field", CMD("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                                    ",\"text\":{\"content\":\"hi\"}")),
               &e, &p);
    assert_string_equal(p.cause, "replay_id_too_long");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    plan_reply("{\"command\":{}}", &e, &p);
    assert_string_equal(p.cause, "bad_entry");
    replay_plan_clear(&p);
    replay_entry_clear(&e);
}

/* ---- reroute plans ---- */

#define RECORD(id, type, event, content)                                                           \
    "{\"schema\":\"wxbridge.inbound.v1\",\"id\":\"" id "\",\"appid\":\"" APPID                     \
    "\",\"to\":\"gh_1\",\"from\":\"" OPENID "\",\"create_time\":1,\"msg_type\":\"" type            \
    "\",\"event\":" event ",\"msg_id\":null,\"payload\":{\"Content\":\"" content "\"},"            \
    "\"format\":\"json\",\"encrypted\":true,\"received_at_ms\":1795773600000}"

static const char rules_text[] =
    "{\"rules\":["
    "{\"name\":\"greet\",\"match\":{\"msg_type\":\"event\",\"event\":\"user_enter_tempsession\"},"
    "\"reply\":{\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}},\"continue\":true},"
    "{\"name\":\"only-reply\",\"match\":{\"msg_type\":\"event\",\"event\":\"reply_only\"},"
    "\"reply\":{\"msgtype\":\"text\",\"text\":{\"content\":\"yo\"}}},"
    "{\"name\":\"spam\",\"match\":{\"content\":{\"prefix\":\"spam\"}},\"drop\":true}]}";

static void reroute(const route_rules *rules, int no_replies, const char *value,
                    struct replay_entry *e, struct replay_plan *p)
{
    struct replay_ctx ctx = {.kind = REPLAY_REROUTE,
                             .rules = rules,
                             .prefix = "backfill.",
                             .reply_topic = "wx.replies",
                             .no_replies = no_replies};
    struct replay_input in = input_of(value);
    in.key = OPENID;
    in.key_len = strlen(OPENID);
    replay_entry_read(REPLAY_REROUTE, &in, e);
    replay_entry_plan(&ctx, &in, e, p);
}

static void test_reroute_plan(void **state)
{
    struct jc_errs errs = {0};
    json_t *root = json_loads(rules_text, 0, NULL);
    route_rules *rules = NULL;
    struct replay_entry e;
    struct replay_plan p;
    char buf[64];
    (void)state;

    assert_int_equal(route_rules_load(root, "$", &rules, &errs), ROUTE_OK);
    json_decref(root);

    reroute(rules, 0, RECORD(APPID ":m:1", "text", "null", "hello"), &e, &p);
    assert_string_equal(e.appid, APPID);
    assert_null(e.reason);
    assert_int_equal(e.time_ms, 1795773600000LL);
    assert_int_equal(p.action, REPLAY_PUBLISH);
    assert_string_equal(p.id, APPID ":m:1");
    assert_int_equal(p.nmsgs, 1);
    assert_string_equal(p.msgs[0].topic, "backfill.wx.msg.text");
    assert_memory_equal(p.msgs[0].key, OPENID, strlen(OPENID));
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 0, RECORD(APPID ":e:2", "event", "\"user_enter_tempsession\"", ""), &e, &p);
    assert_int_equal(p.nmsgs, 2);
    assert_string_equal(p.msgs[0].topic, "backfill.wx.event.user_enter_tempsession");
    assert_string_equal(p.msgs[1].topic, "backfill.wx.replies");
    assert_memory_equal(p.msgs[1].key, OPENID, strlen(OPENID));
    assert_string_equal(kafka_headers_str(p.msgs[1].hdrs, "wx-schema", buf, sizeof(buf)),
                        "wxbridge.reply.v1");
    root = json_loadb(p.msgs[1].value, p.msgs[1].value_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(root, "in_reply_to")), APPID ":e:2");
    json_decref(root);
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 1, RECORD(APPID ":e:2", "event", "\"user_enter_tempsession\"", ""), &e, &p);
    assert_int_equal(p.nmsgs, 1);
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 1, RECORD(APPID ":e:3", "event", "\"reply_only\"", ""), &e, &p);
    assert_int_equal(p.action, REPLAY_SKIP);
    assert_string_equal(p.cause, "replies_suppressed");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 0, RECORD(APPID ":m:4", "text", "null", "spam!"), &e, &p);
    assert_int_equal(p.action, REPLAY_SKIP);
    assert_string_equal(p.cause, "dropped_by_rule");
    assert_int_equal(p.nmsgs, 0);
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 0, "{\"schema\":\"other\"}", &e, &p);
    assert_int_equal(p.action, REPLAY_PUBLISH);
    assert_string_equal(p.msgs[0].topic, "backfill.wx.unrouted");
    assert_string_equal(kafka_headers_str(p.msgs[0].hdrs, "wx-unrouted-reason", buf, sizeof(buf)),
                        "bad_record");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    reroute(rules, 0, "garbage", &e, &p);
    assert_string_equal(p.msgs[0].topic, "backfill.wx.unrouted");
    replay_plan_clear(&p);
    replay_entry_clear(&e);

    route_rules_free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time), cmocka_unit_test(test_filter),
        cmocka_unit_test(test_reply_id),   cmocka_unit_test(test_tally),
        cmocka_unit_test(test_opts),       cmocka_unit_test(test_inbound_plan),
        cmocka_unit_test(test_reply_plan), cmocka_unit_test(test_reroute_plan),
        cmocka_unit_test(test_headers),
    };
    int rc;
    wxp_global_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    return rc;
}
