/*
 * token_cache: the WeChat access token of every app, fetched and refreshed
 * without blocking (through http_client).
 *
 *   - stable_token (default): the same token is returned to every replier
 *     instance until about five minutes before it expires, so instances need
 *     no lock. Refreshed in the background once less than
 *     token_refresh_margin_s remains; the current token is used meanwhile.
 *   - legacy (GET /cgi-bin/token): each call invalidates the previous token
 *     after a grace period; fine for one instance, a fight between several.
 *   - url: GET <token_url>?appid=<appid> of a token service the company runs,
 *     answering {"access_token":..,"expires_in":..}.
 *
 * When WeChat says a token is invalid (40001/40014/42001) the caller reports
 * it with the generation it used; only the first report of a generation
 * refreshes, with force_refresh (stable mode) at most once per
 * force_refresh_min_interval_s, otherwise a normal refresh. A failed fetch
 * is retried with backoff. Secrets and tokens are never logged.
 */
#ifndef WXB_TOKEN_CACHE_H
#define WXB_TOKEN_CACHE_H

#include "http_client.h"
#include "metrics.h"
#include "replier_config.h"

#define TOKEN_MAX 4096 /* WeChat says store at least 512 characters */

typedef struct token_cache token_cache;

/* Called after each fetch of APPID's token ends: OK = 1 when a token is now
 * valid, 0 when the fetch failed (ERROR says why). */
typedef void (*token_changed_fn)(void *arg, const char *appid, int ok, const char *error);

/* CFG, HC and M are borrowed and must outlive the cache. NULL on no memory. */
token_cache *token_cache_new(const struct replier_config *cfg, http_client *hc, metrics *m,
                             token_changed_fn fn, void *arg);
void token_cache_free(token_cache *t);

/*
 * The valid token of APPID (borrowed until the next call into the cache) and
 * its generation in *GEN; or NULL while none is valid, in which case a fetch
 * is running or scheduled and the changed callback will follow. NULL too for
 * an unknown appid (*GEN = 0 then).
 */
const char *token_cache_get(token_cache *t, const char *appid, unsigned *gen);

/* WeChat refused generation GEN of APPID's token: drop it and refresh. */
void token_cache_invalid(token_cache *t, const char *appid, unsigned gen);

/* Starts due background refreshes and retries. Call it every few ms. */
void token_cache_tick(token_cache *t);

#endif
