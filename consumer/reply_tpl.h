/*
 * reply_tpl: the reply templates of routing rules and the reply commands
 * rendered from them (CONTRACT.md "Reply command", schema wxbridge.reply.v1).
 * route_rules uses it; it is a module of its own to keep both files small.
 *
 * Templates
 *
 *   {"msgtype":"text", "text":{"content":S}}
 *   {"msgtype":"image", "image":{"media_id":S}}
 *   {"msgtype":"link", "link":{"title":S, "description":S, "url":S, "thumb_url":S}}
 *   {"msgtype":"miniprogrampage",
 *    "miniprogrampage":{"title":S, "pagepath":S, "thumb_media_id":S}}
 *   {"msgtype":"typing", "command":"Typing" | "CancelTyping"}
 *
 * Every field shown is required and no other key is allowed, not even
 * "_comment": every key is part of the message. The envelope keys schema, id,
 * appid, touser and in_reply_to are set by the router and refused here.
 *
 * Substitution: in every string S, {{Name}} (Name = 1-64 characters of
 * [A-Za-z0-9_]) is replaced by
 *   - the record's own field for id, appid, to, from, create_time, msg_type,
 *     event, msg_id and received_at_ms;
 *   - otherwise the payload field Name (WeChat's CamelCase names, e.g.
 *     {{Content}}, {{SessionFrom}}, {{MediaId}}, {{FromUserName}}).
 * Strings are inserted as they are, numbers and booleans as JSON text, objects
 * and arrays as compact JSON with sorted keys, and a missing or null field as
 * the empty string (a template can therefore never fail on a record). The
 * inserted text is not scanned again, so a user cannot inject placeholders.
 * A lone "{" or "}" is literal; "{{" must start a well-formed placeholder.
 * Each template string is at most REPLY_TPL_TEXT_MAX bytes, and each rendered
 * string is cut to REPLY_TPL_TEXT_MAX bytes on a UTF-8 character boundary.
 *
 * Commands
 *
 *   {"schema":"wxbridge.reply.v1", "id":"r:<32 hex>", "appid":<record appid>,
 *    "touser":<record from>, <rendered template keys>, "in_reply_to":<record id>}
 *
 * The id is "r:" + the first 32 hex digits of SHA-256(record id, NUL, rule
 * name): the same record and rule always give the same id (the replier's
 * idempotency key, so a reprocessed record is not answered twice); another
 * rule or another record gives another id (collisions need 2^64 ids).
 */
#ifndef WXB_REPLY_TPL_H
#define WXB_REPLY_TPL_H

#include "jsonconf.h"

#include <jansson.h>

#define REPLY_TPL_TEXT_MAX 8192 /* bytes of a template string, before and after substitution */
#define REPLY_TPL_VAR_MAX  64   /* bytes of a placeholder name */
#define REPLY_TPL_ID_LEN   34   /* "r:" + 32 hex */
#define REPLY_SCHEMA       "wxbridge.reply.v1"

/*
 * Validates TPL, the value found at JSON path PATH, recording every problem in
 * E with its path (e.g. "$.rules[0].reply.text.content: malformed placeholder
 * at byte 3 ..."). Returns the number of problems recorded (0 = valid).
 */
int reply_tpl_check(const json_t *tpl, const char *path, struct jc_errs *e);

/*
 * Writes the reply id of RECORD_ID and RULE_NAME into OUT (at least
 * REPLY_TPL_ID_LEN + 1 bytes, NUL-terminated). Returns 0 or -1 (OpenSSL or
 * memory failure).
 */
int reply_tpl_id(const char *record_id, const char *rule_name, char *out);

/*
 * Renders TPL (which passed reply_tpl_check()) for RECORD into a new reply
 * command with id REPLY_ID. RECORD is a canonical inbound record whose id,
 * appid and from are strings and payload an object (route_rules checks this
 * before); both are only read. Returns a new reference, or NULL when out of
 * memory.
 */
json_t *reply_tpl_command(const json_t *tpl, const json_t *record, const char *reply_id);

#endif
