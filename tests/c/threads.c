/* Several threads calling one store at once: lookups (single, many,
 * exists), writers adding and removing, and a close racing with them at
 * the end (calls after it fail with CLOSED, none crashes). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "check.h"

#define READERS 6
#define ROUNDS 150

static narherder_store *store;
static char *hello, *sed;
static size_t hello_len, sed_len;

static void *reader(void *arg)
{
    long id = (long)arg;
    int i;
    for (i = 0; i < ROUNDS; i++) {
        narherder_error *err = NULL;
        narherder_narinfo *ni = NULL;
        narherder_narinfo_batch *batch = NULL;
        narherder_slice hashes[3];
        bool found[3];
        OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
        CHECK(ni != NULL);
        CHECK(strcmp(narherder_narinfo_text(ni, NULL), hello) == 0);
        CHECK(narherder_narinfo_references_count(ni) == 3);
        narherder_narinfo_free(ni);
        OK(narherder_narinfo_get(store, S(MISSING_HASH), &ni, &err), err);
        CHECK(ni == NULL);
        hashes[0] = slice_of(GUIX_SED_HASH);
        hashes[1] = slice_of(MISSING_HASH);
        hashes[2] = slice_of(GUIX_HELLO_HASH);
        if ((i + id) % 2 == 0) {
            OK(narherder_narinfo_get_many(store, hashes, 3, &batch, &err), err);
            CHECK(narherder_narinfo_batch_found(batch) == 2);
            CHECK(strcmp(narherder_narinfo_text(narherder_narinfo_batch_get(batch, 0), NULL), sed) == 0);
            narherder_narinfo_batch_free(batch);
        } else {
            OK(narherder_narinfo_exists_many(store, hashes, 3, found, &err), err);
            CHECK(found[0] && !found[1] && found[2]);
        }
    }
    return NULL;
}

/* Adds and removes the synthetic narinfo over and over while readers run. */
static void *writer(void *arg)
{
    char *synth;
    size_t synth_len;
    int i;
    (void)arg;
    synth = read_data(GUIX_SYNTH, &synth_len);
    for (i = 0; i < 20; i++) {
        narherder_error *err = NULL;
        narherder_narinfo *ni = NULL;
        bool removed = false;
        OK(narherder_narinfo_add(store, (const uint8_t *)synth, synth_len, 0, NULL, &err), err);
        OK(narherder_narinfo_get(store, S(GUIX_SYNTH_HASH), &ni, &err), err);
        CHECK(ni != NULL);
        narherder_narinfo_free(ni);
        OK(narherder_narinfo_remove(store, S(GUIX_SYNTH_HASH), &removed, &err), err);
        CHECK(removed);
        OK(narherder_narinfo_get(store, S(GUIX_SYNTH_HASH), &ni, &err), err);
        CHECK(ni == NULL);
    }
    free(synth);
    return NULL;
}

/* Looks up until the store is closed under it. */
static void *until_closed(void *arg)
{
    (void)arg;
    for (;;) {
        narherder_narinfo *ni = NULL;
        narherder_error *err = NULL;
        narherder_status s = narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err);
        if (s == NARHERDER_STATUS_CLOSED) {
            CHECK(ni == NULL);
            EXPECT(NARHERDER_STATUS_CLOSED, s, err);
            return NULL;
        }
        OK(s, err);
        CHECK(ni != NULL);
        narherder_narinfo_free(ni);
    }
}

int main(void)
{
    pthread_t threads[READERS + 1], racers[2];
    narherder_error *err = NULL;
    long i;

    hello = read_data(GUIX_HELLO, &hello_len);
    sed = read_data(GUIX_SED, &sed_len);
    store = open_test_store();
    OK(narherder_narinfo_add(store, (const uint8_t *)hello, hello_len, 0, NULL, &err), err);
    OK(narherder_narinfo_add(store, (const uint8_t *)sed, sed_len, 0, NULL, &err), err);

    for (i = 0; i < READERS; i++)
        CHECK(pthread_create(&threads[i], NULL, reader, (void *)i) == 0);
    CHECK(pthread_create(&threads[READERS], NULL, writer, NULL) == 0);
    for (i = 0; i <= READERS; i++)
        CHECK(pthread_join(threads[i], NULL) == 0);

    for (i = 0; i < 2; i++)
        CHECK(pthread_create(&racers[i], NULL, until_closed, NULL) == 0);
    OK(narherder_store_close(store, &err), err);
    for (i = 0; i < 2; i++)
        CHECK(pthread_join(racers[i], NULL) == 0);
    narherder_store_free(store);

    free(hello);
    free(sed);
    puts("threads: ok");
    return 0;
}
