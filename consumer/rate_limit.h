/*
 * rate_limit: a token bucket, one per Mini Program, that keeps
 * wxbridge-replier's calls to the customer-service API below the frequency
 * WeChat allows an account (answers 45009/45011 otherwise) and spreads a
 * burst of commands out instead of failing them.
 *
 * The bucket holds at most BURST tokens and gains RATE_PER_S tokens per
 * second; a call takes one. It starts full. Times are milliseconds >= 0 on
 * any one clock (the monotonic clock, util_mono_ms(), is the natural choice); a
 * time earlier than the previous one (clock stepped back) adds no tokens and
 * is otherwise accepted.
 *
 * A small value struct with no allocation: embed it, initialize it with
 * rate_limit_init(). Not thread-safe.
 */
#ifndef WXB_RATE_LIMIT_H
#define WXB_RATE_LIMIT_H

struct rate_limit {
    double rate_per_s, burst, tokens;
    long long last_ms; /* time of the last refill, or -1 before the first call */
};

/*
 * Initializes RL: RATE_PER_S tokens per second, at most BURST in the bucket
 * (a BURST below 1 is raised to 1, else no call could ever pass). RATE_PER_S
 * <= 0 (or not a number) means unlimited: every take is allowed.
 */
void rate_limit_init(struct rate_limit *rl, double rate_per_s, double burst);

/*
 * Takes one token at NOW_MS: returns 0 if the call may go now (the token is
 * taken), else the milliseconds to wait (>= 1) before a take can succeed;
 * nothing is taken then. A caller that waits exactly the returned time and
 * calls again succeeds, unless someone else took the token meanwhile.
 */
long long rate_limit_take(struct rate_limit *rl, long long now_ms);

#endif
