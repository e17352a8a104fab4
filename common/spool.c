/*
 * spool: durable local queue of Kafka messages. See spool.h for the design.
 *
 * Record on disk: a 16-byte header (magic "WXS1", body length, CRC-32 of the
 * body, zero) and the body: seq u64, topic_len u16, key_len u16, hdr_count
 * u8, 3 zero bytes, value_len u32, topic, key, headers (u16 name_len, u16
 * value_len, name, value)..., value. Integers are little-endian.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define REC_MAGIC      0x31535857u /* "WXS1" */
#define REC_HDR        16
#define REC_BODY_FIXED 20
#define REC_VALUE_MAX  (8u * 1024 * 1024)
/* Free space below which the spool reports itself not writable (readiness). */
#define SPOOL_HEADROOM (64u * 1024)
/* The largest body encode() can produce: recovery must accept every one of them. */
#define REC_BODY_MAX                                                                               \
    (REC_BODY_FIXED + 2u * UINT16_MAX + RECORD_HDR_MAX * (4u + 2u * UINT16_MAX) + REC_VALUE_MAX)

enum estate { E_WRITING, E_READY, E_TAKEN, E_DONE };

struct entry {
    uint64_t seq;
    struct seg *seg;
    uint64_t off;
    uint32_t len;
    uint8_t state;
    uint8_t shadow;   /* 1 while the producer may still deliver it */
    uint8_t resolved; /* shadow resolved as delivered while still writing */
};

struct seg {
    uint64_t id;
    int rfd;
    int done_fd;
    uint64_t size;
    uint64_t live;
    struct seg *next;
};

struct wjob {
    uint64_t seq;
    struct seg *seg;
    char *buf;
    size_t len;
    spool_cb cb;
    void *arg;
    struct wjob *next;
};

struct spool {
    char *dir;
    int dirfd;
    int lockfd; /* flock on DIR/LOCK: one process per spool */
    struct spool_opts o;
    pthread_mutex_t lock;
    pthread_cond_t wcond; /* writer: jobs queued or stopping */
    pthread_cond_t ccond; /* waiters: something changed */
    pthread_t writer;
    int stopping, broken;

    struct entry *ents; /* sorted by seq; live window [head, count) */
    size_t head, count, cap;
    struct seg *segs, *seg_tail; /* oldest first; seg_tail receives appends */
    uint64_t next_seq;
    uint64_t bytes;           /* on disk and queued */
    _Atomic uint64_t pending; /* not done; changed under lock, read without (hot path) */

    struct wjob *jobs, *jobs_tail;
};

/* ---- CRC-32 (IEEE) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_buf(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- encoding ---- */

/* Serializes M as one record; returns a malloc'd buffer or NULL. */
static char *encode(const struct kmsg *m, uint64_t seq, size_t *len_out)
{
    size_t tl = strlen(m->topic), kl = m->key ? strlen(m->key) : 0, body = REC_BODY_FIXED;
    unsigned char *buf, *p;

    if (tl > UINT16_MAX || kl > UINT16_MAX || m->value_len > REC_VALUE_MAX)
        return NULL;
    body += tl + kl + m->value_len;
    for (int i = 0; i < m->hdr_count; i++) {
        if (strlen(m->hdr_name[i]) > UINT16_MAX || strlen(m->hdr_value[i]) > UINT16_MAX)
            return NULL;
        body += 4 + strlen(m->hdr_name[i]) + strlen(m->hdr_value[i]);
    }
    buf = malloc(REC_HDR + body);
    if (!buf)
        return NULL;
    p = buf + REC_HDR;
    put64(p, seq);
    put16(p + 8, (uint16_t)tl);
    put16(p + 10, (uint16_t)kl);
    p[12] = (unsigned char)m->hdr_count;
    p[13] = p[14] = p[15] = 0;
    put32(p + 16, (uint32_t)m->value_len);
    p += REC_BODY_FIXED;
    memcpy(p, m->topic, tl);
    p += tl;
    if (kl)
        memcpy(p, m->key, kl);
    p += kl;
    for (int i = 0; i < m->hdr_count; i++) {
        size_t nl = strlen(m->hdr_name[i]), vl = strlen(m->hdr_value[i]);
        put16(p, (uint16_t)nl);
        put16(p + 2, (uint16_t)vl);
        memcpy(p + 4, m->hdr_name[i], nl);
        memcpy(p + 4 + nl, m->hdr_value[i], vl);
        p += 4 + nl + vl;
    }
    memcpy(p, m->value, m->value_len);
    put32(buf, REC_MAGIC);
    put32(buf + 4, (uint32_t)body);
    put32(buf + 8, crc32_buf(buf + REC_HDR, body));
    put32(buf + 12, 0);
    *len_out = REC_HDR + body;
    return (char *)buf;
}

static char *dupn(const unsigned char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Parses a record body (already CRC-checked) into M; returns 0 or -1. */
static int decode(const unsigned char *body, size_t n, uint64_t *seq, struct kmsg *m)
{
    size_t tl, kl, vl, pos = REC_BODY_FIXED;
    int hc;

    memset(m, 0, sizeof(*m));
    if (n < REC_BODY_FIXED)
        return -1;
    *seq = get64(body);
    tl = get16(body + 8);
    kl = get16(body + 10);
    hc = body[12];
    vl = get32(body + 16);
    if (hc > RECORD_HDR_MAX || pos + tl + kl > n)
        return -1;
    m->topic = dupn(body + pos, tl);
    pos += tl;
    m->key = dupn(body + pos, kl);
    pos += kl;
    if (!m->topic || !m->key)
        goto fail;
    for (int i = 0; i < hc; i++) {
        size_t nl, hv;
        if (pos + 4 > n)
            goto fail;
        nl = get16(body + pos);
        hv = get16(body + pos + 2);
        if (pos + 4 + nl + hv > n)
            goto fail;
        m->hdr_name[i] = dupn(body + pos + 4, nl);
        m->hdr_value[i] = dupn(body + pos + 4 + nl, hv);
        m->hdr_count = i + 1;
        if (!m->hdr_name[i] || !m->hdr_value[i])
            goto fail;
        pos += 4 + nl + hv;
    }
    if (pos + vl != n)
        goto fail;
    m->value = dupn(body + pos, vl);
    if (!m->value)
        goto fail;
    m->value_len = vl;
    return 0;
fail:
    kmsg_clear(m);
    return -1;
}

/* ---- segments and entries ---- */

static void seg_path(const spool *s, uint64_t id, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s/spool-%020llu.%s", s->dir, (unsigned long long)id, ext);
}

static struct seg *seg_new(spool *s, uint64_t id)
{
    struct seg *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = id;
    g->rfd = -1;
    g->done_fd = -1;
    if (s->seg_tail)
        s->seg_tail->next = g;
    else
        s->segs = g;
    s->seg_tail = g;
    return g;
}

static int ents_push(spool *s, const struct entry *e)
{
    if (s->count == s->cap) {
        if (s->head > 0) {
            memmove(s->ents, s->ents + s->head, (s->count - s->head) * sizeof(*e));
            s->count -= s->head;
            s->head = 0;
        }
        if (s->count == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 1024;
            struct entry *n = realloc(s->ents, ncap * sizeof(*e));
            if (!n)
                return -ENOMEM;
            s->ents = n;
            s->cap = ncap;
        }
    }
    s->ents[s->count++] = *e;
    return 0;
}

static struct entry *ents_find(spool *s, uint64_t seq)
{
    size_t lo = s->head, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ents[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->count && s->ents[lo].seq == seq ? &s->ents[lo] : NULL;
}

/* Unlinks a segment's files: marks first, so a crash between leaves no orphan marks. */
static void seg_unlink(const spool *s, uint64_t id)
{
    char path[4096];
    seg_path(s, id, "done", path, sizeof(path));
    unlink(path);
    seg_path(s, id, "log", path, sizeof(path));
    unlink(path);
}

/* Deletes fully-done segments (never the one receiving appends). Lock held. */
static void gc_locked(spool *s)
{
    while (s->head < s->count && s->ents[s->head].state == E_DONE)
        s->head++;
    /* A drained append segment would hold its bytes forever: roll to a new one. */
    if (s->seg_tail && s->seg_tail->live == 0 && s->seg_tail->size > 0 && !s->stopping)
        seg_new(s, s->next_seq);
    while (s->segs && s->segs != s->seg_tail && s->segs->live == 0) {
        struct seg *g = s->segs;
        seg_unlink(s, g->id);
        if (g->rfd >= 0)
            close(g->rfd);
        if (g->done_fd >= 0)
            close(g->done_fd);
        s->bytes -= g->size < s->bytes ? g->size : s->bytes;
        s->segs = g->next;
        free(g);
    }
}

/* Marks E done and records it in the segment's done file. Lock held. */
static void mark_done_locked(spool *s, struct entry *e)
{
    unsigned char b[8];
    if (e->state == E_DONE)
        return;
    e->state = E_DONE;
    e->seg->live--;
    s->pending--;
    if (e->seg->done_fd < 0) {
        char path[4096];
        seg_path(s, e->seg->id, "done", path, sizeof(path));
        e->seg->done_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    put64(b, e->seq);
    /* No fsync: a lost mark only means one record is republished after a crash. */
    if (e->seg->done_fd < 0 || write(e->seg->done_fd, b, 8) != 8)
        log_event(LOG_WARN, "spool_done_mark_failed", "error", strerror(errno), NULL);
    pthread_cond_broadcast(&s->ccond);
}

/* ---- writer thread ---- */

static int open_append(spool *s, uint64_t id)
{
    char path[4096];
    int fd;
    seg_path(s, id, "log", path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0 && fsync(s->dirfd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *writer_main(void *arg)
{
    spool *s = arg;
    int wfd = -1;
    uint64_t wseg = UINT64_MAX;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct wjob *batch, *j, *next;
        int rc = 0;

        while (!s->jobs && !s->stopping)
            pthread_cond_wait(&s->wcond, &s->lock);
        if (!s->jobs && s->stopping)
            break;
        batch = s->jobs;
        s->jobs = s->jobs_tail = NULL;
        rc = s->broken ? -EIO : 0;
        pthread_mutex_unlock(&s->lock);

        for (j = batch; j && rc == 0; j = j->next) {
            if (j->seg->id != wseg) {
                if (wfd >= 0 && (fdatasync(wfd) < 0 || close(wfd) < 0)) {
                    rc = -errno;
                    wfd = -1;
                    break;
                }
                wfd = open_append(s, j->seg->id);
                wseg = j->seg->id;
                if (wfd < 0) {
                    rc = -errno;
                    break;
                }
            }
            for (size_t done = 0; done < j->len;) {
                ssize_t w = write(wfd, j->buf + done, j->len - done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    rc = w < 0 ? -errno : -EIO;
                    break;
                }
                done += (size_t)w;
            }
        }
        if (rc == 0 && wfd >= 0 && fdatasync(wfd) < 0)
            rc = -errno;

        pthread_mutex_lock(&s->lock);
        if (rc) {
            /* Offsets of later records were planned on this write: stop appending. */
            s->broken = 1;
            log_event(LOG_ERROR, "spool_write_failed", "dir", s->dir, "error", strerror(-rc), NULL);
        }
        for (j = batch; j; j = j->next) {
            struct entry *e = ents_find(s, j->seq);
            if (!e)
                continue;
            if (rc) {
                s->bytes -= j->len;
                mark_done_locked(s, e);
            } else if (e->resolved) {
                e->state = E_READY;
                mark_done_locked(s, e);
            } else {
                e->state = E_READY;
            }
        }
        gc_locked(s);
        pthread_cond_broadcast(&s->ccond);
        pthread_mutex_unlock(&s->lock);

        for (j = batch; j; j = next) {
            next = j->next;
            if (j->cb)
                j->cb(j->arg, rc);
            free(j->buf);
            free(j);
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    if (wfd >= 0) {
        fdatasync(wfd);
        close(wfd);
    }
    return NULL;
}

/* ---- recovery ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads the done marks of segment ID into a sorted array. */
static uint64_t *load_done(spool *s, uint64_t id, size_t *n)
{
    char path[4096];
    struct stat st;
    uint64_t *marks = NULL;
    unsigned char *raw = NULL;
    int fd;

    *n = 0;
    seg_path(s, id, "done", path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && st.st_size >= 8) {
        size_t cnt = (size_t)st.st_size / 8;
        raw = malloc(cnt * 8);
        marks = malloc(cnt * sizeof(*marks));
        if (raw && marks && pread(fd, raw, cnt * 8, 0) == (ssize_t)(cnt * 8)) {
            for (size_t i = 0; i < cnt; i++)
                marks[i] = get64(raw + 8 * i);
            qsort(marks, cnt, sizeof(*marks), cmp_u64);
            *n = cnt;
        }
    }
    free(raw);
    close(fd);
    if (*n == 0) {
        free(marks);
        return NULL;
    }
    return marks;
}

/*
 * Checks the record at BUF[OFF..SIZE): 0 and its body length and seq when it
 * is whole and its CRC matches, -1 otherwise.
 */
static int check_record(const unsigned char *buf, size_t size, size_t off, uint32_t *blen,
                        uint64_t *seq)
{
    struct kmsg m;
    uint32_t n;

    if (size - off < REC_HDR || get32(buf + off) != REC_MAGIC)
        return -1;
    n = get32(buf + off + 4);
    if (n < REC_BODY_FIXED || n > REC_BODY_MAX || size - off - REC_HDR < n ||
        crc32_buf(buf + off + REC_HDR, n) != get32(buf + off + 8) ||
        decode(buf + off + REC_HDR, n, seq, &m) < 0)
        return -1;
    kmsg_clear(&m);
    *blen = n;
    return 0;
}

/* Offset of the next whole record after a damaged one, or SIZE if none follows. */
static size_t resync(const unsigned char *buf, size_t size, size_t off)
{
    for (size_t at = off + 1; at + REC_HDR <= size; at++) {
        uint32_t blen;
        uint64_t seq;
        if (buf[at] == 'W' && check_record(buf, size, at, &blen, &seq) == 0)
            return at;
    }
    return size;
}

/*
 * Loads segment ID: every whole record not marked done becomes pending. A
 * damaged record is skipped if whole records follow it (a disk fault), and
 * cut off if none do (a crash mid-append: nothing after it was acknowledged).
 * A segment left with nothing pending is deleted at once, so its name can
 * never be shared with the segment that receives new appends.
 */
static int recover_segment(spool *s, uint64_t id)
{
    char path[4096];
    size_t ndone = 0, size, off = 0, end;
    uint64_t *done = load_done(s, id, &ndone);
    unsigned char *buf = MAP_FAILED;
    struct stat st;
    struct seg *g = NULL;
    int fd, rc = 0;

    seg_path(s, id, "log", path, sizeof(path));
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    size = end = (size_t)st.st_size;
    if (size > 0) {
        buf = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (buf == MAP_FAILED) {
            rc = -errno;
            goto out;
        }
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        rc = -ENOMEM;
        goto out;
    }
    g->id = id;
    g->rfd = g->done_fd = -1;
    while (off < size) {
        uint32_t blen;
        uint64_t seq;
        if (check_record(buf, size, off, &blen, &seq) < 0) {
            size_t next = resync(buf, size, off);
            if (next == size) {
                end = off;
                log_event(LOG_WARN, "spool_torn_tail_truncated", "file", path, NULL);
                break;
            }
            log_event(LOG_ERROR, "spool_damaged_record_skipped", "file", path, NULL);
            off = next;
            continue;
        }
        if (!ndone || !bsearch(&seq, done, ndone, sizeof(*done), cmp_u64)) {
            struct entry e = {seq, g, off, REC_HDR + blen, E_READY, 0, 0};
            if (ents_push(s, &e) < 0) {
                rc = -ENOMEM;
                goto out;
            }
            g->live++;
            s->pending++;
        }
        if (seq >= s->next_seq)
            s->next_seq = seq + 1;
        off += REC_HDR + blen;
    }
    if (end < size && ftruncate(fd, (off_t)end) < 0) {
        rc = -errno;
        goto out;
    }
    if (g->live == 0) {
        seg_unlink(s, id);
        goto out;
    }
    g->size = end;
    s->bytes += end;
    if (s->seg_tail)
        s->seg_tail->next = g;
    else
        s->segs = g;
    s->seg_tail = g;
    g = NULL;
out:
    free(g); /* entries pointing at a freed segment are never pushed: live was 0 */
    if (buf != MAP_FAILED)
        munmap(buf, size);
    free(done);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int cmp_ids(const void *a, const void *b)
{
    return cmp_u64(a, b);
}

static int recover(spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *de;
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d) {
        snprintf(err, errlen, "opendir %s: %s", s->dir, strerror(errno));
        return -errno;
    }
    while ((de = readdir(d))) {
        unsigned long long id;
        char tail[8];
        if (sscanf(de->d_name, "spool-%20llu.%7s", &id, tail) != 2)
            continue;
        if (strcmp(tail, "done") == 0) {
            /* Marks whose segment is gone (a crash while deleting it) must not
             * apply to a future segment of the same name. */
            char path[4096];
            seg_path(s, id, "log", path, sizeof(path));
            if (access(path, F_OK) < 0 && errno == ENOENT) {
                seg_path(s, id, "done", path, sizeof(path));
                unlink(path);
            }
            continue;
        }
        if (strcmp(tail, "log") != 0)
            continue;
        if (n == cap) {
            uint64_t *g = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof(*ids));
            if (!g) {
                rc = -ENOMEM;
                goto out;
            }
            ids = g;
        }
        ids[n++] = id;
    }
    if (n > 1) /* qsort(NULL, 0) is undefined */
        qsort(ids, n, sizeof(*ids), cmp_ids);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = recover_segment(s, ids[i]);
    if (rc)
        snprintf(err, errlen, "recovering spool %s: %s", s->dir, strerror(-rc));
out:
    free(ids);
    closedir(d);
    return rc;
}

/* ---- public ---- */

int spool_open(const char *dir, const struct spool_opts *opts, spool **out, char *err,
               size_t errlen)
{
    spool *s;
    int rc;

    pthread_once(&crc_once, crc_init);
    *out = NULL;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -errno;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->dir = strdup(dir);
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s->o.max_bytes = opts && opts->max_bytes ? opts->max_bytes : 1024ull * 1024 * 1024;
    s->o.segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes : 16ull * 1024 * 1024;
    s->next_seq = 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wcond, NULL);
    pthread_cond_init(&s->ccond, NULL);
    s->lockfd = -1;
    if (!s->dir || s->dirfd < 0) {
        snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
        rc = -EIO;
        goto fail;
    }
    /* Two processes appending to one spool would corrupt it: refuse the second. */
    s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "spool %s is in use by another process", dir);
        rc = -EBUSY;
        goto fail;
    }
    rc = recover(s, err, errlen);
    if (rc)
        goto fail;
    /* Appends always start a fresh segment; recovered ones only drain. */
    if (!seg_new(s, s->next_seq)) {
        rc = -ENOMEM;
        goto fail;
    }
    gc_locked(s);
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start spool writer thread");
        rc = -EAGAIN;
        goto fail;
    }
    if (s->pending)
        log_event(LOG_INFO, "spool_recovered", "dir", dir, NULL);
    *out = s;
    return 0;
fail:
    s->seg_tail = NULL; /* let spool_free-style cleanup below delete nothing */
    while (s->segs) {
        struct seg *g = s->segs;
        s->segs = g->next;
        free(g);
    }
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->ents);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wcond);
    pthread_cond_destroy(&s->ccond);
    free(s);
    return rc;
}

void spool_close(spool *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wcond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->writer, NULL);
    /* Unlink the empty append segment so an idle spool leaves no files behind. */
    gc_locked(s);
    while (s->segs) {
        struct seg *g = s->segs;
        if (g->live == 0 && g == s->seg_tail)
            seg_unlink(s, g->id);
        if (g->rfd >= 0)
            close(g->rfd);
        if (g->done_fd >= 0)
            close(g->done_fd);
        s->segs = g->next;
        free(g);
    }
    close(s->lockfd);
    close(s->dirfd);
    free(s->ents);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wcond);
    pthread_cond_destroy(&s->ccond);
    free(s);
}

int spool_append(spool *s, const struct kmsg *m, int shadowed, spool_cb cb, void *arg,
                 uint64_t *seq)
{
    struct wjob *j = calloc(1, sizeof(*j));
    struct entry e;
    size_t len = 0;
    int rc = 0;

    if (!j)
        return -ENOMEM;
    pthread_mutex_lock(&s->lock);
    if (s->broken || s->stopping) {
        rc = -EIO;
        goto fail;
    }
    j->seq = s->next_seq;
    j->buf = encode(m, j->seq, &len);
    if (!j->buf) {
        rc = -ENOMEM;
        goto fail;
    }
    if (s->bytes + len > s->o.max_bytes) {
        rc = -ENOSPC;
        goto fail;
    }
    if (s->seg_tail->size > 0 && s->seg_tail->size + len > s->o.segment_bytes) {
        if (!seg_new(s, j->seq)) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    e = (struct entry){
        j->seq, s->seg_tail, s->seg_tail->size, (uint32_t)len, E_WRITING, (uint8_t)(shadowed != 0),
        0};
    if ((rc = ents_push(s, &e)) < 0)
        goto fail;
    s->next_seq++;
    s->seg_tail->size += len;
    s->seg_tail->live++;
    s->bytes += len;
    s->pending++;
    j->seg = s->seg_tail;
    j->len = len;
    j->cb = cb;
    j->arg = arg;
    if (s->jobs_tail)
        s->jobs_tail->next = j;
    else
        s->jobs = j;
    s->jobs_tail = j;
    *seq = j->seq;
    pthread_cond_signal(&s->wcond);
    pthread_mutex_unlock(&s->lock);
    return 0;
fail:
    pthread_mutex_unlock(&s->lock);
    free(j->buf);
    free(j);
    return rc;
}

void spool_resolve_shadow(spool *s, uint64_t seq, int delivered)
{
    struct entry *e;
    pthread_mutex_lock(&s->lock);
    e = ents_find(s, seq);
    if (e && e->shadow) {
        e->shadow = 0;
        if (delivered) {
            if (e->state == E_WRITING)
                e->resolved = 1; /* the writer marks it done once durable */
            else
                mark_done_locked(s, e);
        }
        gc_locked(s);
        pthread_cond_broadcast(&s->ccond);
    }
    pthread_mutex_unlock(&s->lock);
}

int spool_take(spool *s, struct spool_item *items, int max)
{
    int n = 0, rc = 0;
    unsigned char *buf = NULL;

    pthread_mutex_lock(&s->lock);
    for (size_t i = s->head; i < s->count && n < max; i++) {
        struct entry *e = &s->ents[i];
        if (e->state == E_DONE || e->state == E_TAKEN)
            continue;
        if (e->state != E_READY || e->shadow)
            break; /* keep order: nothing passes an entry that is not ready */
        if (e->seg->rfd < 0) {
            char path[4096];
            seg_path(s, e->seg->id, "log", path, sizeof(path));
            e->seg->rfd = open(path, O_RDONLY | O_CLOEXEC);
            if (e->seg->rfd < 0) {
                rc = -errno;
                break;
            }
        }
        unsigned char *nb = realloc(buf, e->len);
        if (!nb) {
            rc = -ENOMEM;
            break;
        }
        buf = nb;
        if (pread(e->seg->rfd, buf, e->len, (off_t)e->off) != (ssize_t)e->len ||
            decode(buf + REC_HDR, e->len - REC_HDR, &items[n].seq, &items[n].msg) < 0) {
            /* Verified when written or recovered; a failure here is a disk fault. */
            log_event(LOG_ERROR, "spool_read_failed", "dir", s->dir, NULL);
            rc = -EIO;
            break;
        }
        e->state = E_TAKEN;
        n++;
    }
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return n > 0 ? n : rc;
}

void spool_settle(spool *s, uint64_t seq, int delivered)
{
    struct entry *e;
    pthread_mutex_lock(&s->lock);
    e = ents_find(s, seq);
    if (e && e->state == E_TAKEN) {
        if (delivered) {
            mark_done_locked(s, e);
            gc_locked(s);
        } else {
            e->state = E_READY;
        }
        pthread_cond_broadcast(&s->ccond);
    }
    pthread_mutex_unlock(&s->lock);
}

uint64_t spool_pending(spool *s)
{
    return atomic_load(&s->pending);
}

uint64_t spool_bytes(spool *s)
{
    uint64_t v;
    pthread_mutex_lock(&s->lock);
    v = s->bytes;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int spool_writable(spool *s)
{
    int ok;
    pthread_mutex_lock(&s->lock);
    /* Ready only with room for more than one record: a nearly full spool refuses soon. */
    ok = !s->broken && !s->stopping && s->bytes + SPOOL_HEADROOM <= s->o.max_bytes;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void spool_wait(spool *s, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    pthread_cond_timedwait(&s->ccond, &s->lock, &ts);
    pthread_mutex_unlock(&s->lock);
}
