/*
 * reply_cmd: the records wxbridge-replier reads and writes (CONTRACT.md
 * "Reply command", "Reply result", topics wx.replies, wx.replies.results and
 * wx.replies.dlq): parsing and validating one reply command, the body sent
 * to the WeChat customer-service API for it, and the result and dead-letter
 * records written for it. No I/O: the replier engine feeds it bytes and
 * sends what it returns.
 *
 * Commands (schema/reply.v1.schema.json, draft 2020-12; this module and the
 * schema agree, tests/replier/commands/ holds the cases both are held to)
 *
 *   {"schema":"wxbridge.reply.v1", "id":ID, "appid":APPID, "touser":OPENID,
 *    "msgtype":TYPE, <the object of TYPE>, ["in_reply_to":ID]}
 *
 *   - schema: exactly "wxbridge.reply.v1".
 *   - id: 1-128 characters (the idempotency key).
 *   - appid: 1-64 characters of [A-Za-z0-9_].
 *   - touser: 1-128 printable ASCII characters without spaces (0x21-0x7E).
 *   - in_reply_to: optional, 1-256 characters, or null (= absent).
 *   - msgtype and its object, every string field required unless noted:
 *       text             "text": {"content": 1-8192 characters}
 *       image            "image": {"media_id": 1-8192 characters}
 *                        or {"url": http:// or https://, at most 2048 characters}
 *                        (exactly one of the two; the replier uploads the url)
 *       link             "link": {"title": 1-8192, "description": 0-8192,
 *                        "url": 1-8192, "thumb_url": 0-8192 characters}
 *       miniprogrampage  "miniprogrampage": {"title": 1-8192, "pagepath":
 *                        1-8192, and exactly one of "thumb_media_id" (1-8192)
 *                        or "thumb_url" (http:// or https://, at most 2048:
 *                        the replier uploads it)}
 *       typing           "command": "Typing" | "CancelTyping", beside msgtype
 *                        (as in the WeChat API and the router's templates)
 *   - No other key, at the top level or in the object: in particular no other
 *     type's object. No string may contain U+0000.
 *
 *   Lengths count Unicode characters (code points), as JSON Schema's
 *   maxLength does. 8192 for text: WeChat documents no limit for
 *   customer-service text and answers 45002 (final) when it finds one too
 *   long, while the router renders template strings up to 8192 bytes
 *   (REPLY_TPL_TEXT_MAX): a smaller limit here would dead-letter the
 *   router's own commands. The whole command is at most REPLY_CMD_MAX_BYTES.
 *
 * Refusals carry a stable reason and a detail naming the JSON path:
 *
 *   too_large        more than REPLY_CMD_MAX_BYTES bytes
 *   not_json         not JSON (or invalid UTF-8, a duplicate key, a number
 *                    out of range)
 *   schema           not an object; "schema" missing or not
 *                    "wxbridge.reply.v1"; an unknown key, or another type's
 *                    object, at the top level or inside the message object
 *   missing_field    a required field (or the message object) is absent
 *   bad_field        a field of the wrong type, length, pattern or value
 *   unknown_msgtype  msgtype is a string but not one of the five
 *
 * The checks run in a fixed order (size, JSON, object, schema, id, appid,
 * touser, msgtype, in_reply_to, top-level keys, message object) and the first
 * failure is reported.
 */
#ifndef WXB_REPLY_CMD_H
#define WXB_REPLY_CMD_H

#include <jansson.h>
#include <stddef.h>

#define REPLY_CMD_SCHEMA    "wxbridge.reply.v1"
#define REPLY_RESULT_SCHEMA "wxbridge.reply_result.v1"
#define REPLY_DLQ_SCHEMA    "wxbridge.reply_dlq.v1"

#define REPLY_CMD_MAX_BYTES   (64 * 1024)
#define REPLY_ID_MAX          128  /* characters of id */
#define REPLY_APPID_MAX       64   /* characters of appid */
#define REPLY_TOUSER_MAX      128  /* characters of touser */
#define REPLY_IN_REPLY_TO_MAX 256  /* characters of in_reply_to */
#define REPLY_TEXT_MAX        8192 /* characters of text.content and the other message strings */
#define REPLY_URL_MAX         2048 /* characters of a url the replier downloads */
#define REPLY_ERRMSG_MAX      1024 /* bytes of errmsg and detail kept in result / DLQ records */
#define REPLY_REASON_MAX      32   /* buffer for a reason code, NUL included */

/* Buffers for reply_cmd_peek() and reply_result_parse(): 4 bytes per character + NUL. */
#define REPLY_ID_BUF     (4 * REPLY_ID_MAX + 1)
#define REPLY_APPID_BUF  (REPLY_APPID_MAX + 1)
#define REPLY_TOUSER_BUF (REPLY_TOUSER_MAX + 1)

enum reply_kind { REPLY_TEXT, REPLY_IMAGE, REPLY_LINK, REPLY_MINIPROGRAMPAGE, REPLY_TYPING };

struct reply_cmd {
    json_t *root;                              /* the parsed command; owned (reply_cmd_free) */
    const char *id, *appid, *touser, *msgtype; /* point into root */
    const char *in_reply_to;                   /* NULL when absent or null */
    enum reply_kind kind;
    /*
     * The image to upload before sending, else NULL: image.url for
     * REPLY_IMAGE given as {"image":{"url":..}} instead of media_id, and
     * miniprogrampage.thumb_url for REPLY_MINIPROGRAMPAGE given instead of
     * thumb_media_id. Whenever it is set, pass the uploaded media_id to
     * reply_cmd_api_body().
     */
    const char *image_url;
    const char *typing_command; /* "Typing" | "CancelTyping" for REPLY_TYPING, else NULL */
};

/*
 * Parses and validates the command BUF[0..LEN) (BUF need not be
 * NUL-terminated). Returns 0 with OUT filled (free with reply_cmd_free()),
 * or -1 with REASON (REASONLEN bytes; REPLY_REASON_MAX suffices) = one of the
 * codes above and DETAIL (DETAILLEN bytes, cut if longer) = a sentence naming
 * the JSON path, e.g. "$.text.content: must be a non-empty string of at most
 * 8192 characters". On -1, OUT holds nothing to free (all NULL; calling
 * reply_cmd_free() on it is harmless). REASON and DETAIL may be NULL when
 * their length is 0.
 */
int reply_cmd_parse(const char *buf, size_t len, struct reply_cmd *out, char *reason,
                    size_t reasonlen, char *detail, size_t detaillen);

/* Releases C's JSON and clears C (NULL-safe, idempotent). */
void reply_cmd_free(struct reply_cmd *c);

/*
 * Best effort for refused commands: copies the top-level string fields id,
 * appid and touser of BUF[0..LEN) (if it is a JSON object at all) into the
 * buffers, each NUL-terminated; a field that is absent, not a string,
 * contains U+0000 or does not fit its buffer whole gives "" (a truncated id
 * would be a wrong id). REPLY_*_BUF sizes fit every valid value. Any buffer
 * may be NULL with length 0.
 */
void reply_cmd_peek(const char *buf, size_t len, char *id, size_t idlen, char *appid,
                    size_t appidlen, char *touser, size_t touserlen);

/*
 * The body for the WeChat API, as compact JSON in a malloc'd string:
 *   message/custom/send:   {"touser":..,"msgtype":..,"<msgtype>":{..}}
 *   message/custom/typing: {"touser":..,"command":..}   (REPLY_TYPING)
 * i.e. the command without its envelope (schema, id, appid, in_reply_to).
 * When C->image_url is set, MEDIA_ID (the uploaded image, UTF-8) replaces
 * it: {"image":{"media_id":MEDIA_ID}}, or thumb_url becomes
 * "thumb_media_id":MEDIA_ID; MEDIA_ID is ignored otherwise. Non-ASCII text is
 * written as raw UTF-8, never as \u escapes (WeChat answers 40033 to those).
 * Returns NULL when out of memory, or when C->image_url is set and MEDIA_ID
 * is NULL (a caller bug: the url must be uploaded first).
 */
char *reply_cmd_api_body(const struct reply_cmd *c, const char *media_id);

/* The kind's msgtype string ("text", ..., "typing"). */
const char *reply_kind_name(enum reply_kind k);

/*
 * Results (topic wx.replies.results, schema/reply_result.v1.schema.json):
 * one per command, written when its outcome is known.
 *   sent      WeChat accepted it (errcode 0).
 *   rejected  it will never be sent: refused by validation, by the quota
 *             guard, or by a final WeChat errcode.
 *   failed    it could not be sent: transient errors (busy, frequency limit,
 *             network) outlasted the retries.
 */
enum reply_status { REPLY_SENT, REPLY_REJECTED, REPLY_FAILED };

struct reply_result {
    const char *id, *appid, *touser; /* may be "" (or NULL, written as "") when unknown */
    enum reply_status status;
    long errcode;
    const char *errmsg; /* NULL is written as "" */
    int attempts;
    long long latency_ms;
    long long at_ms;         /* when the outcome was known (wall clock) */
    const char *in_reply_to; /* NULL when absent */
};

/* "sent", "rejected" or "failed". */
const char *reply_status_name(enum reply_status s);

/*
 * {"schema":"wxbridge.reply_result.v1","id":..,"appid":..,"touser":..,
 *  "status":"sent"|"rejected"|"failed","errcode":..,"errmsg":..,
 *  "attempts":..,"latency_ms":..,"at_ms":..[,"in_reply_to":..]}
 * as a malloc'd compact JSON string, or NULL (no memory). Strings that are not
 * valid UTF-8 have each bad byte replaced by U+FFFD; errmsg is cut to
 * REPLY_ERRMSG_MAX bytes on a character boundary.
 */
char *reply_result_json(const struct reply_result *r);

/*
 * Parses a result record BUF[0..LEN) back (the replier rebuilds its quota
 * and idempotency state from wx.replies.results). Returns 0, or -1 when it is
 * not a wxbridge.reply_result.v1 record with string id/appid/touser, a known
 * status and an integer at_ms, or a string does not fit its buffer whole.
 * Every output may be NULL (not wanted).
 */
int reply_result_parse(const char *buf, size_t len, char *id, size_t idlen, char *appid,
                       size_t appidlen, char *touser, size_t touserlen, enum reply_status *status,
                       long long *at_ms);

/*
 * A dead-letter record (topic wx.replies.dlq, schema/reply_dlq.v1.schema.json):
 *   {"schema":"wxbridge.reply_dlq.v1","reason":..,"detail":..,
 *    "errcode":..|null,"attempts":..,"at_ms":..,
 *    "command":<RAW as JSON>|null[,"command_b64":<RAW in base64>]}
 * "command" holds RAW when it parses as JSON (any value, strictly: UTF-8, no
 * duplicate keys, no U+0000); otherwise it is null and "command_b64" holds RAW
 * byte for byte, so nothing is lost. ERRCODE NULL gives null (no WeChat
 * answer). REASON and DETAIL are cleaned like result strings (DETAIL cut to
 * REPLY_ERRMSG_MAX bytes; NULL = ""). Returns a malloc'd compact JSON string,
 * or NULL (no memory).
 */
char *reply_dlq_json(const char *reason, const char *detail, const long *errcode, int attempts,
                     long long at_ms, const char *raw, size_t rawlen);

#endif
