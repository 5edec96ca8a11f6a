/* A store through the C ABI, on the database named by NARHERDER_C_URL
 * (SQLite or PostgreSQL): add, get, get-many, exists-many, remove, roots,
 * GC, import, analytics, and every call on a closed store. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char *hello, *hello210, *sed, *synth;
static size_t hello_len, hello210_len, sed_len, synth_len;

static void add(narherder_store *store, const char *text, size_t len, narherder_add_outcome want)
{
    narherder_error *err = NULL;
    narherder_add_outcome got = 99;
    OK(narherder_narinfo_add(store, (const uint8_t *)text, len, NARHERDER_ADD_MODE_KEEP, &got, &err), err);
    CHECK(got == want);
}

static void add_get_remove(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_narinfo *ni = NULL;
    narherder_add_outcome outcome = 99;

    add(store, hello, hello_len, NARHERDER_ADD_OUTCOME_INSERTED);
    add(store, hello210, hello210_len, NARHERDER_ADD_OUTCOME_INSERTED);
    add(store, sed, sed_len, NARHERDER_ADD_OUTCOME_INSERTED);
    add(store, synth, synth_len, NARHERDER_ADD_OUTCOME_INSERTED);
    add(store, hello, hello_len, NARHERDER_ADD_OUTCOME_UNCHANGED);

    /* A different text for a stored hash: CONFLICT unless replacing. */
    {
        char *changed = malloc(hello_len + 1);
        char *sys;
        CHECK(changed != NULL);
        memcpy(changed, hello, hello_len + 1);
        sys = strstr(changed, "x86_64-linux");
        CHECK(sys != NULL);
        memcpy(sys, "mips64-linux", 12);
        EXPECT(NARHERDER_STATUS_CONFLICT,
               narherder_narinfo_add(store, (const uint8_t *)changed, hello_len,
                                     NARHERDER_ADD_MODE_KEEP, &outcome, &err), err);
        CHECK(outcome == 99);
        OK(narherder_narinfo_add(store, (const uint8_t *)changed, hello_len,
                                 NARHERDER_ADD_MODE_REPLACE, &outcome, &err), err);
        CHECK(outcome == NARHERDER_ADD_OUTCOME_REPLACED);
        OK(narherder_narinfo_add(store, (const uint8_t *)hello, hello_len,
                                 NARHERDER_ADD_MODE_REPLACE, NULL, &err), err);
        free(changed);
    }
    /* Lookups never serve a replaced text (the read cache follows commits). */
    {
        char *changed = malloc(hello_len + 1);
        memcpy(changed, hello, hello_len + 1);
        memcpy(strstr(changed, "x86_64-linux"), "mips64-linux", 12);
        OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
        CHECK(strcmp(narherder_narinfo_system(ni), "x86_64-linux") == 0);
        narherder_narinfo_free(ni);
        OK(narherder_narinfo_add(store, (const uint8_t *)changed, hello_len,
                                 NARHERDER_ADD_MODE_REPLACE, NULL, &err), err);
        OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
        CHECK(strcmp(narherder_narinfo_system(ni), "mips64-linux") == 0);
        narherder_narinfo_free(ni);
        OK(narherder_narinfo_add(store, (const uint8_t *)hello, hello_len,
                                 NARHERDER_ADD_MODE_REPLACE, NULL, &err), err);
        OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
        CHECK(strcmp(narherder_narinfo_text(ni, NULL), hello) == 0);
        narherder_narinfo_free(ni);
        ni = NULL;
        free(changed);
    }
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_narinfo_add(store, (const uint8_t *)hello, hello_len, 7, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_BAD_NARINFO, narherder_narinfo_add(store, S("NarSize: 1\n"), 0, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_add(store, NULL, 5, 0, NULL, &err), err);
    {
        /* A narinfo of another store directory. */
        size_t n;
        char *nix = read_data("nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo", &n);
        EXPECT(NARHERDER_STATUS_STORE, narherder_narinfo_add(store, (const uint8_t *)nix, n, 0, NULL, &err), err);
        free(nix);
    }

    /* Get: a hit with every accessor. */
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    {
        size_t n = 0;
        CHECK(strcmp(narherder_narinfo_text(ni, &n), hello) == 0 && n == hello_len);
    }
    CHECK(strcmp(narherder_narinfo_store_path(ni), "/gnu/store/" GUIX_HELLO_HASH "-hello-2.12.2") == 0);
    CHECK(strcmp(narherder_narinfo_hash(ni), GUIX_HELLO_HASH) == 0);
    CHECK(narherder_narinfo_nar_size(ni) == 282616);
    CHECK(narherder_narinfo_references_count(ni) == 3);
    CHECK(strcmp(narherder_narinfo_reference(ni, 0), GUIX_HELLO_HASH "-hello-2.12.2") == 0);
    CHECK(strcmp(narherder_narinfo_system(ni), "x86_64-linux") == 0);
    CHECK(narherder_narinfo_files_count(ni) == 2);
    CHECK(strcmp(narherder_narinfo_file_compression(ni, 1), "zstd") == 0);
    narherder_narinfo_free(ni);

    /* Misses are successes with NULL; so are strings that are no hash part. */
    ni = (narherder_narinfo *)&ni; /* garbage that must be overwritten */
    OK(narherder_narinfo_get(store, S(MISSING_HASH), &ni, &err), err);
    CHECK(ni == NULL);
    OK(narherder_narinfo_get(store, S("not-a-hash"), &ni, &err), err);
    CHECK(ni == NULL);
    OK(narherder_narinfo_get(store, NULL, 0, &ni, &err), err);
    CHECK(ni == NULL);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get(store, S(GUIX_HELLO_HASH), NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get(store, NULL, 32, &ni, &err), err);

    /* Get-text: the text copied into the caller's buffer. */
    {
        char buf[4096];
        int64_t len = 0;
        memset(buf, 'x', sizeof buf);
        OK(narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), (uint8_t *)buf, sizeof buf, &len, &err), err);
        CHECK(len == (int64_t)hello_len && memcmp(buf, hello, hello_len) == 0 && buf[hello_len] == 'x');
        /* Too small a buffer: the length, and the buffer untouched. */
        memset(buf, 'x', sizeof buf);
        len = 0;
        OK(narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), (uint8_t *)buf, 10, &len, &err), err);
        CHECK(len == (int64_t)hello_len && buf[0] == 'x');
        OK(narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), NULL, 0, &len, &err), err);
        CHECK(len == (int64_t)hello_len);
        /* Misses (and junk) are -1. */
        OK(narherder_narinfo_get_text(store, S(MISSING_HASH), (uint8_t *)buf, sizeof buf, &len, &err), err);
        CHECK(len == -1 && buf[0] == 'x');
        OK(narherder_narinfo_get_text(store, S("not-a-hash"), NULL, 0, &len, &err), err);
        CHECK(len == -1);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT,
               narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), NULL, 10, &len, &err), err);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT,
               narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), (uint8_t *)buf, sizeof buf, NULL, &err), err);
    }

    /* Get-text in place: the hash goes in, the text comes out. */
    {
        uint8_t io[4096];
        memset(io, 'x', sizeof io);
        memcpy(io, GUIX_HELLO_HASH, 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, sizeof io, &err) == (int64_t)hello_len);
        CHECK(memcmp(io, hello, hello_len) == 0 && io[hello_len] == 'x');
        /* Too small: the length, and the hash left for a second call. */
        memset(io, 'x', sizeof io);
        memcpy(io, GUIX_HELLO_HASH, 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, 40, &err) == (int64_t)hello_len);
        CHECK(memcmp(io, GUIX_HELLO_HASH, 32) == 0 && io[32] == 'x');
        /* Misses, junk and non-UTF-8 are -1. */
        memcpy(io, MISSING_HASH, 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, sizeof io, &err) == -1);
        CHECK(memcmp(io, MISSING_HASH, 32) == 0);
        memset(io, '-', 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, sizeof io, &err) == -1);
        memset(io, 0xff, 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, sizeof io, &err) == -1);
        /* Failures are -2 with an error object. */
        err = NULL;
        CHECK(narherder_narinfo_get_text_in_place(store, io, 31, &err) == -2);
        EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_error_status(err), err);
        CHECK(narherder_narinfo_get_text_in_place(store, NULL, 64, &err) == -2);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_error_status(err), err);
        CHECK(narherder_narinfo_get_text_in_place(store, NULL, 64, NULL) == -2);
    }

    /* Get-many: hits, misses, duplicates, junk; order kept. */
    {
        narherder_narinfo_batch *batch = NULL;
        narherder_slice hashes[5];
        hashes[0] = slice_of(GUIX_HELLO_HASH);
        hashes[1] = slice_of(MISSING_HASH);
        hashes[2] = slice_of(GUIX_SED_HASH);
        hashes[3] = slice_of(GUIX_HELLO_HASH);
        hashes[4] = slice_of("junk");
        OK(narherder_narinfo_get_many(store, hashes, 5, &batch, &err), err);
        CHECK(narherder_narinfo_batch_count(batch) == 5);
        CHECK(narherder_narinfo_batch_found(batch) == 3);
        CHECK(strcmp(narherder_narinfo_hash(narherder_narinfo_batch_get(batch, 0)), GUIX_HELLO_HASH) == 0);
        CHECK(narherder_narinfo_batch_get(batch, 1) == NULL);
        CHECK(strcmp(narherder_narinfo_text(narherder_narinfo_batch_get(batch, 2), NULL), sed) == 0);
        CHECK(strcmp(narherder_narinfo_text(narherder_narinfo_batch_get(batch, 3), NULL), hello) == 0);
        CHECK(narherder_narinfo_batch_get(batch, 4) == NULL);
        CHECK(narherder_narinfo_batch_get(batch, 5) == NULL);
        /* All texts in one buffer. */
        {
            size_t total = narherder_narinfo_batch_texts(batch, NULL, 0, NULL);
            int64_t lens[5] = {7, 7, 7, 7, 7};
            char *buf;
            CHECK(total == 2 * hello_len + sed_len);
            buf = malloc(total);
            CHECK(buf != NULL);
            /* Too small: nothing written. */
            CHECK(narherder_narinfo_batch_texts(batch, (uint8_t *)buf, total - 1, lens) == total);
            CHECK(lens[0] == 7);
            CHECK(narherder_narinfo_batch_texts(batch, (uint8_t *)buf, total, lens) == total);
            CHECK(lens[0] == (int64_t)hello_len && lens[1] == -1 && lens[2] == (int64_t)sed_len &&
                  lens[3] == (int64_t)hello_len && lens[4] == -1);
            CHECK(memcmp(buf, hello, hello_len) == 0 && memcmp(buf + hello_len, sed, sed_len) == 0 &&
                  memcmp(buf + hello_len + sed_len, hello, hello_len) == 0);
            free(buf);
            CHECK(narherder_narinfo_batch_texts(NULL, NULL, 0, lens) == 0);
        }
        narherder_narinfo_batch_free(batch);
        batch = NULL;
        OK(narherder_narinfo_get_many(store, NULL, 0, &batch, &err), err);
        CHECK(batch != NULL && narherder_narinfo_batch_count(batch) == 0);
        narherder_narinfo_batch_free(batch);
        batch = NULL;
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get_many(store, NULL, 2, &batch, &err), err);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get_many(store, hashes, 5, NULL, &err), err);
        hashes[1].ptr = NULL;
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get_many(store, hashes, 5, &batch, &err), err);
        CHECK(batch == NULL);
    }

    /* Exists-many. */
    {
        narherder_slice hashes[4];
        bool found[4] = {true, true, true, true};
        hashes[0] = slice_of(MISSING_HASH);
        hashes[1] = slice_of(GUIX_HELLO_210_HASH);
        hashes[2] = slice_of("x");
        hashes[3] = slice_of(GUIX_SYNTH_HASH);
        OK(narherder_narinfo_exists_many(store, hashes, 4, found, &err), err);
        CHECK(!found[0] && found[1] && !found[2] && found[3]);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_exists_many(store, hashes, 4, NULL, &err), err);
        OK(narherder_narinfo_exists_many(store, NULL, 0, NULL, &err), err);
    }

    /* Remove. */
    {
        bool removed = false;
        OK(narherder_narinfo_remove(store, S(GUIX_SYNTH_HASH), &removed, &err), err);
        CHECK(removed);
        OK(narherder_narinfo_remove(store, S(GUIX_SYNTH_HASH), &removed, &err), err);
        CHECK(!removed);
        OK(narherder_narinfo_get(store, S(GUIX_SYNTH_HASH), &ni, &err), err);
        CHECK(ni == NULL);
        EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_remove(store, NULL, 1, &removed, &err), err);
    }
}

static void info(narherder_store *store)
{
    narherder_error *err = NULL;
    char *dir = NULL;
    const char *backend = NULL;
    const char *url = env("NARHERDER_C_URL");
    OK(narherder_store_dir(store, &dir, &err), err);
    CHECK(strcmp(dir, "/gnu/store") == 0);
    narherder_string_free(dir);
    OK(narherder_store_backend(store, &backend, &err), err);
    CHECK(strcmp(backend, strncmp(url, "sqlite", 6) == 0 ? "sqlite" : "postgres") == 0);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_store_dir(store, NULL, &err), err);
}

static void analytics(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_analytics_report *report = NULL;
    narherder_request reqs[7];
    size_t i;
    const char *hashes[7] = {GUIX_HELLO_HASH, GUIX_HELLO_HASH, GUIX_HELLO_HASH, MISSING_HASH,
                             MISSING_HASH,    "junk",          GUIX_HELLO_HASH};
    uint32_t kinds[7] = {NARHERDER_REQUEST_KIND_NARINFO_HIT,  NARHERDER_REQUEST_KIND_NARINFO_HIT,
                         NARHERDER_REQUEST_KIND_NARINFO_HIT,  NARHERDER_REQUEST_KIND_NARINFO_MISS,
                         NARHERDER_REQUEST_KIND_NARINFO_MISS, NARHERDER_REQUEST_KIND_NARINFO_MISS,
                         NARHERDER_REQUEST_KIND_NAR_DOWNLOAD};
    for (i = 0; i < 7; i++) {
        reqs[i].kind = kinds[i];
        reqs[i].hash = (const uint8_t *)hashes[i];
        reqs[i].hash_len = strlen(hashes[i]);
    }
    OK(narherder_analytics_record(store, S("c-test"), reqs, 7, &err), err);
    OK(narherder_analytics_read(store, 1, 10, &report, &err), err);
    CHECK(narherder_analytics_report_narinfo_hits(report) == 3);
    CHECK(narherder_analytics_report_narinfo_misses(report) == 3);
    CHECK(narherder_analytics_report_nar_downloads(report) == 1);
    CHECK(narherder_analytics_report_top_count(report) == 1);
    CHECK(strcmp(narherder_analytics_report_top_hash(report, 0), GUIX_HELLO_HASH) == 0);
    CHECK(narherder_analytics_report_top_narinfo_hits(report, 0) == 3);
    CHECK(narherder_analytics_report_top_nar_downloads(report, 0) == 1);
    CHECK(narherder_analytics_report_top_hash(report, 1) == NULL);
    CHECK(narherder_analytics_report_missed_count(report) == 1);
    CHECK(strcmp(narherder_analytics_report_missed_hash(report, 0), MISSING_HASH) == 0);
    CHECK(narherder_analytics_report_missed_misses(report, 0) == 2);
    CHECK(narherder_analytics_report_never_requested(report) == 2); /* hello-2.10 and sed */
    narherder_analytics_report_free(report);

    reqs[0].hash = (const uint8_t *)"junk";
    reqs[0].hash_len = 4;
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_analytics_record(store, S("c-test"), reqs, 1, &err), err);
    reqs[0].kind = 9;
    OK(narherder_analytics_record(store, S("c-test"), NULL, 0, &err), err);
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_analytics_record(store, S("c-test"), reqs, 1, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_analytics_record(store, NULL, 4, reqs, 1, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_analytics_record(store, S("n"), NULL, 1, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_analytics_read(store, 1, 1, NULL, &err), err);
}

static void roots_and_gc(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_root_list *list = NULL;
    narherder_narinfo *ni = NULL;
    narherder_slice items[2];
    bool removed = false;
    narherder_gc_options opts;
    narherder_gc_stats stats;
    char logs[512];
    char storage[512];

    items[0] = slice_of("/gnu/store/" GUIX_HELLO_HASH "-hello-2.12.2");
    items[1] = slice_of(GUIX_SED_HASH);
    OK(narherder_roots_set(store, S("channel/test"), items, 2, -1, &err), err);
    items[0] = slice_of(GUIX_HELLO_210_HASH "-hello-2.10");
    OK(narherder_roots_add(store, S("other"), items, 1, 4102444800, &err), err);
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_roots_add(store, S(""), items, 1, -1, &err), err);
    items[1] = slice_of("xyz");
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_roots_add(store, S("bad"), items, 2, -1, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_roots_add(store, NULL, 3, items, 1, -1, &err), err);

    OK(narherder_roots_list(store, &list, &err), err);
    CHECK(narherder_root_list_count(list) == 2);
    CHECK(strcmp(narherder_root_list_name(list, 0), "channel/test") == 0);
    CHECK(narherder_root_list_expires_at(list, 0) == -1);
    CHECK(narherder_root_list_updated_at(list, 0) > 0);
    CHECK(narherder_root_list_items_count(list, 0) == 2);
    {
        /* Items sorted by hash part: 8kib… (sed) before cs56… (hello). */
        CHECK(strcmp(narherder_root_list_item_hash(list, 0, 0), GUIX_SED_HASH) == 0);
        CHECK(strcmp(narherder_root_list_item_store_path(list, 0, 1),
                     "/gnu/store/" GUIX_HELLO_HASH "-hello-2.12.2") == 0);
    }
    CHECK(strcmp(narherder_root_list_name(list, 1), "other") == 0);
    CHECK(narherder_root_list_expires_at(list, 1) == 4102444800);
    CHECK(narherder_root_list_name(list, 2) == NULL);
    CHECK(narherder_root_list_item_hash(list, 0, 2) == NULL);
    narherder_root_list_free(list);

    OK(narherder_roots_remove(store, S("other"), &removed, &err), err);
    CHECK(removed);
    OK(narherder_roots_remove(store, S("other"), &removed, &err), err);
    CHECK(!removed);

    /* Build logs of hello-2.10 (about to be garbage) and of hello (live),
       written before the grace cutoff. */
    {
        const char *names[2] = {GUIX_HELLO_210_HASH "-hello-2.10", GUIX_HELLO_HASH "-hello-2.12.2"};
        int i;
        snprintf(logs, sizeof logs, "%s/gc-storage", env("NARHERDER_C_TMP"));
        CHECK(mkdir(logs, 0755) == 0);
        strcat(logs, "/log");
        CHECK(mkdir(logs, 0755) == 0);
        for (i = 0; i < 2; i++) {
            char path[600];
            FILE *f;
            snprintf(path, sizeof path, "%s/%s", logs, names[i]);
            f = fopen(path, "w");
            CHECK(f != NULL);
            fputs("build log\n", f);
            fclose(f);
        }
    }

    /* GC: hello-2.10 is now garbage once older than the grace period. */
    sleep(2);
    memset(&opts, 0, sizeof opts);
    opts.dry_run = true;
    opts.grace_seconds = 0;
    OK(narherder_gc_run(store, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    CHECK(stats.dry_run);
    CHECK(stats.dead == 1);
    CHECK(stats.live == 2);
    CHECK(stats.nar_bytes_freed == 204328);
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_210_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    narherder_narinfo_free(ni);

    /* A caller with an older, shorter stats struct: nothing written past it. */
    {
        unsigned char buf[sizeof(narherder_gc_stats) + 16];
        size_t short_size = offsetof(narherder_gc_stats, kept);
        size_t i;
        memset(buf, 0xAA, sizeof buf);
        /* An older, shorter options struct too: fields beyond it take defaults. */
        OK(narherder_gc_run(store, &opts, offsetof(narherder_gc_options, batch_size),
                            (narherder_gc_stats *)(void *)buf, short_size, &err), err);
        for (i = short_size; i < sizeof buf; i++)
            CHECK(buf[i] == 0xAA);
    }

    opts.dry_run = false;
    opts.max_delete = 10;
    strcpy(storage, logs);
    storage[strlen(storage) - strlen("/log")] = '\0';
    opts.storage_dir = (const uint8_t *)storage;
    opts.storage_dir_len = strlen(storage);
    OK(narherder_gc_run(store, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    opts.storage_dir = NULL;
    opts.storage_dir_len = 0;
    CHECK(!stats.dry_run);
    CHECK(stats.deleted == 1);
    CHECK(stats.logs_removed == 1);
    strcat(logs, "/" GUIX_HELLO_210_HASH "-hello-2.10");
    CHECK(access(logs, F_OK) != 0);
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_210_HASH), &ni, &err), err);
    CHECK(ni == NULL);
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    narherder_narinfo_free(ni);

    /* Without a root in force a collection is refused (unless forced). */
    OK(narherder_roots_set(store, S("channel/test"), items, 0, 1, &err), err); /* expired */
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_gc_run(store, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_gc_run(store, NULL, 0, &stats, sizeof stats, &err), err);
    opts.dry_run = true;
    opts.force = true;
    OK(narherder_gc_run(store, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    CHECK(stats.dead == 2);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_gc_run(store, &opts, sizeof opts, NULL, 8, &err), err);
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_gc_run(store, &opts, sizeof opts, &stats, 0, &err), err);
    OK(narherder_roots_remove(store, S("channel/test"), NULL, &err), err);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[4200];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(text, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static void import(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_import_stats stats;
    narherder_import_options opts;
    narherder_keyring *acl = NULL;
    narherder_slice paths[1];
    char dir[4096], acl_path[4096];
    size_t nix_len;
    char *nix = read_data("nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo", &nix_len);

    snprintf(dir, sizeof dir, "%s/import", env("NARHERDER_C_TMP"));
    CHECK(mkdir(dir, 0700) == 0);
    write_file(dir, "a.narinfo", hello210, hello210_len);
    write_file(dir, "b.narinfo", synth, synth_len);
    write_file(dir, "c.narinfo", "StorePath: nowhere\n", 19);
    write_file(dir, "d.narinfo", nix, nix_len);
    paths[0] = slice_of(dir);

    memset(&stats, 0, sizeof stats);
    OK(narherder_import_run(store, paths, 1, NULL, 0, &stats, sizeof stats, &err), err);
    CHECK(stats.files == 4);
    CHECK(stats.inserted == 2);
    CHECK(stats.rejected == 2);
    CHECK(stats.unchanged == 0);

    /* Only narinfos signed by a trusted key. */
    data_path(acl_path, sizeof acl_path, "guix/keys/acl");
    {
        narherder_slice kp[1];
        kp[0] = slice_of(acl_path);
        OK(narherder_keyring_load(kp, 1, &acl, &err), err);
    }
    memset(&opts, 0, sizeof opts);
    opts.keyring = acl;
    opts.batch_size = 1;
    OK(narherder_import_run(store, paths, 1, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    CHECK(stats.unchanged == 1);
    CHECK(stats.inserted == 0);
    CHECK(stats.rejected == 3);
    narherder_keyring_free(acl);

    /* A dry run checks and counts, writes nothing. */
    opts.keyring = NULL;
    opts.dry_run = true;
    opts.bulk_load = NARHERDER_BULK_LOAD_NEVER;
    OK(narherder_import_run(store, paths, 1, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    CHECK(stats.checked == 2 && stats.inserted == 0 && stats.unchanged == 0);
    opts.dry_run = false;
    opts.bulk_load = 3;
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_import_run(store, paths, 1, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    opts.bulk_load = 0;
    opts.nar_files = 9;
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_import_run(store, paths, 1, &opts, sizeof opts, &stats, sizeof stats, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_import_run(store, NULL, 1, NULL, 0, &stats, sizeof stats, &err), err);
    free(nix);
}

static void closed(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_narinfo *ni = NULL;
    narherder_narinfo_batch *batch = NULL;
    narherder_root_list *list = NULL;
    narherder_gc_stats stats;
    narherder_slice h[1];
    bool found[1];
    char *dir = NULL;
    h[0] = slice_of(GUIX_HELLO_HASH);

    OK(narherder_store_close(store, &err), err);
    OK(narherder_store_close(store, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    {
        int64_t len = 0;
        EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_get_text(store, S(GUIX_HELLO_HASH), NULL, 0, &len, &err), err);
        uint8_t io[64];
        memcpy(io, GUIX_HELLO_HASH, 32);
        CHECK(narherder_narinfo_get_text_in_place(store, io, sizeof io, &err) == -2);
        EXPECT(NARHERDER_STATUS_CLOSED, narherder_error_status(err), err);
    }
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_add(store, (const uint8_t *)hello, hello_len, 0, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_get_many(store, h, 1, &batch, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_exists_many(store, h, 1, found, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_narinfo_remove(store, S(GUIX_HELLO_HASH), NULL, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_roots_list(store, &list, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_roots_add(store, S("r"), h, 1, -1, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_gc_run(store, NULL, 0, &stats, sizeof stats, &err), err);
    EXPECT(NARHERDER_STATUS_CLOSED, narherder_store_dir(store, &dir, &err), err);
    CHECK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, NULL) == NARHERDER_STATUS_CLOSED);
    CHECK(ni == NULL && batch == NULL && list == NULL && dir == NULL);
    narherder_store_free(store);
}

int main(void)
{
    narherder_store *store;
    hello = read_data(GUIX_HELLO, &hello_len);
    hello210 = read_data(GUIX_HELLO_210, &hello210_len);
    sed = read_data(GUIX_SED, &sed_len);
    synth = read_data(GUIX_SYNTH, &synth_len);

    store = open_test_store();
    add_get_remove(store);
    info(store);
    analytics(store);
    roots_and_gc(store);
    import(store);
    closed(store);

    /* Reopening sees what was written. */
    store = open_test_store();
    {
        narherder_error *err = NULL;
        narherder_narinfo *ni = NULL;
        OK(narherder_narinfo_get(store, S(GUIX_SED_HASH), &ni, &err), err);
        CHECK(ni != NULL);
        narherder_narinfo_free(ni);
    }
    close_and_free(store);

    free(hello);
    free(hello210);
    free(sed);
    free(synth);
    puts("store: ok");
    return 0;
}
