/*
 * test_quota_guard: WeChat's reply windows per user (consumer/quota_guard):
 * the 48 h and 60 s boundaries to the millisecond, the 5th/6th send after a
 * message and the 2nd/3rd after an enter, a new message or enter resetting
 * its window, both windows at once, sends in the same millisecond, history
 * replayed out of order (every permutation of a scenario gives the same
 * verdicts), eviction and expiry when full, memory per user, and agreement
 * with a naive reference model over random operations.
 */
#include "quota_guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define H   (60LL * 60 * 1000)
#define MIN (60LL * 1000)
#define T0  1714112445123LL /* a realistic wall-clock time */
#define APP "wxba5fad812f8e6fb9"

static enum qg_verdict check(quota_guard *q, const char *user, long long now)
{
    return quota_guard_check(q, APP, user, now);
}

static void msg(quota_guard *q, const char *user, long long at)
{
    assert_int_equal(quota_guard_inbound(q, APP, user, QG_MESSAGE, at), QG_OK);
}

static void enter(quota_guard *q, const char *user, long long at)
{
    assert_int_equal(quota_guard_inbound(q, APP, user, QG_ENTER, at), QG_OK);
}

static void sent(quota_guard *q, const char *user, long long at)
{
    assert_int_equal(quota_guard_sent(q, APP, user, at), QG_OK);
}

static void test_new_and_arguments(void **state)
{
    quota_guard *q;
    struct quota_guard_stats st;
    (void)state;

    assert_null(quota_guard_new(0));
    assert_null(quota_guard_new((size_t)QG_MAX_USERS + 1));
    quota_guard_free(NULL);
    quota_guard_stats(NULL, &st);
    assert_int_equal(st.capacity, 0);

    q = quota_guard_new(10);
    assert_non_null(q);
    assert_int_equal(quota_guard_inbound(NULL, APP, "u", QG_MESSAGE, T0), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, NULL, "u", QG_MESSAGE, T0), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, APP, "", QG_MESSAGE, T0), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, "", "u", QG_MESSAGE, T0), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, APP, "u", QG_MESSAGE, -1), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, APP, "u", QG_MESSAGE, QG_TIME_MAX + 1), QG_EINVAL);
    assert_int_equal(quota_guard_inbound(q, APP, "u", (enum qg_kind)7, T0), QG_EINVAL);
    assert_int_equal(quota_guard_sent(q, APP, NULL, T0), QG_EINVAL);
    assert_int_equal(quota_guard_sent(q, APP, "u", -5), QG_EINVAL);
    assert_int_equal(quota_guard_sent(NULL, APP, "u", T0), QG_EINVAL);
    /* Nothing was recorded. */
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 0);
    /* Checks fail open. */
    assert_int_equal(quota_guard_check(NULL, APP, "u", T0), QG_ALLOW);
    assert_int_equal(quota_guard_check(q, NULL, "u", T0), QG_ALLOW);
    assert_int_equal(quota_guard_check(q, APP, "u", -1), QG_ALLOW);
    /* A valid check on an unknown user: no window. */
    assert_int_equal(check(q, "u", T0), QG_NO_WINDOW);
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 0); /* a check creates nothing */
    quota_guard_free(q);
}

static void test_message_window(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    /* Time only moves forward as far as the guard can tell: a check far
     * ahead lets it reclaim users, so each boundary is probed last. */
    msg(q, "w", T0);
    assert_int_equal(check(q, "w", T0), QG_ALLOW);
    assert_int_equal(check(q, "w", T0 + 48 * H - 1), QG_ALLOW);
    assert_int_equal(check(q, "w", T0 + 48 * H), QG_NO_WINDOW);
    quota_guard_free(q);

    /* Five sends pass; the sixth is refused as used up until the window ends. */
    q = quota_guard_new(100);
    msg(q, "u", T0);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(check(q, "u", T0 + i * 1000), QG_ALLOW);
        sent(q, "u", T0 + i * 1000);
    }
    assert_int_equal(check(q, "u", T0 + 6000), QG_USED_UP);
    /* A check before the 5th send's time sees only 4 of them. */
    assert_int_equal(check(q, "u", T0 + 4999), QG_ALLOW);
    /* Other users and other apps are separate. */
    assert_int_equal(check(q, "v", T0 + 6000), QG_NO_WINDOW);
    assert_int_equal(quota_guard_check(q, "wx_other", "u", T0 + 6000), QG_NO_WINDOW);
    assert_int_equal(check(q, "u", T0 + 48 * H - 1), QG_USED_UP);
    assert_int_equal(check(q, "u", T0 + 48 * H), QG_NO_WINDOW);
    quota_guard_free(q);
}

static void test_enter_window(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    enter(q, "u", T0);
    assert_int_equal(check(q, "u", T0 + MIN - 1), QG_ALLOW);
    assert_int_equal(check(q, "u", T0 + MIN), QG_NO_WINDOW);
    sent(q, "u", T0 + 10);
    assert_int_equal(check(q, "u", T0 + 20), QG_ALLOW); /* 2nd */
    sent(q, "u", T0 + 20);
    assert_int_equal(check(q, "u", T0 + 30), QG_USED_UP); /* 3rd */
    assert_int_equal(check(q, "u", T0 + MIN - 1), QG_USED_UP);
    assert_int_equal(check(q, "u", T0 + MIN), QG_NO_WINDOW);

    /* A new enter opens a fresh window: the two earlier sends do not count. */
    enter(q, "u", T0 + MIN + 5);
    assert_int_equal(check(q, "u", T0 + MIN + 5), QG_ALLOW);
    sent(q, "u", T0 + MIN + 6);
    sent(q, "u", T0 + MIN + 7);
    assert_int_equal(check(q, "u", T0 + MIN + 8), QG_USED_UP);
    quota_guard_free(q);
}

static void test_new_message_resets(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    msg(q, "u", T0);
    for (int i = 1; i <= 5; i++)
        sent(q, "u", T0 + i);
    assert_int_equal(check(q, "u", T0 + H), QG_USED_UP);
    msg(q, "u", T0 + H);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(check(q, "u", T0 + H + i), QG_ALLOW);
        sent(q, "u", T0 + H + i);
    }
    assert_int_equal(check(q, "u", T0 + H + 6), QG_USED_UP);
    /* An older message recorded late does not move the window back. */
    msg(q, "u", T0 + 30 * 60 * 1000);
    assert_int_equal(check(q, "u", T0 + H + 6), QG_USED_UP);
    /* The window runs 48 h from the newer message. */
    assert_int_equal(check(q, "u", T0 + 49 * H - 1), QG_USED_UP);
    assert_int_equal(check(q, "u", T0 + 49 * H), QG_NO_WINDOW);
    quota_guard_free(q);
}

static void test_both_windows(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    /* Message window used up; an enter adds 2 more sends. */
    msg(q, "a", T0);
    for (int i = 1; i <= 5; i++)
        sent(q, "a", T0 + i);
    assert_int_equal(check(q, "a", T0 + 10 * MIN), QG_USED_UP);
    enter(q, "a", T0 + 10 * MIN);
    assert_int_equal(check(q, "a", T0 + 10 * MIN), QG_ALLOW);
    sent(q, "a", T0 + 10 * MIN + 1);
    assert_int_equal(check(q, "a", T0 + 10 * MIN + 2), QG_ALLOW);
    sent(q, "a", T0 + 10 * MIN + 2);
    assert_int_equal(check(q, "a", T0 + 10 * MIN + 3), QG_USED_UP);
    /* After the enter window, the message window is still open but used up. */
    assert_int_equal(check(q, "a", T0 + 11 * MIN), QG_USED_UP);

    /* Enter, then a message: sends after both count against both. */
    enter(q, "b", T0);
    msg(q, "b", T0 + 1000);
    sent(q, "b", T0 + 2000);
    sent(q, "b", T0 + 3000);
    /* The enter window is used up, the message window has 3 left. */
    assert_int_equal(check(q, "b", T0 + 4000), QG_ALLOW);
    sent(q, "b", T0 + 4000);
    sent(q, "b", T0 + 5000);
    sent(q, "b", T0 + 6000);
    assert_int_equal(check(q, "b", T0 + 7000), QG_USED_UP);

    /* A send in the enter window before the message counts only against the enter. */
    enter(q, "c", T0);
    sent(q, "c", T0 + 100);
    msg(q, "c", T0 + 200);
    for (int i = 1; i <= 4; i++)
        sent(q, "c", T0 + 200 + i);
    /* message window: 4 of 5; enter window: 5 of 2 */
    assert_int_equal(check(q, "c", T0 + 300), QG_ALLOW);
    sent(q, "c", T0 + 300);
    assert_int_equal(check(q, "c", T0 + 301), QG_USED_UP);
    quota_guard_free(q);
}

static void test_same_millisecond(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    /* A burst of replies within one millisecond still counts every send. */
    msg(q, "u", T0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(check(q, "u", T0), QG_ALLOW);
        sent(q, "u", T0);
    }
    assert_int_equal(check(q, "u", T0), QG_USED_UP);
    enter(q, "u", T0 + 1);
    sent(q, "u", T0 + 1);
    sent(q, "u", T0 + 1);
    assert_int_equal(check(q, "u", T0 + 1), QG_USED_UP);
    quota_guard_free(q);
}

static void test_clock_skew(void **state)
{
    quota_guard *q = quota_guard_new(100);
    (void)state;

    /* The ingress stamped the message a little after the replier's clock. */
    msg(q, "u", T0 + 500);
    assert_int_equal(check(q, "u", T0), QG_ALLOW);
    enter(q, "e", T0 + 500);
    assert_int_equal(check(q, "e", T0), QG_ALLOW);
    /* Sends without any known window: none. */
    sent(q, "s", T0);
    assert_int_equal(check(q, "s", T0 + 1), QG_NO_WINDOW);
    quota_guard_free(q);
}

/* One scenario recorded in every order must give the same verdicts. */
struct event {
    int kind; /* 0 message, 1 enter, 2 sent */
    long long at;
};

static void record(quota_guard *q, const struct event *e)
{
    if (e->kind == 2)
        sent(q, "u", e->at);
    else
        assert_int_equal(quota_guard_inbound(q, APP, "u", e->kind ? QG_ENTER : QG_MESSAGE, e->at),
                         QG_OK);
}

static void test_out_of_order_rebuild(void **state)
{
    /* Message at 0 with 5 sends; a new message at 1 h with 2 sends; an enter
     * at 2 h with 2 sends (counted in both windows); old sends before the
     * second message must not count against it whatever the replay order. */
    static const struct event ev[] = {
        {0, T0},         {2, T0 + 1},     {2, T0 + 2},         {2, T0 + 3},
        {2, T0 + 4},     {2, T0 + 5},     {0, T0 + H},         {2, T0 + H + 1},
        {2, T0 + H + 2}, {1, T0 + 2 * H}, {2, T0 + 2 * H + 1}, {2, T0 + 2 * H + 2},
    };
    enum { N = sizeof(ev) / sizeof(ev[0]) };
    static const struct {
        long long now;
        enum qg_verdict want;
    } checks[] = {
        {T0 + 2 * H + 3, QG_ALLOW},   /* message window: 4 of 5 */
        {T0 + 2 * H + MIN, QG_ALLOW}, /* enter window over, message 4 of 5 */
        {T0 + 49 * H - 1, QG_ALLOW},  /* last ms of the second message window */
        {T0 + 49 * H, QG_NO_WINDOW},
    };
    int order[N];
    (void)state;

    srand(7);
    for (int run = 0; run < 500; run++) {
        quota_guard *q = quota_guard_new(4);
        for (int i = 0; i < N; i++)
            order[i] = i;
        if (run == 1) /* exactly reversed */
            for (int i = 0; i < N; i++)
                order[i] = N - 1 - i;
        else if (run > 1)
            for (int i = N - 1; i > 0; i--) {
                int j = rand() % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        for (int i = 0; i < N; i++)
            record(q, &ev[order[i]]);
        for (size_t c = 0; c < sizeof(checks) / sizeof(checks[0]); c++)
            if (check(q, "u", checks[c].now) != checks[c].want)
                fail_msg("run %d: check at +%lld ms gave %d, expected %d", run, checks[c].now - T0,
                         check(q, "u", checks[c].now), checks[c].want);
        /* One more send in the message window: used up (5 of 5), in every order. */
        sent(q, "u", T0 + 3 * H);
        assert_int_equal(check(q, "u", T0 + 3 * H + 1), QG_USED_UP);
        quota_guard_free(q);
    }
}

static void test_old_events_ignored(void **state)
{
    quota_guard *q = quota_guard_new(10);
    struct quota_guard_stats st;
    (void)state;

    msg(q, "new", T0 + 48 * H);
    /* 48 h before the latest time seen: cannot matter, not stored. */
    msg(q, "old", T0);
    sent(q, "old2", T0);
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 1);
    assert_int_equal(check(q, "old", T0 + 48 * H), QG_NO_WINDOW);
    /* One millisecond later is still inside: stored. */
    msg(q, "old", T0 + 1);
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 2);
    assert_int_equal(check(q, "old", T0 + 48 * H), QG_ALLOW);
    quota_guard_free(q);
}

static void test_keys(void **state)
{
    quota_guard *q = quota_guard_new(10);
    (void)state;

    /* (appid, openid) pairs whose concatenations are equal stay apart. */
    assert_int_equal(quota_guard_inbound(q, "ab", "c", QG_MESSAGE, T0), QG_OK);
    assert_int_equal(quota_guard_check(q, "a", "bc", T0), QG_NO_WINDOW);
    assert_int_equal(quota_guard_check(q, "ab", "c", T0), QG_ALLOW);
    quota_guard_free(q);
}

static void test_eviction(void **state)
{
    quota_guard *q = quota_guard_new(3);
    struct quota_guard_stats st;
    (void)state;

    msg(q, "a", T0 + 1);
    msg(q, "b", T0 + 2);
    msg(q, "c", T0 + 3);
    msg(q, "a", T0 + 4); /* a's latest event is now the newest */
    msg(q, "d", T0 + 5); /* full: b (oldest latest event) goes */
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 3);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.expired, 0);
    assert_int_equal(check(q, "b", T0 + 6), QG_ALLOW); /* forgotten: fails open */
    assert_int_equal(check(q, "a", T0 + 6), QG_ALLOW);
    assert_int_equal(check(q, "c", T0 + 6), QG_ALLOW);
    assert_int_equal(check(q, "d", T0 + 6), QG_ALLOW);
    quota_guard_free(q);

    /* More users than QG_EVICT_SCAN: only the least recently touched are compared. */
    q = quota_guard_new(10);
    for (int i = 0; i < 10; i++) {
        char u[8];
        snprintf(u, sizeof(u), "u%d", i);
        msg(q, u, T0 + i);
    }
    assert_int_equal(check(q, "u0", T0 + 20), QG_ALLOW); /* touches u0 */
    msg(q, "u10", T0 + 21);
    /* u0 has the oldest event but was touched: u1 goes. */
    assert_int_equal(check(q, "u0", T0 + 22), QG_ALLOW);
    assert_int_equal(check(q, "u1", T0 + 22), QG_ALLOW); /* forgotten */
    assert_int_equal(check(q, "u2", T0 + 22), QG_ALLOW);
    quota_guard_stats(q, &st);
    assert_int_equal(st.evictions, 1);
    quota_guard_free(q);

    /* Rebuilt out of order: the least recently touched is not the oldest. */
    q = quota_guard_new(2);
    msg(q, "late", T0 + 5000);
    msg(q, "early", T0 + 1000);
    msg(q, "x", T0 + 6000);
    assert_int_equal(check(q, "early", T0 + 7000), QG_ALLOW); /* forgotten */
    assert_int_equal(check(q, "late", T0 + 7000), QG_ALLOW);
    quota_guard_stats(q, &st);
    assert_int_equal(st.evictions, 1);
    quota_guard_free(q);

    /* A victim found expired by the scan (behind a live head) is an expiry. */
    q = quota_guard_new(2);
    msg(q, "a", T0);
    msg(q, "b", T0 + 1);
    assert_int_equal(check(q, "a", T0 + 2), QG_ALLOW); /* order: b, a */
    msg(q, "c", T0 + 48 * H);                          /* b is live, a expired */
    quota_guard_stats(q, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.evictions, 0);
    assert_int_equal(check(q, "b", T0 + 48 * H), QG_ALLOW); /* 1 ms of its window left */
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 2);
    quota_guard_free(q);
}

/* An eviction never turns into a wrong refusal: the guard allows what it may have forgotten. */
static void test_eviction_fails_open(void **state)
{
    quota_guard *q = quota_guard_new(2);
    (void)state;

    /* Before any eviction, an unknown user has no window. */
    msg(q, "a", T0);
    for (int i = 1; i <= 5; i++)
        sent(q, "a", T0 + i);
    assert_int_equal(check(q, "a", T0 + 10), QG_USED_UP);
    assert_int_equal(check(q, "nobody", T0 + 10), QG_NO_WINDOW);
    enter(q, "b", T0 + 20);
    sent(q, "b", T0 + 21);
    sent(q, "b", T0 + 22);
    assert_int_equal(check(q, "b", T0 + 30), QG_USED_UP);

    /* c evicts a (least recently touched, oldest event): a's 48 h window is lost. */
    msg(q, "c", T0 + 40);
    assert_int_equal(check(q, "nobody", T0 + 50), QG_ALLOW);
    /* b was not evicted: its verdicts stay exact. */
    assert_int_equal(check(q, "b", T0 + 50), QG_USED_UP);
    /* a comes back with an enter event only: it may be the evicted a, whose
     * message window (sends left or not) is unknown, so no refusal. */
    enter(q, "a", T0 + 60); /* evicts b: its enter window closes at T0 + 20 + 1 min */
    sent(q, "a", T0 + 61);
    sent(q, "a", T0 + 62);
    assert_int_equal(check(q, "a", T0 + 70), QG_ALLOW);

    /* Once every forgotten window would have closed, verdicts are exact again. */
    assert_int_equal(check(q, "nobody", T0 + 48 * H + 1), QG_NO_WINDOW);
    assert_int_equal(check(q, "a", T0 + 48 * H + 1), QG_NO_WINDOW);
    quota_guard_free(q);

    /* An enter window alone is forgotten for a minute only. */
    q = quota_guard_new(1);
    enter(q, "a", T0);
    enter(q, "b", T0 + 1); /* evicts a */
    assert_int_equal(check(q, "a", T0 + MIN - 1), QG_ALLOW);
    assert_int_equal(check(q, "a", T0 + MIN), QG_NO_WINDOW);
    quota_guard_free(q);

    /* An expired user leaves nothing to doubt. */
    q = quota_guard_new(1);
    msg(q, "a", T0);
    msg(q, "b", T0 + 48 * H); /* a expired: reclaimed, not evicted */
    assert_int_equal(check(q, "a", T0 + 48 * H), QG_NO_WINDOW);
    quota_guard_free(q);
}

static void test_expiry(void **state)
{
    quota_guard *q = quota_guard_new(3);
    struct quota_guard_stats st;
    (void)state;

    msg(q, "a", T0);
    msg(q, "b", T0 + 1);
    msg(q, "c", T0 + 2 * H);
    /* At T0 + 48 h, a is reclaimed: an expiry, not an eviction. */
    msg(q, "d", T0 + 48 * H);
    quota_guard_stats(q, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.evictions, 0);
    assert_int_equal(st.users, 3);
    /* A later call reclaims b as well. */
    assert_int_equal(check(q, "c", T0 + 48 * H + 1), QG_ALLOW);
    quota_guard_stats(q, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.users, 2);
    /* Much later everything goes, a couple per call. */
    for (int i = 0; i < 3; i++)
        (void)check(q, "x", T0 + 100 * H);
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 0);
    assert_int_equal(st.expired, 4);
    assert_int_equal(st.evictions, 0);
    quota_guard_free(q);
}

static void test_bytes_per_user(void **state)
{
    quota_guard *q = quota_guard_new(100000);
    struct quota_guard_stats st;
    char u[32];
    (void)state;

    quota_guard_stats(q, &st);
    assert_int_equal(st.capacity, 100000);
    assert_true(st.bytes >= 100000 * (size_t)QG_BYTES_PER_USER);
    assert_true(st.bytes < 100000 * (size_t)QG_BYTES_PER_USER + 256);
    /* Filling it allocates nothing more and evicts nothing. */
    for (int i = 0; i < 100000; i++) {
        snprintf(u, sizeof(u), "o9AgO5Kd5ggOC-%d", i);
        assert_int_equal(quota_guard_inbound(q, APP, u, QG_MESSAGE, T0 + i), QG_OK);
    }
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, 100000);
    assert_int_equal(st.evictions, 0);
    print_message("quota_guard: %zu users in %zu bytes (%d per user)\n", st.users, st.bytes,
                  QG_BYTES_PER_USER);
    quota_guard_free(q);
}

/*
 * Reference model: every event of every user, verdicts computed from the
 * definition. Valid while no user is evicted and checks come at or after
 * every recorded time (as live checks do).
 */
#define MODEL_USERS  6
#define MODEL_EVENTS 4096

struct model_user {
    long long msg, enter; /* latest, or -1 */
    long long sends[MODEL_EVENTS];
    int nsends;
};

static enum qg_verdict model_check(const struct model_user *m, long long now)
{
    int mo = m->msg >= 0 && now - m->msg < 48 * H, eo = m->enter >= 0 && now - m->enter < MIN;
    int mu = 0, eu = 0;

    for (int i = 0; i < m->nsends; i++) {
        mu += m->msg >= 0 && m->sends[i] >= m->msg && m->sends[i] <= now;
        eu += m->enter >= 0 && m->sends[i] >= m->enter && m->sends[i] <= now;
    }
    if ((mo && mu < 5) || (eo && eu < 2))
        return QG_ALLOW;
    return mo || eo ? QG_USED_UP : QG_NO_WINDOW;
}

/* Random events against the model. With room for every user the verdicts must be equal;
 * with less (evictions), the guard may allow more but must never refuse what the model allows. */
static void run_model(size_t capacity, unsigned seed)
{
    static struct model_user m[MODEL_USERS];
    quota_guard *q = quota_guard_new(capacity);
    int exact = capacity >= MODEL_USERS, refused_less = 0;
    struct quota_guard_stats st;
    long long latest = T0;

    for (int u = 0; u < MODEL_USERS; u++) {
        m[u].msg = m[u].enter = -1;
        m[u].nsends = 0;
    }
    srand(seed);
    for (int op = 0; op < 20000; op++) {
        int u = rand() % MODEL_USERS, what = rand() % 10;
        char name[8];
        /* Event times jump around up to 2 minutes behind the latest (out of
         * order), and time moves forward by up to ~3 h now and then. */
        long long at = latest - rand() % (2 * MIN);

        snprintf(name, sizeof(name), "m%d", u);
        if (rand() % 50 == 0)
            latest += rand() % (3 * H);
        else
            latest += rand() % 2000;
        if (what == 0) {
            msg(q, name, at);
            if (at > m[u].msg)
                m[u].msg = at;
        } else if (what == 1) {
            enter(q, name, at);
            if (at > m[u].enter)
                m[u].enter = at;
        } else if (what <= 4) {
            if (m[u].nsends < MODEL_EVENTS)
                m[u].sends[m[u].nsends++] = at;
            sent(q, name, at);
        } else {
            enum qg_verdict want = model_check(&m[u], latest), got = check(q, name, latest);
            if (exact ? want != got : want == QG_ALLOW && got != QG_ALLOW)
                fail_msg("op %d user %d at %lld: guard %d, model %d", op, u, latest - T0, got,
                         want);
            refused_less += want != QG_ALLOW && got == QG_ALLOW;
        }
    }
    quota_guard_stats(q, &st);
    if (!exact) {
        assert_true(st.evictions > 0);
        print_message("quota_guard model, %zu places for %d users: %llu evictions, %d refusals "
                      "left to WeChat\n",
                      capacity, MODEL_USERS, st.evictions, refused_less);
    }
    quota_guard_free(q);
}

static void test_against_model(void **state)
{
    (void)state;
    run_model(MODEL_USERS, 11);
}

static void test_against_model_with_evictions(void **state)
{
    (void)state;
    run_model(MODEL_USERS / 2, 12);
    run_model(1, 13);
}

static void test_many_users(void **state)
{
    const int n = 1000000;
    quota_guard *q = quota_guard_new((size_t)n / 2);
    struct quota_guard_stats st;
    struct timespec t0, t1;
    char u[48];
    (void)state;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        snprintf(u, sizeof(u), "o9AgO5Kd5ggOC-bXrbNODI%d", i);
        assert_int_equal(quota_guard_inbound(q, APP, u, QG_MESSAGE, T0 + i), QG_OK);
        (void)quota_guard_check(q, APP, u, T0 + i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    quota_guard_stats(q, &st);
    assert_int_equal(st.users, (size_t)n / 2);
    assert_int_equal(st.evictions, (unsigned long long)n / 2);
    print_message("quota_guard: %d users through %zu places, %.0f ns per inbound+check\n", n,
                  st.capacity,
                  ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n);
    quota_guard_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_arguments),
        cmocka_unit_test(test_message_window),
        cmocka_unit_test(test_enter_window),
        cmocka_unit_test(test_new_message_resets),
        cmocka_unit_test(test_both_windows),
        cmocka_unit_test(test_same_millisecond),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_out_of_order_rebuild),
        cmocka_unit_test(test_old_events_ignored),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_eviction_fails_open),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bytes_per_user),
        cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_against_model_with_evictions),
        cmocka_unit_test(test_many_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
