/*
 * devbroker_conf: devbroker settings and their validation. See devbroker_conf.h.
 */
#include "devbroker_conf.h"

#include "admin_http.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const default_topics[] = {
    "wx.inbound",         "wx.inbound.dlq", "wx.unrouted",         "wx.replies",
    "wx.replies.results", "wx.replies.dlq", "wx.replies.inflight",
};

void devbroker_conf_defaults(struct devbroker_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->brokers = DEVBROKER_DEF_BROKERS;
    c->partitions = DEVBROKER_DEF_PARTITIONS;
    snprintf(c->admin_listen, sizeof(c->admin_listen), "%s", DEVBROKER_DEF_ADMIN);
}

int devbroker_conf_add_topic(struct devbroker_conf *c, const char *name, int partitions,
                             int replace, char *err, size_t errlen)
{
    if (!mock_cluster_topic_name_ok(name)) {
        snprintf(err, errlen, "invalid topic name \"%.64s\" (allowed: [A-Za-z0-9._-]{1,%d})", name,
                 MOCK_CLUSTER_TOPIC_MAX);
        return -EINVAL;
    }
    if (partitions < 0 || partitions > MOCK_CLUSTER_PARTITIONS_MAX) {
        snprintf(err, errlen, "partitions of %s must be between 1 and %d", name,
                 MOCK_CLUSTER_PARTITIONS_MAX);
        return -EINVAL;
    }
    for (int i = 0; i < c->ntopics; i++) {
        if (strcmp(c->topics[i].name, name) == 0) {
            if (replace)
                c->topics[i].partitions = partitions;
            return 0;
        }
    }
    if (c->ntopics == DEVBROKER_TOPICS_MAX) {
        snprintf(err, errlen, "more than %d topics", DEVBROKER_TOPICS_MAX);
        return -ENOSPC;
    }
    /* Fits: the name check above bounds its length. */
    snprintf(c->topics[c->ntopics].name, sizeof(c->topics[0].name), "%s", name);
    c->topics[c->ntopics].partitions = partitions;
    c->ntopics++;
    return 0;
}

int devbroker_conf_add_topic_spec(struct devbroker_conf *c, const char *spec, char *err,
                                  size_t errlen)
{
    char name[MOCK_CLUSTER_TOPIC_MAX + 1];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    long long parts = 0;

    if (n == 0 || n >= sizeof(name)) {
        snprintf(err, errlen, "topic \"%.64s\": expected NAME[:PARTITIONS]", spec);
        return -EINVAL;
    }
    memcpy(name, spec, n);
    name[n] = '\0';
    if (colon && util_parse_ll(colon + 1, 1, MOCK_CLUSTER_PARTITIONS_MAX, &parts) < 0) {
        snprintf(err, errlen, "topic \"%.64s\": partitions must be between 1 and %d", spec,
                 MOCK_CLUSTER_PARTITIONS_MAX);
        return -EINVAL;
    }
    return devbroker_conf_add_topic(c, name, (int)parts, 1, err, errlen);
}

int devbroker_conf_add_defaults(struct devbroker_conf *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(default_topics) / sizeof(default_topics[0]); i++) {
        int rc = devbroker_conf_add_topic(c, default_topics[i], 0, 0, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* $.topics: an array of {"name":..,"partitions":..}. */
static void apply_topics(struct devbroker_conf *c, json_t *arr, struct jc_errs *e)
{
    static const char *const known[] = {"name", "partitions", NULL};
    char path[64], msg[256];
    size_t i;
    json_t *t;

    if (!json_is_array(arr)) {
        jc_error(e, "$.topics", "must be an array of {\"name\":..,\"partitions\":..}");
        return;
    }
    json_array_foreach(arr, i, t)
    {
        const char *name = NULL;
        long long parts = 0;

        snprintf(path, sizeof(path), "$.topics[%zu]", i);
        if (!json_is_object(t)) {
            jc_error(e, path, "must be an object");
            continue;
        }
        jc_known_keys(t, path, known, e);
        jc_str(t, path, "name", 1, NULL, &name, e);
        jc_int(t, path, "partitions", 0, 1, MOCK_CLUSTER_PARTITIONS_MAX, &parts, e);
        if (name && devbroker_conf_add_topic(c, name, (int)parts, 1, msg, sizeof(msg)) < 0) {
            /* Only the name can be wrong here: jc_int() bounded the count. */
            snprintf(path, sizeof(path), "$.topics[%zu].name", i);
            jc_error(e, path, "%s", msg);
        }
    }
}

void devbroker_conf_apply_json(struct devbroker_conf *c, json_t *root, struct jc_errs *e)
{
    static const char *const known[] = {"brokers", "partitions", "topics", "admin_listen", NULL};
    const char *listen = NULL;
    long long v;
    json_t *topics;

    jc_known_keys(root, "$", known, e);
    jc_int(root, "$", "brokers", c->brokers, 1, MOCK_CLUSTER_BROKERS_MAX, &v, e);
    c->brokers = (int)v;
    jc_int(root, "$", "partitions", c->partitions, 1, MOCK_CLUSTER_PARTITIONS_MAX, &v, e);
    c->partitions = (int)v;
    jc_str(root, "$", "admin_listen", 0, NULL, &listen, e);
    if (listen) {
        char msg[256];
        if (strlen(listen) >= sizeof(c->admin_listen))
            jc_error(e, "$.admin_listen", "longer than %zu bytes", sizeof(c->admin_listen) - 1);
        else if (admin_http_check_listen(listen, msg, sizeof(msg)) < 0)
            jc_error(e, "$.admin_listen", "%s", msg);
        else
            snprintf(c->admin_listen, sizeof(c->admin_listen), "%s", listen);
    }
    topics = json_object_get(root, "topics");
    if (topics)
        apply_topics(c, topics, e);
}

void devbroker_conf_load(struct devbroker_conf *c, const char *file,
                         const struct devbroker_overrides *o, struct jc_errs *e)
{
    json_t *root = NULL;
    char err[256];

    devbroker_conf_defaults(c);
    if (file && (root = jc_load_file(file, e)) != NULL)
        devbroker_conf_apply_json(c, root, e);
    if (o->brokers)
        c->brokers = o->brokers;
    if (o->partitions)
        c->partitions = o->partitions;
    if (o->admin_listen && strlen(o->admin_listen) >= sizeof(c->admin_listen))
        jc_error(e, "--admin-listen", "longer than %zu bytes", sizeof(c->admin_listen) - 1);
    else if (o->admin_listen && admin_http_check_listen(o->admin_listen, err, sizeof(err)) < 0)
        jc_error(e, "--admin-listen", "%s", err);
    else if (o->admin_listen)
        snprintf(c->admin_listen, sizeof(c->admin_listen), "%s", o->admin_listen);
    for (int i = 0; i < o->ntopics; i++) {
        if (devbroker_conf_add_topic_spec(c, o->topics[i], err, sizeof(err)) < 0)
            jc_error(e, "--topic", "%s", err);
    }
    if (devbroker_conf_add_defaults(c, err, sizeof(err)) < 0)
        jc_error(e, "$.topics", "%s", err);
    json_decref(root);
}
