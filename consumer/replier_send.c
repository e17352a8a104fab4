/*
 * replier_send: one reply command's way to WeChat — quota guard, rate
 * limit, access token, image upload, the send itself, and what each answer
 * means (sent, retry, refresh the token, final). See replier.h.
 */
#include "replier_int.h"

#include "log.h"
#include "util.h"
#include "wx_errcode.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA_RECHECK_MS 50
#define QUOTA_SKEW_MS    1000 /* clocks of the producer of a command and of this host */

/* ---- queues ---- */

static void queue_push(struct cmd **head, struct cmd **tail, struct cmd *c)
{
    c->state = CS_READY;
    c->ready_next = NULL;
    if (*tail)
        (*tail)->ready_next = c;
    else
        *head = c;
    *tail = c;
}

/*
 * Two bounds, both max_in_flight, so that a crash leaves at most
 * 2 x max_in_flight sends whose outcome the next owner cannot know:
 * - in_flight: a send (or upload, or fetch) from its start — its intent, or
 *   its request — until WeChat answered;
 * - unrecorded: then, until Kafka acknowledged its result, or until it waits
 *   again (a retry, a fresh token, the next step) and its outcome matters no
 *   more.
 * No send starts while either is full: a slow Kafka slows the sends instead of
 * letting sends without a durable result pile up.
 */
static void slot_take(replier *r, struct cmd *c)
{
    if (c->slot == SLOT_NONE) {
        c->slot = SLOT_SENDING;
        r->in_flight++;
    }
}

/* C's request ended: its outcome waits to be recorded. */
static void slot_answered(replier *r, struct cmd *c)
{
    if (c->slot == SLOT_SENDING) {
        c->slot = SLOT_UNRECORDED;
        r->in_flight--;
        r->unrecorded++;
    }
}

void replier_slot_release(replier *r, struct cmd *c)
{
    if (c->slot == SLOT_SENDING)
        r->in_flight--;
    else if (c->slot == SLOT_UNRECORDED)
        r->unrecorded--;
    c->slot = SLOT_NONE;
}

void send_ready_push(replier *r, struct cmd *c)
{
    replier_slot_release(r, c);
    queue_push(&r->ready_head, &r->ready_tail, c);
}

void send_go_push(replier *r, struct cmd *c)
{
    queue_push(&r->go_head, &r->go_tail, c);
}

static struct cmd *queue_pop(struct cmd **head, struct cmd **tail)
{
    struct cmd *c = *head;
    if (c) {
        *head = c->ready_next;
        if (!*head)
            *tail = NULL;
        c->ready_next = NULL;
    }
    return c;
}

static struct cmd *ready_pop(replier *r)
{
    return queue_pop(&r->ready_head, &r->ready_tail);
}

static struct cmd *go_pop(replier *r)
{
    return queue_pop(&r->go_head, &r->go_tail);
}

/* Timers: a binary min-heap on the due time. */
void send_timer_push(replier *r, struct cmd *c, int64_t delay_ms)
{
    size_t i;
    replier_slot_release(r, c);
    if (r->ntimers == r->timers_cap) {
        size_t cap = r->timers_cap ? r->timers_cap * 2 : 256;
        struct timer *t = realloc(r->timers, cap * sizeof(*t));
        if (!t) { /* no memory: try again on the next pass instead */
            send_ready_push(r, c);
            return;
        }
        r->timers = t;
        r->timers_cap = cap;
    }
    c->state = CS_TIMER;
    i = r->ntimers++;
    r->timers[i].due = util_mono_ms() + delay_ms;
    r->timers[i].c = c;
    while (i > 0 && r->timers[(i - 1) / 2].due > r->timers[i].due) {
        struct timer t = r->timers[i];
        r->timers[i] = r->timers[(i - 1) / 2];
        r->timers[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

void send_timers_due(replier *r)
{
    int64_t now = util_mono_ms();
    while (r->ntimers > 0 && r->timers[0].due <= now) {
        struct cmd *c = r->timers[0].c;
        size_t i = 0;
        r->timers[0] = r->timers[--r->ntimers];
        for (;;) {
            size_t l = 2 * i + 1, m = i;
            if (l < r->ntimers && r->timers[l].due < r->timers[m].due)
                m = l;
            if (l + 1 < r->ntimers && r->timers[l + 1].due < r->timers[m].due)
                m = l + 1;
            if (m == i)
                break;
            struct timer t = r->timers[i];
            r->timers[i] = r->timers[m];
            r->timers[m] = t;
            i = m;
        }
        send_ready_push(r, c);
    }
}

/* ---- outcomes ---- */

static void finish_sent(replier *r, struct cmd *c)
{
    replier_complete(r, c, REPLY_SENT, 0, "ok", NULL, NULL);
}

/*
 * Stopping (shutdown or revoke) with C unfinished: without an intent, forget
 * it (the next owner sends it); with one, WeChat may have it, so C ends here
 * as failed rather than leaving the next owner an unknown outcome.
 */
static void give_up_draining(replier *r, struct cmd *c, long errcode, const char *errmsg)
{
    if (c->intent_acked)
        replier_complete(r, c, REPLY_FAILED, errcode, errmsg, "stopped_during_retries", errmsg);
    else
        replier_cmd_free(r, c);
}

/* A failure worth retrying: back off, or give up after max_attempts. */
static void retry_or_fail(replier *r, struct cmd *c, long errcode, const char *errmsg)
{
    long long delay =
        c->attempts >= r->cfg->max_attempts
            ? 0
            : wx_backoff_ms(c->attempts, r->cfg->backoff_base_ms, r->cfg->backoff_max_ms, &r->rng);

    if (r->draining && c->attempts < r->cfg->max_attempts) {
        /* A started send (intent in Kafka) keeps its retries while the drain lasts:
         * ending it here would leave an outcome the next owner cannot know. */
        if (c->intent_acked && util_mono_ms() + delay < r->drain_deadline) {
            mcounter_add(r->c_retries, 1);
            send_timer_push(r, c, delay);
            return;
        }
        give_up_draining(r, c, errcode, errmsg);
        return;
    }
    if (c->attempts >= r->cfg->max_attempts) {
        replier_complete(r, c, REPLY_FAILED, errcode, errmsg,
                         errcode == REPLIER_E_TOKEN   ? "token_unavailable"
                         : errcode == REPLIER_E_MEDIA ? "media_failed"
                                                      : "retries_exhausted",
                         errmsg);
        return;
    }
    mcounter_add(r->c_retries, 1);
    send_timer_push(r, c, delay);
}

/* Parses WeChat's {"errcode":..,"errmsg":..}; a 200 without errcode is success. */
static long answer_errcode(const struct hc_response *resp, char *msg, size_t msglen, json_t **doc)
{
    json_t *d = json_loadb(resp->body, resp->len, 0, NULL), *code;
    long errcode = 0;

    *doc = d;
    snprintf(msg, msglen, "ok");
    if (!json_is_object(d)) {
        snprintf(msg, msglen, "answer is not JSON");
        return REPLIER_E_HTTP;
    }
    code = json_object_get(d, "errcode");
    if (json_is_integer(code))
        errcode = (long)json_integer_value(code);
    if (errcode != 0)
        snprintf(msg, msglen, "%s",
                 json_string_value(json_object_get(d, "errmsg")) ?: wx_errcode_text(errcode));
    return errcode;
}

/* What an answer of WeChat means for C; returns 1 when it succeeded. */
static int judge(replier *r, struct cmd *c, const struct hc_response *resp, json_t **doc)
{
    char msg[256];
    long errcode;

    *doc = NULL;
    if (!resp->ok || resp->status != 200) {
        if (resp->ok)
            snprintf(msg, sizeof(msg), "HTTP %ld", resp->status);
        else
            snprintf(msg, sizeof(msg), "%s", resp->error);
        retry_or_fail(r, c, REPLIER_E_HTTP, msg);
        return 0;
    }
    errcode = answer_errcode(resp, msg, sizeof(msg), doc);
    if (errcode == REPLIER_E_HTTP) {
        retry_or_fail(r, c, errcode, msg);
        return 0;
    }
    switch (wx_errcode_class(errcode)) {
    case WXE_OK:
        return 1;
    case WXE_RETRY:
        retry_or_fail(r, c, errcode, msg);
        return 0;
    case WXE_TOKEN:
        token_cache_invalid(r->tokens, r->cfg->apps[c->app].appid, c->token_gen);
        if (r->draining) {
            give_up_draining(r, c, errcode, msg);
        } else if (!c->token_retried) {
            c->token_retried = 1; /* one retry with a fresh token */
            send_ready_push(r, c);
        } else {
            replier_complete(r, c, REPLY_FAILED, errcode, msg, "token_refused", msg);
        }
        return 0;
    case WXE_FINAL:
    default:
        replier_complete(r, c, REPLY_REJECTED, errcode, msg, NULL, NULL);
        return 0;
    }
}

/* A request of C ended. Returns 0 when C was abandoned meanwhile (a revoke or
 * shutdown gave up on it; it is freed now), 1 when C goes on. */
static int request_done(replier *r, struct cmd *c)
{
    slot_answered(r, c);
    if (c->abandoned) {
        replier_cmd_free(r, c);
        return 0;
    }
    mhist_observe(r->h_send, (double)(util_mono_ms() - c->http_started_ms) / 1e3);
    return 1;
}

static void on_sent(void *arg, const struct hc_response *resp)
{
    struct cmd *c = arg;
    replier *r = c->owner;
    json_t *doc = NULL;

    if (!request_done(r, c))
        return;
    if (judge(r, c, resp, &doc))
        finish_sent(r, c);
    json_decref(doc);
}

/* ---- image URL → temp media ---- */

static void start_request(replier *r, struct cmd *c)
{
    c->state = CS_HTTP;
    c->http_started_ms = util_mono_ms();
    slot_take(r, c); /* (taken already when an intent was written) */
}

static void on_uploaded(void *arg, const struct hc_response *resp)
{
    struct cmd *c = arg;
    replier *r = c->owner;
    json_t *doc = NULL;
    const char *id;

    if (!request_done(r, c))
        return;
    free(c->media_data);
    c->media_data = NULL;
    if (!judge(r, c, resp, &doc)) {
        json_decref(doc);
        return;
    }
    id = json_string_value(json_object_get(doc, "media_id"));
    if (!id || !(c->media_id = strdup(id))) {
        json_decref(doc);
        retry_or_fail(r, c, REPLIER_E_MEDIA, "upload answer without media_id");
        return;
    }
    media_cache_put(r->media, c->rc.appid, c->rc.image_url, id, util_wall_ms());
    mcounter_add(r->c_media, 1);
    json_decref(doc);
    send_ready_push(r, c);
}

static void on_fetched(void *arg, const struct hc_response *resp)
{
    struct cmd *c = arg;
    replier *r = c->owner;
    char msg[256];

    if (!request_done(r, c))
        return;
    if (!resp->ok || resp->status >= 500) {
        snprintf(msg, sizeof(msg), "image fetch: %s", resp->ok ? "server error" : resp->error);
        retry_or_fail(r, c, REPLIER_E_MEDIA, msg);
        return;
    }
    if (resp->status != 200 || !resp->content_type ||
        strncmp(resp->content_type, "image/", 6) != 0 || resp->len == 0) {
        snprintf(msg, sizeof(msg), "image fetch: HTTP %ld, %s", resp->status,
                 resp->content_type ? resp->content_type : "no content type");
        replier_complete(r, c, REPLY_FAILED, REPLIER_E_MEDIA, msg, "media_fetch_failed", msg);
        return;
    }
    if (!(c->media_data = malloc(resp->len))) {
        retry_or_fail(r, c, REPLIER_E_MEDIA, "out of memory");
        return;
    }
    memcpy(c->media_data, resp->body, resp->len);
    c->media_len = resp->len;
    snprintf(c->media_ctype, sizeof(c->media_ctype), "%.*s", (int)strcspn(resp->content_type, "; "),
             resp->content_type);
    send_ready_push(r, c);
}

/* ---- the steps ---- */

static int quota_ok(replier *r, struct cmd *c)
{
    enum qg_verdict v;
    int64_t now = util_wall_ms();
    char msg[160];

    if (!r->quota || c->rc.kind == REPLY_TYPING)
        return 1;
    v = quota_guard_check(r->quota, c->rc.appid, c->rc.touser, now);
    if (v == QG_ALLOW)
        return 1;
    /* The inbound record that opened the window is written before the command; if our
     * view of wx.inbound is not yet past the command's time, wait for it a little. */
    if (replier_state_inbound_synced_ms(r->state) < c->kafka_ts + QUOTA_SKEW_MS &&
        util_mono_ms() - c->taken_ms < r->cfg->quota_wait_ms) {
        mcounter_add(r->c_quota_wait, 1);
        send_timer_push(r, c, QUOTA_RECHECK_MS);
        return 0;
    }
    snprintf(msg, sizeof(msg), "wxbridge quota guard: %s",
             v == QG_NO_WINDOW ? "no reply window open for this user (45015)"
                               : "reply count of the window used up (45047)");
    replier_complete(r, c, REPLY_REJECTED, (long)v, msg, NULL, NULL);
    return 0;
}

void send_step(replier *r, struct cmd *c)
{
    const struct replier_app *app = &r->cfg->apps[c->app];
    char url[TOKEN_MAX + 512];
    const char *token;
    long long wait;
    int rc;

    /* Once, when C becomes its user's current command (sends start only once the
     * results and intents of earlier owners are read, and a repeat of C's id in the
     * stream waits behind C): later steps need not hash the id again. */
    if (!c->checked) {
        c->checked = 1;
        if (dedup_seen(r->finished, c->rc.id, util_wall_ms()) == 1) {
            replier_skip(r, c); /* a result exists: sent (or refused) before */
            return;
        }
        if (r->cfg->at_most_once && replier_state_started(r->state, c->rc.id)) {
            /* An earlier life or owner started this send and left no result: WeChat may
             * have it. At most once: do not send again; say so, and let an operator
             * decide (wxbridge-replay replies-dlq). */
            replier_complete(r, c, REPLY_FAILED, REPLIER_E_UNKNOWN,
                             "outcome unknown: an earlier replier stopped during this send",
                             "outcome_unknown", "send started by an earlier replier, no result");
            return;
        }
    }
    if (!c->quota_passed) {
        if (!quota_ok(r, c))
            return;
        c->quota_passed = 1;
    }
    if (!c->rate_taken) {
        if ((wait = rate_limit_take(&r->limits[c->app], util_mono_ms())) > 0) {
            send_timer_push(r, c, wait);
            return;
        }
        c->rate_taken = 1;
    }
    token = token_cache_get(r->tokens, app->appid, &c->token_gen);
    if (!token) {
        c->state = CS_WAIT_TOKEN;
        c->wait_next = r->token_waiters[c->app];
        r->token_waiters[c->app] = c;
        return;
    }
    if (c->rc.image_url && !c->media_id) {
        char cached[256];
        if (media_cache_get(r->media, app->appid, c->rc.image_url, util_wall_ms(), cached,
                            sizeof(cached)) == 0) {
            c->media_id = strdup(cached);
        } else if (!c->media_data) {
            c->attempts++;
            start_request(r, c);
            if (hc_get(r->hc, c->rc.image_url, on_fetched, c) < 0) {
                slot_answered(r, c); /* (no request: nothing in flight) */
                retry_or_fail(r, c, REPLIER_E_MEDIA, "cannot start the image fetch");
            }
            return;
        } else {
            const char *ext = strstr(c->media_ctype, "png")   ? "png"
                              : strstr(c->media_ctype, "gif") ? "gif"
                                                              : "jpg";
            char name[32];
            snprintf(name, sizeof(name), "image.%s", ext);
            snprintf(url, sizeof(url), "%s/cgi-bin/media/upload?access_token=%s&type=image",
                     r->cfg->api_base, token);
            start_request(r, c);
            if (hc_post_file(r->hc, url, "media", name, c->media_ctype, c->media_data, c->media_len,
                             on_uploaded, c) < 0) {
                slot_answered(r, c); /* (no request: nothing in flight) */
                retry_or_fail(r, c, REPLIER_E_MEDIA, "cannot start the upload");
            }
            return;
        }
        if (!c->media_id) {
            retry_or_fail(r, c, REPLIER_E_MEDIA, "out of memory");
            return;
        }
    }
    if (r->cfg->at_most_once && !c->intent_acked) {
        /* Recorded in Kafka before WeChat may see it: a crash from here on leaves an
         * intent without a result, and the next owner does not send again. The send's
         * slot is taken now, so intents never run ahead of the sends. */
        slot_take(r, c);
        replier_write_intent(r, c);
        return;
    }
    {
        char *body = reply_cmd_api_body(&c->rc, c->media_id);
        if (!body) {
            retry_or_fail(r, c, REPLIER_E_HTTP, "out of memory");
            return;
        }
        snprintf(url, sizeof(url), "%s/cgi-bin/message/custom/%s?access_token=%s", r->cfg->api_base,
                 c->rc.kind == REPLY_TYPING ? "typing" : "send", token);
        c->attempts++;
        c->rate_taken = 0; /* a retry takes a token again */
        start_request(r, c);
        rc = hc_post_json(r->hc, url, body, strlen(body), on_sent, c);
        free(body);
        if (rc < 0) {
            slot_answered(r, c); /* (no request: nothing in flight) */
            retry_or_fail(r, c, REPLIER_E_HTTP, "cannot start the request");
        }
    }
}

void send_dispatch_draining(replier *r)
{
    struct cmd *c;
    while ((c = go_pop(r)))
        send_step(r, c);
    while ((c = ready_pop(r))) {
        if (c->intent_acked)
            send_step(r, c); /* its intent is in Kafka: finish what was started */
        else
            c->state = CS_QUEUED; /* forgotten by drain() */
    }
}

void send_dispatch(replier *r)
{
    if (r->draining)
        return;
    while (r->go_head)
        send_step(r, go_pop(r));
    while (r->ready_head && r->in_flight < r->cfg->max_in_flight &&
           r->unrecorded < r->cfg->max_in_flight && replier_state_synced(r->state))
        send_step(r, ready_pop(r));
}

void send_token_changed(void *arg, const char *appid, int ok, const char *error)
{
    replier *r = arg;
    const struct replier_app *app = replier_config_app(r->cfg, appid);
    struct cmd *c, *next;
    char msg[256];
    int i;

    if (!app)
        return;
    i = (int)(app - r->cfg->apps);
    c = r->token_waiters[i];
    r->token_waiters[i] = NULL;
    for (; c; c = next) {
        next = c->wait_next;
        c->wait_next = NULL;
        if (ok) {
            send_ready_push(r, c);
            continue;
        }
        /* Each failed fetch counts as an attempt of the commands waiting for it. */
        c->attempts++;
        snprintf(msg, sizeof(msg), "access token: %s", error ? error : "unavailable");
        retry_or_fail(r, c, REPLIER_E_TOKEN, msg);
    }
}
