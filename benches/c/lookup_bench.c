/* The C side of the Guile-vs-C lookup benchmark (BENCHMARKS.md, "Guile";
 * scripts/bench-guile runs it next to benches/guile/lookup.scm on the same
 * database, in the same run).
 *
 *   lookup_bench URL HASHES-FILE CALLS
 *
 * Opens the store at URL, warms it up (every hash of HASHES-FILE, one per
 * line, looked up once), then times, in groups of GROUP calls through
 * lookup_group (benches/c/lookup_group.c, linked in; the hashes drawn
 * before the clock starts), CALLS lookups of random hashes of the file
 * (narherder_narinfo_get + reading the text + narherder_narinfo_free),
 * CALLS of the same through narherder_narinfo_get_text into one reusable
 * buffer (nothing allocated; the counterpart of Guile's
 * lookup-narinfo-bytes!) and CALLS lookups of a missing hash. It prints
 * "c hit MEDIAN P90", "c bytes …" and "c miss …": the per-call time of the
 * median and 90th percentile group, in nanoseconds. Timing groups rather
 * than single calls keeps the clock's own cost, which differs between C
 * and Guile, out of the figures. Then "c batch MEDIAN P90" for
 * narherder_narinfo_get_many of 1000 random hashes (the texts read), per
 * batch. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "narherder.h"

/* benches/c/lookup_group.c, linked in. */
double lookup_group(const narherder_store *store, const uint8_t *hashes, size_t count, int kind,
                    uint8_t *buf, size_t buf_len);

#define HASH_LEN 32
#define BATCH 1000
#define BATCHES 100
#define GROUP 100

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("c %s %.0f %.0f\n", name, v[n / 2], v[n * 90 / 100]);
}

static void die(const char *what, narherder_status s, narherder_error *err)
{
    fprintf(stderr, "lookup_bench: %s: %s (%s)\n", what, err ? narherder_error_message(err) : "",
            narherder_status_name(s));
    exit(1);
}

int main(int argc, char **argv)
{
    narherder_store *store = NULL;
    narherder_error *err = NULL;
    narherder_status s;
    char (*hashes)[HASH_LEN + 1] = NULL;
    char line[256];
    size_t n = 0, cap = 0, calls, i, b;
    narherder_slice *slices;
    double *t;
    FILE *f;

    if (argc != 4) {
        fprintf(stderr, "usage: %s URL HASHES-FILE CALLS\n", argv[0]);
        return 2;
    }
    calls = (size_t)strtoul(argv[3], NULL, 10);
    if (calls < BATCHES)
        calls = BATCHES;
    f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        if (strlen(line) < HASH_LEN)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            hashes = realloc(hashes, cap * sizeof *hashes);
            if (!hashes)
                return 1;
        }
        memcpy(hashes[n], line, HASH_LEN);
        hashes[n][HASH_LEN] = '\0';
        n++;
    }
    fclose(f);
    if (n == 0)
        return 1;

    s = narherder_store_open((const uint8_t *)argv[1], strlen(argv[1]), NULL, 0, &store, &err);
    if (s)
        die("open", s, err);
    slices = malloc(sizeof *slices * BATCH);
    t = malloc(sizeof *t * calls);
    if (!slices || !t)
        return 1;

    for (i = 0; i < n; i++) {
        narherder_narinfo *ni = NULL;
        s = narherder_narinfo_get(store, (const uint8_t *)hashes[i], HASH_LEN, &ni, &err);
        if (s || !ni)
            die("warm-up", s, err);
        narherder_narinfo_free(ni);
    }
    {
        /* The group's hashes are copied out before the clock starts (into
         * one flat array), as a server has the hash it was just asked for
         * at hand (Guile's side makes fresh strings likewise). */
        static uint8_t picks[GROUP * HASH_LEN], buf[65536];
        static const char *const names[] = {"hit", "bytes", "miss"};
        size_t groups = calls / GROUP, g;
        int kind;
        for (kind = 0; kind < 3; kind++) {
            for (g = 0; g < groups; g++) {
                for (i = 0; i < GROUP; i++)
                    memcpy(picks + i * HASH_LEN,
                           kind == 2 ? "00000000000000000000000000000000" : hashes[rng() % n],
                           HASH_LEN);
                t[g] = lookup_group(store, picks, GROUP, kind, buf, sizeof buf);
                if (t[g] < 0)
                    die(names[kind], NARHERDER_STATUS_OK, NULL);
            }
            report(names[kind], t, groups);
        }
    }
    for (b = 0; b < BATCHES; b++) {
        narherder_narinfo_batch *res = NULL;
        double t0;
        for (i = 0; i < BATCH; i++) {
            slices[i].ptr = (const uint8_t *)hashes[rng() % n];
            slices[i].len = HASH_LEN;
        }
        t0 = now_ns();
        s = narherder_narinfo_get_many(store, slices, BATCH, &res, &err);
        if (s || narherder_narinfo_batch_found(res) != BATCH)
            die("get_many", s, err);
        for (i = 0; i < BATCH; i++) {
            size_t len = 0;
            if (!narherder_narinfo_text(narherder_narinfo_batch_get(res, i), &len) || len == 0)
                die("batch text", s, err);
        }
        narherder_narinfo_batch_free(res);
        t[b] = now_ns() - t0;
    }
    report("batch", t, BATCHES);
    narherder_store_close(store, NULL);
    narherder_store_free(store);
    free(t);
    free(slices);
    free(hashes);
    return 0;
}
