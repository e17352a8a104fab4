/*
 * rate_limit: token bucket. See rate_limit.h.
 */
#include "rate_limit.h"

#include <math.h> /* isfinite (a macro: no libm needed) */

/*
 * Refills are sums of products of doubles: after waiting the computed time a
 * bucket may hold 0.9999999999 tokens instead of 1. A token counts as whole
 * within EPS, far below what one millisecond adds at any sane rate.
 */
#define EPS 1e-9

void rate_limit_init(struct rate_limit *rl, double rate_per_s, double burst)
{
    /* !(x > 0) also catches NaN. */
    rl->rate_per_s = rate_per_s > 0 && isfinite(rate_per_s) ? rate_per_s : 0;
    rl->burst = burst >= 1 && isfinite(burst) ? burst : 1;
    rl->tokens = rl->burst;
    rl->last_ms = -1;
}

long long rate_limit_take(struct rate_limit *rl, long long now_ms)
{
    double wait;
    long long ms;

    if (rl->rate_per_s <= 0)
        return 0;
    if (rl->last_ms < 0) {
        rl->last_ms = now_ms;
    } else if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->rate_per_s / 1000.0;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last_ms = now_ms;
    }
    if (rl->tokens >= 1 - EPS) {
        rl->tokens -= 1;
        if (rl->tokens < 0)
            rl->tokens = 0;
        return 0;
    }
    /* Aim at 1 - EPS/2: the margin absorbs the rounding of the refill. */
    wait = (1 - EPS / 2 - rl->tokens) * 1000.0 / rl->rate_per_s;
    /* A tiny rate could ask for more than a long long of ms: cap at ~292 My. */
    if (wait > 9.2e18)
        return (long long)9.2e18;
    /* Rounded up by hand (no libm): waiting less would not refill a token. */
    ms = (long long)wait;
    if ((double)ms < wait)
        ms++;
    return ms < 1 ? 1 : ms;
}
