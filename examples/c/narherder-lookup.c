/* narherder-lookup: prints the narinfos of store items, as a binary cache
 * would serve them.
 *
 *   narherder-lookup DATABASE-URL HASH-OR-STORE-PATH...
 *
 * Looks every argument up in one call (narherder_narinfo_get_many) and
 * prints the narinfo texts in argument order, separated by blank lines.
 * Exit status: 0 when all were found, 1 when any is missing (each miss is
 * reported on stderr), 2 on usage errors, 3 when the store fails.
 *
 * Build: cc narherder-lookup.c $(pkg-config --cflags --libs narherder) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <narherder.h>

/* The hash part of "/gnu/store/<hash>-name", "<hash>-name" or "<hash>". */
static narherder_slice hash_part(const char *arg)
{
    const char *base = strrchr(arg, '/');
    const char *dash;
    narherder_slice s;
    base = base ? base + 1 : arg;
    dash = strchr(base, '-');
    s.ptr = (const uint8_t *)base;
    s.len = dash ? (size_t)(dash - base) : strlen(base);
    return s;
}

static int fail(const char *what, narherder_status status, narherder_error *err)
{
    fprintf(stderr, "narherder-lookup: %s: %s (%s)\n", what,
            err ? narherder_error_message(err) : "", narherder_status_name(status));
    narherder_error_free(err);
    return 3;
}

int main(int argc, char **argv)
{
    narherder_store *store = NULL;
    narherder_narinfo_batch *batch = NULL;
    narherder_error *err = NULL;
    narherder_status status;
    narherder_slice *hashes;
    size_t n, i;
    int rc = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s DATABASE-URL HASH-OR-STORE-PATH...\n", argv[0]);
        return 2;
    }
    if (narherder_abi_version() != NARHERDER_ABI_VERSION) {
        fprintf(stderr, "narherder-lookup: built for ABI %d, libnarherder has %u\n",
                NARHERDER_ABI_VERSION, (unsigned)narherder_abi_version());
        return 3;
    }
    status = narherder_store_open((const uint8_t *)argv[1], strlen(argv[1]), NULL, 0, &store, &err);
    if (status != NARHERDER_STATUS_OK)
        return fail(argv[1], status, err);

    n = (size_t)(argc - 2);
    hashes = calloc(n, sizeof *hashes);
    if (hashes == NULL) {
        fprintf(stderr, "narherder-lookup: out of memory\n");
        narherder_store_free(store);
        return 3;
    }
    for (i = 0; i < n; i++)
        hashes[i] = hash_part(argv[i + 2]);

    status = narherder_narinfo_get_many(store, hashes, n, &batch, &err);
    if (status != NARHERDER_STATUS_OK) {
        rc = fail("lookup", status, err);
    } else {
        for (i = 0; i < n; i++) {
            const narherder_narinfo *ni = narherder_narinfo_batch_get(batch, i);
            size_t len = 0;
            const char *text;
            if (ni == NULL) {
                fprintf(stderr, "narherder-lookup: %s: not found\n", argv[i + 2]);
                rc = 1;
                continue;
            }
            text = narherder_narinfo_text(ni, &len);
            if (i > 0)
                putchar('\n');
            fwrite(text, 1, len, stdout);
        }
        narherder_narinfo_batch_free(batch);
    }
    free(hashes);
    status = narherder_store_close(store, &err);
    if (status != NARHERDER_STATUS_OK && rc == 0)
        rc = fail("close", status, err);
    narherder_store_free(store);
    return rc;
}
