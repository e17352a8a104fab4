/*
 * fuzz_wx_parse: libFuzzer target for wx_parse (and the record built from
 * what it returns). Every input is parsed three ways: format detection, XML
 * and JSON. A successful parse must yield an object, which record_build then
 * canonicalizes; a failure must leave *out NULL and a terminated message.
 *
 * The object's text can never be much larger than the document: keys and
 * values are taken from it (UTF-16 to UTF-8 grows at most 1.5 times), so
 * anything larger means an entity was expanded, which wx_parse promises
 * never happens.
 */
#include "record.h"
#include "wx_parse.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    wxp_global_init();
    return 0;
}

/* Bytes of every key and string value in V. */
static size_t text_size(const json_t *v)
{
    size_t n = 0;
    if (json_is_string(v)) {
        n = json_string_length(v);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            n += strlen(k) + text_size(c);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            n += text_size(c);
        }
    }
    return n;
}

static void parse_one(const char *doc, size_t len, enum wx_format fmt)
{
    json_t *obj = (json_t *)1; /* must be reset to NULL on failure */
    enum wx_format used = 0;
    char err[256];
    int rc;

    rc = wxp_parse(doc, len, fmt, &obj, &used, err, sizeof(err));
    if (strnlen(err, sizeof(err)) == sizeof(err))
        abort(); /* message not terminated */
    if (rc != WXP_OK) {
        if (obj != NULL || rc < WXP_ENOMEM || wxp_strerror(rc) == NULL)
            abort();
        return;
    }
    if (!json_is_object(obj) || (fmt && used != fmt))
        abort();
    if (text_size(obj) > 2 * len + 64) {
        fprintf(stderr, "%zu-byte document gave %zu bytes of text: entity expansion\n", len,
                text_size(obj));
        abort();
    }
    (void)wxp_get_str(obj, "MsgType");
    {
        struct record_meta meta = {"wxba5fad812f8e6fb9", used, 0, 1714112445000};
        struct kmsg m;
        char id[RECORD_ID_MAX], rerr[256];
        memset(&m, 0, sizeof(m));
        if (record_build(obj, &meta, "wx.inbound", &m, id, rerr, sizeof(rerr)) == REC_OK) {
            if (!m.topic || !m.key || !m.value || strlen(m.value) != m.value_len ||
                strnlen(id, sizeof(id)) == 0 || strnlen(id, sizeof(id)) == sizeof(id))
                abort();
        }
        kmsg_clear(&m);
    }
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    enum wx_format detected = wxp_detect(doc, size);

    if (detected != 0 && detected != WX_FORMAT_XML && detected != WX_FORMAT_JSON)
        abort();
    parse_one(doc, size, 0);
    parse_one(doc, size, WX_FORMAT_XML);
    parse_one(doc, size, WX_FORMAT_JSON);
    return 0;
}
