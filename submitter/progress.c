/*
 * progress.c - the progress display of `kwq wait` and `kwq run --local`.
 * The rate is smoothed (kwq_rate_update) so that the ETA does not jump with
 * every sample; both come from kwq/scale.h, shared with the Kubernetes side.
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kwq/scale.h"
#include "kwq/util.h"

#define RATE_TAU_MS 3000
#define BAR_MIN     10
#define BAR_MAX     40

static void fmt_eta(char *buf, size_t len, int64_t ms)
{
    uint64_t s;

    if (ms < 0) {
        (void)snprintf(buf, len, "-");
        return;
    }
    s = ((uint64_t)ms + 999) / 1000;
    if (s >= 100ULL * 86400)
        (void)snprintf(buf, len, ">99d");
    else if (s >= 86400)
        (void)snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                       (unsigned long long)(s % 86400 / 3600));
    else if (s >= 3600)
        (void)snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                       (unsigned long long)(s % 3600 / 60));
    else if (s >= 60)
        (void)snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                       (unsigned long long)(s % 60));
    else
        (void)snprintf(buf, len, "%llus", (unsigned long long)s);
}

/* "[###xx>....]": '#' per cell of done tasks, 'x' per cell of dead-lettered ones. */
static void fmt_bar(char *bar, const struct progress_counts *c, int width)
{
    uint64_t fin = c->done + c->dead;
    int done = c->total ? (int)((c->done * (uint64_t)width) / c->total) : width;
    int filled = c->total ? (int)((fin * (uint64_t)width) / c->total) : width;
    size_t o = 0;

    bar[o++] = '[';
    for (int i = 0; i < width; i++)
        bar[o++] = (char)(i < done ? '#' : i < filled ? 'x' : (i == filled ? '>' : '.'));
    bar[o++] = ']';
    bar[o] = '\0';
}

/*
 * Dead-lettered tasks are finished but not done: they count toward the
 * percentage and the ETA, and are shown apart ("990/1000 done, 10 dead").
 */
void progress_format(char *buf, size_t len, const struct progress_counts *c, double rate,
                     int64_t eta_ms, int width)
{
    uint64_t fin = c->done + c->dead;
    unsigned pct = c->total ? (unsigned)(fin * 100 / c->total) : 100;
    char eta[32], bar[BAR_MAX + 3] = "", dead[40] = "";
    size_t o;

    if (width > 0)
        fmt_bar(bar, c, width);
    if (c->dead)
        (void)snprintf(dead, sizeof(dead), ", %llu dead", (unsigned long long)c->dead);
    fmt_eta(eta, sizeof(eta), eta_ms);
    (void)snprintf(buf, len, "%s%s%llu/%llu done%s %3u%%  %.0f/s  ETA %s", bar,
                   width > 0 ? " " : "", (unsigned long long)c->done, (unsigned long long)c->total,
                   dead, pct, rate > 0 ? rate : 0.0, eta);
    o = strlen(buf);
    if (c->workers && o < len)
        (void)snprintf(buf + o, len - o, "  %llu worker%s", (unsigned long long)c->workers,
                       c->workers == 1 ? "" : "s");
}

void progress_init(struct progress *p, bool quiet, uint64_t interval_ms)
{
    memset(p, 0, sizeof(*p));
    p->tty = isatty(STDERR_FILENO) == 1;
    p->quiet = quiet;
    p->interval_ms = interval_ms;
    p->start_ms = kwq_monotonic_ms();
    p->last_ms = p->start_ms;
    p->last_line_ms = p->start_ms;
    p->rate = -1;
}

static int term_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void progress_sample(struct progress *p, uint64_t fin, uint64_t now)
{
    if (!p->sampled || fin < p->first_done) { /* the first call, or counters reset (purge) */
        p->sampled = true;
        p->first_done = fin;
        p->last_done = fin;
        p->last_ms = now;
        p->rate = -1;
        return;
    }
    if (p->rate < 0) {
        /* A window of a few ms would make a wild first rate, and an ETA to match. */
        if (fin == p->first_done || now < p->start_ms + PROGRESS_WARMUP_MS)
            return;
        p->rate = (double)(fin - p->first_done) * 1000.0 / (double)(now - p->start_ms);
    } else if (fin >= p->last_done && now > p->last_ms) {
        kwq_rate_update(&p->rate, fin - p->last_done, now - p->last_ms, RATE_TAU_MS);
    }
    p->last_ms = now;
    p->last_done = fin;
}

void progress_update(struct progress *p, const struct progress_counts *c, bool force)
{
    uint64_t now = kwq_monotonic_ms(), fin = c->done + c->dead;
    char line[512];
    double rate;
    int64_t eta;
    int bar;

    progress_sample(p, fin, now);
    if (p->quiet)
        return;
    rate = p->rate;
    if (rate < 0 && force && p->sampled && fin > p->first_done && now > p->start_ms)
        rate = (double)(fin - p->first_done) * 1000.0 / (double)(now - p->start_ms); /* the end */
    eta = kwq_eta_ms(c->total > fin ? c->total - fin : 0, rate);
    if (p->tty) {
        bar = term_width() - 60;
        bar = bar < BAR_MIN ? 0 : (bar > BAR_MAX ? BAR_MAX : bar);
        progress_format(line, sizeof(line), c, rate, eta, bar);
        (void)fprintf(stderr, "\r\033[K%s", line);
        (void)fflush(stderr);
        p->drawn = true;
        return;
    }
    if (!force && now - p->last_line_ms < p->interval_ms)
        return;
    p->last_line_ms = now;
    progress_format(line, sizeof(line), c, rate, eta, 0);
    (void)fprintf(stderr, "kwq: %s\n", line);
}

void progress_clear(struct progress *p)
{
    if (p->drawn) {
        (void)fputs("\r\033[K", stderr);
        p->drawn = false;
    }
}

void progress_end(struct progress *p)
{
    if (p->drawn) {
        (void)fputc('\n', stderr);
        p->drawn = false;
    }
}

uint64_t progress_elapsed_ms(const struct progress *p)
{
    return kwq_monotonic_ms() - p->start_ms;
}

double progress_rate(const struct progress *p)
{
    return p->rate > 0 ? p->rate : 0;
}
