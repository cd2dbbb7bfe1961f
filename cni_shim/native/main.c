/*
 * podnet CNI shim, compiled: the same behaviour and wire format as the Python
 * shim (cni_shim/main.py and the modules it imports), without an interpreter
 * start per CNI call.
 *
 * VERSION is answered here. ADD, DEL, CHECK, GC and STATUS are forwarded
 * verbatim (env + raw stdin) as one podnet.v1.CniInvocation over gRPC
 * (HTTP/2 on the agent's unix socket); the reply's stdout bytes are printed
 * and its exit_code returned. Agent unreachable: ADD/CHECK/GC -> code 11,
 * STATUS -> 50, DEL -> spooled to disk for the agent to replay, exit 0.
 * Nothing but the CNI answer goes to stdout; one JSON log line to stderr.
 *
 * Files by job: buf (byte buffers), utf8, replies (what the shim prints),
 * config (stdin's top-level members), protobuf, hpack, http2 (the protocol,
 * no I/O), transport (the socket), spool, and this one. podnet-install-shim
 * compiles them all: cc -O2 -Wall -Wextra -Werror -std=c11 *.c (libc only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"
#include "config.h"
#include "defaults.h"
#include "protobuf.h"
#include "replies.h"
#include "spool.h"
#include "transport.h"
#include "utf8.h"

static const char *env_or_empty(const char *name)
{
    const char *value = getenv(name);
    return value ? value : "";
}

/* Reads stdin up to one byte past MAX_CONFIG_BYTES: enough to know it is too much. */
static void read_stdin(struct buf *config)
{
    buf_reserve(config, 1 << 16);
    while (config->len <= MAX_CONFIG_BYTES) {
        buf_reserve(config, 1 << 16);
        size_t room = config->cap - config->len - 1;
        if (room > MAX_CONFIG_BYTES + 1 - config->len)
            room = MAX_CONFIG_BYTES + 1 - config->len;
        ssize_t got = read(STDIN_FILENO, config->data + config->len, room);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        config->len += (size_t)got;
    }
    config->data[config->len] = 0;
}

static bool is_forwarded(const char *command)
{
    static const char *const forwarded[] = {"ADD", "DEL", "CHECK", "GC", "STATUS"};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (strcmp(command, forwarded[i]) == 0)
            return true;
    return false;
}

static int answer_unreachable(const struct invocation *invocation, const struct settings *settings,
                              const char *reason)
{
    const char *context[] = {
        "command", invocation->command, "container_id", buf_str(&invocation->container_id),
        "ifname", buf_str(&invocation->ifname), "netns", buf_str(&invocation->netns),
        "agent_socket", buf_str(&settings->agent_socket), "reason", reason, NULL,
    };
    const char *cni_version = buf_str(&settings->cni_version);
    if (strcmp(invocation->command, "DEL") != 0) {
        int code = strcmp(invocation->command, "STATUS") == 0 ? NOT_AVAILABLE : TRY_AGAIN_LATER;
        write_log_line("error", "podnet agent unreachable", context);
        write_error_reply(cni_version, code, "podnet agent unreachable", reason);
        return 1;
    }
    if (!invocation->container_id.len || !invocation->ifname.len) {
        write_log_line("error", "DEL without container id or ifname", context);
        write_error_reply(cni_version, INVALID_ENVIRONMENT,
                          "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing", "");
        return 1;
    }
    struct buf path = {0}, error = {0};
    int exit_code = 0;
    if (spool_del(buf_str(&settings->spool_dir), invocation, &path, &error)) {
        const char *fields[2 + sizeof context / sizeof context[0]] = {"spool", buf_str(&path)};
        memcpy(&fields[2], context, sizeof context);
        write_log_line("warning", "agent unreachable, DEL spooled", fields);
    } else {
        write_log_line("error", "agent unreachable and DEL not spooled", context);
        write_error_reply(cni_version, IO_FAILURE, "cannot spool DEL", buf_str(&error));
        exit_code = 1;
    }
    buf_free(&path);
    buf_free(&error);
    return exit_code;
}

static int forward(const char *command, const struct buf *config, const struct settings *settings)
{
    struct invocation invocation = {.command = command, .config = config->data, .config_len = config->len};
    utf8_sanitized(&invocation.container_id, env_or_empty("CNI_CONTAINERID"));
    utf8_sanitized(&invocation.netns, env_or_empty("CNI_NETNS"));
    utf8_sanitized(&invocation.ifname, env_or_empty("CNI_IFNAME"));
    utf8_sanitized(&invocation.args, env_or_empty("CNI_ARGS"));
    utf8_sanitized(&invocation.path, env_or_empty("CNI_PATH"));
    struct buf reply = {0}, reason = {0};
    int exit_code;
    if (invoke(buf_str(&settings->agent_socket), &invocation, timeout_for(settings, command), &exit_code,
               &reply, &reason))
        write_all(STDOUT_FILENO, reply.data, reply.len);
    else
        exit_code = answer_unreachable(&invocation, settings, buf_str(&reason));
    buf_free(&reply);
    buf_free(&reason);
    buf_free(&invocation.container_id);
    buf_free(&invocation.netns);
    buf_free(&invocation.ifname);
    buf_free(&invocation.args);
    buf_free(&invocation.path);
    return exit_code;
}

int main(void)
{
    const char *command = env_or_empty("CNI_COMMAND");
    if (strcmp(command, "VERSION") == 0) {
        struct buf reply = {0};
        version_reply(&reply);
        write_all(STDOUT_FILENO, reply.data, reply.len);
        buf_free(&reply);
        return 0;
    }
    struct buf config = {0};
    struct settings settings = {0};
    read_stdin(&config);
    read_settings(config.data, config.len, &settings);
    int exit_code = 1;
    if (!is_forwarded(command)) {
        struct buf shown = {0};
        utf8_sanitized(&shown, command);
        write_error_reply(buf_str(&settings.cni_version), INVALID_ENVIRONMENT,
                          *command ? "unknown CNI_COMMAND" : "required env variables [CNI_COMMAND] missing",
                          buf_str(&shown));
        buf_free(&shown);
    } else if (settings.error_code) {
        /* Answered here: without a usable configuration there is no agent socket to ask. */
        write_error_reply(settings.error_code == DECODING_FAILURE ? "" : buf_str(&settings.cni_version),
                          settings.error_code, settings.error_msg, buf_str(&settings.error_details));
    } else {
        exit_code = forward(command, &config, &settings);
    }
    buf_free(&config);
    settings_free(&settings);
    return exit_code;
}
