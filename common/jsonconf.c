/*
 * jsonconf: config loading, ${ENV} expansion and validating getters.
 */
#include "jsonconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JC_STR_MAX 65536

void jc_error(struct jc_errs *e, const char *path, const char *fmt, ...)
{
    size_t used = strlen(e->text);
    size_t room = sizeof(e->text) - used;
    va_list ap;
    int n;

    e->count++;
    if (room < 2)
        return;
    n = snprintf(e->text + used, room, "%s: ", path);
    if (n < 0 || (size_t)n >= room)
        return;
    used += (size_t)n;
    room -= (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(e->text + used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 1 >= room)
        return;
    e->text[used + (size_t)n] = '\n';
    e->text[used + (size_t)n + 1] = '\0';
}

/* Appends N bytes of S to the growing buffer *BUF; returns 0 or -1. */
static int buf_put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > JC_STR_MAX)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t ncap = (*len + n + 1) * 2;
        char *grown = realloc(*buf, ncap);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Returns a malloc'd copy of S with ${NAME} replaced, or NULL after an error. */
static char *expand_one(const char *s, const char *path, struct jc_errs *e)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    const char *p = s;

    if (buf_put(&out, &len, &cap, "", 0) < 0)
        return NULL;
    while (*p) {
        const char *val, *end, *next = strstr(p, "${");
        char name[128];
        size_t n;

        if (!next) {
            if (buf_put(&out, &len, &cap, p, strlen(p)) < 0)
                goto too_long;
            break;
        }
        if (buf_put(&out, &len, &cap, p, (size_t)(next - p)) < 0)
            goto too_long;
        end = strchr(next + 2, '}');
        n = end ? (size_t)(end - next - 2) : 0;
        if (!end || n == 0 || n >= sizeof(name)) {
            jc_error(e, path, "malformed ${NAME} reference");
            goto fail;
        }
        memcpy(name, next + 2, n);
        name[n] = '\0';
        val = getenv(name);
        if (!val) {
            jc_error(e, path, "environment variable %s is not set", name);
            goto fail;
        }
        if (buf_put(&out, &len, &cap, val, strlen(val)) < 0)
            goto too_long;
        p = end + 1;
    }
    return out;
too_long:
    jc_error(e, path, "value too long after expansion");
fail:
    free(out);
    return NULL;
}

/* Expands below V; returns the replacement when V itself is a string to replace. */
static json_t *expand_node(json_t *v, const char *path, struct jc_errs *e)
{
    char *x;
    json_t *r;

    if (!json_is_string(v)) {
        jc_expand_env(v, path, e);
        return NULL;
    }
    if (!strstr(json_string_value(v), "${"))
        return NULL;
    x = expand_one(json_string_value(v), path, e);
    if (!x)
        return NULL;
    r = json_string(x);
    free(x);
    return r;
}

void jc_expand_env(json_t *root, const char *path, struct jc_errs *e)
{
    char sub[512];
    json_t *v, *r;

    if (json_is_object(root)) {
        const char *k;
        json_object_foreach(root, k, v)
        {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if ((r = expand_node(v, sub, e)))
                json_object_set_new(root, k, r); /* replacing a value keeps iteration valid */
        }
    } else if (json_is_array(root)) {
        size_t i;
        json_array_foreach(root, i, v)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if ((r = expand_node(v, sub, e)))
                json_array_set_new(root, i, r);
        }
    }
}

static json_t *finish_load(json_t *root, json_error_t *jerr, const char *what, struct jc_errs *e)
{
    int before;
    if (!root) {
        jc_error(e, "$", "%s: line %d column %d: %s", what, jerr->line, jerr->column, jerr->text);
        return NULL;
    }
    if (!json_is_object(root)) {
        jc_error(e, "$", "config must be a JSON object");
        json_decref(root);
        return NULL;
    }
    before = e->count;
    jc_expand_env(root, "$", e);
    if (e->count > before) { /* problems recorded earlier by the caller do not count */
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *jc_load_file(const char *file, struct jc_errs *e)
{
    json_error_t jerr;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    return finish_load(root, &jerr, file, e);
}

json_t *jc_load_string(const char *text, struct jc_errs *e)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    return finish_load(root, &jerr, "config", e);
}

void jc_str(json_t *obj, const char *path, const char *key, int required, const char *def,
            const char **out, struct jc_errs *e)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v) {
        if (required)
            jc_error(e, path, "required string \"%s\" is missing", key);
        return;
    }
    if (!json_is_string(v)) {
        jc_error(e, path, "\"%s\" must be a string", key);
        return;
    }
    *out = json_string_value(v);
}

void jc_int(json_t *obj, const char *path, const char *key, long long def, long long min,
            long long max, long long *out, struct jc_errs *e)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v)
        return;
    if (!json_is_integer(v)) {
        jc_error(e, path, "\"%s\" must be an integer", key);
        return;
    }
    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        jc_error(e, path, "\"%s\" must be between %lld and %lld", key, min, max);
        return;
    }
    *out = json_integer_value(v);
}

void jc_bool(json_t *obj, const char *path, const char *key, int def, int *out, struct jc_errs *e)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v)
        return;
    if (!json_is_boolean(v)) {
        jc_error(e, path, "\"%s\" must be true or false", key);
        return;
    }
    *out = json_is_true(v);
}

void jc_known_keys(json_t *obj, const char *path, const char *const *known, struct jc_errs *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int found = 0;
        for (const char *const *p = known; *p; p++) {
            if (strcmp(*p, k) == 0) {
                found = 1;
                break;
            }
        }
        if (!found)
            jc_error(e, path, "unknown key \"%s\"", k);
    }
}

const char *const jc_log_levels[] = {"debug", "info", "warn", "error", NULL};

void jc_enum(json_t *obj, const char *path, const char *key, const char *def,
             const char *const *allowed, const char **out, struct jc_errs *e)
{
    const char *v = NULL;
    char list[256] = "";
    size_t n = 0;

    jc_str(obj, path, key, 0, def, &v, e);
    *out = def;
    if (!v)
        return;
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(v, allowed[i]) == 0) {
            *out = v;
            return;
        }
        n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s\"%s\"",
                              i ? ", " : "", allowed[i]);
    }
    jc_error(e, path, "\"%s\" must be one of %s", key, list);
}
