/*
 * Unit tests of push_builder (and lat_hist): the official test vector from
 * docs/PROTOCOL.md section 3 reproduced byte for byte, round trips of every
 * type x format x mode through wxc_decrypt and independent parsers (jansson,
 * libxml2), escaping, and the compat insertion.
 */
#include "lat_hist.h"
#include "push_builder.h"
#include "wx_crypto.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TOKEN  "AAAAA"
#define AESKEY "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define APPID  "wxba5fad812f8e6fb9"

static const char vec_doc[] =
    "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","
    "\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event\":\"debug_demo\","
    "\"debug_str\":\"hello world\"}";
static const char vec_encrypt[] =
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/"
    "ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqz"
    "DpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pe"
    "de2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebu"
    "fAlr7F9mFUPAJGj04=";
/* The 16 random bytes the official ciphertext starts with (found by decrypting it). */
static const unsigned char vec_random[16] = "a8eedb185eb2fecf";

static void params_for(struct pb_params *p, const struct wx_aes_key *key, enum pb_mode mode,
                       enum pb_format fmt)
{
    *p = (struct pb_params){
        .mode = mode,
        .format = fmt,
        .token = TOKEN,
        .key = key,
        .appid = APPID,
        .to = "gh_97417a04a28d",
        .openid = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        .timestamp = "1714112445",
        .nonce = "415670741",
    };
}

static void test_official_safe_json(void **state)
{
    struct wx_aes_key key;
    struct pb_params p;
    struct pb_request r;
    char err[128];
    (void)state;

    assert_int_equal(wxc_key_from_encoding(AESKEY, &key), 0);
    params_for(&p, &key, PB_MODE_SAFE, PB_FORMAT_JSON);
    p.random = vec_random;
    assert_int_equal(pb_request_build(&p, vec_doc, strlen(vec_doc), &r, err, sizeof(err)), 0);
    assert_string_equal(r.encrypt, vec_encrypt);
    assert_string_equal(r.msg_signature, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    assert_string_equal(r.query, "signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d"
                                 "&timestamp=1714112445&nonce=415670741"
                                 "&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes"
                                 "&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    assert_true(strncmp(r.body, "{\"ToUserName\":\"gh_97417a04a28d\",\"Encrypt\":\"", 43) == 0);
    assert_non_null(strstr(r.body, vec_encrypt));
    pb_request_free(&r);
}

static void test_official_verify(void **state)
{
    char *q = NULL;
    (void)state;

    assert_int_equal(
        pb_verify_query(TOKEN, "1714036504", "1514711492", "4375120948345356249", 0, &q), 0);
    assert_string_equal(q, "signature=f464b24fc39322e44b38aa78f5edd27bd1441696"
                           "&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249");
    free(q);
    assert_int_equal(
        pb_verify_query(TOKEN, "1714036504", "1514711492", "1", PB_CORRUPT_SIGNATURE, &q), 0);
    assert_null(strstr(q, "f464b24fc39322e44b38aa78f5edd27bd1441696"));
    free(q);
}

/* The text of element NAME directly under the root of an XML document, malloc'd. */
static char *xml_field(const char *doc, size_t len, const char *name)
{
    xmlDocPtr d = xmlReadMemory(doc, (int)len, NULL, NULL, XML_PARSE_NONET);
    char *out = NULL;

    if (!d)
        return NULL;
    for (xmlNodePtr n = xmlDocGetRootElement(d)->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
            xmlChar *t = xmlNodeGetContent(n);
            out = strdup((const char *)t);
            xmlFree(t);
            break;
        }
    }
    xmlFreeDoc(d);
    return out;
}

static void check_field(const char *doc, size_t len, enum pb_format f, const char *name,
                        const char *want)
{
    if (f == PB_FORMAT_XML) {
        char *got = xml_field(doc, len, name);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
    } else {
        json_error_t je;
        json_t *root = json_loadb(doc, len, 0, &je);
        json_t *v;
        assert_non_null(root);
        v = json_object_get(root, name);
        assert_non_null(v);
        if (json_is_integer(v)) {
            char num[32];
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            assert_string_equal(num, want);
        } else {
            assert_true(json_is_string(v));
            assert_int_equal(json_string_length(v), strlen(want));
            assert_memory_equal(json_string_value(v), want, strlen(want));
        }
        json_decref(root);
    }
}

static void test_round_trip_all(void **state)
{
    static const enum pb_type types[] = {PB_TYPE_TEXT, PB_TYPE_IMAGE, PB_TYPE_MINIPROGRAMPAGE,
                                         PB_TYPE_USER_ENTER_TEMPSESSION};
    struct wx_aes_key key;
    (void)state;

    assert_int_equal(wxc_key_from_encoding(AESKEY, &key), 0);
    for (size_t t = 0; t < 4; t++)
        for (int f = 0; f < 2; f++)
            for (int mode = 0; mode < 3; mode++) {
                struct pb_message m;
                struct pb_params p;
                struct pb_request r;
                char *doc, *plain = NULL, err[128];
                size_t doc_len, plain_len;
                const char *parts[4];
                char sig[WXC_SIG_HEX_LEN + 1];

                pb_message_sample(&m, types[t]);
                /* XML 1.0 cannot carry \x01 at all: only JSON gets it. */
                m.content = f == PB_FORMAT_JSON
                                ? "quote \" back\\slash\nnewline \x01 ctl ]]> cdata-end 中文"
                                : "quote \" back\\slash\nnewline ctl ]]> cdata-end 中文 <&>";
                m.session_from = "from]]>x";
                m.title = "<b>&amp;</b>";
                assert_int_equal(pb_document(&m, (enum pb_format)f, &doc, &doc_len), 0);
                check_field(doc, doc_len, (enum pb_format)f, "FromUserName",
                            "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
                check_field(doc, doc_len, (enum pb_format)f, "CreateTime", "1714112445");
                if (types[t] == PB_TYPE_TEXT)
                    check_field(doc, doc_len, (enum pb_format)f, "Content", m.content);
                if (types[t] != PB_TYPE_USER_ENTER_TEMPSESSION)
                    check_field(doc, doc_len, (enum pb_format)f, "MsgId", "6054768590064713728");
                else
                    check_field(doc, doc_len, (enum pb_format)f, "SessionFrom", "from]]>x");
                if (types[t] == PB_TYPE_MINIPROGRAMPAGE)
                    check_field(doc, doc_len, (enum pb_format)f, "Title", "<b>&amp;</b>");

                params_for(&p, &key, (enum pb_mode)mode, (enum pb_format)f);
                assert_int_equal(pb_request_build(&p, doc, doc_len, &r, err, sizeof(err)), 0);
                if (mode == PB_MODE_PLAIN) {
                    assert_null(r.encrypt);
                    assert_int_equal(r.body_len, doc_len);
                    assert_memory_equal(r.body, doc, doc_len);
                    assert_null(strstr(r.query, "msg_signature"));
                } else {
                    assert_int_equal(
                        wxc_decrypt(&key, r.encrypt, strlen(r.encrypt), APPID, &plain, &plain_len),
                        0);
                    assert_int_equal(plain_len, doc_len);
                    assert_memory_equal(plain, doc, doc_len);
                    free(plain);
                    parts[0] = TOKEN;
                    parts[1] = "1714112445";
                    parts[2] = "415670741";
                    parts[3] = r.encrypt;
                    wxc_signature(parts, 4, sig);
                    assert_string_equal(sig, r.msg_signature);
                    check_field(r.body, r.body_len, (enum pb_format)f, "Encrypt", r.encrypt);
                    check_field(r.body, r.body_len, (enum pb_format)f, "ToUserName",
                                "gh_97417a04a28d");
                    if (mode == PB_MODE_COMPAT)
                        check_field(r.body, r.body_len, (enum pb_format)f, "FromUserName",
                                    "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
                    else
                        assert_null(strstr(r.body, "FromUserName"));
                }
                pb_request_free(&r);
                free(doc);
            }
}

static void test_msg_id_forms(void **state)
{
    struct pb_message m;
    char *doc;
    size_t len;
    (void)state;

    pb_message_sample(&m, PB_TYPE_TEXT);
    m.msg_id = "18446744073709551615";
    assert_int_equal(pb_document(&m, PB_FORMAT_JSON, &doc, &len), 0);
    assert_non_null(strstr(doc, "\"MsgId\":18446744073709551615}"));
    free(doc);
    m.msg_id = "not-a-number";
    assert_int_equal(pb_document(&m, PB_FORMAT_JSON, &doc, &len), 0);
    assert_non_null(strstr(doc, "\"MsgId\":\"not-a-number\""));
    free(doc);
    assert_int_equal(pb_document(&m, PB_FORMAT_XML, &doc, &len), 0);
    assert_non_null(strstr(doc, "<MsgId><![CDATA[not-a-number]]></MsgId>"));
    free(doc);
    m.msg_id = NULL;
    assert_int_equal(pb_document(&m, PB_FORMAT_XML, &doc, &len), 0);
    assert_null(strstr(doc, "MsgId"));
    free(doc);
}

static void test_compat_insertion(void **state)
{
    struct wx_aes_key key;
    struct pb_params p;
    struct pb_request r;
    char err[128];
    (void)state;

    assert_int_equal(wxc_key_from_encoding(AESKEY, &key), 0);
    params_for(&p, &key, PB_MODE_COMPAT, PB_FORMAT_JSON);
    assert_int_equal(pb_request_build(&p, "{ }\n", 4, &r, err, sizeof(err)), 0);
    assert_true(strncmp(r.body, "{ \"Encrypt\":\"", 13) == 0);
    pb_request_free(&r);
    assert_int_equal(pb_request_build(&p, "[1]", 3, &r, err, sizeof(err)), PB_EDOC);
    assert_null(r.body);
    params_for(&p, &key, PB_MODE_COMPAT, PB_FORMAT_XML);
    assert_int_equal(pb_request_build(&p, "<xml><A>1</A></xml>\n", 20, &r, err, sizeof(err)), 0);
    assert_true(strncmp(r.body, "<xml><A>1</A><Encrypt><![CDATA[", 31) == 0);
    assert_true(strcmp(r.body + r.body_len - 8, "</xml>\n\0") == 0 ||
                strcmp(r.body + r.body_len - 7, "</xml>\n") == 0);
    pb_request_free(&r);
    assert_int_equal(pb_request_build(&p, "<xml>", 5, &r, err, sizeof(err)), PB_EDOC);
    /* Missing key in an encrypted mode. */
    p.key = NULL;
    assert_int_equal(pb_request_build(&p, "<xml></xml>", 11, &r, err, sizeof(err)), PB_EARG);
}

static void test_corrupt_flags(void **state)
{
    struct wx_aes_key key;
    struct pb_params p;
    struct pb_request good, bad;
    char err[128];
    (void)state;

    assert_int_equal(wxc_key_from_encoding(AESKEY, &key), 0);
    params_for(&p, &key, PB_MODE_SAFE, PB_FORMAT_XML);
    p.random = vec_random;
    assert_int_equal(pb_request_build(&p, "<xml></xml>", 11, &good, err, sizeof(err)), 0);
    p.corrupt = PB_CORRUPT_MSG_SIGNATURE;
    assert_int_equal(pb_request_build(&p, "<xml></xml>", 11, &bad, err, sizeof(err)), 0);
    assert_string_equal(good.signature, bad.signature);
    assert_string_not_equal(good.msg_signature, bad.msg_signature);
    assert_int_equal(strlen(bad.msg_signature), WXC_SIG_HEX_LEN);
    pb_request_free(&bad);
    p.corrupt = PB_CORRUPT_SIGNATURE;
    assert_int_equal(pb_request_build(&p, "<xml></xml>", 11, &bad, err, sizeof(err)), 0);
    assert_string_not_equal(good.signature, bad.signature);
    pb_request_free(&bad);
    pb_request_free(&good);
}

static void test_query_encoding(void **state)
{
    struct pb_params p;
    struct pb_request r;
    char err[128];
    (void)state;

    params_for(&p, NULL, PB_MODE_PLAIN, PB_FORMAT_XML);
    p.nonce = "a b&c";
    assert_int_equal(pb_request_build(&p, "<xml></xml>", 11, &r, err, sizeof(err)), 0);
    assert_non_null(strstr(r.query, "&nonce=a%20b%26c"));
    pb_request_free(&r);
}

static void test_lat_hist(void **state)
{
    lat_hist *h = lat_hist_create(), *h2 = lat_hist_create();
    (void)state;

    assert_non_null(h);
    assert_int_equal(lat_hist_percentile(h, 50), 0);
    for (int64_t v = 1; v <= 100000; v++)
        lat_hist_record(h, v);
    assert_in_range(lat_hist_percentile(h, 50), 50000, 50000 + 50000 / 128 + 1);
    assert_in_range(lat_hist_percentile(h, 99), 99000, 99000 + 99000 / 128 + 1);
    assert_int_equal(lat_hist_percentile(h, 100), 100000);
    assert_int_equal(lat_hist_max(h), 100000);
    assert_int_equal(lat_hist_percentile(h, 0.0001), 1);
    lat_hist_record(h2, INT64_MAX);
    lat_hist_record(h2, -5);
    lat_hist_merge(h, h2);
    assert_int_equal(lat_hist_count(h), 100002);
    assert_int_equal(lat_hist_max(h), INT64_MAX);
    lat_hist_destroy(h);
    lat_hist_destroy(h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_safe_json), cmocka_unit_test(test_official_verify),
        cmocka_unit_test(test_round_trip_all),     cmocka_unit_test(test_msg_id_forms),
        cmocka_unit_test(test_compat_insertion),   cmocka_unit_test(test_corrupt_flags),
        cmocka_unit_test(test_query_encoding),     cmocka_unit_test(test_lat_hist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
