/*
 * devbroker_conf: the devbroker's settings, from defaults, the JSON config
 * and command-line flags (applied in that order, later wins).
 *
 * Config file (every key optional, unknown keys are errors):
 *   {"brokers":3, "partitions":3, "admin_listen":"127.0.0.1:0",
 *    "topics":[{"name":"wx.inbound","partitions":6}]}
 */
#ifndef WXB_DEVBROKER_CONF_H
#define WXB_DEVBROKER_CONF_H

#include "jsonconf.h"
#include "mock_cluster.h"

#include <stddef.h>

#define DEVBROKER_TOPICS_MAX     128
#define DEVBROKER_LISTEN_MAX     128
#define DEVBROKER_DEF_BROKERS    3
#define DEVBROKER_DEF_PARTITIONS 3
#define DEVBROKER_DEF_ADMIN      "127.0.0.1:0"

struct devbroker_topic {
    char name[MOCK_CLUSTER_TOPIC_MAX + 1];
    int partitions; /* 0 = the conf's default partition count */
};

/* Plain value struct: no pointers, nothing to free. */
struct devbroker_conf {
    int brokers;
    int partitions; /* default partition count of created topics */
    char admin_listen[DEVBROKER_LISTEN_MAX];
    int ntopics;
    struct devbroker_topic topics[DEVBROKER_TOPICS_MAX];
};

/* Command-line values that win over the config file; 0 / NULL = not given. */
struct devbroker_overrides {
    int brokers;
    int partitions;
    const char *admin_listen;
    int ntopics;
    const char *topics[DEVBROKER_TOPICS_MAX]; /* "NAME[:PARTITIONS]" */
};

/*
 * Builds C from the defaults, then FILE (JSON, may be NULL), then O, and
 * adds the pipeline's default topics. Every problem is recorded in E with
 * its JSON path ("--topic" for flag values); C is only usable when E->count
 * stayed 0. C keeps no reference to the file or to O.
 */
void devbroker_conf_load(struct devbroker_conf *c, const char *file,
                         const struct devbroker_overrides *o, struct jc_errs *e);

/* Fills C with the built-in defaults and no topics. */
void devbroker_conf_defaults(struct devbroker_conf *c);

/*
 * Applies the JSON config ROOT (an object) over C. Every problem is recorded
 * in E with its JSON path; C keeps the values that were valid.
 */
void devbroker_conf_apply_json(struct devbroker_conf *c, json_t *root, struct jc_errs *e);

/*
 * Adds topic NAME (PARTITIONS 0 = default); an existing entry of that name
 * gets the new partition count when REPLACE, else is left alone. Returns 0,
 * -EINVAL (bad name or count) or -ENOSPC (too many topics), detail in ERR.
 */
int devbroker_conf_add_topic(struct devbroker_conf *c, const char *name, int partitions,
                             int replace, char *err, size_t errlen);

/* Same for a "NAME[:PARTITIONS]" flag value (always REPLACE). */
int devbroker_conf_add_topic_spec(struct devbroker_conf *c, const char *spec, char *err,
                                  size_t errlen);

/*
 * Adds the pipeline's default topics (wx.inbound, wx.inbound.dlq, wx.unrouted,
 * wx.replies, wx.replies.results, wx.replies.dlq) that are not listed yet.
 */
int devbroker_conf_add_defaults(struct devbroker_conf *c, char *err, size_t errlen);

#endif
