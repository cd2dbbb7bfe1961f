/* stdin -> read_settings (the JSON scan of the network configuration); the same bytes
 * as an environment variable -> utf8_sanitized. */
#include <string.h>

#include "../cni.h"
#include "../config.h"
#include "../defaults.h"
#include "../utf8.h"
#include "fuzz.h"

static void check_path(const struct buf *path)
{
    size_t bad;
    FUZZ_CHECK(path->len > 0);
    FUZZ_CHECK(!memchr(path->data, 0, path->len));
    FUZZ_CHECK(utf8_valid(path->data, path->len, &bad));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct settings settings = {0};
    read_settings(data, size, &settings);
    if (settings.error_code) {
        FUZZ_CHECK(settings.error_code == DECODING_FAILURE || settings.error_code == INVALID_NETWORK_CONFIG);
        FUZZ_CHECK(settings.error_details.len > 0);
    } else {
        check_path(&settings.agent_socket);
        check_path(&settings.spool_dir);
        FUZZ_CHECK(strlen(buf_str(&settings.cni_version)) == settings.cni_version.len);
    }
    FUZZ_CHECK(settings.timeout_seconds > 0 && settings.timeout_seconds <= MAX_TIMEOUT_SECONDS);
    FUZZ_CHECK(timeout_for(&settings, "STATUS") <= STATUS_TIMEOUT_SECONDS);
    settings_free(&settings);

    /* The same bytes as an environment variable: what the shim forwards is valid UTF-8. */
    struct buf text = {0}, sanitized = {0};
    size_t bad;
    buf_set(&text, data, size);
    utf8_sanitized(&sanitized, buf_str(&text));
    FUZZ_CHECK(utf8_valid(sanitized.data, sanitized.len, &bad));
    FUZZ_CHECK(sanitized.len == strlen(buf_str(&text)));
    buf_free(&text);
    buf_free(&sanitized);
    return 0;
}
