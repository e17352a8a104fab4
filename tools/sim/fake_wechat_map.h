/*
 * fake_wechat_map: a string-keyed map that remembers insertion order, for
 * the fake WeChat API's tokens, apps and media.
 *
 * Keys are copied; values are owned by the map and released with the
 * free function given at creation. With a capacity, inserting into a full
 * map first evicts the oldest entry (FIFO), so every table stays bounded.
 * Not thread-safe: the owner serializes access.
 */
#ifndef WXB_FAKE_WECHAT_MAP_H
#define WXB_FAKE_WECHAT_MAP_H

#include <stddef.h>

typedef struct fwmap fwmap;

/* Releases a value (may be NULL: values are then not freed). */
typedef void (*fwmap_free_fn)(void *value);

/* A map holding at most CAP entries (0: no limit). Returns NULL on ENOMEM. */
fwmap *fwmap_create(size_t cap, fwmap_free_fn free_value);

/* Frees every entry and value, then the map. NULL-safe. */
void fwmap_destroy(fwmap *m);

/* The value stored under KEY, or NULL. */
void *fwmap_get(const fwmap *m, const char *key);

/*
 * Stores VALUE under KEY (copied), as the newest entry. An existing value
 * under KEY is freed first; when the map is full the oldest entry is
 * evicted. Returns 0, or -1 on ENOMEM (VALUE is then not taken).
 */
int fwmap_put(fwmap *m, const char *key, void *value);

/* Removes and frees KEY's entry; returns 0, or -1 when absent. */
int fwmap_del(fwmap *m, const char *key);

/* The oldest entry's value (and key, when KEY is not NULL), or NULL when empty. */
void *fwmap_oldest(const fwmap *m, const char **key);

size_t fwmap_count(const fwmap *m);

/* Calls FN on every entry, oldest first. FN must not modify the map. */
void fwmap_foreach(const fwmap *m, void (*fn)(void *arg, const char *key, void *value), void *arg);

#endif
