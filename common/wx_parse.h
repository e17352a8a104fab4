/*
 * wx_parse: a WeChat push document (XML or JSON) as a JSON object.
 *
 * The object keeps the original field names. XML maps as: each child element
 * of the root becomes a key; an element with element children becomes an
 * object, any other element a string (CDATA and text alike); a repeated name
 * becomes an array. JSON must be an object; an integer too large for int64
 * is kept as its decimal string rather than rounded (MsgId is 64-bit).
 *
 * XML is parsed with no network access and no DTD: a document that declares
 * one is refused before libxml2 sees it (no entity expansion at all).
 */
#ifndef WXB_WX_PARSE_H
#define WXB_WX_PARSE_H

#include <jansson.h>
#include <stddef.h>

enum wx_format { WX_FORMAT_XML = 1, WX_FORMAT_JSON = 2 };

#define WXP_DEPTH_MAX 16
#define WXP_DOC_MAX   (4 * 1024 * 1024)

enum {
    WXP_OK = 0,
    WXP_EEMPTY = -1,     /* nothing but whitespace */
    WXP_EFORMAT = -2,    /* neither '<' nor '{' first */
    WXP_EMALFORMED = -3, /* syntax error */
    WXP_EDTD = -4,       /* XML declares a DTD */
    WXP_EDEPTH = -5,     /* nested deeper than WXP_DEPTH_MAX */
    WXP_ENOTOBJECT = -6, /* JSON top level is not an object */
    WXP_ETOOBIG = -7,
    WXP_ENOMEM = -8,
};

/* Call once from the main thread before any parsing thread starts. */
void wxp_global_init(void);
void wxp_global_cleanup(void);
/* Frees this thread's cached parser now (threads that exit free theirs anyway). */
void wxp_thread_cleanup(void);

/* Stable snake_case name of an error code, e.g. "xml_malformed". */
const char *wxp_strerror(int code);

/* Returns the format of DOC from its first non-space byte, or 0 if unknown. */
enum wx_format wxp_detect(const char *doc, size_t len);

/*
 * Parses DOC[0..LEN) in format FMT (0 = detect). On success *OUT is a new
 * reference to the object and *FMT_OUT (if not NULL) the format used.
 * On failure returns a WXP_E* code and puts detail into ERR.
 */
int wxp_parse(const char *doc, size_t len, enum wx_format fmt, json_t **out,
              enum wx_format *fmt_out, char *err, size_t errlen);

/*
 * Fast path for encrypted pushes, whose envelope matters only for its
 * Encrypt field: finds the one Encrypt value in DOC (format FMT, 0 =
 * detect) when the envelope has the plain shape WeChat sends —
 * <Encrypt>VALUE</Encrypt> or <Encrypt><![CDATA[VALUE]]></Encrypt> in XML,
 * "Encrypt":"VALUE" in JSON, exactly once, VALUE all base64 characters.
 * Returns a pointer into DOC and the length, or NULL (use wxp_parse()).
 * Safe without parsing the rest: the value is then checked against
 * msg_signature, which WeChat computed over the real one.
 */
const char *wxp_find_encrypt(const char *doc, size_t len, enum wx_format fmt, size_t *out_len);

/* Returns OBJ[KEY] as a string if it is one, else NULL (borrowed). */
const char *wxp_get_str(const json_t *obj, const char *key);

#endif
