/* The parts of libnarherder that need no store: versions, statuses, error
 * objects, NULL handling, narinfo parsing and accessors, keys, signing and
 * verifying, and a bad store URL. */
#include "check.h"

static void versions(void)
{
    CHECK(narherder_abi_version() == NARHERDER_ABI_VERSION);
    CHECK(strlen(narherder_version()) >= 5);
    CHECK(strcmp(narherder_status_name(NARHERDER_STATUS_OK), "NARHERDER_STATUS_OK") == 0);
    CHECK(strcmp(narherder_status_name(NARHERDER_STATUS_FORKED), "NARHERDER_STATUS_FORKED") == 0);
    CHECK(strcmp(narherder_status_name(NARHERDER_STATUS_CLOSED), "NARHERDER_STATUS_CLOSED") == 0);
    CHECK(strcmp(narherder_status_name(9999), "NARHERDER_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(narherder_verdict_name(NARHERDER_VERDICT_VALID), "valid-signature") == 0);
    CHECK(strcmp(narherder_verdict_name(NARHERDER_VERDICT_UNAUTHORIZED_KEY), "unauthorized-key") == 0);
    CHECK(strcmp(narherder_verdict_name(77), "unknown") == 0);
    /* Stable numbers. */
    CHECK(NARHERDER_STATUS_OK == 0 && NARHERDER_STATUS_PANIC == 1 && NARHERDER_STATUS_FORKED == 2);
    CHECK(NARHERDER_VERDICT_VALID == 0 && NARHERDER_VERDICT_UNSIGNED == 5);
}

static void nulls(void)
{
    narherder_error *err = NULL;
    narherder_store *store = NULL;
    narherder_narinfo *ni = NULL;
    /* Every free accepts NULL. */
    narherder_error_free(NULL);
    narherder_store_free(NULL);
    narherder_narinfo_free(NULL);
    narherder_narinfo_batch_free(NULL);
    narherder_keyring_free(NULL);
    narherder_secret_key_free(NULL);
    narherder_root_list_free(NULL);
    narherder_analytics_report_free(NULL);
    narherder_string_free(NULL);
    /* Getters on NULL give neutral values. */
    CHECK(narherder_error_status(NULL) == NARHERDER_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(narherder_error_message(NULL), "") == 0);
    CHECK(narherder_narinfo_text(NULL, NULL) == NULL);
    CHECK(narherder_narinfo_store_path(NULL) == NULL);
    CHECK(narherder_narinfo_nar_size(NULL) == 0);
    CHECK(narherder_narinfo_references_count(NULL) == 0);
    CHECK(narherder_narinfo_file_size(NULL, 0) == -1);
    CHECK(narherder_narinfo_batch_count(NULL) == 0);
    CHECK(narherder_narinfo_batch_get(NULL, 0) == NULL);
    CHECK(narherder_root_list_count(NULL) == 0);
    CHECK(narherder_root_list_expires_at(NULL, 0) == -1);
    CHECK(narherder_analytics_report_top_count(NULL) == 0);
    /* NULL arguments of fallible functions: NULL_ARGUMENT, with or without error_out. */
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_store_open(NULL, 3, NULL, 0, &store, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_store_open(S("sqlite::memory:"), NULL, 0, NULL, &err), err);
    CHECK(narherder_store_open(NULL, 3, NULL, 0, &store, NULL) == NARHERDER_STATUS_NULL_ARGUMENT);
    CHECK(store == NULL);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_store_close(NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_get(NULL, S(GUIX_HELLO_HASH), &ni, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_add(NULL, S("x"), 0, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_remove(NULL, S(GUIX_HELLO_HASH), NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_parse(NULL, 10, &ni, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_narinfo_parse(S("StorePath: x"), NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_roots_list(NULL, NULL, &err), err);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_keyring_verify(NULL, S("x"), NULL, &err), err);
    CHECK(ni == NULL);
}

static void bad_urls(void)
{
    narherder_error *err = NULL;
    narherder_store *store = NULL;
    char url[4200];
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_store_open(S("mysql://localhost/db"), NULL, 0, &store, &err), err);
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT, narherder_store_open(S(""), NULL, 0, &store, &err), err);
    /* Not UTF-8. */
    EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
           narherder_store_open((const uint8_t *)"sqlite://\xff\xfe", 11, NULL, 0, &store, &err), err);
    /* A directory that does not exist: the database cannot be created. */
    snprintf(url, sizeof url, "sqlite://%s/no/such/dir/x.db", env("NARHERDER_C_TMP"));
    narherder_status s = narherder_store_open(S(url), NULL, 0, &store, &err);
    CHECK(s == NARHERDER_STATUS_STORE || s == NARHERDER_STATUS_DATABASE || s == NARHERDER_STATUS_IO);
    EXPECT(s, s, err);
    /* Options of size 0 are refused. */
    {
        narherder_store_options opts;
        memset(&opts, 0, sizeof opts);
        EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
               narherder_store_open(S("sqlite::memory:"), &opts, 0, &store, &err), err);
    }
    CHECK(store == NULL);
}

/* An in-memory store works (lookups then go through the pool). */
static void memory_store(void)
{
    narherder_error *err = NULL;
    narherder_store *store = NULL;
    narherder_narinfo *ni = NULL;
    size_t len;
    char *text = read_data(GUIX_HELLO, &len);
    OK(narherder_store_open(S("sqlite::memory:"), NULL, 0, &store, &err), err);
    OK(narherder_narinfo_add(store, (const uint8_t *)text, len, NARHERDER_ADD_MODE_KEEP, NULL, &err), err);
    OK(narherder_narinfo_get(store, S(GUIX_HELLO_HASH), &ni, &err), err);
    CHECK(ni != NULL && strcmp(narherder_narinfo_text(ni, NULL), text) == 0);
    narherder_narinfo_free(ni);
    close_and_free(store);
    /* Freeing an open store does not block: its runtime stops in the background. */
    store = NULL;
    OK(narherder_store_open(S("sqlite::memory:"), NULL, 0, &store, &err), err);
    narherder_store_free(store);
    free(text);
}

static void parse_and_accessors(void)
{
    narherder_error *err = NULL;
    narherder_narinfo *ni = NULL;
    size_t len = 0, text_len = 0;
    char *text = read_data(GUIX_HELLO, &len);
    OK(narherder_narinfo_parse((const uint8_t *)text, len, &ni, &err), err);
    CHECK(ni != NULL);
    CHECK(strcmp(narherder_narinfo_text(ni, &text_len), text) == 0);
    CHECK(text_len == len);
    CHECK(strcmp(narherder_narinfo_store_path(ni), "/gnu/store/" GUIX_HELLO_HASH "-hello-2.12.2") == 0);
    CHECK(strcmp(narherder_narinfo_hash(ni), GUIX_HELLO_HASH) == 0);
    CHECK(strcmp(narherder_narinfo_nar_hash(ni),
                 "sha256:0qhasy0w9w9mfv0vacgzymxl4nww8cslyza5x2ci42v7i2b13lyl") == 0);
    CHECK(narherder_narinfo_nar_size(ni) == 282616);
    CHECK(narherder_narinfo_references_count(ni) == 3);
    CHECK(strcmp(narherder_narinfo_reference(ni, 1), "m2vhzr0dy352cn59sgcklcaykprrr4j6-gcc-14.3.0-lib") == 0);
    CHECK(narherder_narinfo_reference(ni, 3) == NULL);
    CHECK(strcmp(narherder_narinfo_deriver(ni), "rxw8g87bf61bwbagfq38sp5xwy28jb5d-hello-2.12.2.drv") == 0);
    CHECK(strcmp(narherder_narinfo_system(ni), "x86_64-linux") == 0);
    CHECK(narherder_narinfo_ca(ni) == NULL);
    CHECK(strncmp(narherder_narinfo_signature(ni), "1;bayfront;KHNpZ25hdHVyZSAK", 27) == 0);
    CHECK(narherder_narinfo_sigs_count(ni) == 0);
    CHECK(narherder_narinfo_sig(ni, 0) == NULL);
    CHECK(narherder_narinfo_files_count(ni) == 2);
    CHECK(strcmp(narherder_narinfo_file_url(ni, 1), "nar/zstd/" GUIX_HELLO_HASH "-hello-2.12.2") == 0);
    CHECK(strcmp(narherder_narinfo_file_compression(ni, 0), "lzip") == 0);
    CHECK(narherder_narinfo_file_size(ni, 0) == 68076);
    CHECK(narherder_narinfo_file_size(ni, 1) == 73413);
    CHECK(narherder_narinfo_file_hash(ni, 0) == NULL);
    CHECK(narherder_narinfo_file_url(ni, 2) == NULL);
    CHECK(narherder_narinfo_file_size(ni, 2) == -1);
    narherder_narinfo_free(ni);
    ni = NULL;

    /* Nix signatures, in file order. */
    {
        size_t nix_len = 0;
        char *nix = read_data("nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo", &nix_len);
        OK(narherder_narinfo_parse((const uint8_t *)nix, nix_len, &ni, &err), err);
        CHECK(narherder_narinfo_signature(ni) == NULL);
        CHECK(narherder_narinfo_sigs_count(ni) == 2);
        CHECK(strncmp(narherder_narinfo_sig(ni, 0), "cache.nixos.org-1:", 18) == 0);
        CHECK(strncmp(narherder_narinfo_sig(ni, 1), "test1:", 6) == 0);
        CHECK(narherder_narinfo_sig(ni, 2) == NULL);
        narherder_narinfo_free(ni);
        ni = NULL;
        free(nix);
    }
    CHECK(narherder_narinfo_sigs_count(NULL) == 0 && narherder_narinfo_signature(NULL) == NULL);

    /* Malformed: the message names the line. */
    {
        const char *bad = "StorePath: /gnu/store/" GUIX_HELLO_HASH "-x\nNarSize: many\n";
        narherder_status s = narherder_narinfo_parse(S(bad), &ni, &err);
        CHECK(s == NARHERDER_STATUS_BAD_NARINFO);
        CHECK(strstr(narherder_error_message(err), "line") != NULL);
        EXPECT(NARHERDER_STATUS_BAD_NARINFO, s, err);
        CHECK(ni == NULL);
    }
    /* A NUL byte inside the text is refused, not truncated. */
    {
        char with_nul[4096];
        CHECK(len < sizeof with_nul);
        memcpy(with_nul, text, len);
        with_nul[30] = '\0';
        EXPECT(NARHERDER_STATUS_BAD_NARINFO,
               narherder_narinfo_parse((const uint8_t *)with_nul, len, &ni, &err), err);
        /* Not UTF-8. */
        with_nul[30] = (char)0xff;
        EXPECT(NARHERDER_STATUS_INVALID_ARGUMENT,
               narherder_narinfo_parse((const uint8_t *)with_nul, len, &ni, &err), err);
    }
    free(text);
}

static void keys(void)
{
    narherder_error *err = NULL;
    narherder_keyring *acl = NULL, *test_ring = NULL, *missing = NULL;
    narherder_secret_key *sec = NULL;
    narherder_narinfo *signed_ni = NULL;
    narherder_verdict v = 99;
    char p1[4096], p2[4096];
    narherder_slice paths[1];
    size_t len;
    char *hello = read_data(GUIX_HELLO, &len);
    char *synth;
    size_t synth_len;
    const char *synth_prefix_end;

    data_path(p1, sizeof p1, "guix/keys/acl");
    paths[0] = slice_of(p1);
    OK(narherder_keyring_load(paths, 1, &acl, &err), err);
    OK(narherder_keyring_verify(acl, (const uint8_t *)hello, len, &v, &err), err);
    CHECK(v == NARHERDER_VERDICT_VALID);

    data_path(p2, sizeof p2, "guix/keys/testhost.pub");
    paths[0] = slice_of(p2);
    OK(narherder_keyring_load(paths, 1, &test_ring, &err), err);
    OK(narherder_keyring_verify(test_ring, (const uint8_t *)hello, len, &v, &err), err);
    CHECK(v == NARHERDER_VERDICT_UNAUTHORIZED_KEY);

    /* Missing key file: IO; not a key: BAD_KEY. */
    paths[0] = slice_of("/nonexistent/narherder/key.pub");
    EXPECT(NARHERDER_STATUS_IO, narherder_keyring_load(paths, 1, &missing, &err), err);
    data_path(p1, sizeof p1, "guix/README.md");
    paths[0] = slice_of(p1);
    EXPECT(NARHERDER_STATUS_BAD_KEY, narherder_keyring_load(paths, 1, &missing, &err), err);
    CHECK(missing == NULL);
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT, narherder_keyring_load(NULL, 1, &missing, &err), err);

    /* Verify a malformed narinfo: BAD_NARINFO, not a verdict. */
    v = 99;
    EXPECT(NARHERDER_STATUS_BAD_NARINFO, narherder_keyring_verify(acl, S("hello"), &v, &err), err);
    CHECK(v == 99);

    /* Sign the synthetic narinfo's unsigned form with the throwaway key:
     * the same bytes as the committed signed file. */
    synth = read_data(GUIX_SYNTH, &synth_len);
    synth_prefix_end = strstr(synth, "Signature: ");
    CHECK(synth_prefix_end != NULL);
    data_path(p1, sizeof p1, "guix/keys/testhost.sec");
    OK(narherder_secret_key_load(S(p1), &sec, &err), err);
    {
        /* The file without its Signature line; signing puts it back, byte for byte. */
        const char *sig_end = strchr(synth_prefix_end, '\n');
        size_t prefix_len = (size_t)(synth_prefix_end - synth), n = 0;
        char *unsigned_text = malloc(synth_len);
        const char *t;
        CHECK(sig_end != NULL && unsigned_text != NULL);
        memcpy(unsigned_text, synth, prefix_len);
        memcpy(unsigned_text + prefix_len, sig_end + 1, synth_len - (size_t)(sig_end + 1 - synth));
        OK(narherder_secret_key_sign(sec, (const uint8_t *)unsigned_text,
                                     synth_len - (size_t)(sig_end + 1 - synth_prefix_end),
                                     S("testhost"), &signed_ni, &err), err);
        t = narherder_narinfo_text(signed_ni, &n);
        CHECK(n == synth_len);
        CHECK(memcmp(t, synth, n) == 0);
        OK(narherder_keyring_verify(test_ring, (const uint8_t *)t, n, &v, &err), err);
        CHECK(v == NARHERDER_VERDICT_VALID);
        free(unsigned_text);
    }
    EXPECT(NARHERDER_STATUS_NULL_ARGUMENT,
           narherder_secret_key_sign(NULL, S("x"), S("h"), &signed_ni, &err), err);
    EXPECT(NARHERDER_STATUS_IO, narherder_secret_key_load(S("/nonexistent/key.sec"), &sec, &err), err);

    narherder_narinfo_free(signed_ni);
    narherder_secret_key_free(sec);
    narherder_keyring_free(acl);
    narherder_keyring_free(test_ring);
    free(synth);
    free(hello);
}

int main(void)
{
    versions();
    nulls();
    bad_urls();
    memory_store();
    parse_and_accessors();
    keys();
    puts("basic: ok");
    return 0;
}
