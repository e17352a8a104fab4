/*
 * test_wx_parse: XML and JSON push documents to JSON objects.
 *
 * Golden cases live in tests/golden/parse/: every input file NAME.xml,
 * NAME.json or NAME.txt comes with either NAME.expected.json (the object
 * wxp_parse must produce, compared with json_equal) or NAME.expected.err (the
 * wxp_strerror() name of the error it must return). Each golden file becomes
 * one cmocka test named after it; test_required_golden_cases makes sure the
 * cases this suite depends on are present. The remaining tests build their
 * inputs in C: depth limits, encodings, NUL bytes, format forcing.
 */
#include "wx_parse.h"

#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define PARSE_DIR WXB_TEST_DATA "/parse"
#define MAX_CASES 256

struct golden {
    char name[128];     /* input file name */
    char stem[128];     /* name without the extension */
    enum wx_format fmt; /* from the extension; 0 for .txt */
};

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Parses DOC[0..LEN) with FMT and returns the code; *OUT owned by the caller. */
static int parse(const char *doc, size_t len, enum wx_format fmt, json_t **out,
                 enum wx_format *fmt_out)
{
    char err[256];
    int rc;

    memset(err, 'X', sizeof(err));
    rc = wxp_parse(doc, len, fmt, out, fmt_out, err, sizeof(err));
    if (rc == WXP_OK) {
        assert_non_null(*out);
        assert_true(json_is_object(*out));
    } else {
        assert_null(*out);
        /* Detail is one non-empty line. */
        assert_true(strlen(err) > 0 && strlen(err) < sizeof(err));
        assert_null(strchr(err, '\n'));
    }
    return rc;
}

static int parse_str(const char *doc, json_t **out)
{
    return parse(doc, strlen(doc), 0, out, NULL);
}

/* ---- golden files ---- */

static void run_golden(void **state)
{
    const struct golden *g = *state;
    char path[512], exp_path[512];
    size_t len = 0, elen = 0;
    char *doc, *exp_err;
    json_t *got = NULL;
    enum wx_format fmt_out = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", PARSE_DIR, g->name);
    doc = tu_read_file(path, &len);
    assert_non_null(doc);
    rc = parse(doc, len, 0, &got, &fmt_out);

    snprintf(exp_path, sizeof(exp_path), "%s/%s.expected.json", PARSE_DIR, g->stem);
    if (exists(exp_path)) {
        json_error_t jerr;
        json_t *want = json_load_file(exp_path, 0, &jerr);
        if (!want)
            fail_msg("%s: line %d: %s", exp_path, jerr.line, jerr.text);
        if (rc != WXP_OK) {
            json_decref(want);
            free(doc);
            fail_msg("%s: expected success, got %s", g->name, wxp_strerror(rc));
        }
        tu_assert_json_equal(got, want, g->name);
        assert_int_equal(fmt_out, g->fmt);
        json_decref(got);
        /* The same document with its format given explicitly parses the same. */
        got = NULL;
        assert_int_equal(parse(doc, len, g->fmt, &got, NULL), WXP_OK);
        tu_assert_json_equal(got, want, g->name);
        json_decref(got);
        json_decref(want);
        free(doc);
        return;
    }
    snprintf(exp_path, sizeof(exp_path), "%s/%s.expected.err", PARSE_DIR, g->stem);
    exp_err = tu_read_file(exp_path, &elen);
    if (!exp_err) {
        free(doc);
        json_decref(got);
        fail_msg("%s: neither %s.expected.json nor %s.expected.err", g->name, g->stem, g->stem);
    }
    exp_err[strcspn(exp_err, "\r\n")] = '\0';
    free(doc);
    if (rc == WXP_OK) {
        char *dump = json_dumps(got, JSON_COMPACT);
        print_error("%s: parsed to %s\n", g->name, dump ? dump : "?");
        free(dump);
        json_decref(got);
        free(exp_err);
        fail_msg("%s: expected error %s, got success", g->name, exp_err);
    }
    if (strcmp(wxp_strerror(rc), exp_err) != 0) {
        print_error("%s: expected %s, got %s\n", g->name, exp_err, wxp_strerror(rc));
        free(exp_err);
        fail();
    }
    free(exp_err);
}

static int cmp_golden(const void *a, const void *b)
{
    return strcmp(((const struct golden *)a)->name, ((const struct golden *)b)->name);
}

/* Lists the input files of PARSE_DIR into CASES; returns how many. */
static size_t list_golden(struct golden *cases, size_t max)
{
    DIR *d = opendir(PARSE_DIR);
    struct dirent *de;
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL && n < max) {
        const char *name = de->d_name, *dot;
        if (name[0] == '.' || strstr(name, ".expected."))
            continue;
        dot = strrchr(name, '.');
        if (!dot || strlen(name) >= sizeof(cases[n].name))
            continue;
        memcpy(cases[n].name, name, strlen(name) + 1); /* length checked above */
        snprintf(cases[n].stem, sizeof(cases[n].stem), "%.*s", (int)(dot - name), name);
        if (strcmp(dot, ".xml") == 0)
            cases[n].fmt = WX_FORMAT_XML;
        else if (strcmp(dot, ".json") == 0)
            cases[n].fmt = WX_FORMAT_JSON;
        else
            cases[n].fmt = 0;
        n++;
    }
    closedir(d);
    qsort(cases, n, sizeof(*cases), cmp_golden);
    return n;
}

static void test_required_golden_cases(void **state)
{
    static const char *const required[] = {
        /* the seed's examples, verbatim */
        "xml_text_seed.xml", "json_text_seed.json", "xml_image_seed_typo.xml",
        "json_image_seed.json", "xml_user_enter_tempsession_seed.xml",
        "json_user_enter_tempsession_seed.json",
        /* every message type in both formats */
        "xml_image.xml", "xml_miniprogrampage.xml", "json_miniprogrampage.json",
        "xml_subscribe_msg_popup_event_one.xml", "xml_subscribe_msg_popup_event_many.xml",
        "json_subscribe_msg_popup_event_one.json", "json_subscribe_msg_popup_event_many.json",
        "xml_wxa_media_check.xml", "json_wxa_media_check.json", "xml_debug_demo.xml",
        "json_debug_demo.json", "xml_unknown_type.xml", "json_unknown_type.json",
        /* representation details */
        "xml_text_bare.xml", "xml_text_newlines.xml", "xml_text_bom.xml", "json_text_bom.json",
        "json_text_whitespace.json", "xml_cdata_special.xml", "xml_msgid_64bit.xml",
        "json_msgid_64bit.json", "json_msgid_uint64_max.json", "xml_msgid_nonnumeric.xml",
        "json_msgid_nonnumeric.json", "json_big_ints.json",
        /* errors */
        "xml_dtd_billion_laughs.xml", "xml_dtd_external_entity.xml", "xml_dtd_external_subset.xml",
        "xml_malformed_unclosed.xml", "xml_malformed_mismatch.xml", "xml_too_deep.xml",
        "json_too_deep.json", "json_array_top.json", "json_malformed_trailing_comma.json",
        "json_duplicate_key.json", "empty.txt", "whitespace.txt", "neither.txt"};
    struct golden *cases = calloc(MAX_CASES, sizeof(*cases));
    size_t n = list_golden(cases, MAX_CASES);
    (void)state;

    assert_true(n >= sizeof(required) / sizeof(required[0]));
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        int found = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(cases[j].name, required[i]) == 0)
                found = 1;
        if (!found) {
            free(cases);
            fail_msg("golden case %s missing from %s", required[i], PARSE_DIR);
        }
    }
    free(cases);
}

/* ---- depth ---- */

/* XML with K nested containers (the root counts): <xml><a1>..<leaf>x</leaf>..</xml>. */
static char *xml_nested(int k)
{
    size_t cap = (size_t)k * 24 + 64, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "<xml>");
    for (int i = 1; i < k; i++)
        o += (size_t)snprintf(s + o, cap - o, "<a%d>", i);
    o += (size_t)snprintf(s + o, cap - o, "<leaf>x</leaf>");
    for (int i = k - 1; i >= 1; i--)
        o += (size_t)snprintf(s + o, cap - o, "</a%d>", i);
    snprintf(s + o, cap - o, "</xml>");
    return s;
}

/* The JSON that xml_nested(K) maps to: K nested objects. */
static char *json_nested(int k)
{
    size_t cap = (size_t)k * 24 + 64, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "{");
    for (int i = 1; i < k; i++)
        o += (size_t)snprintf(s + o, cap - o, "\"a%d\":{", i);
    o += (size_t)snprintf(s + o, cap - o, "\"leaf\":\"x\"");
    for (int i = k - 1; i >= 0; i--)
        o += (size_t)snprintf(s + o, cap - o, "}");
    return s;
}

static void test_depth_limit_xml(void **state)
{
    json_t *v = NULL;
    char *x;
    (void)state;

    x = xml_nested(WXP_DEPTH_MAX);
    assert_int_equal(parse_str(x, &v), WXP_OK);
    {
        /* Same structure as the JSON rendering. */
        char *j = json_nested(WXP_DEPTH_MAX);
        json_t *want = tu_json(j);
        tu_assert_json_equal(v, want, "xml at depth max");
        json_decref(want);
        free(j);
    }
    json_decref(v);
    free(x);
    x = xml_nested(WXP_DEPTH_MAX + 1);
    assert_int_equal(parse_str(x, &v), WXP_EDEPTH);
    free(x);
}

/*
 * Regression, fixed in wx_parse.c json_depth_ok: a scalar counts as a nesting level in JSON
 * but not in XML, so a JSON document with WXP_DEPTH_MAX nested objects whose
 * innermost holds a scalar is refused while the identical structure in XML
 * (and the same JSON with an empty innermost object) is accepted.
 */
static void test_depth_limit_json(void **state)
{
    json_t *v = NULL;
    char *j;
    int rc;
    (void)state;

    /* An empty innermost container at depth WXP_DEPTH_MAX is accepted... */
    {
        size_t cap = 1024, o = 0;
        char *s = malloc(cap);
        for (int i = 1; i < WXP_DEPTH_MAX; i++)
            o += (size_t)snprintf(s + o, cap - o, "{\"a\":");
        o += (size_t)snprintf(s + o, cap - o, "{}");
        for (int i = 1; i < WXP_DEPTH_MAX; i++)
            o += (size_t)snprintf(s + o, cap - o, "}");
        assert_int_equal(parse_str(s, &v), WXP_OK);
        json_decref(v);
        free(s);
    }
    j = json_nested(WXP_DEPTH_MAX + 1);
    assert_int_equal(parse_str(j, &v), WXP_EDEPTH);
    free(j);
    /* ...and so must be one holding a scalar, as XML of the same shape is. */
    j = json_nested(WXP_DEPTH_MAX);
    rc = parse_str(j, &v);
    json_decref(v);
    free(j);
    assert_int_equal(rc, WXP_OK);
}

/*
 * Regression, fixed in wx_parse.c parse_json / parse_xml, minor: documents nested deeper than
 * the underlying parsers' own limits (jansson 2048, libxml2 256) come back as
 * WXP_EMALFORMED instead of WXP_EDEPTH ("nested deeper than WXP_DEPTH_MAX").
 */
static void test_very_deep_json_is_edepth(void **state)
{
    const int n = 3000;
    char *s = malloc((size_t)n * 2 + 16);
    json_t *v = NULL;
    size_t o = 0;
    int rc;
    (void)state;

    o += (size_t)snprintf(s, 16, "{\"a\":");
    for (int i = 0; i < n; i++)
        s[o++] = '[';
    for (int i = 0; i < n; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = '\0';
    rc = parse_str(s, &v);
    free(s);
    assert_int_equal(rc, WXP_EDEPTH);
}

static void test_very_deep_xml_is_edepth(void **state)
{
    char *s = xml_nested(300);
    json_t *v = NULL;
    int rc;
    (void)state;

    rc = parse_str(s, &v);
    free(s);
    assert_int_equal(rc, WXP_EDEPTH);
}

/* ---- encodings and raw bytes ---- */

/* UTF-16LE (no BOM) of the ASCII string S; *LEN gets the byte length. */
static char *utf16le(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 2);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = s[i];
        out[2 * i + 1] = '\0';
    }
    *len = 2 * n;
    return out;
}

/*
 * Regression, fixed in wx_parse.c parse_xml: the DTD refusal is a byte search for "<!DOCTYPE"
 * and "<!ENTITY", which a UTF-16 document (libxml2 detects it from "<\0?\0"
 * or a BOM) passes; libxml2 then parses the internal subset and the entity is
 * expanded into the payload.
 */
/*
 * A document declaring UTF-7 can write "<!DOCTYPE" as "+ADwAIQ-DOCTYPE"; the
 * declared encoding is ignored (UTF-8 is forced), so no entity is expanded.
 */
static void test_dtd_in_utf7_refused(void **state)
{
    char *doc = NULL;
    size_t len = 0;
    json_t *v = NULL;
    int rc;
    (void)state;

    doc = tu_read_file(WXB_TEST_DATA "/../../fuzz/corpus/fuzz_wx_parse/xml_utf7_dtd_entity.xml",
                       &len);
    assert_non_null(doc);
    /* Refused: malformed once UTF-8 is forced, and a DTD is refused at any rate. */
    rc = parse(doc, len, 0, &v, NULL);
    json_decref(v);
    assert_true(rc == WXP_EMALFORMED || rc == WXP_EDTD);
    free(doc);
}

static void test_find_encrypt_fast_path(void **state)
{
    size_t n = 0;
    const char *v;
    static const char x1[] = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
                             "<Encrypt><![CDATA[ab+/C=]]></Encrypt></xml>";
    static const char x2[] = "<xml>\n <Encrypt>QUJD</Encrypt>\n</xml>";
    static const char j1[] = "{\"ToUserName\":\"gh_1\", \"Encrypt\" : \"QUJD+/==\"}";
    (void)state;

    v = wxp_find_encrypt(x1, strlen(x1), 0, &n);
    assert_non_null(v);
    assert_int_equal(n, 6);
    assert_memory_equal(v, "ab+/C=", 6);
    v = wxp_find_encrypt(x2, strlen(x2), WX_FORMAT_XML, &n);
    assert_non_null(v);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "QUJD", 4);
    v = wxp_find_encrypt(j1, strlen(j1), 0, &n);
    assert_non_null(v);
    assert_int_equal(n, 8);
    assert_memory_equal(v, "QUJD+/==", 8);

    /* Anything unusual falls back to the full parser (NULL). */
    static const char *const fallback[] = {
        "<xml><Encrypt>QUJD</Encrypt><Encrypt>QUJD</Encrypt></xml>", /* twice */
        "<xml><Encrypt>QU JD</Encrypt></xml>",                       /* not base64 */
        "<xml><Encrypt></Encrypt></xml>",                            /* empty */
        "<xml><Encrypt>QUJD</Encrypt ></xml>",                       /* odd closing tag */
        "<xml><Encrypt><![CDATA[QUJD]]> </Encrypt></xml>",           /* text after CDATA */
        "<xml><ToUserName>x</ToUserName></xml>",                     /* none */
        "{\"Encrypt\":\"QU\\/JD\"}",                                 /* JSON escape */
        "{\"Encrypt\":1}",                                           /* not a string */
        "{\"Encrypt\":\"QUJD\",\"Encrypt\":\"QUJD\"}",               /* twice */
        "Encrypt=QUJD",                                              /* neither format */
    };
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
        assert_null(wxp_find_encrypt(fallback[i], strlen(fallback[i]), 0, &n));
}

static void test_dtd_in_utf16_refused(void **state)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
                      "<!DOCTYPE xml [<!ENTITY e \"boom\">]>"
                      "<xml><ToUserName>&e;</ToUserName></xml>";
    size_t len;
    char *u = utf16le(doc, &len);
    json_t *v = NULL;
    int rc;
    (void)state;

    /* Auto-detection sees '<' first and picks XML. */
    assert_int_equal(wxp_detect(u, len), WX_FORMAT_XML);
    rc = parse(u, len, 0, &v, NULL);
    if (rc == WXP_OK) {
        print_error("UTF-16 DTD accepted: ToUserName=%s\n",
                    wxp_get_str(v, "ToUserName") ? wxp_get_str(v, "ToUserName") : "(none)");
        json_decref(v);
        v = NULL;
    }
    /* Refused as not UTF-8 (it has NUL bytes) before libxml2 could read the DTD. */
    if (rc != WXP_EMALFORMED)
        free(u);
    assert_int_equal(rc, WXP_EMALFORMED);

    /* With a BOM and the format pinned to XML (ingress apps may pin it). */
    {
        char *b = malloc(len + 2);
        b[0] = '\xff';
        b[1] = '\xfe';
        memcpy(b + 2, u, len);
        rc = parse(b, len + 2, WX_FORMAT_XML, &v, NULL);
        json_decref(v);
        free(b);
        assert_int_equal(rc, WXP_EMALFORMED);
    }
    free(u);
}

/*
 * Regression, fixed in wx_parse.c parse_json: when an integer had to be quoted, the rewritten
 * copy is parsed with strlen(), so a NUL byte in the body silently cuts the
 * document there and trailing garbage is accepted; without a big integer the
 * same body is refused.
 */
static void test_json_nul_byte(void **state)
{
    static const char small[] = "{\"MsgId\":1}\0{\"x\":";
    static const char big[] = "{\"MsgId\":18446744073709551615}\0{\"x\":";
    json_t *v = NULL;
    int rc;
    (void)state;

    assert_int_equal(parse(small, sizeof(small) - 1, 0, &v, NULL), WXP_EMALFORMED);
    rc = parse(big, sizeof(big) - 1, 0, &v, NULL);
    json_decref(v);
    assert_int_equal(rc, WXP_EMALFORMED);
}

/*
 * Regression, fixed in wx_parse.c parse_json: wxp_detect() skips a UTF-8 BOM, but the JSON
 * parser is handed the BOM and jansson refuses it, so a BOM-prefixed JSON push
 * is WXP_EMALFORMED while the same XML push parses. Same for
 * golden/parse/json_text_bom.json.
 */
static void test_json_bom(void **state)
{
    static const char doc[] = "\xef\xbb\xbf{\"FromUserName\":\"u\"}";
    json_t *v = NULL;
    int rc;
    (void)state;

    assert_int_equal(parse_str("\xef\xbb\xbf<xml><FromUserName>u</FromUserName></xml>", &v),
                     WXP_OK);
    assert_string_equal(wxp_get_str(v, "FromUserName"), "u");
    json_decref(v);
    v = NULL;
    rc = parse_str(doc, &v);
    if (rc == WXP_OK)
        assert_string_equal(wxp_get_str(v, "FromUserName"), "u");
    json_decref(v);
    assert_int_equal(rc, WXP_OK);
}

static void test_xml_nul_byte(void **state)
{
    static const char doc[] = "<xml><A>1</A>\0<B>2</B></xml>";
    json_t *v = NULL;
    int rc;
    (void)state;
    rc = parse(doc, sizeof(doc) - 1, 0, &v, NULL);
    json_decref(v);
    assert_int_equal(rc, WXP_EMALFORMED);
}

static void test_invalid_utf8(void **state)
{
    json_t *v = NULL;
    (void)state;
    assert_int_equal(parse_str("<xml><A>\xff\xfe</A></xml>", &v), WXP_EMALFORMED);
    assert_int_equal(parse_str("{\"A\":\"\xff\xfe\"}", &v), WXP_EMALFORMED);
}

/* ---- one parser per thread, reused ---- */

static void test_parser_state_not_carried_over(void **state)
{
    json_t *v = NULL;
    char err[256];
    (void)state;

    assert_int_equal(parse_str("<xml><A>1</A>", &v), WXP_EMALFORMED);
    assert_int_equal(parse_str("<xml><A>1</A></xml>", &v), WXP_OK);
    assert_string_equal(wxp_get_str(v, "A"), "1");
    json_decref(v);
    /* The second error's detail is its own. */
    assert_int_equal(wxp_parse("<xml><A></B></xml>", 18, 0, &v, NULL, err, sizeof(err)),
                     WXP_EMALFORMED);
    assert_int_equal(wxp_parse("<xml><A>", 8, 0, &v, NULL, err, sizeof(err)), WXP_EMALFORMED);
    assert_null(strstr(err, "B"));
    assert_int_equal(parse_str("<xml><B>2</B></xml>", &v), WXP_OK);
    assert_null(wxp_get_str(v, "A"));
    json_decref(v);
}

/*
 * Regression, fixed in wx_parse.c thread_ctxt / parse_xml: the per-thread libxml2 context is
 * reused without resetting its name dictionary, so every distinct element or
 * attribute name ever seen by the thread stays in it. Once libxml2's
 * dictionary limit (XML_MAX_DICTIONARY_LIMIT, 10 MB) is reached, well-formed
 * documents on that thread fail with WXP_EMALFORMED ("Extra content at the
 * end of the document") until the process restarts. Here: 1 MiB documents
 * with fresh attribute names; the 22nd fails.
 */
static void test_many_distinct_names(void **state)
{
    const size_t cap = 1024 * 1024;
    char *s = malloc(cap + 512);
    char name[201];
    json_t *v = NULL;
    int rc = WXP_OK, d;
    (void)state;

    memset(name, 'n', 200);
    name[200] = '\0';
    for (d = 0; d < 30 && rc == WXP_OK; d++) {
        size_t o = (size_t)snprintf(s, 64, "<xml><FromUserName>u</FromUserName><a ");
        for (int i = 0; o < cap - 300; i++)
            o += (size_t)snprintf(s + o, 300, "%s%d_%d=\"\" ", name, d, i);
        o += (size_t)snprintf(s + o, 64, "/></xml>");
        rc = parse(s, o, 0, &v, NULL);
        json_decref(v);
        v = NULL;
    }
    free(s);
    /* Start the following tests with a fresh parser either way. */
    wxp_thread_cleanup();
    if (rc != WXP_OK)
        print_error("document %d failed\n", d);
    assert_int_equal(rc, WXP_OK);
}

/* ---- API ---- */

static void test_forced_format(void **state)
{
    const char *xml = "<xml><A>1</A></xml>", *json = "{\"A\":\"1\"}";
    enum wx_format f = 0;
    json_t *v = NULL, *w = NULL;
    (void)state;

    assert_int_equal(parse(xml, strlen(xml), WX_FORMAT_JSON, &v, &f), WXP_EMALFORMED);
    assert_int_equal(f, WX_FORMAT_JSON);
    assert_int_equal(parse(json, strlen(json), WX_FORMAT_XML, &v, &f), WXP_EMALFORMED);
    assert_int_equal(f, WX_FORMAT_XML);
    assert_int_equal(parse(xml, strlen(xml), 0, &v, &f), WXP_OK);
    assert_int_equal(f, WX_FORMAT_XML);
    assert_int_equal(parse(json, strlen(json), 0, &w, &f), WXP_OK);
    assert_int_equal(f, WX_FORMAT_JSON);
    tu_assert_json_equal(v, w, "xml vs json");
    json_decref(v);
    json_decref(w);
    /* Only LEN bytes are read. */
    assert_int_equal(parse(json, 4, 0, &v, NULL), WXP_EMALFORMED);
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(wxp_detect("<xml/>", 6), WX_FORMAT_XML);
    assert_int_equal(wxp_detect(" \r\n\t{}", 6), WX_FORMAT_JSON);
    assert_int_equal(wxp_detect("\xef\xbb\xbf<xml/>", 9), WX_FORMAT_XML);
    assert_int_equal(wxp_detect("\xef\xbb\xbf {}", 6), WX_FORMAT_JSON);
    /* An array is JSON (and refused later as not an object). */
    assert_int_equal(wxp_detect("[]", 2), WX_FORMAT_JSON);
    assert_int_equal(wxp_detect("", 0), 0);
    assert_int_equal(wxp_detect("   ", 3), 0);
    assert_int_equal(wxp_detect("a<xml/>", 7), 0);
    assert_int_equal(wxp_detect("\xef\xbb", 2), 0);
    /* LEN bounds the scan. */
    assert_int_equal(wxp_detect("  <", 2), 0);
}

static void test_errors_without_files(void **state)
{
    json_t *v = NULL;
    enum wx_format f = 7;
    (void)state;

    assert_int_equal(parse("", 0, 0, &v, &f), WXP_EEMPTY);
    assert_int_equal(parse(" \n\t\r", 4, 0, &v, NULL), WXP_EEMPTY);
    assert_int_equal(parse_str(" {} trailing", &v), WXP_EMALFORMED);
    assert_int_equal(parse_str("{\"a\":[1,2]", &v), WXP_EMALFORMED);
    assert_int_equal(parse_str("<xml><a></xml>", &v), WXP_EMALFORMED);
    assert_int_equal(parse_str("<!ENTITY x \"y\"><xml/>", &v), WXP_EDTD);
    assert_int_equal(parse(" [1]", 4, WX_FORMAT_JSON, &v, NULL), WXP_ENOTOBJECT);
}

/*
 * Regression, fixed in wx_parse.c wxp_detect: a body that is a JSON array is reported as
 * WXP_EFORMAT ("unknown_format") unless the caller forces JSON; it is JSON
 * whose top level is not an object, WXP_ENOTOBJECT. Same for
 * golden/parse/json_array_top.json.
 */
static void test_json_array_top_level(void **state)
{
    json_t *v = NULL;
    (void)state;
    assert_int_equal(parse(" [1]", 4, WX_FORMAT_JSON, &v, NULL), WXP_ENOTOBJECT);
    assert_int_equal(parse_str("[{\"MsgType\":\"text\"}]", &v), WXP_ENOTOBJECT);
}

static void test_too_big(void **state)
{
    size_t n = WXP_DOC_MAX + 1;
    char *doc = malloc(n);
    json_t *v = NULL;
    (void)state;

    memset(doc, ' ', n);
    doc[0] = '{';
    doc[n - 1] = '}';
    assert_int_equal(parse(doc, n, 0, &v, NULL), WXP_ETOOBIG);
    /* Exactly the maximum is fine. */
    doc[n - 2] = '}';
    assert_int_equal(parse(doc, n - 1, 0, &v, NULL), WXP_OK);
    json_decref(v);
    free(doc);
}

static void test_get_str(void **state)
{
    json_t *o = tu_json("{\"s\":\"v\",\"n\":1,\"z\":null,\"o\":{}}");
    (void)state;
    assert_string_equal(wxp_get_str(o, "s"), "v");
    assert_null(wxp_get_str(o, "n"));
    assert_null(wxp_get_str(o, "z"));
    assert_null(wxp_get_str(o, "o"));
    assert_null(wxp_get_str(o, "missing"));
    assert_null(wxp_get_str(NULL, "s"));
    json_decref(o);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wxp_strerror(WXP_OK), "ok");
    assert_string_equal(wxp_strerror(WXP_EEMPTY), "empty_body");
    assert_string_equal(wxp_strerror(WXP_EFORMAT), "unknown_format");
    assert_string_equal(wxp_strerror(WXP_EMALFORMED), "malformed");
    assert_string_equal(wxp_strerror(WXP_EDTD), "xml_dtd_refused");
    assert_string_equal(wxp_strerror(WXP_EDEPTH), "too_deep");
    assert_string_equal(wxp_strerror(WXP_ENOTOBJECT), "json_not_object");
    assert_string_equal(wxp_strerror(WXP_ETOOBIG), "document_too_big");
    assert_string_equal(wxp_strerror(-99), "unknown_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_golden_cases),
        cmocka_unit_test(test_depth_limit_xml),
        cmocka_unit_test(test_depth_limit_json),
        cmocka_unit_test(test_very_deep_json_is_edepth),
        cmocka_unit_test(test_very_deep_xml_is_edepth),
        cmocka_unit_test(test_json_array_top_level),
        cmocka_unit_test(test_dtd_in_utf16_refused),
        cmocka_unit_test(test_dtd_in_utf7_refused),
        cmocka_unit_test(test_find_encrypt_fast_path),
        cmocka_unit_test(test_json_nul_byte),
        cmocka_unit_test(test_json_bom),
        cmocka_unit_test(test_xml_nul_byte),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_parser_state_not_carried_over),
        cmocka_unit_test(test_many_distinct_names),
        cmocka_unit_test(test_forced_format),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_errors_without_files),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_strerror),
    };
    struct golden *cases = calloc(MAX_CASES, sizeof(*cases));
    struct CMUnitTest *gtests = calloc(MAX_CASES, sizeof(*gtests));
    size_t n;
    int failed;

    wxp_global_init();
    n = list_golden(cases, MAX_CASES);
    for (size_t i = 0; i < n; i++) {
        gtests[i].name = cases[i].name;
        gtests[i].test_func = run_golden;
        gtests[i].initial_state = &cases[i];
    }
    failed = cmocka_run_group_tests_name("wx_parse", tests, NULL, NULL);
    failed += _cmocka_run_group_tests("golden/parse", gtests, n, NULL, NULL);
    free(gtests);
    free(cases);
    wxp_thread_cleanup();
    wxp_global_cleanup();
    return failed;
}
