/*
 * fake_wechat_media: the temporary media of the fake WeChat API — a
 * bounded store of uploaded files with their ids and expiry, and the small
 * multipart/form-data parser that extracts an upload's `media` field.
 *
 * Not thread-safe: the owner (fake_wechat) serializes access.
 */
#ifndef WXB_FAKE_WECHAT_MEDIA_H
#define WXB_FAKE_WECHAT_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#define FWMEDIA_ID_LEN       64 /* characters of [A-Za-z0-9_-], like WeChat's */
#define FWMEDIA_TYPE_MAX     16
#define FWMEDIA_CTYPE_MAX    128
#define FWMEDIA_FILENAME_MAX 256

struct fwmedia_conf {
    int64_t ttl_ms;         /* media expire this long after their upload (WeChat: 3 days) */
    size_t max_count;       /* files kept at most; the oldest go first */
    size_t max_total_bytes; /* bytes kept at most; the oldest go first */
    /* Fills BUF with N random bytes (for ids). */
    void (*random)(void *arg, unsigned char *buf, size_t n);
    void *random_arg;
};

/* One stored file; owned by the store, valid until the next call that modifies it. */
struct fwmedia_item {
    char type[FWMEDIA_TYPE_MAX];
    char content_type[FWMEDIA_CTYPE_MAX];
    char filename[FWMEDIA_FILENAME_MAX];
    unsigned char *data;
    size_t len;
    int64_t created_ms;
};

typedef struct fwmedia fwmedia;

/* A store configured by C (copied). Returns NULL on ENOMEM. */
fwmedia *fwmedia_create(const struct fwmedia_conf *c);

/* Frees every file and the store. NULL-safe. */
void fwmedia_destroy(fwmedia *s);

/*
 * Stores a copy of LEN bytes at DATA with their TYPE, CONTENT_TYPE and
 * FILENAME (truncated to fit), evicting the oldest files to stay within
 * the bounds. Writes the new media_id (FWMEDIA_ID_LEN chars + NUL) into ID.
 * Returns 0, or -1 when LEN alone exceeds max_total_bytes or on ENOMEM.
 */
int fwmedia_put(fwmedia *s, const char *type, const char *content_type, const char *filename,
                const void *data, size_t len, int64_t now_ms, char id[FWMEDIA_ID_LEN + 1]);

/* The file stored under ID, or NULL when unknown, evicted or expired at NOW_MS. */
const struct fwmedia_item *fwmedia_get(fwmedia *s, const char *id, int64_t now_ms);

/* Files and bytes currently stored. */
void fwmedia_usage(const fwmedia *s, size_t *count, size_t *bytes);

/* One part of a multipart body; DATA points into the parsed body. */
struct fwmedia_part {
    const char *data;
    size_t len;
    char filename[FWMEDIA_FILENAME_MAX];  /* "" when the part has none */
    char content_type[FWMEDIA_CTYPE_MAX]; /* "" when the part has none */
};

/*
 * Finds the form field NAME in a multipart/form-data BODY of LEN bytes
 * whose request Content-Type is CONTENT_TYPE (it carries the boundary).
 * Returns 0 with *OUT filled, or -1 when the body is not multipart, is
 * malformed (no closing delimiter, part without headers) or has no such
 * field.
 */
int fwmedia_multipart_field(const char *content_type, const char *body, size_t len,
                            const char *name, struct fwmedia_part *out);

#endif
