/*
 * replier_users: one command at a time per (appid, touser), in the order
 * consumed: a user's next command goes to the ready queue only when the one
 * before it has its result. See replier_int.h.
 */
#include "replier_int.h"

#include <stdlib.h>
#include <string.h>

static unsigned user_hash(const char *key)
{
    unsigned h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % USER_BUCKETS;
}

static struct user *user_get(replier *r, const char *appid, const char *touser)
{
    /* appid and touser were validated (reply_cmd): the key fits on the stack, and is
     * copied only for a user not seen before. */
    char key[REPLY_APPID_BUF + REPLY_TOUSER_BUF + 1];
    struct user *u;
    unsigned h;

    snprintf(key, sizeof(key), "%s\n%s", appid, touser);
    h = user_hash(key);
    for (u = r->users[h]; u; u = u->next)
        if (strcmp(u->key, key) == 0)
            return u;
    if (!(u = calloc(1, sizeof(*u))) || !(u->key = strdup(key))) {
        free(u);
        return NULL;
    }
    u->next = r->users[h];
    r->users[h] = u;
    return u;
}

static void user_drop(replier *r, struct user *u)
{
    unsigned h = user_hash(u->key);
    struct user **pp = &r->users[h];
    while (*pp && *pp != u)
        pp = &(*pp)->next;
    if (*pp)
        *pp = u->next;
    free(u->key);
    free(u);
}

/* C (the head of its user's queue) is finished: the next command of the user may go. */
void replier_user_advance(replier *r, struct cmd *c)
{
    struct user *u = c->user;
    if (!u)
        return;
    c->user = NULL;
    if (u->head == c) {
        u->head = c->user_next;
        if (!u->head)
            u->tail = NULL;
    }
    c->user_next = NULL;
    if (u->head) {
        if (u->head->state == CS_QUEUED)
            send_ready_push(r, u->head);
    } else {
        user_drop(r, u);
    }
}

/* Takes C out of its user's queue without letting the next command go. */
void replier_user_detach(replier *r, struct cmd *c)
{
    struct user *u = c->user;
    struct cmd **pp, *prev = NULL;

    if (!u)
        return;
    for (pp = &u->head; *pp && *pp != c; pp = &(*pp)->user_next)
        prev = *pp;
    if (*pp)
        *pp = c->user_next;
    if (u->tail == c)
        u->tail = prev;
    c->user = NULL;
    c->user_next = NULL;
    if (!u->head)
        user_drop(r, u);
}

int replier_user_enqueue(replier *r, struct cmd *c)
{
    if (!(c->user = user_get(r, c->rc.appid, c->rc.touser)))
        return -1;
    c->state = CS_QUEUED;
    if (c->user->tail) {
        c->user->tail->user_next = c;
        c->user->tail = c;
    } else {
        c->user->head = c->user->tail = c;
        send_ready_push(r, c);
    }
    return 0;
}
