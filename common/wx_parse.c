/*
 * wx_parse: XML/JSON push documents to JSON objects. See wx_parse.h.
 */
#include "wx_parse.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One libxml2 parser context per thread, reused: creating one per document
 * (buffers, dictionary) cost more than parsing the small documents WeChat
 * sends. Freed when the thread exits.
 */
static pthread_key_t ctxt_key;
#define XML_DICT_MAX 4096 /* distinct names kept before the context is renewed */
static pthread_once_t ctxt_once = PTHREAD_ONCE_INIT;

static void ctxt_free(void *c)
{
    xmlFreeParserCtxt(c);
}

static void ctxt_key_init(void)
{
    pthread_key_create(&ctxt_key, ctxt_free);
}

static xmlParserCtxtPtr thread_ctxt(void)
{
    xmlParserCtxtPtr c;
    pthread_once(&ctxt_once, ctxt_key_init);
    c = pthread_getspecific(ctxt_key);
    if (!c) {
        c = xmlNewParserCtxt();
        if (c && pthread_setspecific(ctxt_key, c) != 0) {
            xmlFreeParserCtxt(c);
            c = NULL;
        }
    }
    return c;
}

/* Frees this thread's context; the next parse creates a new one. */
static void ctxt_drop(void)
{
    xmlParserCtxtPtr c = pthread_getspecific(ctxt_key);
    if (c) {
        pthread_setspecific(ctxt_key, NULL);
        xmlFreeParserCtxt(c);
    }
}

void wxp_global_init(void)
{
    xmlInitParser();
}

void wxp_thread_cleanup(void)
{
    pthread_once(&ctxt_once, ctxt_key_init);
    ctxt_drop();
}

void wxp_global_cleanup(void)
{
    xmlCleanupParser();
}

const char *wxp_strerror(int code)
{
    switch (code) {
    case WXP_OK:
        return "ok";
    case WXP_EEMPTY:
        return "empty_body";
    case WXP_EFORMAT:
        return "unknown_format";
    case WXP_EMALFORMED:
        return "malformed";
    case WXP_EDTD:
        return "xml_dtd_refused";
    case WXP_EDEPTH:
        return "too_deep";
    case WXP_ENOTOBJECT:
        return "json_not_object";
    case WXP_ETOOBIG:
        return "document_too_big";
    case WXP_ENOMEM:
        return "out_of_memory";
    default:
        return "unknown_error";
    }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum wx_format wxp_detect(const char *doc, size_t len)
{
    size_t i = 0;
    /* A UTF-8 byte-order mark is tolerated. */
    if (len >= 3 && (unsigned char)doc[0] == 0xEF && (unsigned char)doc[1] == 0xBB &&
        (unsigned char)doc[2] == 0xBF)
        i = 3;
    for (; i < len; i++) {
        if (is_space(doc[i]))
            continue;
        if (doc[i] == '<')
            return WX_FORMAT_XML;
        if (doc[i] == '{' || doc[i] == '[')
            return WX_FORMAT_JSON; /* an array is JSON, refused later as not an object */
        return 0;
    }
    return 0;
}

/* Length of the base64 run at P (up to END). */
static size_t b64_run(const char *p, const char *end)
{
    /* One bit per byte value: A-Z a-z 0-9 + / = */
    static const uint64_t lo = 0x23ff880000000000ull, hi = 0x07fffffe07fffffeull;
    const unsigned char *q = (const unsigned char *)p;
    while (q < (const unsigned char *)end && (*q < 64    ? lo >> *q & 1
                                              : *q < 128 ? hi >> (*q - 64) & 1
                                                         : 0))
        q++;
    return (size_t)(q - (const unsigned char *)p);
}

static int starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

const char *wxp_find_encrypt(const char *doc, size_t len, enum wx_format fmt, size_t *out_len)
{
    const char *end = doc + len, *key, *v;
    size_t n;

    if (!fmt)
        fmt = wxp_detect(doc, len);
    if (fmt == WX_FORMAT_XML) {
        key = memmem(doc, len, "<Encrypt>", 9);
        if (!key || memmem(key + 9, (size_t)(end - key - 9), "<Encrypt", 8))
            return NULL;
        v = key + 9;
        if (starts(v, end, "<![CDATA[")) {
            v += 9;
            n = b64_run(v, end);
            if (!starts(v + n, end, "]]></Encrypt>"))
                return NULL;
        } else {
            n = b64_run(v, end);
            if (!starts(v + n, end, "</Encrypt>"))
                return NULL;
        }
    } else if (fmt == WX_FORMAT_JSON) {
        key = memmem(doc, len, "\"Encrypt\"", 9);
        if (!key || memmem(key + 9, (size_t)(end - key - 9), "\"Encrypt\"", 9))
            return NULL;
        v = key + 9;
        while (v < end && is_space(*v))
            v++;
        if (v == end || *v++ != ':')
            return NULL;
        while (v < end && is_space(*v))
            v++;
        if (v == end || *v++ != '"')
            return NULL;
        n = b64_run(v, end);
        if (!starts(v + n, end, "\""))
            return NULL; /* an escape or anything unusual: take the full parser */
    } else {
        return NULL;
    }
    if (n == 0)
        return NULL;
    *out_len = n;
    return v;
}

const char *wxp_get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- XML ---- */

/* Adds VALUE under KEY, turning a repeated key into an array. Steals VALUE. */
static int obj_add(json_t *obj, const char *key, json_t *value)
{
    json_t *old = json_object_get(obj, key);
    if (!value)
        return -1;
    if (!old)
        return json_object_set_new(obj, key, value);
    if (json_is_array(old))
        return json_array_append_new(old, value);
    json_t *arr = json_array();
    if (!arr) {
        json_decref(value);
        return -1;
    }
    json_array_append(arr, old);
    json_array_append_new(arr, value);
    return json_object_set_new(obj, key, arr);
}

static int has_element_child(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return 1;
    return 0;
}

static int xml_children_to_obj(const xmlNode *parent, json_t *obj, int depth)
{
    if (depth > WXP_DEPTH_MAX)
        return WXP_EDEPTH;
    for (const xmlNode *c = parent->children; c; c = c->next) {
        json_t *v;
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (has_element_child(c)) {
            int rc;
            v = json_object();
            if (!v)
                return WXP_ENOMEM;
            rc = xml_children_to_obj(c, v, depth + 1);
            if (rc) {
                json_decref(v);
                return rc;
            }
        } else {
            xmlChar *text = xmlNodeGetContent(c);
            v = json_string(text ? (const char *)text : "");
            xmlFree(text);
            /* json_string() refuses invalid UTF-8; libxml2 already validated it. */
            if (!v)
                return WXP_EMALFORMED;
        }
        if (obj_add(obj, (const char *)c->name, v) < 0)
            return WXP_ENOMEM;
    }
    return WXP_OK;
}

static int parse_xml(const char *doc, size_t len, json_t **out, char *err, size_t errlen)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr xd;
    xmlNodePtr root;
    json_t *obj;
    int rc;

    /* Refuse any DTD before parsing: no entity can then be declared or expanded. */
    if (memmem(doc, len, "<!DOCTYPE", 9) || memmem(doc, len, "<!ENTITY", 8)) {
        snprintf(err, errlen, "XML document declares a DTD");
        return WXP_EDTD;
    }
    ctxt = thread_ctxt();
    if (!ctxt)
        return WXP_ENOMEM;
    /*
     * UTF-8 is forced whatever the document declares (XML_PARSE_IGNORE_ENC):
     * a UTF-16 or UTF-7 document would otherwise hide "<!DOCTYPE" from the
     * byte search above (and wxp_parse() refused NUL bytes already). Naming
     * "UTF-8" as the encoding instead would run every byte through a
     * converter.
     */
    xd = xmlCtxtReadMemory(ctxt, doc, (int)len, NULL, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                               XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC);
    if (!xd) {
        const xmlError *xe = xmlCtxtGetLastError(ctxt);
        snprintf(err, errlen, "XML: %s", xe && xe->message ? xe->message : "not well-formed");
        /* libxml2 messages end in a newline; logs want one line. */
        err[strcspn(err, "\n")] = '\0';
    }
    /* The reused context's name dictionary only grows: start afresh past a bound. */
    if (xmlDictSize(ctxt->dict) > XML_DICT_MAX)
        ctxt_drop();
    if (!xd)
        return strstr(err, "Excessive depth") ? WXP_EDEPTH : WXP_EMALFORMED;
    if (xd->intSubset || xd->extSubset) {
        /* Unreachable after the checks above; kept so a DTD can never slip through. */
        xmlFreeDoc(xd);
        snprintf(err, errlen, "XML document declares a DTD");
        return WXP_EDTD;
    }
    root = xmlDocGetRootElement(xd);
    obj = json_object();
    if (!root || !obj) {
        snprintf(err, errlen, "XML: no root element");
        rc = obj ? WXP_EMALFORMED : WXP_ENOMEM;
        goto out;
    }
    rc = xml_children_to_obj(root, obj, 1);
    if (rc)
        snprintf(err, errlen, "XML: %s", wxp_strerror(rc));
out:
    xmlFreeDoc(xd);
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return WXP_OK;
}

/* ---- JSON ---- */

/*
 * Returns 1 if the integer literal S[0..N) does not fit in int64 (jansson
 * would refuse the whole document). Leading '-' allowed.
 */
static int int_overflows(const char *s, size_t n)
{
    char buf[32];
    int neg = s[0] == '-';
    size_t digits = n - (size_t)neg;

    if (digits < 19)
        return 0;
    if (digits > 19)
        return 1;
    memcpy(buf, s + neg, 19);
    buf[19] = '\0';
    return strcmp(buf, neg ? "9223372036854775808" : "9223372036854775807") > 0;
}

/*
 * Scans DOC for integer literals outside strings that overflow int64. When
 * OUT is not NULL, writes DOC to it with those literals quoted (OUT needs
 * LEN + 2 * count + 1 bytes). Returns how many literals overflow.
 */
static size_t scan_big_ints(const char *doc, size_t len, char *out)
{
    size_t o = 0, i = 0, count = 0;
    int in_str = 0;

    while (i < len) {
        size_t start = i, end = i + 1;
        char c = doc[i];
        int quote = 0;

        if (in_str) {
            if (c == '\\' && i + 1 < len)
                end = i + 2;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            int is_int = 1;
            while (end < len && strchr("0123456789+-.eE", doc[end])) {
                if (doc[end] == '.' || doc[end] == 'e' || doc[end] == 'E')
                    is_int = 0;
                end++;
            }
            quote = is_int && int_overflows(doc + start, end - start);
            count += (size_t)quote;
        }
        if (out) {
            if (quote)
                out[o++] = '"';
            memcpy(out + o, doc + start, end - start);
            o += end - start;
            if (quote)
                out[o++] = '"';
        }
        i = end;
    }
    if (out)
        out[o] = '\0';
    return count;
}

/* Copy of DOC with overflowing integers quoted, or NULL if none overflow. */
static char *quote_big_ints(const char *doc, size_t len, int *nomem)
{
    size_t count = scan_big_ints(doc, len, NULL);
    char *out;

    *nomem = 0;
    if (count == 0)
        return NULL;
    out = malloc(len + 2 * count + 1);
    if (!out) {
        *nomem = 1;
        return NULL;
    }
    scan_big_ints(doc, len, out);
    return out;
}

/* Containers count as levels, as elements with children do in XML; scalars do not. */
static int json_depth_ok(const json_t *v, int depth)
{
    if ((json_is_object(v) || json_is_array(v)) && depth > WXP_DEPTH_MAX)
        return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            if (!json_depth_ok(c, depth + 1))
                return 0;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            if (!json_depth_ok(c, depth + 1))
                return 0;
        }
    }
    return 1;
}

static int parse_json(const char *doc, size_t len, json_t **out, char *err, size_t errlen)
{
    json_error_t jerr;
    int nomem;
    char *quoted = quote_big_ints(doc, len, &nomem);
    json_t *v;

    if (nomem)
        return WXP_ENOMEM;
    /* wxp_parse() refused NUL bytes, so strlen() covers the whole copy. */
    v = quoted ? json_loadb(quoted, strlen(quoted), JSON_REJECT_DUPLICATES, &jerr)
               : json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
    free(quoted);
    if (!v) {
        snprintf(err, errlen, "JSON: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return strstr(jerr.text, "depth") ? WXP_EDEPTH : WXP_EMALFORMED;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "JSON: top level is not an object");
        return WXP_ENOTOBJECT;
    }
    if (!json_depth_ok(v, 1)) {
        json_decref(v);
        snprintf(err, errlen, "JSON: nested deeper than %d", WXP_DEPTH_MAX);
        return WXP_EDEPTH;
    }
    *out = v;
    return WXP_OK;
}

int wxp_parse(const char *doc, size_t len, enum wx_format fmt, json_t **out,
              enum wx_format *fmt_out, char *err, size_t errlen)
{
    size_t i;

    *out = NULL;
    err[0] = '\0';
    if (len > WXP_DOC_MAX) {
        snprintf(err, errlen, "document over %d bytes", WXP_DOC_MAX);
        return WXP_ETOOBIG;
    }
    for (i = 0; i < len && is_space(doc[i]); i++)
        ;
    if (i == len) {
        snprintf(err, errlen, "empty document");
        return WXP_EEMPTY;
    }
    /* WeChat sends UTF-8: a NUL byte means another encoding (UTF-16 could hide a DTD
     * from the XML check) or smuggled bytes after the document. */
    if (memchr(doc, '\0', len)) {
        snprintf(err, errlen, "document contains a NUL byte");
        return WXP_EMALFORMED;
    }
    if (!fmt)
        fmt = wxp_detect(doc, len);
    if (fmt_out)
        *fmt_out = fmt;
    if (fmt == WX_FORMAT_XML)
        return parse_xml(doc, len, out, err, errlen);
    if (fmt == WX_FORMAT_JSON) {
        /* jansson does not skip a byte-order mark; detection did. */
        if (len >= 3 && memcmp(doc, "\xEF\xBB\xBF", 3) == 0) {
            doc += 3;
            len -= 3;
        }
        return parse_json(doc, len, out, err, errlen);
    }
    snprintf(err, errlen, "document is neither XML nor JSON");
    return WXP_EFORMAT;
}
