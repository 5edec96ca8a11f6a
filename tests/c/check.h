/* Helpers shared by the C test programs (run by tests/capi.rs).
 *
 * Environment: NARHERDER_C_URL  database URL of a fresh, empty store
 *              NARHERDER_C_DATA the project's tests/data directory
 *              NARHERDER_C_TMP  a scratch directory of this program's own */
#ifndef NARHERDER_TEST_CHECK_H
#define NARHERDER_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "narherder.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* Expects `status` (with its error object `err`, freed here) to be `want`. */
#define EXPECT(want, status, err) expect_status((want), (status), &(err), __FILE__, __LINE__)
#define OK(status, err) EXPECT(NARHERDER_STATUS_OK, (status), (err))

static inline void expect_status(narherder_status want, narherder_status got, narherder_error **err,
                                 const char *file, int line)
{
    if (got != want) {
        fprintf(stderr, "%s:%d: expected %s, got %s: %s\n", file, line, narherder_status_name(want),
                narherder_status_name(got), *err ? narherder_error_message(*err) : "(no error object)");
        exit(1);
    }
    if (want == NARHERDER_STATUS_OK) {
        if (*err != NULL) {
            fprintf(stderr, "%s:%d: error object set on success\n", file, line);
            exit(1);
        }
    } else {
        /* Every failure gives an error object with the same status and a message. */
        if (*err == NULL || narherder_error_status(*err) != got ||
            strlen(narherder_error_message(*err)) == 0) {
            fprintf(stderr, "%s:%d: missing or inconsistent error object\n", file, line);
            exit(1);
        }
        narherder_error_free(*err);
        *err = NULL;
    }
}

/* (ptr, len) of a C string. */
#define S(str) (const uint8_t *)(str), strlen(str)

static inline narherder_slice slice_of(const char *s)
{
    narherder_slice sl;
    sl.ptr = (const uint8_t *)s;
    sl.len = strlen(s);
    return sl;
}

static inline const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "environment variable %s is not set (run through cargo test --test capi)\n",
                name);
        exit(2);
    }
    return v;
}

/* A path under NARHERDER_C_DATA, in a static buffer per call site use. */
static inline void data_path(char *out, size_t size, const char *rel)
{
    int n = snprintf(out, size, "%s/%s", env("NARHERDER_C_DATA"), rel);
    CHECK(n > 0 && (size_t)n < size);
}

/* Reads a whole file; the caller frees the result. */
static inline char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    CHECK(fseek(f, 0, SEEK_END) == 0);
    n = ftell(f);
    CHECK(n >= 0);
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len_out != NULL)
        *len_out = (size_t)n;
    return buf;
}

/* Reads a fixture under NARHERDER_C_DATA. */
static inline char *read_data(const char *rel, size_t *len_out)
{
    char path[4096];
    data_path(path, sizeof path, rel);
    return read_file(path, len_out);
}

/* Opens the test store (NARHERDER_C_URL) serving /gnu/store. */
static inline narherder_store *open_test_store(void)
{
    narherder_store *store = NULL;
    narherder_error *err = NULL;
    narherder_store_options opts;
    const char *url = env("NARHERDER_C_URL");
    memset(&opts, 0, sizeof opts);
    opts.store_dir = (const uint8_t *)"/gnu/store";
    opts.store_dir_len = strlen("/gnu/store");
    OK(narherder_store_open(S(url), &opts, sizeof opts, &store, &err), err);
    CHECK(store != NULL);
    return store;
}

static inline void close_and_free(narherder_store *store)
{
    narherder_error *err = NULL;
    OK(narherder_store_close(store, &err), err);
    narherder_store_free(store);
}

#define GUIX_HELLO "guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo"
#define GUIX_HELLO_HASH "cs56i9digj9qg1bd383cmxc6xrfpdn9n"
#define GUIX_HELLO_210 "guix/803q5wapfnmr91ag8d9dzwabkbdxz3ay.hello-2.10-i586-gnu.ci.narinfo"
#define GUIX_HELLO_210_HASH "803q5wapfnmr91ag8d9dzwabkbdxz3ay"
#define GUIX_SED "guix/8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw.sed-4.4.berlin.narinfo"
#define GUIX_SED_HASH "8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw"
#define GUIX_SYNTH "guix/0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo"
#define GUIX_SYNTH_HASH "0123456789abcdfghijklmnpqrsvwxyz"
#define MISSING_HASH "00000000000000000000000000000000"

#endif
