/* The installed header's WSS_VERSION_* macros against the installed library's wss_version() and the
 * release's version.
 *
 *   version_check X.Y.Z   exit status 1 on any mismatch */
#include <stdio.h>
#include <string.h>

#include "wssession.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s X.Y.Z\n", argv[0]);
        return 2;
    }
    char from_numbers[64];
    snprintf(from_numbers, sizeof from_numbers, "%d.%d.%d", WSS_VERSION_MAJOR, WSS_VERSION_MINOR, WSS_VERSION_PATCH);
    int failed = 0;
    if (strcmp(WSS_VERSION_STRING, argv[1]) != 0) {
        fprintf(stderr, "WSS_VERSION_STRING is %s, the release is %s\n", WSS_VERSION_STRING, argv[1]);
        failed++;
    }
    if (strcmp(from_numbers, WSS_VERSION_STRING) != 0) {
        fprintf(stderr, "WSS_VERSION_MAJOR.MINOR.PATCH is %s, WSS_VERSION_STRING %s\n", from_numbers, WSS_VERSION_STRING);
        failed++;
    }
    if (wss_version() == NULL || strcmp(wss_version(), WSS_VERSION_STRING) != 0) {
        fprintf(stderr, "wss_version() is %s, the header's WSS_VERSION_STRING %s\n", wss_version(), WSS_VERSION_STRING);
        failed++;
    }
    printf("version_check: header %s, library %s: %s\n", WSS_VERSION_STRING, wss_version(), failed ? "MISMATCH" : "ok");
    return failed ? 1 : 0;
}
