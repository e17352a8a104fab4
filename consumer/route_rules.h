/*
 * route_rules: the routing rules of wxbridge-router, pure and testable.
 *
 * route_rules_load() validates a rules document (schema/rules.v1.schema.json,
 * example deploy/router.rules.example.json) and compiles it into an immutable
 * route_rules; route_rules_eval() routes one canonical inbound record
 * (schema/inbound.v1.schema.json) to topics and reply commands. No Kafka here.
 *
 * Rules document
 *
 *   { "rules": [ RULE, ... ],                    optional, at most ROUTE_RULES_MAX
 *     "defaults": { "message_topic": "wx.msg.{msg_type}",     optional, these
 *                   "event_topic":   "wx.event.{event}",      are the defaults
 *                   "unrouted_topic": "wx.unrouted" } }
 *
 *   RULE = { "name": "greet",             required, unique, 1-64 of [A-Za-z0-9._-]
 *            "match": { MATCHERS },       optional; absent or {} matches every record
 *            "publish": ["topic", ...],   1..ROUTE_PUBLISH_MAX topic templates
 *            "reply": { TEMPLATE },       a reply command without its envelope
 *            "drop": false,               true: route nowhere, reply nothing, stop
 *            "continue": false }          true: keep evaluating the following rules
 *
 * JSON has no comments: every object of the document (top level, "defaults",
 * each rule and its "match") accepts a "_comment" string that is ignored.
 * Inside "reply" it is rejected, since every key there is part of the message.
 * Unknown keys are errors everywhere, so a typo never silently widens a rule.
 * A rule needs at least one action ("publish", "reply" or "drop"); "drop"
 * cannot be combined with "publish", "reply" or "continue".
 *
 * Matchers (all given matchers must hold; a missing field never matches)
 *
 *   key            compares with                  value
 *   -------------  -----------------------------  ---------------------------------
 *   appid          record "appid"                 "s" or ["s", ...] (any of, exact)
 *   msg_type       record "msg_type"              "s" or ["s", ...] (any of, exact)
 *   event          record "event" (null for       "s" or ["s", ...] (any of, exact)
 *                  messages: never matches)
 *   content        payload "Content"              "s" (exact), {"exact":"s"},
 *                  (text messages)                {"prefix":"s"} or {"regex":"ERE"}
 *   session_from   payload "SessionFrom"          same forms as content
 *                  (user_enter_tempsession)
 *   fields         payload[NAME] for each NAME    {"NAME": VALUE, ...}: JSON equality,
 *                                                 except that an integer VALUE also
 *                                                 matches a string holding its decimal
 *                                                 text (XML pushes carry strings), and
 *                                                 null matches an absent or null field
 *
 * String comparisons are bytewise and case-sensitive. "regex" is a POSIX
 * extended regular expression (regcomp with REG_EXTENDED | REG_NOSUB, at most
 * ROUTE_REGEX_MAX bytes), unanchored unless it uses ^ and $. It is compiled
 * and matched in the process locale: the C locale unless the program calls
 * setlocale() (wxbridge programs do not), so matching is bytewise and "."
 * is one byte of a UTF-8 character. A payload string holding a NUL is matched
 * up to the NUL.
 *
 * Evaluation
 *
 *   Rules are tried in order. A matching rule adds its topics and its reply;
 *   without "continue" it is final and evaluation stops, with "continue": true
 *   the next rules are tried too. A matching "drop" rule discards everything
 *   collected so far and stops: no topic, no reply. When no *final* rule
 *   matched (no rule at all, or only "continue" rules), the record also goes to
 *   its default topic: "event_topic" when msg_type is "event", otherwise
 *   "message_topic". Topics are deduplicated, in first-seen order. So a final
 *   rule that only replies publishes the record nowhere; give it
 *   "continue": true to keep the default route as well (see the greeting in
 *   deploy/router.rules.example.json).
 *
 * Topic templates: literal characters of [A-Za-z0-9._-] and the placeholders
 * {msg_type}, {event}, {appid}; at most ROUTE_TOPIC_MAX bytes after expansion;
 * "." and ".." are not topics. Anything else is a load error with its JSON
 * path; {event} is refused in "message_topic" and every placeholder in
 * "unrouted_topic".
 *
 * Unrouted records. The router never guesses: when a record cannot be
 * interpreted the result has `unrouted` set, a stable `unrouted_code`, a
 * human `reason`, the single topic "unrouted_topic" and no reply command
 * (the record waits there for inspection; nothing is answered half-routed):
 *   bad_record        not an object, schema is not wxbridge.inbound.v1, or
 *                     id / appid / from / msg_type / payload missing, empty or
 *                     of the wrong type (event must be a string or null)
 *   no_event          a topic needs {event} and the record has none (an
 *                     "event" record without Event reaching the default route)
 *   bad_topic_value   a placeholder value has a character outside
 *                     [A-Za-z0-9._-], or the expanded name is too long. Values
 *                     are never sanitized: "a/b" and "a_b" must not silently
 *                     share a topic, and wx.unrouted keeps the record intact
 *   too_many_targets  more than ROUTE_TOPICS_MAX topics or ROUTE_REPLIES_MAX
 *                     replies accumulated over "continue" rules
 *
 * Reply templates ("reply") and the reply commands built from them are
 * specified in reply_tpl.h: a reply command of CONTRACT.md without its
 * envelope, e.g. {"msgtype":"text","text":{"content":"Hi {{SessionFrom}}"}},
 * {{Name}} taking record fields (id, appid, from, msg_type, event, ...) or
 * payload fields (a missing one gives ""), and a deterministic command id
 * "r:" + 32 hex of SHA-256(record id, NUL, rule name).
 *
 * Thread safety: a loaded route_rules is read-only; route_rules_eval() may run
 * on it from several threads. Reloading (SIGHUP) = load a new one, swap the
 * pointer, free the old one once no evaluation uses it.
 */
#ifndef WXB_ROUTE_RULES_H
#define WXB_ROUTE_RULES_H

#include "jsonconf.h"
#include "reply_tpl.h"

#include <jansson.h>
#include <stddef.h>

#define ROUTE_RULES_MAX   256 /* rules in a document */
#define ROUTE_NAME_MAX    64  /* bytes of a rule name */
#define ROUTE_SET_MAX     64  /* values of an appid/msg_type/event list */
#define ROUTE_FIELDS_MAX  32  /* entries of match.fields */
#define ROUTE_PUBLISH_MAX 16  /* topics of one rule */
#define ROUTE_TOPICS_MAX  32  /* distinct topics of one result */
#define ROUTE_REPLIES_MAX 8   /* reply commands of one result */
#define ROUTE_TOPIC_MAX   249 /* bytes of a topic name (Kafka's limit) */
#define ROUTE_REGEX_MAX   512 /* bytes of a regular expression */
#define ROUTE_REASON_MAX  256

#define ROUTE_DEFAULT_MESSAGE_TOPIC  "wx.msg.{msg_type}"
#define ROUTE_DEFAULT_EVENT_TOPIC    "wx.event.{event}"
#define ROUTE_DEFAULT_UNROUTED_TOPIC "wx.unrouted"

enum {
    ROUTE_OK = 0,
    ROUTE_EINVAL = -1, /* invalid rules document (details in the jc_errs) or argument */
    ROUTE_ENOMEM = -2,
};

typedef struct route_rules route_rules;

/*
 * The outcome of one evaluation. Zero it (or let route_rules_eval() do it)
 * and release it with route_result_clear(). Exactly one of these holds:
 *   dropped                   a "drop" rule matched: n_topics == n_replies == 0
 *   unrouted                  topics = {unrouted_topic}, n_replies == 0
 *   neither                   n_topics >= 1 or n_replies >= 1
 */
struct route_result {
    int dropped;
    int unrouted;
    const char *unrouted_code;     /* static string (see above) or NULL */
    char reason[ROUTE_REASON_MAX]; /* human detail when unrouted, else "" */
    size_t n_topics;
    char *topics[ROUTE_TOPICS_MAX]; /* owned */
    size_t n_replies;
    json_t *replies[ROUTE_REPLIES_MAX]; /* owned references: reply commands */
    size_t n_matched;
    /* Names of the matching rules in order; borrowed from the route_rules,
     * valid until it is freed. */
    const char *matched[ROUTE_RULES_MAX];
};

/*
 * Validates RULES_JSON and compiles it into *OUT. PATH is the JSON path of
 * RULES_JSON in its file ("$" for a rules file of its own, "$.routing" when
 * embedded in a config; NULL means "$"). Every mistake is recorded in E with
 * its JSON path, e.g.
 *   $.rules[2].match.content.regex: invalid POSIX extended regular expression: ...
 * and validation goes on after a mistake so that all of them are reported.
 * RULES_JSON is only read; nothing of it is kept, so the caller may free it.
 * Returns 0 with *OUT set (free with route_rules_free()), ROUTE_EINVAL with
 * *OUT = NULL when E received at least one problem, or ROUTE_ENOMEM.
 */
int route_rules_load(const json_t *rules_json, const char *path, route_rules **out,
                     struct jc_errs *e);

/* Frees R (NULL-safe). Results' `matched` names die with it. */
void route_rules_free(route_rules *r);

/* Number of rules in R. */
size_t route_rules_count(const route_rules *r);

/* The unrouted topic of R (borrowed), for callers that fail before eval. */
const char *route_rules_unrouted_topic(const route_rules *r);

/*
 * The topics R can be known to publish to before any record arrives, so a
 * producer can look them up at start (librdkafka holds the first message to
 * an unknown topic ~1 s for metadata): the unrouted topic, every publish
 * template without placeholders, and the default topics for the MsgTypes and
 * Events WeChat documents (templates that need {appid} are left out). Writes
 * at most MAX malloc'd names into OUT and returns how many; the caller frees
 * them.
 */
size_t route_rules_known_topics(const route_rules *r, char **out, size_t max);

/*
 * Routes RECORD (borrowed, only read) with R and fills OUT, which is cleared
 * first (any previous content must have been released). A record that cannot
 * be interpreted is not an error: it returns 0 with out->unrouted set.
 * Returns 0, ROUTE_EINVAL (NULL arguments) or ROUTE_ENOMEM with detail in ERR;
 * on error OUT holds nothing to release.
 */
int route_rules_eval(const route_rules *r, const json_t *record, struct route_result *out,
                     char *err, size_t errlen);

/* Releases what OUT owns and zeroes it (NULL-safe, idempotent). */
void route_result_clear(struct route_result *out);

#endif
