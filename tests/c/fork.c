/* A store does not survive fork(): in the child every call fails with
 * FORKED and free leaks instead of touching the parent's runtime; the
 * parent goes on as before, and the child can open a store of its own. */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int child(narherder_store *store)
{
    narherder_error *err = NULL;
    narherder_narinfo *ni = NULL;
    narherder_slice h[1];
    bool found[1];
    narherder_store *own;
    h[0] = slice_of(GUIX_HELLO_HASH);
    EXPECT(NARHERDER_STATUS_FORKED, narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    EXPECT(NARHERDER_STATUS_FORKED, narherder_narinfo_exists_many(store, h, 1, found, &err), err);
    EXPECT(NARHERDER_STATUS_FORKED, narherder_narinfo_add(store, S("x"), 0, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_FORKED, narherder_store_close(store, &err), err);
    CHECK(ni == NULL);
    narherder_store_free(store); /* leaks: the parent's runtime is not ours */

    /* A store opened in the child works; what it adds, the parent sees. */
    own = open_test_store();
    OK(narherder_narinfo_get(own, S(GUIX_HELLO_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    narherder_narinfo_free(ni);
    {
        size_t len;
        char *synth = read_data(GUIX_SYNTH, &len);
        OK(narherder_narinfo_add(own, (const uint8_t *)synth, len, 0, NULL, &err), err);
        free(synth);
    }
    close_and_free(own);
    return 0;
}

int main(void)
{
    narherder_store *store;
    narherder_error *err = NULL;
    narherder_narinfo *ni = NULL;
    size_t len;
    char *hello = read_data(GUIX_HELLO, &len);
    pid_t pid;
    int status = 0;

    store = open_test_store();
    OK(narherder_narinfo_add(store, (const uint8_t *)hello, len, 0, NULL, &err), err);
    /* A miss the parent may remember... */
    OK(narherder_narinfo_get(store, S(GUIX_SYNTH_HASH), &ni, &err), err);
    CHECK(ni == NULL);

    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int rc = child(store);
        fflush(NULL);
        /* Leave through exec: the child holds the parent's runtime memory,
         * which only the parent's threads (absent here) could free, and a
         * leak checker (valgrind) would count it at exit. */
        execl(rc == 0 ? "/bin/true" : "/bin/false", rc == 0 ? "true" : "false", (char *)NULL);
        _exit(rc);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The parent's store is untouched, and sees what the child committed. */
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    narherder_narinfo_free(ni);
    OK(narherder_narinfo_get(store, S(GUIX_SYNTH_HASH), &ni, &err), err);
    CHECK(ni != NULL);
    narherder_narinfo_free(ni);
    close_and_free(store);
    free(hello);
    puts("fork: ok");
    return 0;
}
