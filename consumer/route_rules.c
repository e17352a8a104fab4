/*
 * route_rules: loading, validating and evaluating routing rules. The format
 * and the semantics are documented in route_rules.h; this file follows it.
 *
 * The compiled form keeps its own copies of everything (strings, compiled
 * regexes, deep-copied field values and reply templates), so the rules JSON
 * can be freed after loading and evaluation never allocates on the rules.
 */
#include "route_rules.h"

#include "record.h"
#include "reply_tpl.h"

#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RR_PATH_MAX      384
#define RR_RECORD_ID_MAX 1024

/* Topic placeholders, as a bit mask of what a topic template may use. */
enum { P_MSG_TYPE = 1, P_EVENT = 2, P_APPID = 4, P_ALL = 7 };

static const struct {
    const char *name;
    int bit;
} k_topic_vars[] = {{"msg_type", P_MSG_TYPE}, {"event", P_EVENT}, {"appid", P_APPID}};

enum sm_kind { SM_ANY = 0, SM_EXACT, SM_PREFIX, SM_REGEX };

struct str_set { /* n == 0: no constraint */
    size_t n;
    char **v;
};

struct str_match {
    enum sm_kind kind;
    char *s;
    size_t len;
    regex_t re;
    int compiled;
};

struct field_eq {
    char *name;
    json_t *value;
};

struct rule {
    char *name;
    struct str_set appid, msg_type, event;
    struct str_match content, session_from;
    size_t n_fields;
    struct field_eq *fields;
    size_t n_publish;
    char **publish;
    json_t *reply; /* validated template, or NULL */
    int drop, cont;
};

struct route_rules {
    size_t n;
    struct rule *rules;
    char *message_topic, *event_topic, *unrouted_topic;
};

struct loader {
    struct jc_errs *e;
    int oom;
};

/* ---------------------------------------------------------------- helpers */

static char *dupn(struct loader *L, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        L->oom = 1;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *dup_str(struct loader *L, const char *s)
{
    return dupn(L, s, strlen(s));
}

/* BASE.KEY into BUF; an overlong path ends in "..." (checking the length
 * also keeps gcc's -Wformat-truncation quiet). */
static void path_key(char *buf, const char *base, const char *key)
{
    int n = snprintf(buf, RR_PATH_MAX, "%s.%s", base, key);
    if (n < 0 || n >= RR_PATH_MAX)
        memcpy(buf + RR_PATH_MAX - 4, "...", 4);
}

static void path_idx(char *buf, const char *base, size_t i)
{
    int n = snprintf(buf, RR_PATH_MAX, "%s[%zu]", base, i);
    if (n < 0 || n >= RR_PATH_MAX)
        memcpy(buf + RR_PATH_MAX - 4, "...", 4);
}

static int topic_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* "_comment" is accepted anywhere outside reply templates, but only as a string. */
static void check_comment(struct loader *L, const json_t *obj, const char *path)
{
    const json_t *c = json_object_get(obj, "_comment");
    char sub[RR_PATH_MAX];

    if (c && !json_is_string(c)) {
        path_key(sub, path, "_comment");
        jc_error(L->e, sub, "must be a string");
    }
}

/* ---------------------------------------------------------------- validation */

/*
 * Checks a topic template: literal [A-Za-z0-9._-] and the placeholders whose
 * bits are in MASK. Reports the first problem of the string only.
 */
static void check_topic(struct loader *L, const char *t, const char *path, int mask)
{
    size_t n = strlen(t);
    int vars = 0;

    if (n == 0) {
        jc_error(L->e, path, "topic name must not be empty");
        return;
    }
    if (n > ROUTE_TOPIC_MAX) {
        jc_error(L->e, path, "topic name longer than %d bytes", ROUTE_TOPIC_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        const char *end;
        size_t k, len;

        if (c == '{') {
            end = strchr(t + i + 1, '}');
            if (!end) {
                jc_error(L->e, path, "\"{\" without a matching \"}\"");
                return;
            }
            len = (size_t)(end - (t + i + 1));
            for (k = 0; k < 3; k++)
                if (strlen(k_topic_vars[k].name) == len &&
                    memcmp(k_topic_vars[k].name, t + i + 1, len) == 0)
                    break;
            if (k == 3) {
                jc_error(L->e, path,
                         "unknown placeholder {%.*s} (known: {msg_type}, {event}, {appid})",
                         (int)(len > 64 ? 64 : len), t + i + 1);
                return;
            }
            if (!(k_topic_vars[k].bit & mask)) {
                if (mask == 0)
                    jc_error(L->e, path, "placeholders are not allowed in this topic");
                else
                    jc_error(L->e, path, "{%s} cannot be used here: messages have no event",
                             k_topic_vars[k].name);
                return;
            }
            vars++;
            i += len + 1;
        } else if (c == '}') {
            jc_error(L->e, path, "\"}\" without a matching \"{\"");
            return;
        } else if (!topic_char(c)) {
            if (c >= 0x20 && c < 0x7f)
                jc_error(
                    L->e, path,
                    "character '%c' is not allowed in a topic name (allowed: A-Z a-z 0-9 . _ -)",
                    c);
            else
                jc_error(L->e, path,
                         "byte 0x%02x is not allowed in a topic name (allowed: A-Z a-z 0-9 . _ -)",
                         c);
            return;
        }
    }
    if (!vars && (strcmp(t, ".") == 0 || strcmp(t, "..") == 0))
        jc_error(L->e, path, "\"%s\" is not a valid topic name", t);
}

/* match.appid / msg_type / event: a string or a non-empty array of strings. */
static void load_set(struct loader *L, const json_t *match, const char *mpath, const char *key,
                     struct str_set *set)
{
    const json_t *v = json_object_get(match, key);
    char path[RR_PATH_MAX], sub[RR_PATH_MAX];
    size_t n, i;

    if (!v)
        return;
    path_key(path, mpath, key);
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) {
            jc_error(L->e, path, "must not be empty");
            return;
        }
        n = 1;
    } else if (json_is_array(v)) {
        n = json_array_size(v);
        if (n == 0 || n > ROUTE_SET_MAX) {
            jc_error(L->e, path, "must hold 1 to %d strings", ROUTE_SET_MAX);
            return;
        }
        for (i = 0; i < n; i++) {
            const json_t *x = json_array_get(v, i);
            if (!json_is_string(x) || json_string_length(x) == 0) {
                path_idx(sub, path, i);
                jc_error(L->e, sub, "must be a non-empty string");
                return;
            }
        }
    } else {
        jc_error(L->e, path, "must be a string or an array of strings");
        return;
    }
    set->v = calloc(n, sizeof(*set->v));
    if (!set->v) {
        L->oom = 1;
        return;
    }
    set->n = n;
    for (i = 0; i < n; i++) {
        const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
        set->v[i] = dup_str(L, json_string_value(x));
    }
}

/* match.content / session_from: "s", {"exact":s}, {"prefix":s} or {"regex":ERE}. */
static void load_str_match(struct loader *L, const json_t *match, const char *mpath,
                           const char *key, struct str_match *m)
{
    const json_t *v = json_object_get(match, key), *x = NULL;
    char path[RR_PATH_MAX], sub[RR_PATH_MAX];
    const char *k, *which = NULL;
    enum sm_kind kind = SM_ANY;
    int bad = 0, count = 0;

    if (!v)
        return;
    path_key(path, mpath, key);
    if (json_is_string(v)) {
        kind = SM_EXACT;
        x = v;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcmp(k, "exact") == 0 || strcmp(k, "prefix") == 0 || strcmp(k, "regex") == 0) {
                count++;
                which = k;
            } else {
                jc_error(L->e, path, "unknown key \"%s\"", k);
                bad = 1;
            }
        }
        if (count != 1) {
            jc_error(L->e, path, "needs exactly one of \"exact\", \"prefix\" or \"regex\"");
            return;
        }
        x = json_object_get(v, which);
        path_key(sub, path, which);
        if (!json_is_string(x)) {
            jc_error(L->e, sub, "must be a string");
            return;
        }
        kind = which[0] == 'e' ? SM_EXACT : which[0] == 'p' ? SM_PREFIX : SM_REGEX;
    } else {
        jc_error(L->e, path,
                 "must be a string or an object with one of \"exact\", \"prefix\", "
                 "\"regex\"");
        return;
    }
    if (kind == SM_REGEX) {
        int rc;
        if (json_string_length(x) > ROUTE_REGEX_MAX) {
            jc_error(L->e, sub, "regular expression longer than %d bytes", ROUTE_REGEX_MAX);
            return;
        }
        if (strlen(json_string_value(x)) != json_string_length(x)) {
            jc_error(L->e, sub, "must not contain NUL characters");
            return;
        }
        rc = regcomp(&m->re, json_string_value(x), REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[160];
            regerror(rc, &m->re, msg, sizeof(msg));
            jc_error(L->e, sub, "invalid POSIX extended regular expression: %s", msg);
            return;
        }
        m->compiled = 1;
    }
    if (bad)
        return;
    m->kind = kind;
    m->len = json_string_length(x);
    m->s = dupn(L, json_string_value(x), m->len);
}

static void load_fields(struct loader *L, const json_t *match, const char *mpath, struct rule *ru)
{
    const json_t *v = json_object_get(match, "fields"), *x;
    char path[RR_PATH_MAX];
    const char *k;
    size_t i = 0;

    if (!v)
        return;
    path_key(path, mpath, "fields");
    if (!json_is_object(v)) {
        jc_error(L->e, path, "must be an object of payload field names and values");
        return;
    }
    if (json_object_size(v) > ROUTE_FIELDS_MAX) {
        jc_error(L->e, path, "at most %d fields", ROUTE_FIELDS_MAX);
        return;
    }
    if (json_object_size(v) == 0)
        return;
    ru->fields = calloc(json_object_size(v), sizeof(*ru->fields));
    if (!ru->fields) {
        L->oom = 1;
        return;
    }
    json_object_foreach((json_t *)v, k, x)
    {
        if (k[0] == '\0') {
            jc_error(L->e, path, "field names must not be empty");
            continue;
        }
        ru->fields[i].name = dup_str(L, k);
        ru->fields[i].value = json_deep_copy(x);
        if (!ru->fields[i].value)
            L->oom = 1;
        ru->n_fields = ++i;
    }
}

static void load_match(struct loader *L, const json_t *match, const char *rpath, struct rule *ru)
{
    static const char *const known[] = {"appid",        "msg_type", "event",    "content",
                                        "session_from", "fields",   "_comment", NULL};
    char path[RR_PATH_MAX];

    path_key(path, rpath, "match");
    if (!json_is_object(match)) {
        jc_error(L->e, path, "must be an object");
        return;
    }
    jc_known_keys((json_t *)match, path, known, L->e);
    check_comment(L, match, path);
    load_set(L, match, path, "appid", &ru->appid);
    load_set(L, match, path, "msg_type", &ru->msg_type);
    load_set(L, match, path, "event", &ru->event);
    load_str_match(L, match, path, "content", &ru->content);
    load_str_match(L, match, path, "session_from", &ru->session_from);
    load_fields(L, match, path, ru);
}

static void load_publish(struct loader *L, const json_t *pub, const char *rpath, struct rule *ru)
{
    char path[RR_PATH_MAX], sub[RR_PATH_MAX];
    size_t n = json_array_size(pub);

    path_key(path, rpath, "publish");
    if (!json_is_array(pub) || n == 0) {
        jc_error(L->e, path, "must be a non-empty array of topic names");
        return;
    }
    if (n > ROUTE_PUBLISH_MAX) {
        jc_error(L->e, path, "at most %d topics", ROUTE_PUBLISH_MAX);
        return;
    }
    ru->publish = calloc(n, sizeof(*ru->publish));
    if (!ru->publish) {
        L->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(pub, i);
        path_idx(sub, path, i);
        if (!json_is_string(t)) {
            jc_error(L->e, sub, "must be a string");
            continue;
        }
        check_topic(L, json_string_value(t), sub, P_ALL);
        ru->publish[ru->n_publish++] = dup_str(L, json_string_value(t));
    }
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ROUTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!topic_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Loads rules[IDX]; earlier rules are in R->rules[0..IDX-1] for the duplicate check. */
static void load_rule(struct loader *L, route_rules *r, const json_t *rj, const char *rules_path,
                      size_t idx)
{
    static const char *const known[] = {"name", "match",    "publish",  "reply",
                                        "drop", "continue", "_comment", NULL};
    struct rule *ru = &r->rules[idx];
    const json_t *v;
    const char *name = NULL;
    char path[RR_PATH_MAX], sub[RR_PATH_MAX], other[RR_PATH_MAX];
    int has_publish, has_reply;

    path_idx(path, rules_path, idx);
    if (!json_is_object(rj)) {
        jc_error(L->e, path, "must be an object");
        return;
    }
    jc_known_keys((json_t *)rj, path, known, L->e);
    check_comment(L, rj, path);
    jc_str((json_t *)rj, path, "name", 1, NULL, &name, L->e);
    if (name) {
        path_key(sub, path, "name");
        if (!valid_name(name)) {
            jc_error(L->e, sub, "must be 1-%d characters of [A-Za-z0-9._-]", ROUTE_NAME_MAX);
        } else {
            for (size_t j = 0; j < idx; j++) {
                if (r->rules[j].name && strcmp(r->rules[j].name, name) == 0) {
                    path_idx(other, rules_path, j);
                    jc_error(L->e, sub, "duplicate rule name \"%s\" (also in %s)", name, other);
                    break;
                }
            }
            ru->name = dup_str(L, name);
        }
    }
    if ((v = json_object_get(rj, "match")))
        load_match(L, v, path, ru);
    has_publish = json_object_get(rj, "publish") != NULL;
    if (has_publish)
        load_publish(L, json_object_get(rj, "publish"), path, ru);
    has_reply = json_object_get(rj, "reply") != NULL;
    if (has_reply) {
        path_key(sub, path, "reply");
        reply_tpl_check(json_object_get(rj, "reply"), sub, L->e);
        ru->reply = json_deep_copy(json_object_get(rj, "reply"));
        if (!ru->reply)
            L->oom = 1;
    }
    jc_bool((json_t *)rj, path, "drop", 0, &ru->drop, L->e);
    jc_bool((json_t *)rj, path, "continue", 0, &ru->cont, L->e);
    if (ru->drop && (has_publish || has_reply || ru->cont))
        jc_error(L->e, path,
                 "\"drop\" cannot be combined with \"publish\", \"reply\" or "
                 "\"continue\"");
    else if (!ru->drop && !has_publish && !has_reply)
        jc_error(L->e, path, "rule has no action: give \"publish\", \"reply\" or \"drop\"");
}

static void load_defaults(struct loader *L, route_rules *r, const json_t *d, const char *base)
{
    static const char *const known[] = {"message_topic", "event_topic", "unrouted_topic",
                                        "_comment", NULL};
    static const struct {
        const char *key;
        const char *def;
        int mask;
    } k[] = {{"message_topic", ROUTE_DEFAULT_MESSAGE_TOPIC, P_MSG_TYPE | P_APPID},
             {"event_topic", ROUTE_DEFAULT_EVENT_TOPIC, P_ALL},
             {"unrouted_topic", ROUTE_DEFAULT_UNROUTED_TOPIC, 0}};
    char **dst[3] = {&r->message_topic, &r->event_topic, &r->unrouted_topic};
    char path[RR_PATH_MAX], sub[RR_PATH_MAX];

    path_key(path, base, "defaults");
    if (d && !json_is_object(d)) {
        jc_error(L->e, path, "must be an object");
        d = NULL;
    }
    if (d) {
        jc_known_keys((json_t *)d, path, known, L->e);
        check_comment(L, d, path);
    }
    for (size_t i = 0; i < 3; i++) {
        const char *s = k[i].def;
        if (d) {
            jc_str((json_t *)d, path, k[i].key, 0, k[i].def, &s, L->e);
            path_key(sub, path, k[i].key);
            check_topic(L, s, sub, k[i].mask);
        }
        *dst[i] = dup_str(L, s);
    }
}

int route_rules_load(const json_t *rules_json, const char *path, route_rules **out,
                     struct jc_errs *e)
{
    static const char *const known[] = {"rules", "defaults", "_comment", "$schema", NULL};
    struct loader L = {e, 0};
    int before = e->count, rc = ROUTE_OK;
    route_rules *r = calloc(1, sizeof(*r));
    const json_t *rules;
    char sub[RR_PATH_MAX];

    *out = NULL;
    if (!path)
        path = "$";
    if (!r)
        return ROUTE_ENOMEM;
    if (!json_is_object(rules_json)) {
        jc_error(e, path, "routing rules must be a JSON object");
        goto out;
    }
    jc_known_keys((json_t *)rules_json, path, known, e);
    check_comment(&L, rules_json, path);
    rules = json_object_get(rules_json, "rules");
    path_key(sub, path, "rules");
    if (rules && !json_is_array(rules)) {
        jc_error(e, sub, "must be an array of rules");
    } else if (json_array_size(rules) > ROUTE_RULES_MAX) {
        jc_error(e, sub, "at most %d rules", ROUTE_RULES_MAX);
    } else if (json_array_size(rules) > 0) {
        r->rules = calloc(json_array_size(rules), sizeof(*r->rules));
        if (!r->rules) {
            L.oom = 1;
            goto out;
        }
        r->n = json_array_size(rules);
        for (size_t i = 0; i < r->n; i++)
            load_rule(&L, r, json_array_get(rules, i), sub, i);
    }
    load_defaults(&L, r, json_object_get(rules_json, "defaults"), path);
out:
    if (L.oom)
        rc = ROUTE_ENOMEM;
    else if (e->count > before)
        rc = ROUTE_EINVAL;
    if (rc != ROUTE_OK)
        route_rules_free(r);
    else
        *out = r;
    return rc;
}

static void free_set(struct str_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static void free_str_match(struct str_match *m)
{
    free(m->s);
    if (m->compiled)
        regfree(&m->re);
}

void route_rules_free(route_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct rule *ru = &r->rules[i];
        free(ru->name);
        free_set(&ru->appid);
        free_set(&ru->msg_type);
        free_set(&ru->event);
        free_str_match(&ru->content);
        free_str_match(&ru->session_from);
        for (size_t j = 0; j < ru->n_fields; j++) {
            free(ru->fields[j].name);
            json_decref(ru->fields[j].value);
        }
        free(ru->fields);
        for (size_t j = 0; j < ru->n_publish; j++)
            free(ru->publish[j]);
        free(ru->publish);
        json_decref(ru->reply);
    }
    free(r->rules);
    free(r->message_topic);
    free(r->event_topic);
    free(r->unrouted_topic);
    free(r);
}

size_t route_rules_count(const route_rules *r)
{
    return r ? r->n : 0;
}

/* T with {msg_type} and {event} replaced, or NULL (it needs {appid}, or is too long). */
static char *expand_known(const char *t, const char *msg_type, const char *event)
{
    char buf[ROUTE_TOPIC_MAX + 1];
    size_t len = 0;

    for (const char *p = t; *p;) {
        const char *val = NULL;
        if (strncmp(p, "{msg_type}", 10) == 0)
            val = msg_type, p += 10;
        else if (strncmp(p, "{event}", 7) == 0)
            val = event, p += 7;
        else if (*p == '{')
            return NULL;
        if (!val) {
            if (len >= ROUTE_TOPIC_MAX)
                return NULL;
            buf[len++] = *p++;
            continue;
        }
        if (!*val || len + strlen(val) > ROUTE_TOPIC_MAX)
            return NULL;
        memcpy(buf + len, val, strlen(val));
        len += strlen(val);
    }
    buf[len] = '\0';
    return strdup(buf);
}

static size_t add_known(char **out, size_t n, size_t max, char *name)
{
    if (!name)
        return n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i], name) == 0) {
            free(name);
            return n;
        }
    if (n >= max) {
        free(name);
        return n;
    }
    out[n] = name;
    return n + 1;
}

size_t route_rules_known_topics(const route_rules *r, char **out, size_t max)
{
    /* What WeChat pushes to a Mini Program's customer service (docs/PROTOCOL.md). */
    static const char *const msg_types[] = {"text", "image", "miniprogrampage", NULL};
    static const char *const events[] = {"user_enter_tempsession", NULL};
    size_t n = 0;

    n = add_known(out, n, max, strdup(r->unrouted_topic));
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < r->rules[i].n_publish; j++)
            n = add_known(out, n, max, expand_known(r->rules[i].publish[j], "", ""));
    for (size_t i = 0; msg_types[i]; i++)
        n = add_known(out, n, max, expand_known(r->message_topic, msg_types[i], ""));
    for (size_t i = 0; events[i]; i++)
        n = add_known(out, n, max, expand_known(r->event_topic, "event", events[i]));
    return n;
}

const char *route_rules_unrouted_topic(const route_rules *r)
{
    return r ? r->unrouted_topic : ROUTE_DEFAULT_UNROUTED_TOPIC;
}

/* ---------------------------------------------------------------- evaluation */

/* The typed fields of a record that routing reads (all borrowed). */
struct rec_view {
    const json_t *payload;
    const char *id, *appid, *from, *msg_type;
    const char *event; /* NULL for messages or a null/empty event */
};

static void release(struct route_result *out)
{
    for (size_t i = 0; i < out->n_topics; i++)
        free(out->topics[i]);
    for (size_t i = 0; i < out->n_replies; i++)
        json_decref(out->replies[i]);
    out->n_topics = out->n_replies = 0;
}

void route_result_clear(struct route_result *out)
{
    if (!out)
        return;
    release(out);
    memset(out, 0, sizeof(*out));
}

/* Marks OUT unrouted: only the unrouted topic, no replies. Returns 1 or -1 (no memory). */
static int set_unrouted(const route_rules *r, struct route_result *out, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int set_unrouted(const route_rules *r, struct route_result *out, const char *code,
                        const char *fmt, ...)
{
    va_list ap;

    release(out);
    out->dropped = 0;
    out->unrouted = 1;
    out->unrouted_code = code;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    out->topics[0] = strdup(r->unrouted_topic);
    if (!out->topics[0])
        return -1;
    out->n_topics = 1;
    return 1;
}

static const char *req_str(const json_t *rec, const char *key)
{
    const json_t *v = json_object_get(rec, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* Fills V from RECORD; returns 0, or 1 after marking OUT unrouted, or -1 (no memory). */
static int view_record(const route_rules *r, const json_t *rec, struct rec_view *v,
                       struct route_result *out)
{
    static const char *const need[] = {"id", "appid", "from", "msg_type", NULL};
    const json_t *schema = json_object_get(rec, "schema"), *ev;

    memset(v, 0, sizeof(*v));
    if (!json_is_object(rec))
        return set_unrouted(r, out, "bad_record", "record is not a JSON object");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), RECORD_SCHEMA) != 0)
        return set_unrouted(r, out, "bad_record", "schema is not %s", RECORD_SCHEMA);
    for (const char *const *k = need; *k; k++) {
        if (!req_str(rec, *k))
            return set_unrouted(r, out, "bad_record", "%s must be a non-empty string", *k);
    }
    v->id = req_str(rec, "id");
    v->appid = req_str(rec, "appid");
    v->from = req_str(rec, "from");
    v->msg_type = req_str(rec, "msg_type");
    if (strlen(v->id) > RR_RECORD_ID_MAX)
        return set_unrouted(r, out, "bad_record", "id longer than %d bytes", RR_RECORD_ID_MAX);
    v->payload = json_object_get(rec, "payload");
    if (!json_is_object(v->payload))
        return set_unrouted(r, out, "bad_record", "payload must be an object");
    ev = json_object_get(rec, "event");
    if (ev && !json_is_null(ev) && !json_is_string(ev))
        return set_unrouted(r, out, "bad_record", "event must be a string or null");
    v->event = req_str(rec, "event");
    return 0;
}

static int set_matches(const struct str_set *s, const char *value)
{
    if (s->n == 0)
        return 1;
    if (!value)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], value) == 0)
            return 1;
    return 0;
}

static int str_matches(const struct str_match *m, const json_t *payload, const char *key)
{
    const json_t *v;
    const char *s;
    size_t n;

    if (m->kind == SM_ANY)
        return 1;
    v = json_object_get(payload, key);
    if (!json_is_string(v))
        return 0;
    s = json_string_value(v);
    n = json_string_length(v);
    switch (m->kind) {
    case SM_EXACT:
        return n == m->len && memcmp(s, m->s, n) == 0;
    case SM_PREFIX:
        return n >= m->len && memcmp(s, m->s, m->len) == 0;
    case SM_REGEX:
        return regexec(&m->re, s, 0, NULL, 0) == 0;
    default:
        return 0;
    }
}

static int field_matches(const struct field_eq *f, const json_t *payload)
{
    const json_t *p = json_object_get(payload, f->name);
    char num[32];

    if (json_is_null(f->value))
        return !p || json_is_null(p);
    if (!p)
        return 0;
    if (json_is_integer(f->value) && json_is_string(p)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(f->value));
        return strcmp(num, json_string_value(p)) == 0;
    }
    return json_equal(f->value, p);
}

static int rule_matches(const struct rule *ru, const struct rec_view *v)
{
    if (!set_matches(&ru->appid, v->appid) || !set_matches(&ru->msg_type, v->msg_type) ||
        !set_matches(&ru->event, v->event))
        return 0;
    if (!str_matches(&ru->content, v->payload, "Content") ||
        !str_matches(&ru->session_from, v->payload, "SessionFrom"))
        return 0;
    for (size_t i = 0; i < ru->n_fields; i++)
        if (!field_matches(&ru->fields[i], v->payload))
            return 0;
    return 1;
}

/*
 * Expands topic template T for V and adds it to OUT unless already there.
 * Returns 0, 1 after marking OUT unrouted, or -1 (no memory).
 */
static int add_topic(const route_rules *r, const char *t, const struct rec_view *v,
                     struct route_result *out)
{
    char buf[ROUTE_TOPIC_MAX + 1];
    size_t len = 0;

    for (const char *p = t; *p;) {
        const char *val, *name, *end;
        size_t n;

        if (*p != '{') {
            if (len >= ROUTE_TOPIC_MAX)
                goto too_long;
            buf[len++] = *p++;
            continue;
        }
        end = strchr(p, '}'); /* validated at load */
        name = p + 1;
        n = (size_t)(end - name);
        if (n == 5 && memcmp(name, "event", 5) == 0) {
            val = v->event;
            if (!val)
                return set_unrouted(r, out, "no_event", "topic \"%s\" needs {event} but %s", t,
                                    strcmp(v->msg_type, "event") == 0
                                        ? "the event record has no Event"
                                        : "the record is not an event");
        } else {
            val = n == 5 ? v->appid : v->msg_type;
        }
        for (const char *c = val; *c; c++) {
            if (!topic_char((unsigned char)*c))
                return set_unrouted(r, out, "bad_topic_value",
                                    "{%.*s} value \"%.64s\" has characters not allowed in a "
                                    "topic name",
                                    (int)n, name, val);
            if (len >= ROUTE_TOPIC_MAX)
                goto too_long;
            buf[len++] = *c;
        }
        p = end + 1;
    }
    buf[len] = '\0';
    if (strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0)
        return set_unrouted(r, out, "bad_topic_value", "\"%s\" is not a valid topic name", buf);
    for (size_t i = 0; i < out->n_topics; i++)
        if (strcmp(out->topics[i], buf) == 0)
            return 0;
    if (out->n_topics == ROUTE_TOPICS_MAX)
        return set_unrouted(r, out, "too_many_targets", "more than %d topics", ROUTE_TOPICS_MAX);
    if (!(out->topics[out->n_topics] = strdup(buf)))
        return -1;
    out->n_topics++;
    return 0;
too_long:
    return set_unrouted(r, out, "bad_topic_value", "topic \"%s\" expands to more than %d bytes", t,
                        ROUTE_TOPIC_MAX);
}

int route_rules_eval(const route_rules *r, const json_t *record, struct route_result *out,
                     char *err, size_t errlen)
{
    char rid[REPLY_TPL_ID_LEN + 1];
    struct rec_view v;
    int rc, final = 0;

    if (!r || !out) {
        snprintf(err, errlen, "route_rules_eval: NULL argument");
        return ROUTE_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    rc = view_record(r, record, &v, out);
    if (rc)
        goto out;
    for (size_t i = 0; i < r->n && !final; i++) {
        const struct rule *ru = &r->rules[i];

        if (!rule_matches(ru, &v))
            continue;
        out->matched[out->n_matched++] = ru->name;
        if (ru->drop) {
            release(out);
            out->dropped = 1;
            return ROUTE_OK;
        }
        for (size_t j = 0; j < ru->n_publish; j++)
            if ((rc = add_topic(r, ru->publish[j], &v, out)))
                goto out;
        if (ru->reply) {
            if (out->n_replies == ROUTE_REPLIES_MAX) {
                rc = set_unrouted(r, out, "too_many_targets", "more than %d replies",
                                  ROUTE_REPLIES_MAX);
                goto out;
            }
            if (reply_tpl_id(v.id, ru->name, rid) < 0 ||
                !(out->replies[out->n_replies] = reply_tpl_command(ru->reply, record, rid))) {
                rc = -1;
                goto out;
            }
            out->n_replies++;
        }
        final = !ru->cont;
    }
    if (!final)
        rc = add_topic(r, strcmp(v.msg_type, "event") == 0 ? r->event_topic : r->message_topic, &v,
                       out);
out:
    if (rc < 0) {
        route_result_clear(out);
        snprintf(err, errlen, "out of memory while routing");
        return ROUTE_ENOMEM;
    }
    return ROUTE_OK;
}
