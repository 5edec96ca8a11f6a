/* The C side of the paired Guile-vs-C lookup benchmark: benches/guile/lookup.scm
 * ("paired" mode, run by scripts/bench-guile) loads this file, compiled as a
 * shared object, into the Guile process and calls lookup_group between its
 * own groups of lookups, on the same store handle and the same hashes. Both
 * sides then run in one process, on the same caches and the same moment of a
 * shared machine, which the separate-process figures of lookup_bench.c do
 * not: there the two processes' medians drift apart by ±20% between runs.
 *
 *   double lookup_group(store, hashes, count, kind, buf, buf_len)
 *
 * Looks up the COUNT hash parts of HASHES (32 bytes each, back to back)
 * and returns the mean time per call in nanoseconds, or -1 when a lookup
 * fails or gives an unexpected answer. KIND 0: narherder_narinfo_get, the
 * text read, narherder_narinfo_free (each must hit); 1:
 * narherder_narinfo_get_text into BUF (each must hit and fit); 2:
 * narherder_narinfo_get (each must miss). */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "narherder.h"

#define HASH_LEN 32

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int lookup_one(const narherder_store *store, const uint8_t *hash, int kind, uint8_t *buf,
                      size_t buf_len)
{
    narherder_narinfo *ni = NULL;
    narherder_status s;
    size_t len = 0;
    int64_t text_len = 0;

    switch (kind) {
    case 0:
        s = narherder_narinfo_get(store, hash, HASH_LEN, &ni, NULL);
        if (s || !ni)
            return -1;
        if (!narherder_narinfo_text(ni, &len) || len == 0) {
            narherder_narinfo_free(ni);
            return -1;
        }
        narherder_narinfo_free(ni);
        return 0;
    case 1:
        s = narherder_narinfo_get_text(store, hash, HASH_LEN, buf, buf_len, &text_len, NULL);
        return s || text_len <= 0 || (size_t)text_len > buf_len ? -1 : 0;
    case 2:
        s = narherder_narinfo_get(store, hash, HASH_LEN, &ni, NULL);
        return s || ni ? -1 : 0;
    default:
        return -1;
    }
}

double lookup_group(const narherder_store *store, const uint8_t *hashes, size_t count, int kind,
                    uint8_t *buf, size_t buf_len);

double lookup_group(const narherder_store *store, const uint8_t *hashes, size_t count, int kind,
                    uint8_t *buf, size_t buf_len)
{
    double t0;
    size_t i;

    if (count == 0)
        return -1;
    t0 = now_ns();
    for (i = 0; i < count; i++)
        if (lookup_one(store, hashes + i * HASH_LEN, kind, buf, buf_len))
            return -1;
    return (now_ns() - t0) / (double)count;
}
