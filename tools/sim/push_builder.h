/*
 * push_builder: builds one WeChat customer-service push exactly as the WeChat
 * server sends it (docs/PROTOCOL.md section 1): the plaintext document of a
 * message type in XML or JSON, then the query string and body of a plain,
 * compatible or safe (encrypted) mode request, and the GET URL-check query.
 *
 * Pure functions: no I/O, no globals, no clock. Randomness comes in through
 * the parameters (pb_params.random; wxc_encrypt draws from OpenSSL only when
 * it is NULL), so unit tests can pin every byte and compare against the
 * official test vector.
 */
#ifndef WXB_PUSH_BUILDER_H
#define WXB_PUSH_BUILDER_H

#include "wx_crypto.h"

#include <stddef.h>

/* Error codes (negative). */
enum {
    PB_OK = 0,
    PB_ENOMEM = -1,  /* out of memory, or a document over PB_DOC_MAX */
    PB_EARG = -2,    /* a required parameter is missing (token, key, appid, ...) */
    PB_ECRYPTO = -3, /* wxc_encrypt failed */
    PB_EDOC = -4,    /* compat mode: the document has no closing </xml> or } */
};

/* Largest document or body built (bounds every buffer). */
#define PB_DOC_MAX (16 * 1024 * 1024)

enum pb_mode { PB_MODE_PLAIN, PB_MODE_COMPAT, PB_MODE_SAFE };
enum pb_format { PB_FORMAT_XML, PB_FORMAT_JSON };
enum pb_type {
    PB_TYPE_TEXT,
    PB_TYPE_IMAGE,
    PB_TYPE_MINIPROGRAMPAGE,
    PB_TYPE_USER_ENTER_TEMPSESSION, /* MsgType event, Event user_enter_tempsession */
};

/* Flags of pb_params.corrupt and pb_verify_query(). */
#define PB_CORRUPT_SIGNATURE     1u /* the query's signature */
#define PB_CORRUPT_MSG_SIGNATURE 2u /* the query's msg_signature (encrypted modes) */

/* Parse "plain|compat|safe", "xml|json", "text|image|miniprogrampage|user_enter_tempsession"
 * (the last also as "event"). Return 0, or -1 leaving *OUT untouched. */
int pb_mode_parse(const char *s, enum pb_mode *out);
int pb_format_parse(const char *s, enum pb_format *out);
int pb_type_parse(const char *s, enum pb_type *out);

/* Names of the values above, as the parsers accept them. Static strings. */
const char *pb_mode_name(enum pb_mode m);
const char *pb_format_name(enum pb_format f);
const char *pb_type_name(enum pb_type t);

/* The Content-Type WeChat sends for a format ("text/xml" or "application/json"). */
const char *pb_content_type(enum pb_format f);

/*
 * The plaintext fields of one push. Strings are borrowed and may hold any
 * bytes (they are escaped; XML 1.0 has no way to carry control characters
 * other than tab/CR/LF, so those are copied raw and make the XML invalid,
 * which is occasionally what a test wants); NULL is sent as an empty string. MSG_ID is a
 * string so that 64-bit values never pass through a double: an optional '-'
 * followed by 1..20 digits is written as a number (bare in XML, a JSON
 * integer), anything else as a string (CDATA / JSON string), which some
 * official examples show. MSG_ID NULL omits the field.
 */
struct pb_message {
    enum pb_type type;
    const char *to;   /* ToUserName, the Mini Program's original id gh_... */
    const char *from; /* FromUserName, the user's openid */
    long long create_time;
    const char *msg_id;                     /* text, image, miniprogrampage */
    const char *content;                    /* text */
    const char *pic_url, *media_id;         /* image */
    const char *title, *app_id, *page_path; /* miniprogrampage */
    const char *thumb_url, *thumb_media_id; /* miniprogrampage */
    const char *session_from;               /* user_enter_tempsession */
};

/*
 * Fills M with realistic sample values for TYPE (ids from the official
 * documentation, CreateTime 1714112445, MsgId "6054768590064713728"). Every
 * string is static: callers override the fields they care about.
 */
void pb_message_sample(struct pb_message *m, enum pb_type type);

/*
 * Builds the plaintext document of M in format F: ToUserName, FromUserName,
 * CreateTime, MsgType, then the type's fields in the order of the official
 * examples. XML puts strings in CDATA (a "]]>" inside is split across two
 * sections) and numbers bare, one element per line; JSON is compact with
 * CreateTime and numeric MsgIds as integers. On success *OUT is a malloc'd
 * NUL-terminated string of *OUT_LEN bytes owned by the caller. Returns 0 or
 * PB_ENOMEM.
 */
int pb_document(const struct pb_message *m, enum pb_format f, char **out, size_t *out_len);

/* How to wrap a document into a request. Strings are borrowed. */
struct pb_params {
    enum pb_mode mode;
    enum pb_format format;
    const char *token;            /* required */
    const struct wx_aes_key *key; /* compat/safe: required */
    const char *appid;            /* compat/safe: required (appended to the plaintext) */
    const char *to;               /* safe: the envelope's ToUserName (required) */
    const char *openid;           /* compat/safe: the query's openid (required) */
    const char *timestamp;        /* required, sent as-is */
    const char *nonce;            /* required, sent as-is */
    const unsigned char *random;  /* 16 bytes for the ciphertext, or NULL for OpenSSL's */
    unsigned corrupt;             /* PB_CORRUPT_* */
};

/* One built request. Every pointer is owned by the struct (pb_request_free). */
struct pb_request {
    /* The query without '?': signature, timestamp, nonce, then in compat/safe
     * openid, encrypt_type=aes and msg_signature. */
    char *query;
    char *body; /* NUL-terminated, BODY_LEN bytes */
    size_t body_len;
    char *encrypt;                           /* the Encrypt value (base64), NULL in plain mode */
    char signature[WXC_SIG_HEX_LEN + 1];     /* as sent (corrupted if asked) */
    char msg_signature[WXC_SIG_HEX_LEN + 1]; /* as sent; "" in plain mode */
};

/*
 * Builds the request carrying DOC[0..DOC_LEN) under P:
 *  - plain: body = DOC;
 *  - safe: Encrypt = wxc_encrypt(DOC), body = envelope with ToUserName and
 *    Encrypt only (XML or JSON after P->format);
 *  - compat: body = DOC with an Encrypt element/member inserted before its
 *    closing </xml> or } (DOC may be any document, e.g. a file's bytes).
 * signature = sha1(sort[token, timestamp, nonce]); in compat/safe
 * msg_signature = sha1(sort[token, timestamp, nonce, Encrypt]). Query values
 * are percent-encoded where needed. On success *OUT owns everything (free
 * with pb_request_free) and 0 is returned; otherwise a PB_E* code with a
 * message in ERR, and *OUT is left empty.
 */
int pb_request_build(const struct pb_params *p, const char *doc, size_t doc_len,
                     struct pb_request *out, char *err, size_t errlen);

/* Frees what pb_request_build() stored in R and zeroes it. NULL-safe. */
void pb_request_free(struct pb_request *r);

/*
 * Builds the GET URL-check query "signature=..&timestamp=..&nonce=..&echostr=..".
 * CORRUPT may hold PB_CORRUPT_SIGNATURE. *OUT is malloc'd, owned by the
 * caller. Returns 0, PB_EARG or PB_ENOMEM.
 */
int pb_verify_query(const char *token, const char *timestamp, const char *nonce,
                    const char *echostr, unsigned corrupt, char **out);

/*
 * Returns S[0..N) as a malloc'd JSON string literal, quotes included
 * (", \ and control characters escaped; other bytes copied). NULL on OOM.
 */
char *pb_json_quote(const char *s, size_t n);

#endif
