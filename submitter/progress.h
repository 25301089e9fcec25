/*
 * progress.h - showing how far a queue is from drained, on stderr: a bar
 * redrawn in place on a terminal (done/total, percent, rate, ETA), or a
 * plain line every interval otherwise (logs, CI). Other output written
 * while a bar is shown goes through progress_clear() first.
 */
#ifndef KWQ_PROGRESS_H
#define KWQ_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress {
    bool tty;              /* stderr is a terminal: redraw a bar in place */
    bool quiet;            /* show nothing */
    bool drawn;            /* a bar is on the screen (the cursor is at its end) */
    uint64_t interval_ms;  /* plain mode: ms between lines */
    uint64_t start_ms;     /* monotonic start */
    uint64_t last_ms;      /* monotonic time of the last update */
    uint64_t last_line_ms; /* plain mode: time of the last line */
    uint64_t last_done;    /* processed count at the last update */
    uint64_t first_done;   /* processed count at the first update: the baseline */
    bool sampled;          /* first_done is set */
    double rate;           /* smoothed items/s, < 0 before the first estimate */
};

/* What a progress line shows. */
struct progress_counts {
    uint64_t done;    /* finished: acked */
    uint64_t dead;    /* finished: dead-lettered */
    uint64_t total;   /* done + dead + still to do */
    uint64_t workers; /* running workers, shown when non-zero */
};

void progress_init(struct progress *p, bool quiet, uint64_t interval_ms);

/*
 * Feed the rate estimate with the processed count fin at monotonic time
 * now_ms (progress_update does it; public for tests). No estimate during
 * the first PROGRESS_WARMUP_MS nor before anything was processed; the first
 * one is the average since the start, later ones are smoothed.
 */
void progress_sample(struct progress *p, uint64_t fin, uint64_t now_ms);

#define PROGRESS_WARMUP_MS 1000

/* Show the counts (a plain line only when the interval has passed, or when forced). */
void progress_update(struct progress *p, const struct progress_counts *c, bool force);

/* Remove the bar so that other lines can be written; the next update redraws it. */
void progress_clear(struct progress *p);

/* Leave the last bar on screen and end its line. */
void progress_end(struct progress *p);

/*
 * Render one progress text into buf (pure, for tests): with width > 0 a bar
 * of that many cells first. eta_ms < 0 prints "ETA -", and an ETA of 100
 * days or more "ETA >99d" (a rate that low is no estimate).
 */
void progress_format(char *buf, size_t len, const struct progress_counts *c, double rate,
                     int64_t eta_ms, int width);

/* Elapsed ms since progress_init. */
uint64_t progress_elapsed_ms(const struct progress *p);

/* The smoothed rate in items/s (0 before the first estimate). */
double progress_rate(const struct progress *p);

#endif /* KWQ_PROGRESS_H */
