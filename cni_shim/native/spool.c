#define _GNU_SOURCE /* strdup, O_DIRECTORY, O_CLOEXEC, fchmod */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<path>: <strerror>", or "<path> -> <other>: <strerror>" for a rename. */
static void os_error_text(struct buf *out, int error, const char *path, const char *other)
{
    buf_set(out, "", 0);
    if (other)
        buf_printf(out, "%s -> %s: %s", path, other, strerror(error));
    else
        buf_printf(out, "%s: %s", path, strerror(error));
}

static bool is_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

/* mkdir -p: parents get the default mode, the directory itself `mode`. */
static bool make_directories(const char *path, mode_t mode, struct buf *error)
{
    if (mkdir(path, mode) == 0 || (errno == EEXIST && is_directory(path)))
        return true;
    int failure = errno;
    if (failure == ENOENT) {
        char *parent = strdup(path);
        if (!parent)
            out_of_memory();
        char *slash = strrchr(parent, '/');
        while (slash && slash > parent && slash[1] == 0) { /* trailing slashes */
            *slash = 0;
            slash = strrchr(parent, '/');
        }
        bool has_parent = slash && slash != parent;
        if (has_parent)
            *slash = 0;
        bool parent_ok = has_parent && make_directories(parent, 0777, error);
        free(parent);
        if (has_parent && !parent_ok)
            return false;
        if (has_parent) {
            if (mkdir(path, mode) == 0 || (errno == EEXIST && is_directory(path)))
                return true;
            failure = errno;
        }
    }
    os_error_text(error, failure, path, NULL);
    return false;
}

static bool fsync_directory(const char *directory, struct buf *error)
{
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        os_error_text(error, errno, directory, NULL);
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

static void append_hex(struct buf *out, const struct buf *bytes)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes->len; i++) {
        buf_append_byte(out, (unsigned char)digits[bytes->data[i] >> 4]);
        buf_append_byte(out, (unsigned char)digits[bytes->data[i] & 0xF]);
    }
}

bool spool_del(const char *spool_dir, const struct invocation *invocation, struct buf *target, struct buf *error)
{
    struct buf name = {0}, temp = {0}, data = {0};
    bool ok = false;
    int fd = -1;
    if (!make_directories(spool_dir, 0700, error))
        goto done;
    if (chmod(spool_dir, 0700) < 0) {
        os_error_text(error, errno, spool_dir, NULL);
        goto done;
    }
    append_hex(&name, &invocation->container_id);
    buf_append_byte(&name, '-');
    append_hex(&name, &invocation->ifname);
    buf_append_str(&name, ".del");
    size_t dir_len = strlen(spool_dir);
    const char *separator = dir_len && spool_dir[dir_len - 1] == '/' ? "" : "/";
    buf_printf(target, "%s%s%s", spool_dir, separator, buf_str(&name));
    buf_printf(&temp, "%s%s.tmp-%s.%ld", spool_dir, separator, buf_str(&name), (long)getpid());

    encode_invocation(&data, invocation);
    fd = open(buf_str(&temp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        os_error_text(error, errno, buf_str(&temp), NULL);
        goto done;
    }
    for (size_t written = 0; written < data.len;) {
        ssize_t n = write(fd, data.data + written, data.len - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            os_error_text(error, errno, buf_str(&temp), NULL);
            goto done;
        }
        written += (size_t)n;
    }
    if (fsync(fd) < 0) {
        os_error_text(error, errno, buf_str(&temp), NULL);
        goto done;
    }
    close(fd);
    fd = -1;
    if (rename(buf_str(&temp), buf_str(target)) < 0) {
        os_error_text(error, errno, buf_str(&temp), buf_str(target));
        goto done;
    }
    ok = fsync_directory(spool_dir, error);
done:
    if (fd >= 0)
        close(fd);
    if (!ok && temp.len)
        unlink(buf_str(&temp));
    buf_free(&name);
    buf_free(&temp);
    buf_free(&data);
    return ok;
}
