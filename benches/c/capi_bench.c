/* Benchmark of the C ABI's lookups against the raw sqlite3 C API on the
 * same database, in the same run (see BENCHMARKS.md, "C ABI").
 *
 *   capi_bench DIR [N] [NARINFO]
 *
 * Fills DIR/bench.db with N synthetic narinfos (default 50000) shaped like
 * NARINFO (a real narinfo file: its Signature line and size are reused)
 * through narherder_import_run, then measures, all warm:
 *   - narherder_narinfo_get of a random stored hash (+ reading the text,
 *     + narherder_narinfo_free), per call: median, p90, p99;
 *   - narherder_narinfo_get_many of 1000 random hashes (+ free), per batch;
 *   - the same two through the sqlx pool (fast reads disabled);
 *   - the equivalent raw sqlite3 point query (prepared once, text copied
 *     out), single and 1000 in one read transaction. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "narherder.h"

#define HASH_LEN 32
#define SINGLE_CALLS 20000
#define SQLX_SINGLE_CALLS 3000
#define BATCH 1000
#define BATCHES 100
#define SQLX_BATCHES 20

static const char ALPHABET[] = "0123456789abcdfghijklmnpqrsvwxyz";

static void die(const char *what, narherder_status s, narherder_error *err)
{
    fprintf(stderr, "capi_bench: %s: %s (%s)\n", what, err ? narherder_error_message(err) : "",
            narherder_status_name(s));
    exit(1);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
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

/* Sorts `v` and prints median, p90, p99 in microseconds. */
static double report(const char *name, double *v, size_t n)
{
    double med;
    qsort(v, n, sizeof *v, cmp_double);
    med = v[n / 2];
    printf("%-46s median %9.2f us   p90 %9.2f us   p99 %9.2f us   (n=%zu)\n", name, med / 1e3,
           v[n * 90 / 100] / 1e3, v[n * 99 / 100] / 1e3, n);
    return med;
}

/* The store key of a hash part: its nix-base32 digest, byte-reversed. */
static void key_of(const char *hash, unsigned char key[20])
{
    unsigned char bytes[20] = {0};
    int i, j;
    for (i = 0; i < HASH_LEN; i++) {
        int c = (int)(strchr(ALPHABET, hash[i]) - ALPHABET);
        int b = 5 * (HASH_LEN - 1 - i);
        for (j = 0; j < 5; j++)
            if ((c >> j) & 1)
                bytes[(b + j) / 8] |= (unsigned char)(1u << ((b + j) % 8));
    }
    for (i = 0; i < 20; i++)
        key[i] = bytes[19 - i];
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *dir;
    size_t n = 50000, i, b, tmpl_len;
    char *tmpl, *sig, *sig_end, signature[2048];
    char (*hashes)[HASH_LEN + 1];
    char path[4096], url[4200];
    FILE *out;
    narherder_store *store = NULL, *slow = NULL;
    narherder_error *err = NULL;
    narherder_status s;
    narherder_import_stats istats;
    narherder_store_options opts;
    narherder_slice *batch;
    double *t;
    sqlite3 *db;
    sqlite3_stmt *stmt, *begin, *commit;
    double med_get, med_many, raw_get, raw_many;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N] [NARINFO]\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (argc > 2)
        n = (size_t)strtoul(argv[2], NULL, 10);
    tmpl = read_all(argc > 3 ? argv[3] : "tests/data/guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo",
                    &tmpl_len);
    sig = strstr(tmpl, "Signature: ");
    sig_end = sig ? strchr(sig, '\n') : NULL;
    if (!sig || !sig_end || (size_t)(sig_end - sig) >= sizeof signature)
        return 1;
    memcpy(signature, sig, (size_t)(sig_end - sig));
    signature[sig_end - sig] = '\0';

    /* N distinct random hash parts and their narinfos, in one file. */
    hashes = malloc(n * sizeof *hashes);
    for (i = 0; i < n; i++) {
        int k;
        for (k = 0; k < HASH_LEN; k++)
            hashes[i][k] = ALPHABET[rng() % 32];
        /* Make them distinct: the index in the last 6 characters. */
        for (k = 0; k < 6; k++)
            hashes[i][HASH_LEN - 1 - k] = ALPHABET[(i >> (5 * k)) % 32];
        hashes[i][HASH_LEN] = '\0';
    }
    snprintf(path, sizeof path, "%s/narinfos", dir);
    out = fopen(path, "w");
    for (i = 0; i < n; i++) {
        const char *h = hashes[i];
        const char *r = hashes[(i * 7 + 3) % n];
        fprintf(out,
                "StorePath: /gnu/store/%s-package-%zu\n"
                "NarHash: sha256:0qhasy0w9w9mfv0vacgzymxl4nww8cslyza5x2ci42v7i2b13lyl\n"
                "NarSize: %zu\n"
                "References: %s-package-%zu %s-package-%zu\n"
                "System: x86_64-linux\n"
                "Deriver: %s-package-%zu.drv\n"
                "%s\n"
                "URL: nar/lzip/%s-package-%zu\nCompression: lzip\nFileSize: %zu\n"
                "URL: nar/zstd/%s-package-%zu\nCompression: zstd\nFileSize: %zu\n\n",
                h, i, 100000 + i, h, i, r, (i * 7 + 3) % n, h, i, signature, h, i, 50000 + i, h,
                i, 60000 + i);
    }
    fclose(out);

    snprintf(url, sizeof url, "sqlite://%s/bench.db", dir);
    s = narherder_store_open((const uint8_t *)url, strlen(url), NULL, 0, &store, &err);
    if (s)
        die("open", s, err);
    {
        narherder_slice p;
        double t0 = now_ns();
        p.ptr = (const uint8_t *)path;
        p.len = strlen(path);
        s = narherder_import_run(store, &p, 1, NULL, 0, &istats, sizeof istats, &err);
        if (s)
            die("import", s, err);
        printf("imported %llu narinfos (%llu rejected) in %.1f s; text %zu bytes each\n",
               (unsigned long long)(istats.inserted + istats.unchanged),
               (unsigned long long)istats.rejected, (now_ns() - t0) / 1e9, tmpl_len);
    }

    t = malloc(sizeof(double) * SINGLE_CALLS);
    batch = malloc(sizeof(narherder_slice) * BATCH);

    /* Warm-up: every narinfo looked up once (the cache then holds them all). */
    for (b = 0; b < n; b += BATCH) {
        narherder_narinfo_batch *res = NULL;
        size_t m = n - b < BATCH ? n - b : BATCH;
        for (i = 0; i < m; i++) {
            batch[i].ptr = (const uint8_t *)hashes[b + i];
            batch[i].len = HASH_LEN;
        }
        s = narherder_narinfo_get_many(store, batch, m, &res, &err);
        if (s || narherder_narinfo_batch_found(res) != m)
            die("warm-up", s, err);
        narherder_narinfo_batch_free(res);
    }
    for (i = 0; i < SINGLE_CALLS; i++) {
        narherder_narinfo *ni = NULL;
        size_t len = 0;
        const char *h = hashes[rng() % n];
        double t0 = now_ns();
        s = narherder_narinfo_get(store, (const uint8_t *)h, HASH_LEN, &ni, &err);
        if (s || !ni || !narherder_narinfo_text(ni, &len) || len < 100)
            die("get", s, err);
        narherder_narinfo_free(ni);
        t[i] = now_ns() - t0;
    }
    med_get = report("narherder_narinfo_get (hit)", t, SINGLE_CALLS);
    for (i = 0; i < SINGLE_CALLS; i++) {
        narherder_narinfo *ni = NULL;
        double t0 = now_ns();
        s = narherder_narinfo_get(store, (const uint8_t *)"00000000000000000000000000000000", HASH_LEN, &ni, &err);
        if (s || ni)
            die("get miss", s, err);
        t[i] = now_ns() - t0;
    }
    report("narherder_narinfo_get (miss)", t, SINGLE_CALLS);

    for (b = 0; b < BATCHES; b++) {
        narherder_narinfo_batch *res = NULL;
        double t0;
        for (i = 0; i < BATCH; i++) {
            batch[i].ptr = (const uint8_t *)hashes[rng() % n];
            batch[i].len = HASH_LEN;
        }
        t0 = now_ns();
        s = narherder_narinfo_get_many(store, batch, BATCH, &res, &err);
        if (s || narherder_narinfo_batch_found(res) != BATCH)
            die("get_many", s, err);
        narherder_narinfo_batch_free(res);
        t[b] = now_ns() - t0;
    }
    med_many = report("narherder_narinfo_get_many (1000 hits)", t, BATCHES);
    for (b = 0; b < BATCHES; b++) {
        bool found[BATCH];
        double t0;
        for (i = 0; i < BATCH; i++) {
            batch[i].ptr = (const uint8_t *)hashes[rng() % n];
            batch[i].len = HASH_LEN;
        }
        t0 = now_ns();
        s = narherder_narinfo_exists_many(store, batch, BATCH, found, &err);
        if (s || !found[0] || !found[BATCH - 1])
            die("exists_many", s, err);
        t[b] = now_ns() - t0;
    }
    report("narherder_narinfo_exists_many (1000)", t, BATCHES);

    /* Raw read connections without the cache. */
    memset(&opts, 0, sizeof opts);
    opts.read_cache_bytes = SIZE_MAX;
    s = narherder_store_open((const uint8_t *)url, strlen(url), &opts, sizeof opts, &slow, &err);
    if (s)
        die("open (no cache)", s, err);
    for (i = 0; i < SINGLE_CALLS; i++) {
        narherder_narinfo *ni = NULL;
        const char *h = hashes[rng() % n];
        double t0 = now_ns();
        s = narherder_narinfo_get(slow, (const uint8_t *)h, HASH_LEN, &ni, &err);
        if (s || !ni)
            die("get (no cache)", s, err);
        narherder_narinfo_free(ni);
        t[i] = now_ns() - t0;
    }
    report("narherder_narinfo_get, no cache (hit)", t, SINGLE_CALLS);
    for (b = 0; b < BATCHES; b++) {
        narherder_narinfo_batch *res = NULL;
        double t0;
        for (i = 0; i < BATCH; i++) {
            batch[i].ptr = (const uint8_t *)hashes[rng() % n];
            batch[i].len = HASH_LEN;
        }
        t0 = now_ns();
        s = narherder_narinfo_get_many(slow, batch, BATCH, &res, &err);
        if (s || narherder_narinfo_batch_found(res) != BATCH)
            die("get_many (no cache)", s, err);
        narherder_narinfo_batch_free(res);
        t[b] = now_ns() - t0;
    }
    report("narherder_narinfo_get_many, no cache (1000)", t, BATCHES);
    narherder_store_close(slow, NULL);
    narherder_store_free(slow);
    slow = NULL;

    /* The same through the sqlx pool: fast reads disabled. */
    memset(&opts, 0, sizeof opts);
    opts.disable_fast_reads = 1;
    s = narherder_store_open((const uint8_t *)url, strlen(url), &opts, sizeof opts, &slow, &err);
    if (s)
        die("open (sqlx)", s, err);
    for (i = 0; i < SQLX_SINGLE_CALLS; i++) {
        narherder_narinfo *ni = NULL;
        const char *h = hashes[rng() % n];
        double t0 = now_ns();
        s = narherder_narinfo_get(slow, (const uint8_t *)h, HASH_LEN, &ni, &err);
        if (s || !ni)
            die("get (sqlx)", s, err);
        narherder_narinfo_free(ni);
        t[i] = now_ns() - t0;
    }
    report("narherder_narinfo_get via sqlx (hit)", t, SQLX_SINGLE_CALLS);
    for (b = 0; b < SQLX_BATCHES; b++) {
        narherder_narinfo_batch *res = NULL;
        double t0;
        for (i = 0; i < BATCH; i++) {
            batch[i].ptr = (const uint8_t *)hashes[rng() % n];
            batch[i].len = HASH_LEN;
        }
        t0 = now_ns();
        s = narherder_narinfo_get_many(slow, batch, BATCH, &res, &err);
        if (s || narherder_narinfo_batch_found(res) != BATCH)
            die("get_many (sqlx)", s, err);
        narherder_narinfo_batch_free(res);
        t[b] = now_ns() - t0;
    }
    report("narherder_narinfo_get_many via sqlx (1000)", t, SQLX_BATCHES);
    narherder_store_close(slow, NULL);
    narherder_store_free(slow);

    /* Raw sqlite3 on the same file. */
    snprintf(path, sizeof path, "%s/bench.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 1;
    sqlite3_prepare_v2(db, "SELECT n.text FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = ?1",
                       -1, &stmt, NULL);
    sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL);
    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
    for (i = 0; i < 2 * SINGLE_CALLS; i++) {
        unsigned char key[20];
        const char *h = hashes[rng() % n];
        char *copy;
        int len;
        double t0 = now_ns();
        key_of(h, key);
        sqlite3_bind_blob(stmt, 1, key, 20, SQLITE_STATIC);
        if (sqlite3_step(stmt) != SQLITE_ROW)
            return 1;
        len = sqlite3_column_bytes(stmt, 0);
        copy = malloc((size_t)len + 1);
        memcpy(copy, sqlite3_column_blob(stmt, 0), (size_t)len);
        copy[len] = '\0';
        sqlite3_reset(stmt);
        free(copy);
        t[i % SINGLE_CALLS] = now_ns() - t0;
    }
    raw_get = report("raw sqlite3 point query (hit)", t, SINGLE_CALLS);
    for (b = 0; b < BATCHES; b++) {
        double t0;
        char **copies = malloc(sizeof(char *) * BATCH);
        for (i = 0; i < BATCH; i++) {
            batch[i].ptr = (const uint8_t *)hashes[rng() % n];
            batch[i].len = HASH_LEN;
        }
        t0 = now_ns();
        sqlite3_step(begin);
        sqlite3_reset(begin);
        for (i = 0; i < BATCH; i++) {
            unsigned char key[20];
            int len;
            key_of((const char *)batch[i].ptr, key);
            sqlite3_bind_blob(stmt, 1, key, 20, SQLITE_STATIC);
            if (sqlite3_step(stmt) != SQLITE_ROW)
                return 1;
            len = sqlite3_column_bytes(stmt, 0);
            copies[i] = malloc((size_t)len + 1);
            memcpy(copies[i], sqlite3_column_blob(stmt, 0), (size_t)len);
            copies[i][len] = '\0';
            sqlite3_reset(stmt);
        }
        sqlite3_step(commit);
        sqlite3_reset(commit);
        for (i = 0; i < BATCH; i++)
            free(copies[i]);
        free(copies);
        t[b] = now_ns() - t0;
    }
    raw_many = report("raw sqlite3, 1000 point queries in one txn", t, BATCHES);

    /* The two paths return the same text. */
    {
        narherder_narinfo *ni = NULL;
        unsigned char key[20];
        size_t len = 0;
        const char *text;
        narherder_narinfo_get(store, (const uint8_t *)hashes[0], HASH_LEN, &ni, NULL);
        text = narherder_narinfo_text(ni, &len);
        key_of(hashes[0], key);
        sqlite3_bind_blob(stmt, 1, key, 20, SQLITE_STATIC);
        if (sqlite3_step(stmt) != SQLITE_ROW || (size_t)sqlite3_column_bytes(stmt, 0) != len ||
            memcmp(sqlite3_column_blob(stmt, 0), text, len) != 0) {
            fprintf(stderr, "capi_bench: narherder and sqlite3 disagree\n");
            return 1;
        }
        sqlite3_reset(stmt);
        narherder_narinfo_free(ni);
    }
    sqlite3_finalize(stmt);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);

    printf("ratios: get %.2fx raw, get_many %.2fx raw; targets: get <= 5 us (%s), get_many <= 2 ms (%s)\n",
           med_get / raw_get, med_many / raw_many, med_get <= 5000 ? "met" : "MISSED",
           med_many <= 2e6 ? "met" : "MISSED");
    narherder_store_close(store, NULL);
    narherder_store_free(store);
    free(t);
    free(batch);
    free(hashes);
    free(tmpl);
    return 0;
}
