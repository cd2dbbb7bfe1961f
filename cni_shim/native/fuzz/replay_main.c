/*
 * Runs a fuzz target over files and directories of inputs without libFuzzer,
 * so any C compiler (with sanitizers) can replay the corpora in the test suite.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *data = malloc(cap);
    for (size_t got; data && (got = fread(data + len, 1, cap - len, file)) > 0;) {
        len += got;
        if (len == cap)
            data = realloc(data, cap *= 2);
    }
    fclose(file);
    if (!data)
        return 1;
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int failures = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat info;
        if (stat(argv[i], &info) == 0 && S_ISDIR(info.st_mode)) {
            struct dirent **names;
            int count = scandir(argv[i], &names, NULL, alphasort);
            for (int j = 0; j < count; j++) {
                if (names[j]->d_name[0] != '.') {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
                    failures += replay_file(path);
                    inputs++;
                }
                free(names[j]);
            }
            free(count >= 0 ? names : NULL);
        } else {
            failures += replay_file(argv[i]);
            inputs++;
        }
    }
    printf("replayed %d inputs\n", inputs);
    return failures ? 1 : 0;
}
