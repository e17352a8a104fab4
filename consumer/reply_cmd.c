/*
 * reply_cmd: reply commands, API bodies, result and dead-letter records.
 * The formats and rules are documented in reply_cmd.h.
 */
#include "reply_cmd.h"

#include "b64.h"
#include "jsonw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN   96            /* "$.miniprogrampage.thumb_media_id" and the like */
#define PEEK_MAX_BYTES (1024 * 1024) /* reply_cmd_peek() parses no more than this */

/* Message kinds: msgtype, the key of its object (NULL: typing's "command"). */
static const struct {
    const char *msgtype;
    const char *body;
} k_kinds[] = {
    [REPLY_TEXT] = {"text", "text"},
    [REPLY_IMAGE] = {"image", "image"},
    [REPLY_LINK] = {"link", "link"},
    [REPLY_MINIPROGRAMPAGE] = {"miniprogrampage", "miniprogrampage"},
    [REPLY_TYPING] = {"typing", NULL},
};
#define N_KINDS (sizeof(k_kinds) / sizeof(k_kinds[0]))

static const char *const k_envelope[] = {"schema",  "id",          "appid", "touser",
                                         "msgtype", "in_reply_to", NULL};

/* ---- UTF-8 ---- */

/* Characters (code points) of valid UTF-8 S[0..N): every byte but continuation bytes. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Length of the valid UTF-8 sequence at P (N bytes left), or 0 if invalid (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0], cp, min;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0; /* a continuation byte, or an overlong 2-byte lead */
    if (c < 0xE0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c < 0xF0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c < 0xF5) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/*
 * A malloc'd copy of S (NULL = "") that is valid UTF-8 (each invalid byte
 * becomes U+FFFD) and at most MAX bytes long, cut before the character that
 * would cross MAX. NULL when out of memory.
 */
static char *clean_utf8(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), o = 0;
    char *out = malloc(3 * n + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        size_t w = k ? k : 3;
        if (o + w > max)
            break;
        if (k)
            memcpy(out + o, p + i, k);
        else
            memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += w;
        i += k ? k : 1;
    }
    out[o] = '\0';
    return out;
}

/* ---- parsing ---- */

struct perr {
    char *reason;
    size_t reasonlen;
    char *detail;
    size_t detaillen;
};

/* Records REASON and the detail sentence; returns -1 for "return fail(...)". */
__attribute__((format(printf, 3, 4))) static int fail(struct perr *e, const char *reason,
                                                      const char *fmt, ...)
{
    va_list ap;

    if (e->reason && e->reasonlen)
        snprintf(e->reason, e->reasonlen, "%s", reason);
    if (e->detail && e->detaillen) {
        va_start(ap, fmt);
        vsnprintf(e->detail, e->detaillen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* The range sentence of a length rule: "1-8192 characters" or "at most 8192 characters". */
static void range_text(char *buf, size_t len, size_t min, size_t max)
{
    if (min == 0)
        snprintf(buf, len, "at most %zu characters", max);
    else
        snprintf(buf, len, "%zu-%zu characters", min, max);
}

/*
 * Checks OBJ[KEY], found at PATH.KEY: a string of MIN..MAX characters
 * without U+0000 and, when URL, starting with http:// or https://. Sets *OUT.
 * Returns 0, or -1 with the failure recorded (missing_field when absent).
 */
static int check_str(struct perr *e, const json_t *obj, const char *path, const char *key,
                     size_t min, size_t max, int url, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    char range[64];
    const char *s;
    size_t n, chars;

    range_text(range, sizeof(range), min, max);
    if (!v)
        return fail(e, "missing_field", "%s.%s: required string (%s) is missing", path, key, range);
    if (!json_is_string(v))
        return fail(e, "bad_field", "%s.%s: must be a string of %s", path, key, range);
    s = json_string_value(v);
    n = json_string_length(v);
    if (strlen(s) != n)
        return fail(e, "bad_field", "%s.%s: must not contain U+0000", path, key);
    chars = utf8_chars(s, n);
    if (chars < min || chars > max)
        return fail(e, "bad_field", "%s.%s: must be a %sstring of %s (has %zu)", path, key,
                    min > 0 ? "non-empty " : "", range, chars);
    if (url && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return fail(e, "bad_field", "%s.%s: must be a URL starting with http:// or https://", path,
                    key);
    *out = s;
    return 0;
}

/* Every character of S is in [A-Za-z0-9_] (ALNUM) or printable ASCII without space. */
static int all_chars(const char *s, int alnum)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int ok = alnum ? (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '_'
                       : c >= 0x21 && c <= 0x7E;
        if (!ok)
            return 0;
    }
    return 1;
}

/* Refuses every key of OBJ (at PATH) not in ALLOWED. */
static int check_keys(struct perr *e, json_t *obj, const char *path, const char *const *allowed)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        if (!in_list(allowed, k))
            return fail(e, "schema", "%s.%.64s: unknown key", path, k);
    }
    return 0;
}

/* The top level beside the envelope: only KIND's object (or typing's command). */
static int check_top_keys(struct perr *e, json_t *root, enum reply_kind kind)
{
    const char *k, *own = k_kinds[kind].body ? k_kinds[kind].body : "command";
    json_t *v;

    json_object_foreach(root, k, v)
    {
        if (in_list(k_envelope, k) || strcmp(k, own) == 0)
            continue;
        if (strcmp(k, "command") == 0)
            return fail(e, "schema", "$.command: only allowed with msgtype \"typing\"");
        for (size_t i = 0; i < N_KINDS; i++)
            if (k_kinds[i].body && strcmp(k, k_kinds[i].body) == 0)
                return fail(e, "schema", "$.%s: not allowed with msgtype \"%s\"", k,
                            k_kinds[kind].msgtype);
        return fail(e, "schema", "$.%.64s: unknown key", k);
    }
    return 0;
}

/* Exactly one of OBJ[A] and OBJ[B] (at PATH); sets *WHICH to 0 (A) or 1 (B). */
static int one_of(struct perr *e, const json_t *obj, const char *path, const char *a, const char *b,
                  int *which)
{
    int ha = json_object_get(obj, a) != NULL, hb = json_object_get(obj, b) != NULL;

    if (ha && hb)
        return fail(e, "schema", "%s: must have only one of \"%s\" and \"%s\"", path, a, b);
    if (!ha && !hb)
        return fail(e, "missing_field", "%s.%s: required (or \"%s\" instead) is missing", path, a,
                    b);
    *which = hb;
    return 0;
}

/* Checks the message object of C->kind and fills C's kind-specific fields. */
static int check_body(struct perr *e, struct reply_cmd *c)
{
    static const char *const text_keys[] = {"content", NULL};
    static const char *const image_keys[] = {"media_id", "url", NULL};
    static const char *const link_keys[] = {"title", "description", "url", "thumb_url", NULL};
    static const char *const mp_keys[] = {"title", "pagepath", "thumb_media_id", "thumb_url", NULL};
    const char *key = k_kinds[c->kind].body, *s;
    char path[PATH_MAX_LEN];
    json_t *obj;
    int which;

    if (!key) {
        json_t *cmd = json_object_get(c->root, "command");
        if (!cmd)
            return fail(e, "missing_field",
                        "$.command: required (\"Typing\" or \"CancelTyping\") for msgtype "
                        "\"typing\" is missing");
        s = json_string_value(cmd);
        if (!s || (strcmp(s, "Typing") != 0 && strcmp(s, "CancelTyping") != 0) ||
            strlen(s) != json_string_length(cmd))
            return fail(e, "bad_field", "$.command: must be \"Typing\" or \"CancelTyping\"");
        c->typing_command = s;
        return 0;
    }
    snprintf(path, sizeof(path), "$.%s", key);
    obj = json_object_get(c->root, key);
    if (!obj)
        return fail(e, "missing_field", "%s: required object for msgtype \"%s\" is missing", path,
                    c->msgtype);
    if (!json_is_object(obj))
        return fail(e, "bad_field", "%s: must be an object", path);

    switch (c->kind) {
    case REPLY_TEXT:
        if (check_keys(e, obj, path, text_keys) < 0 ||
            check_str(e, obj, path, "content", 1, REPLY_TEXT_MAX, 0, &s) < 0)
            return -1;
        break;
    case REPLY_IMAGE:
        if (check_keys(e, obj, path, image_keys) < 0 ||
            one_of(e, obj, path, "media_id", "url", &which) < 0)
            return -1;
        if (which)
            return check_str(e, obj, path, "url", 1, REPLY_URL_MAX, 1, &c->image_url);
        return check_str(e, obj, path, "media_id", 1, REPLY_TEXT_MAX, 0, &s);
    case REPLY_LINK:
        if (check_keys(e, obj, path, link_keys) < 0 ||
            check_str(e, obj, path, "title", 1, REPLY_TEXT_MAX, 0, &s) < 0 ||
            check_str(e, obj, path, "description", 0, REPLY_TEXT_MAX, 0, &s) < 0 ||
            check_str(e, obj, path, "url", 1, REPLY_TEXT_MAX, 0, &s) < 0 ||
            check_str(e, obj, path, "thumb_url", 0, REPLY_TEXT_MAX, 0, &s) < 0)
            return -1;
        break;
    case REPLY_MINIPROGRAMPAGE:
        if (check_keys(e, obj, path, mp_keys) < 0 ||
            check_str(e, obj, path, "title", 1, REPLY_TEXT_MAX, 0, &s) < 0 ||
            check_str(e, obj, path, "pagepath", 1, REPLY_TEXT_MAX, 0, &s) < 0 ||
            one_of(e, obj, path, "thumb_media_id", "thumb_url", &which) < 0)
            return -1;
        if (which)
            return check_str(e, obj, path, "thumb_url", 1, REPLY_URL_MAX, 1, &c->image_url);
        return check_str(e, obj, path, "thumb_media_id", 1, REPLY_TEXT_MAX, 0, &s);
    case REPLY_TYPING:
        break; /* handled above */
    }
    return 0;
}

/* Checks the envelope and the message of C->root (an object); fills C. */
static int check_command(struct perr *e, struct reply_cmd *c)
{
    json_t *root = c->root, *v;
    const char *s;
    size_t kind;

    v = json_object_get(root, "schema");
    if (!v)
        return fail(e, "schema", "$.schema: required, must be \"" REPLY_CMD_SCHEMA "\"");
    s = json_string_value(v);
    if (!s || strcmp(s, REPLY_CMD_SCHEMA) != 0 || strlen(s) != json_string_length(v))
        return fail(e, "schema", "$.schema: must be \"" REPLY_CMD_SCHEMA "\"");

    if (check_str(e, root, "$", "id", 1, REPLY_ID_MAX, 0, &c->id) < 0)
        return -1;
    if (check_str(e, root, "$", "appid", 1, REPLY_APPID_MAX, 0, &c->appid) < 0)
        return -1;
    if (!all_chars(c->appid, 1))
        return fail(e, "bad_field", "$.appid: must be 1-%d characters of [A-Za-z0-9_]",
                    REPLY_APPID_MAX);
    if (check_str(e, root, "$", "touser", 1, REPLY_TOUSER_MAX, 0, &c->touser) < 0)
        return -1;
    if (!all_chars(c->touser, 0))
        return fail(e, "bad_field",
                    "$.touser: must be 1-%d printable ASCII characters without spaces",
                    REPLY_TOUSER_MAX);

    v = json_object_get(root, "msgtype");
    if (!v)
        return fail(e, "missing_field", "$.msgtype: required string is missing");
    if (!json_is_string(v))
        return fail(e, "bad_field", "$.msgtype: must be a string");
    c->msgtype = json_string_value(v);
    for (kind = 0; kind < N_KINDS; kind++)
        if (strcmp(k_kinds[kind].msgtype, c->msgtype) == 0 &&
            strlen(c->msgtype) == json_string_length(v))
            break;
    if (kind == N_KINDS)
        return fail(e, "unknown_msgtype",
                    "$.msgtype: unknown msgtype \"%.32s\" (expected text, image, link, "
                    "miniprogrampage or typing)",
                    c->msgtype);
    c->kind = (enum reply_kind)kind;

    v = json_object_get(root, "in_reply_to");
    if (v && !json_is_null(v) &&
        check_str(e, root, "$", "in_reply_to", 1, REPLY_IN_REPLY_TO_MAX, 0, &c->in_reply_to) < 0)
        return fail(e, "bad_field", "$.in_reply_to: must be null or a string of 1-%d characters",
                    REPLY_IN_REPLY_TO_MAX);

    if (check_top_keys(e, root, c->kind) < 0)
        return -1;
    return check_body(e, c);
}

int reply_cmd_parse(const char *buf, size_t len, struct reply_cmd *out, char *reason,
                    size_t reasonlen, char *detail, size_t detaillen)
{
    struct perr e = {reason, reasonlen, detail, detaillen};
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    if (reason && reasonlen)
        reason[0] = '\0';
    if (detail && detaillen)
        detail[0] = '\0';
    if (len > REPLY_CMD_MAX_BYTES)
        return fail(&e, "too_large", "$: the command has %zu bytes, more than the %d allowed", len,
                    REPLY_CMD_MAX_BYTES);
    if (!buf || len == 0)
        return fail(&e, "not_json", "$: empty command");
    /* U+0000 is allowed by the parser so that it is refused by name below
     * (bad_field), as the schema does, rather than as "not JSON". */
    out->root =
        json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!out->root)
        return fail(&e, "not_json", "$: not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                    jerr.column);
    if (!json_is_object(out->root)) {
        reply_cmd_free(out);
        return fail(&e, "schema", "$: must be an object");
    }
    if (check_command(&e, out) < 0) {
        reply_cmd_free(out);
        return -1;
    }
    return 0;
}

void reply_cmd_free(struct reply_cmd *c)
{
    if (!c)
        return;
    json_decref(c->root);
    memset(c, 0, sizeof(*c));
}

/* Copies OBJ[KEY] into OUT when it is a string without U+0000 that fits whole; else "". */
static void peek_str(const json_t *obj, const char *key, char *out, size_t outlen)
{
    const json_t *v = json_object_get(obj, key);
    size_t n = json_string_length(v);

    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    if (json_is_string(v) && n < outlen && strlen(json_string_value(v)) == n)
        memcpy(out, json_string_value(v), n + 1);
}

void reply_cmd_peek(const char *buf, size_t len, char *id, size_t idlen, char *appid,
                    size_t appidlen, char *touser, size_t touserlen)
{
    json_t *root = NULL;

    if (buf && len > 0 && len <= PEEK_MAX_BYTES)
        root = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
    /* With root NULL (or not an object) every field comes out "". */
    peek_str(root, "id", id, idlen);
    peek_str(root, "appid", appid, appidlen);
    peek_str(root, "touser", touser, touserlen);
    json_decref(root);
}

const char *reply_kind_name(enum reply_kind k)
{
    return (size_t)k < N_KINDS ? k_kinds[k].msgtype : "unknown";
}

char *reply_cmd_api_body(const struct reply_cmd *c, const char *media_id)
{
    struct jsonw w;
    const char *key, *k;
    json_t *body, *v;

    if (!c || !c->root || (c->image_url && !media_id))
        return NULL;
    /* Re-serializing never grows a valid command beyond its size (escapes
     * are at most as long as in the input) except by MEDIA_ID. */
    jsonw_init(&w, 2 * REPLY_CMD_MAX_BYTES + (media_id ? 6 * strlen(media_id) : 0));
    jsonw_obj_begin(&w);
    jsonw_key(&w, "touser");
    jsonw_str(&w, c->touser);
    key = k_kinds[c->kind].body;
    if (!key) {
        jsonw_key(&w, "command");
        jsonw_str(&w, c->typing_command);
        jsonw_obj_end(&w);
        return jsonw_finish(&w, NULL);
    }
    jsonw_key(&w, "msgtype");
    jsonw_str(&w, c->msgtype);
    jsonw_key(&w, key);
    body = json_object_get(c->root, key);
    if (!c->image_url) {
        jsonw_value(&w, body);
    } else {
        /* Keep the other fields in place; the url becomes the uploaded media. */
        jsonw_obj_begin(&w);
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "url") == 0) {
                jsonw_key(&w, "media_id");
                jsonw_str(&w, media_id);
            } else if (strcmp(k, "thumb_url") == 0) {
                jsonw_key(&w, "thumb_media_id");
                jsonw_str(&w, media_id);
            } else {
                jsonw_key(&w, k);
                jsonw_value(&w, v);
            }
        }
        jsonw_obj_end(&w);
    }
    jsonw_obj_end(&w);
    return jsonw_finish(&w, NULL);
}

/* ---- results and dead letters ---- */

static const char *const k_status[] = {
    [REPLY_SENT] = "sent",
    [REPLY_REJECTED] = "rejected",
    [REPLY_FAILED] = "failed",
};

const char *reply_status_name(enum reply_status s)
{
    return (size_t)s < sizeof(k_status) / sizeof(k_status[0]) ? k_status[s] : "unknown";
}

/* Writes "KEY":<S cleaned and cut to MAX bytes>; a failure is left sticky in W. */
static void put_clean(struct jsonw *w, const char *key, const char *s, size_t max)
{
    char *c = clean_utf8(s, max);

    if (!c) {
        w->failed = 1;
        return;
    }
    jsonw_key(w, key);
    jsonw_str(w, c);
    free(c);
}

/* Bytes written for S as a JSON string at most (every byte escaped as \u00XX or U+FFFD). */
static size_t json_room(const char *s)
{
    return 6 * (s ? strlen(s) : 0) + 2;
}

char *reply_result_json(const struct reply_result *r)
{
    struct jsonw w;

    if (!r)
        return NULL;
    jsonw_init(&w, json_room(r->id) + json_room(r->appid) + json_room(r->touser) +
                       json_room(r->in_reply_to) + 6 * REPLY_ERRMSG_MAX + 512);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "schema");
    jsonw_str(&w, REPLY_RESULT_SCHEMA);
    put_clean(&w, "id", r->id, (size_t)-1);
    put_clean(&w, "appid", r->appid, (size_t)-1);
    put_clean(&w, "touser", r->touser, (size_t)-1);
    jsonw_key(&w, "status");
    jsonw_str(&w, reply_status_name(r->status));
    jsonw_key(&w, "errcode");
    jsonw_int(&w, r->errcode);
    put_clean(&w, "errmsg", r->errmsg, REPLY_ERRMSG_MAX);
    jsonw_key(&w, "attempts");
    jsonw_int(&w, r->attempts);
    jsonw_key(&w, "latency_ms");
    jsonw_int(&w, r->latency_ms);
    jsonw_key(&w, "at_ms");
    jsonw_int(&w, r->at_ms);
    if (r->in_reply_to)
        put_clean(&w, "in_reply_to", r->in_reply_to, (size_t)-1);
    jsonw_obj_end(&w);
    return jsonw_finish(&w, NULL);
}

/* Copies the string OBJ[KEY] into OUT (if wanted); -1 unless a string without U+0000 that fits. */
static int copy_str(const json_t *obj, const char *key, char *out, size_t outlen)
{
    const json_t *v = json_object_get(obj, key);
    size_t n = json_string_length(v);

    if (!json_is_string(v) || strlen(json_string_value(v)) != n)
        return -1;
    if (!out)
        return 0;
    if (n >= outlen)
        return -1;
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

int reply_result_parse(const char *buf, size_t len, char *id, size_t idlen, char *appid,
                       size_t appidlen, char *touser, size_t touserlen, enum reply_status *status,
                       long long *at_ms)
{
    json_t *root = NULL, *v;
    const char *s;
    size_t st;
    int rc = -1;

    if (!buf || len == 0)
        goto out;
    root = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root))
        goto out;
    v = json_object_get(root, "schema");
    s = json_string_value(v);
    if (!s || strcmp(s, REPLY_RESULT_SCHEMA) != 0 || strlen(s) != json_string_length(v))
        goto out;
    s = json_string_value(json_object_get(root, "status"));
    for (st = 0; s && st < sizeof(k_status) / sizeof(k_status[0]); st++)
        if (strcmp(s, k_status[st]) == 0)
            break;
    if (!s || st == sizeof(k_status) / sizeof(k_status[0]))
        goto out;
    v = json_object_get(root, "at_ms");
    if (!json_is_integer(v))
        goto out;
    if (copy_str(root, "id", id, idlen) < 0 || copy_str(root, "appid", appid, appidlen) < 0 ||
        copy_str(root, "touser", touser, touserlen) < 0)
        goto out;
    if (status)
        *status = (enum reply_status)st;
    if (at_ms)
        *at_ms = json_integer_value(v);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

char *reply_dlq_json(const char *reason, const char *detail, const long *errcode, int attempts,
                     long long at_ms, const char *raw, size_t rawlen)
{
    struct jsonw w;
    json_t *cmd = NULL;
    char *b64 = NULL, *res = NULL;

    /* Strict, so that "command" is RAW itself; anything else goes as bytes. */
    if (raw && rawlen > 0)
        cmd = json_loadb(raw, rawlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!cmd) {
        b64 = malloc(B64_ENCODED_SIZE(rawlen));
        if (!b64)
            goto out;
        b64_encode((const unsigned char *)(raw ? raw : ""), raw ? rawlen : 0, b64);
    }
    /* Re-serialized JSON may grow (reals get 17 digits); base64 by 4/3. */
    jsonw_init(&w, 8 * rawlen + B64_ENCODED_SIZE(rawlen) + json_room(reason) +
                       6 * REPLY_ERRMSG_MAX + 512);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "schema");
    jsonw_str(&w, REPLY_DLQ_SCHEMA);
    put_clean(&w, "reason", reason, (size_t)-1);
    put_clean(&w, "detail", detail, REPLY_ERRMSG_MAX);
    jsonw_key(&w, "errcode");
    if (errcode)
        jsonw_int(&w, *errcode);
    else
        jsonw_null(&w);
    jsonw_key(&w, "attempts");
    jsonw_int(&w, attempts);
    jsonw_key(&w, "at_ms");
    jsonw_int(&w, at_ms);
    jsonw_key(&w, "command");
    if (cmd) {
        jsonw_value(&w, cmd);
    } else {
        jsonw_null(&w);
        jsonw_key(&w, "command_b64");
        jsonw_str(&w, b64);
    }
    jsonw_obj_end(&w);
    res = jsonw_finish(&w, NULL);
out:
    json_decref(cmd);
    free(b64);
    return res;
}
