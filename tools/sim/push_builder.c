/*
 * push_builder: WeChat push documents and requests. See push_builder.h.
 *
 * Everything is appended to a growable buffer with a sticky failure flag, so
 * builders can append freely and check once at the end.
 */
#include "push_builder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string, bounded by PB_DOC_MAX; FAILED is sticky. */
struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > PB_DOC_MAX + 1)
            cap = PB_DOC_MAX + 1;
        if (b->len + n + 1 > cap || !(np = realloc(b->p, cap))) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->failed = 1;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* Hands the buffer over (NUL-terminated even when empty); PB_ENOMEM if it failed. */
static int sb_finish(struct sbuf *b, char **out, size_t *out_len)
{
    if (!b->failed && !b->p)
        sb_put(b, "", 0);
    if (b->failed) {
        free(b->p);
        *b = (struct sbuf){0};
        return PB_ENOMEM;
    }
    *out = b->p;
    if (out_len)
        *out_len = b->len;
    *b = (struct sbuf){0};
    return PB_OK;
}

static void sb_json_string(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        sb_put(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        sb_put(b, esc, elen);
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

/* S inside CDATA: "]]>" cannot appear in a section, so it is split across two. */
static void sb_cdata(struct sbuf *b, const char *s)
{
    const char *p;

    sb_str(b, "<![CDATA[");
    while ((p = strstr(s, "]]>")) != NULL) {
        sb_put(b, s, (size_t)(p - s) + 2);
        sb_str(b, "]]><![CDATA[");
        s = p + 2;
    }
    sb_str(b, s);
    sb_str(b, "]]>");
}

/* An optional '-' then 1..20 digits: a MsgId we write as a number. */
static int is_integer(const char *s)
{
    size_t n = 0;

    if (*s == '-')
        s++;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n >= 1 && n <= 20 && s[n] == '\0';
}

/* Appends one field to a document being built in format F. */
static void put_str(struct sbuf *b, enum pb_format f, const char *name, const char *value)
{
    if (!value)
        value = "";
    if (f == PB_FORMAT_XML) {
        sb_printf(b, "<%s>", name);
        sb_cdata(b, value);
        sb_printf(b, "</%s>\n", name);
    } else {
        sb_printf(b, ",\"%s\":", name);
        sb_json_string(b, value, strlen(value));
    }
}

/* A number written bare: VALUE is already a checked integer literal. */
static void put_num(struct sbuf *b, enum pb_format f, const char *name, const char *value)
{
    if (f == PB_FORMAT_XML)
        sb_printf(b, "<%s>%s</%s>\n", name, value, name);
    else
        sb_printf(b, ",\"%s\":%s", name, value);
}

static void put_msg_id(struct sbuf *b, enum pb_format f, const char *msg_id)
{
    if (!msg_id)
        return;
    if (is_integer(msg_id))
        put_num(b, f, "MsgId", msg_id);
    else
        put_str(b, f, "MsgId", msg_id);
}

int pb_mode_parse(const char *s, enum pb_mode *out)
{
    static const enum pb_mode all[] = {PB_MODE_PLAIN, PB_MODE_COMPAT, PB_MODE_SAFE};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, pb_mode_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int pb_format_parse(const char *s, enum pb_format *out)
{
    if (strcmp(s, "xml") == 0)
        *out = PB_FORMAT_XML;
    else if (strcmp(s, "json") == 0)
        *out = PB_FORMAT_JSON;
    else
        return -1;
    return 0;
}

int pb_type_parse(const char *s, enum pb_type *out)
{
    static const enum pb_type all[] = {PB_TYPE_TEXT, PB_TYPE_IMAGE, PB_TYPE_MINIPROGRAMPAGE,
                                       PB_TYPE_USER_ENTER_TEMPSESSION};
    if (strcmp(s, "event") == 0) {
        *out = PB_TYPE_USER_ENTER_TEMPSESSION;
        return 0;
    }
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, pb_type_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

const char *pb_mode_name(enum pb_mode m)
{
    switch (m) {
    case PB_MODE_PLAIN:
        return "plain";
    case PB_MODE_COMPAT:
        return "compat";
    case PB_MODE_SAFE:
        return "safe";
    }
    return "?";
}

const char *pb_format_name(enum pb_format f)
{
    return f == PB_FORMAT_JSON ? "json" : "xml";
}

const char *pb_type_name(enum pb_type t)
{
    switch (t) {
    case PB_TYPE_TEXT:
        return "text";
    case PB_TYPE_IMAGE:
        return "image";
    case PB_TYPE_MINIPROGRAMPAGE:
        return "miniprogrampage";
    case PB_TYPE_USER_ENTER_TEMPSESSION:
        return "user_enter_tempsession";
    }
    return "?";
}

const char *pb_content_type(enum pb_format f)
{
    return f == PB_FORMAT_JSON ? "application/json" : "text/xml";
}

void pb_message_sample(struct pb_message *m, enum pb_type type)
{
    *m = (struct pb_message){
        .type = type,
        .to = "gh_97417a04a28d",
        .from = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        .create_time = 1714112445,
        .msg_id = "6054768590064713728",
        .content = "hello",
        .pic_url = "http://mmbiz.qpic.cn/mmbiz_jpg/sample/0",
        .media_id = "MEDIA_ID_sample_1714112445",
        .title = "Sample page",
        .app_id = "wxba5fad812f8e6fb9",
        .page_path = "pages/index/index?from=sim",
        .thumb_url = "http://mmbiz.qpic.cn/mmbiz_jpg/sample/thumb",
        .thumb_media_id = "THUMB_MEDIA_ID_sample",
        .session_from = "sim",
    };
}

int pb_document(const struct pb_message *m, enum pb_format f, char **out, size_t *out_len)
{
    struct sbuf b = {0};
    int xml = f == PB_FORMAT_XML;
    int event = m->type == PB_TYPE_USER_ENTER_TEMPSESSION;
    char num[32];

    *out = NULL;
    if (out_len)
        *out_len = 0;
    sb_str(&b, xml ? "<xml>\n" : "{");
    if (xml) {
        put_str(&b, f, "ToUserName", m->to);
    } else {
        /* The first JSON member has no leading comma. */
        sb_str(&b, "\"ToUserName\":");
        sb_json_string(&b, m->to ? m->to : "", m->to ? strlen(m->to) : 0);
    }
    put_str(&b, f, "FromUserName", m->from);
    snprintf(num, sizeof(num), "%lld", m->create_time);
    put_num(&b, f, "CreateTime", num);
    put_str(&b, f, "MsgType", event ? "event" : pb_type_name(m->type));
    switch (m->type) {
    case PB_TYPE_TEXT:
        put_str(&b, f, "Content", m->content);
        put_msg_id(&b, f, m->msg_id);
        break;
    case PB_TYPE_IMAGE:
        put_str(&b, f, "PicUrl", m->pic_url);
        put_str(&b, f, "MediaId", m->media_id);
        put_msg_id(&b, f, m->msg_id);
        break;
    case PB_TYPE_MINIPROGRAMPAGE:
        put_msg_id(&b, f, m->msg_id);
        put_str(&b, f, "Title", m->title);
        put_str(&b, f, "AppId", m->app_id);
        put_str(&b, f, "PagePath", m->page_path);
        put_str(&b, f, "ThumbUrl", m->thumb_url);
        put_str(&b, f, "ThumbMediaId", m->thumb_media_id);
        break;
    case PB_TYPE_USER_ENTER_TEMPSESSION:
        put_str(&b, f, "Event", "user_enter_tempsession");
        put_str(&b, f, "SessionFrom", m->session_from);
        break;
    }
    sb_str(&b, xml ? "</xml>" : "}");
    return sb_finish(&b, out, out_len);
}

/* Appends S percent-encoded (RFC 3986 unreserved characters stay). */
static void sb_query_value(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            sb_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_put(b, e, 3);
        }
    }
}

static void sb_query_param(struct sbuf *b, const char *name, const char *value)
{
    if (b->len > 0)
        sb_str(b, "&");
    sb_str(b, name);
    sb_str(b, "=");
    sb_query_value(b, value);
}

/* Flips the first hex digit: still 40 hex digits, never the right value. */
static void corrupt_sig(char *sig)
{
    sig[0] = sig[0] == '0' ? '1' : '0';
}

/* The safe-mode envelope: ToUserName and Encrypt only. */
static void build_envelope(struct sbuf *b, enum pb_format f, const char *to, const char *enc)
{
    if (f == PB_FORMAT_XML) {
        sb_str(b, "<xml>\n");
        put_str(b, f, "ToUserName", to);
        put_str(b, f, "Encrypt", enc);
        sb_str(b, "</xml>");
    } else {
        sb_str(b, "{\"ToUserName\":");
        sb_json_string(b, to, strlen(to));
        sb_str(b, ",\"Encrypt\":");
        sb_json_string(b, enc, strlen(enc));
        sb_str(b, "}");
    }
}

/* The compat body: DOC with Encrypt inserted before its closing tag or brace. */
static int build_compat(struct sbuf *b, enum pb_format f, const char *doc, size_t doc_len,
                        const char *enc)
{
    size_t end = doc_len;

    while (end > 0 && (doc[end - 1] == ' ' || doc[end - 1] == '\n' || doc[end - 1] == '\r' ||
                       doc[end - 1] == '\t'))
        end--;
    if (f == PB_FORMAT_XML) {
        static const char close_tag[] = "</xml>";
        size_t cl = sizeof(close_tag) - 1;
        if (end < cl || memcmp(doc + end - cl, close_tag, cl) != 0)
            return PB_EDOC;
        sb_put(b, doc, end - cl);
        put_str(b, f, "Encrypt", enc);
        sb_put(b, doc + end - cl, doc_len - (end - cl));
    } else {
        size_t last;
        if (end == 0 || doc[end - 1] != '}')
            return PB_EDOC;
        last = end - 1;
        /* "{}" takes no comma before the new member. */
        while (last > 0 && (doc[last - 1] == ' ' || doc[last - 1] == '\n' ||
                            doc[last - 1] == '\r' || doc[last - 1] == '\t'))
            last--;
        sb_put(b, doc, end - 1);
        sb_str(b, last > 0 && doc[last - 1] == '{' ? "\"Encrypt\":" : ",\"Encrypt\":");
        sb_json_string(b, enc, strlen(enc));
        sb_put(b, doc + end - 1, doc_len - (end - 1));
    }
    return PB_OK;
}

int pb_request_build(const struct pb_params *p, const char *doc, size_t doc_len,
                     struct pb_request *out, char *err, size_t errlen)
{
    struct sbuf q = {0}, body = {0};
    const char *parts[4];
    int encrypted = p->mode != PB_MODE_PLAIN;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!p->token || !p->timestamp || !p->nonce) {
        snprintf(err, errlen, "token, timestamp and nonce are required");
        rc = PB_EARG;
        goto out;
    }
    if (encrypted && (!p->key || !p->appid || !p->openid || !p->to)) {
        snprintf(err, errlen, "%s mode needs an AES key, an appid, an openid and ToUserName",
                 pb_mode_name(p->mode));
        rc = PB_EARG;
        goto out;
    }
    if (doc_len > PB_DOC_MAX) {
        snprintf(err, errlen, "document over %d bytes", PB_DOC_MAX);
        rc = PB_ENOMEM;
        goto out;
    }
    parts[0] = p->token;
    parts[1] = p->timestamp;
    parts[2] = p->nonce;
    wxc_signature(parts, 3, out->signature);
    if (p->corrupt & PB_CORRUPT_SIGNATURE)
        corrupt_sig(out->signature);

    if (encrypted) {
        rc = wxc_encrypt(p->key, p->random, doc, doc_len, p->appid, &out->encrypt);
        if (rc != WXC_OK) {
            snprintf(err, errlen, "encrypt failed: %s", wxc_strerror(rc));
            rc = rc == WXC_ENOMEM ? PB_ENOMEM : PB_ECRYPTO;
            goto out;
        }
        parts[3] = out->encrypt;
        wxc_signature(parts, 4, out->msg_signature);
        if (p->corrupt & PB_CORRUPT_MSG_SIGNATURE)
            corrupt_sig(out->msg_signature);
    }

    sb_query_param(&q, "signature", out->signature);
    sb_query_param(&q, "timestamp", p->timestamp);
    sb_query_param(&q, "nonce", p->nonce);
    if (encrypted) {
        sb_query_param(&q, "openid", p->openid);
        sb_query_param(&q, "encrypt_type", "aes");
        sb_query_param(&q, "msg_signature", out->msg_signature);
    }

    if (p->mode == PB_MODE_PLAIN) {
        sb_put(&body, doc, doc_len);
    } else if (p->mode == PB_MODE_SAFE) {
        build_envelope(&body, p->format, p->to, out->encrypt);
    } else if (build_compat(&body, p->format, doc, doc_len, out->encrypt) != PB_OK) {
        snprintf(err, errlen, "compat mode needs a document that ends with %s",
                 p->format == PB_FORMAT_XML ? "</xml>" : "}");
        rc = PB_EDOC;
        goto out;
    }
    if ((rc = sb_finish(&q, &out->query, NULL)) != PB_OK ||
        (rc = sb_finish(&body, &out->body, &out->body_len)) != PB_OK) {
        snprintf(err, errlen, "out of memory (or body over %d bytes)", PB_DOC_MAX);
        goto out;
    }
    rc = PB_OK;
out:
    free(q.p);
    free(body.p);
    if (rc != PB_OK)
        pb_request_free(out);
    return rc;
}

void pb_request_free(struct pb_request *r)
{
    if (!r)
        return;
    free(r->query);
    free(r->body);
    free(r->encrypt);
    memset(r, 0, sizeof(*r));
}

int pb_verify_query(const char *token, const char *timestamp, const char *nonce,
                    const char *echostr, unsigned corrupt, char **out)
{
    struct sbuf q = {0};
    const char *parts[3] = {token, timestamp, nonce};
    char sig[WXC_SIG_HEX_LEN + 1];

    *out = NULL;
    if (!token || !timestamp || !nonce || !echostr)
        return PB_EARG;
    wxc_signature(parts, 3, sig);
    if (corrupt & PB_CORRUPT_SIGNATURE)
        corrupt_sig(sig);
    sb_query_param(&q, "signature", sig);
    sb_query_param(&q, "timestamp", timestamp);
    sb_query_param(&q, "nonce", nonce);
    sb_query_param(&q, "echostr", echostr);
    return sb_finish(&q, out, NULL);
}

char *pb_json_quote(const char *s, size_t n)
{
    struct sbuf b = {0};
    char *out = NULL;

    sb_json_string(&b, s, n);
    if (sb_finish(&b, &out, NULL) != PB_OK)
        return NULL;
    return out;
}
