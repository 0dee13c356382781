/* Times raw syscalls (no vDSO, no libc wrappers' caching): ns per call, best of several batches. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    char c; int fut = 0; struct timespec ts;
    const char *names[] = {"getppid", "read", "write", "futex", "clock_gettime", "ioctl", "openat+close"};
    for (int which = 0; which < 7; which++) {
        double best = 1e18;
        for (int batch = 0; batch < 5; batch++) {
            double t0 = now();
            for (long i = 0; i < n; i++) {
                switch (which) {
                case 0: syscall(SYS_getppid); break;
                case 1: syscall(SYS_read, zero, &c, 1); break;
                case 2: syscall(SYS_write, null, &c, 1); break;
                case 3: syscall(SYS_futex, &fut, FUTEX_WAKE, 1, 0, 0, 0); break;
                case 4: syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); break;
                case 5: syscall(SYS_ioctl, null, FIONREAD, &fut); break;
                case 6: syscall(SYS_close, syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY)); break;
                }
            }
            double per = (now() - t0) / n;
            if (per < best) best = per;
        }
        printf("%s %.1f\n", names[which], best);
    }
    return 0;
}
