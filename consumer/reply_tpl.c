/*
 * reply_tpl: validating reply templates and rendering reply commands. The
 * format is documented in reply_tpl.h.
 */
#include "reply_tpl.h"

#include "util.h"
#include "wx_crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPL_PATH_MAX 384

/* Reply message kinds: msgtype, the body object's key and its required strings. */
static const struct {
    const char *msgtype;
    const char *body; /* NULL: typing, whose "command" sits beside msgtype */
    const char *fields[5];
} k_kinds[] = {
    {"text", "text", {"content", NULL}},
    {"image", "image", {"media_id", NULL}},
    {"link", "link", {"title", "description", "url", "thumb_url", NULL}},
    {"miniprogrampage", "miniprogrampage", {"title", "pagepath", "thumb_media_id", NULL}},
    {"typing", NULL, {NULL}},
};
#define N_KINDS (sizeof(k_kinds) / sizeof(k_kinds[0]))

static const char *const k_envelope[] = {"schema", "id", "appid", "touser", "in_reply_to", NULL};

/* Names that {{name}} takes from the record itself rather than from its payload. */
static const char *const k_record_vars[] = {
    "id",       "appid", "to",     "from",           "create_time",
    "msg_type", "event", "msg_id", "received_at_ms", NULL};

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static int var_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* BASE.KEY into BUF; an overlong path ends in "..." (checking the length
 * also keeps gcc's -Wformat-truncation quiet). */
static void path_key(char *buf, const char *base, const char *key)
{
    int n = snprintf(buf, TPL_PATH_MAX, "%s.%s", base, key);
    if (n < 0 || n >= TPL_PATH_MAX)
        memcpy(buf + TPL_PATH_MAX - 4, "...", 4);
}

/* Checks the {{Name}} syntax and the size of one template string. */
static void check_string(const json_t *v, const char *path, struct jc_errs *e)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (strlen(s) != n) {
        jc_error(e, path, "must not contain NUL characters");
        return;
    }
    if (n > REPLY_TPL_TEXT_MAX) {
        jc_error(e, path, "longer than %d bytes", REPLY_TPL_TEXT_MAX);
        return;
    }
    for (const char *p = strstr(s, "{{"); p; p = strstr(p, "{{")) {
        size_t len = 0;
        while (var_char((unsigned char)p[2 + len]))
            len++;
        if (len == 0 || len > REPLY_TPL_VAR_MAX || strncmp(p + 2 + len, "}}", 2) != 0) {
            jc_error(e, path,
                     "malformed placeholder at byte %zu: expected {{Name}}, Name being 1-%d "
                     "characters of [A-Za-z0-9_]",
                     (size_t)(p - s), REPLY_TPL_VAR_MAX);
            return;
        }
        p += 2 + len + 2;
    }
}

int reply_tpl_check(const json_t *tpl, const char *path, struct jc_errs *e)
{
    char sub[TPL_PATH_MAX], sub2[TPL_PATH_MAX];
    const char *k, *mt = NULL;
    const json_t *v, *body;
    int before = e->count;
    size_t kind;

    if (!json_is_object(tpl)) {
        jc_error(e, path, "must be an object (a reply command without its envelope)");
        goto out;
    }
    /* jansson's getters and iteration are not const-correct; nothing is modified. */
    jc_str((json_t *)tpl, path, "msgtype", 1, NULL, &mt, e);
    if (!mt)
        goto out;
    for (kind = 0; kind < N_KINDS; kind++)
        if (strcmp(k_kinds[kind].msgtype, mt) == 0)
            break;
    if (kind == N_KINDS) {
        path_key(sub, path, "msgtype");
        jc_error(e, sub,
                 "unknown msgtype \"%s\" (expected text, image, link, miniprogrampage or typing)",
                 mt);
        goto out;
    }
    json_object_foreach((json_t *)tpl, k, v)
    {
        if (strcmp(k, "msgtype") == 0)
            continue;
        if (in_list(k_envelope, k)) {
            path_key(sub, path, k);
            jc_error(e, sub, "is set by the router, not by the template");
        } else if (k_kinds[kind].body ? strcmp(k, k_kinds[kind].body) != 0
                                      : strcmp(k, "command") != 0) {
            jc_error(e, path, "unknown key \"%s\" for msgtype \"%s\"", k, mt);
        }
    }
    if (!k_kinds[kind].body) {
        const char *cmd = NULL;
        jc_str((json_t *)tpl, path, "command", 1, NULL, &cmd, e);
        if (cmd && strcmp(cmd, "Typing") != 0 && strcmp(cmd, "CancelTyping") != 0) {
            path_key(sub, path, "command");
            jc_error(e, sub, "must be \"Typing\" or \"CancelTyping\"");
        }
        goto out;
    }
    body = json_object_get(tpl, k_kinds[kind].body);
    path_key(sub, path, k_kinds[kind].body);
    if (!body) {
        jc_error(e, path, "required object \"%s\" is missing", k_kinds[kind].body);
        goto out;
    }
    if (!json_is_object(body)) {
        jc_error(e, sub, "must be an object");
        goto out;
    }
    json_object_foreach((json_t *)body, k, v)
    {
        if (!in_list(k_kinds[kind].fields, k))
            jc_error(e, sub, "unknown key \"%s\"", k);
    }
    for (const char *const *f = k_kinds[kind].fields; *f; f++) {
        const char *s = NULL;
        jc_str((json_t *)body, sub, *f, 1, NULL, &s, e);
        if (s) {
            path_key(sub2, sub, *f);
            check_string(json_object_get(body, *f), sub2, e);
        }
    }
out:
    return e->count - before;
}

int reply_tpl_id(const char *record_id, const char *rule_name, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * 16 + 1];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    /* The NUL keeps ("ab", "c") and ("a", "bc") apart (a record id has no NUL). */
    ok = ctx && EVP_DigestInit_ex(ctx, wxc_sha256_md(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, record_id, strlen(record_id) + 1) == 1 &&
         EVP_DigestUpdate(ctx, rule_name, strlen(rule_name)) == 1 &&
         EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    util_hex(md, 16, hex);
    snprintf(out, REPLY_TPL_ID_LEN + 1, "r:%s", hex);
    return 0;
}

/* Rendered text with a hard bound; one byte past the bound locates a UTF-8 boundary. */
struct tbuf {
    size_t len;
    char b[REPLY_TPL_TEXT_MAX + 2];
};

static void tbuf_add(struct tbuf *t, const char *s, size_t n)
{
    size_t room = REPLY_TPL_TEXT_MAX + 1 - t->len;
    if (n > room)
        n = room;
    memcpy(t->b + t->len, s, n);
    t->len += n;
}

/* Appends the text of {{NAME}} (N bytes) for RECORD. Returns 0 or -1 (no memory). */
static int tbuf_var(struct tbuf *t, const char *name, size_t n, const json_t *record)
{
    char key[REPLY_TPL_VAR_MAX + 1], num[40];
    const json_t *x;

    memcpy(key, name, n);
    key[n] = '\0';
    x = json_object_get(in_list(k_record_vars, key) ? record : json_object_get(record, "payload"),
                        key);
    if (json_is_string(x)) {
        tbuf_add(t, json_string_value(x), json_string_length(x));
    } else if (json_is_integer(x)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(x));
        tbuf_add(t, num, strlen(num));
    } else if (json_is_real(x)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(x));
        tbuf_add(t, num, strlen(num));
    } else if (json_is_boolean(x)) {
        tbuf_add(t, json_is_true(x) ? "true" : "false", json_is_true(x) ? 4 : 5);
    } else if (json_is_object(x) || json_is_array(x)) {
        char *dump = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
        if (!dump)
            return -1;
        tbuf_add(t, dump, strlen(dump));
        free(dump);
    }
    return 0; /* missing or null: nothing */
}

static json_t *render_string(const json_t *tpl, const json_t *record)
{
    const char *p = json_string_value(tpl), *q;
    struct tbuf *t = malloc(sizeof(*t)); /* 8 KiB: kept off the stack */
    json_t *res = NULL;

    if (!t)
        return NULL;
    t->len = 0;
    while ((q = strstr(p, "{{")) != NULL && t->len <= REPLY_TPL_TEXT_MAX) {
        size_t n = 0;
        tbuf_add(t, p, (size_t)(q - p));
        while (var_char((unsigned char)q[2 + n]))
            n++;
        if (tbuf_var(t, q + 2, n, record) < 0)
            goto out;
        p = q + 2 + n + 2; /* the syntax was checked by reply_tpl_check() */
    }
    if (t->len <= REPLY_TPL_TEXT_MAX)
        tbuf_add(t, p, strlen(p));
    if (t->len > REPLY_TPL_TEXT_MAX) {
        /* Cut before the character that crosses the bound. */
        size_t cut = REPLY_TPL_TEXT_MAX;
        while (cut > 0 && ((unsigned char)t->b[cut] & 0xC0) == 0x80)
            cut--;
        t->len = cut;
    }
    res = json_stringn(t->b, t->len);
out:
    free(t);
    return res;
}

/* Copies TPL with every string rendered; NULL when out of memory. */
static json_t *render(const json_t *tpl, const json_t *record)
{
    json_t *o, *x;
    const char *k;
    const json_t *val;

    if (json_is_string(tpl))
        return render_string(tpl, record);
    if (!json_is_object(tpl))
        return json_deep_copy(tpl);
    if (!(o = json_object()))
        return NULL;
    json_object_foreach((json_t *)tpl, k, val)
    {
        x = render(val, record);
        if (!x || json_object_set_new(o, k, x) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *reply_tpl_command(const json_t *tpl, const json_t *record, const char *reply_id)
{
    json_t *cmd = json_object(), *x;
    const char *k;
    const json_t *val;
    int bad = 0;

    if (!cmd)
        return NULL;
    bad |= json_object_set_new(cmd, "schema", json_string(REPLY_SCHEMA));
    bad |= json_object_set_new(cmd, "id", json_string(reply_id));
    bad |= json_object_set_new(cmd, "appid", json_deep_copy(json_object_get(record, "appid")));
    bad |= json_object_set_new(cmd, "touser", json_deep_copy(json_object_get(record, "from")));
    json_object_foreach((json_t *)tpl, k, val)
    {
        x = render(val, record);
        bad |= !x || json_object_set_new(cmd, k, x) < 0;
    }
    bad |= json_object_set_new(cmd, "in_reply_to", json_deep_copy(json_object_get(record, "id")));
    if (bad) {
        json_decref(cmd);
        return NULL;
    }
    return cmd;
}
