/*
 * wx_errcode: what wxbridge-replier does with an answer of the WeChat API
 * (docs/PROTOCOL.md section 4): the class of an errcode (done, retry later,
 * refresh the access token first, or give up), a short English meaning for
 * logs and result records, and the delay before the next retry.
 *
 * Classes
 *
 *   WXE_OK     0                      the call succeeded.
 *   WXE_RETRY  -1, 45009, 45011       busy or API frequency limit: retry the
 *                                     same call after wx_backoff_ms().
 *   WXE_TOKEN  40001, 40014, 42001    the access token is invalid or expired:
 *                                     refresh it, then retry once.
 *   WXE_FINAL  everything else        retrying cannot help and may waste
 *                                     quota: 45015 (reply window over), 45047
 *                                     (reply count used up), 40003 (bad
 *                                     openid), 40007 (bad media_id), 48001
 *                                     (not authorized), 45080/45081 (typing
 *                                     preconditions), codes WeChat adds later.
 *
 * An unknown code is final on purpose: a retry loop on an error nobody
 * anticipated costs quota and delays every later command of the user.
 */
#ifndef WXB_WX_ERRCODE_H
#define WXB_WX_ERRCODE_H

#include <stdint.h>

enum wx_err_class { WXE_OK, WXE_RETRY, WXE_TOKEN, WXE_FINAL };

/* The class of ERRCODE (see above). */
enum wx_err_class wx_errcode_class(long errcode);

/* The class's name: "ok", "retry", "token" or "final" (for logs and metrics labels). */
const char *wx_err_class_name(enum wx_err_class c);

/*
 * A short English meaning of ERRCODE ("reply window over (48 h after the
 * user's message)"), or "unknown" for a code not in the table. Static
 * storage; never NULL.
 */
const char *wx_errcode_text(long errcode);

/*
 * The delay in ms before retry number ATTEMPT (1 = the first retry).
 *
 * The ceiling d = min(BASE_MS * 2^(ATTEMPT-1), MAX_MS) grows exponentially;
 * the delay is drawn uniformly from [d/2, d] ("equal jitter", d/2 rounded
 * down). Equal rather than full jitter ([0, d]): the codes retried are "busy"
 * and "frequency limit", where an immediate retry is almost sure to fail
 * again and burn an attempt, so every retry waits at least half the ceiling;
 * the other half still spreads the retries of many replier instances apart.
 *
 * RNG is a caller-held xorshift64 state, advanced by the call; a state of 0
 * (which xorshift never leaves) is replaced by a fixed non-zero seed first.
 * RNG NULL gives d itself (no jitter, for deterministic callers).
 * ATTEMPT < 1 counts as 1; BASE_MS <= 0 gives 0; MAX_MS < BASE_MS caps at
 * MAX_MS (0 when MAX_MS <= 0). Never overflows, whatever ATTEMPT.
 */
long long wx_backoff_ms(int attempt, long long base_ms, long long max_ms, uint64_t *rng);

/* One step of xorshift64 (Marsaglia): the next state, never 0 for a non-zero state. */
uint64_t wx_xorshift64(uint64_t *state);

#endif
