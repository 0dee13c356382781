/* Times raw syscalls (syscall(2): no vDSO, no libc caching) in ns per call, best of several batches.
 *
 *   syscalls PROGRAM|- CPU BATCH_US BATCHES
 *
 * Pins itself to CPU, then loads PROGRAM (a file of struct sock_filter, native byte order; "-" = no filter)
 * with PR_SET_NO_NEW_PRIVS + seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) itself: loading after exec lets profiles
 * that deny execve be measured with their real, unmodified program. Descriptors are opened before the load,
 * so a profile that refuses O_WRONLY opens still gets timed on the calls themselves.
 *
 * Output: "filters N" (Seccomp_filters after loading), then per call "NAME NS ERRNO", where ERRNO is what the
 * first syscall of the call set on a probe call before timing (0 = success): denied calls are timed too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int zero_fd, null_fd, fut;
static char buf;
static struct timespec ts;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

/* Each returns the first syscall's result (-1 with errno set when it failed). */
static long c_getppid(void) { return syscall(SYS_getppid); }
static long c_read(void) { return syscall(SYS_read, zero_fd, &buf, 1); }
static long c_write(void) { return syscall(SYS_write, null_fd, &buf, 1); }
static long c_futex(void) { return syscall(SYS_futex, &fut, FUTEX_WAKE, 1, 0, 0, 0); }
static long c_clock(void) { return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); }
static long c_ioctl(void) { return syscall(SYS_ioctl, null_fd, FIONREAD, &fut); }
static long c_openat(void) {
    long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
    int e = errno;
    syscall(SYS_close, fd);
    errno = e;
    return fd;
}
static long c_socket(void) {
    long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    int e = errno;
    syscall(SYS_close, fd);
    errno = e;
    return fd;
}

static const struct { const char *name; long (*fn)(void); } CALLS[] = {
    {"getppid", c_getppid}, {"read", c_read}, {"write", c_write}, {"futex", c_futex},
    {"clock_gettime", c_clock}, {"ioctl", c_ioctl}, {"openat+close", c_openat}, {"socket+close", c_socket},
};

static double batch(long (*fn)(void), long n) {
    double t0 = now();
    for (long i = 0; i < n; i++) fn();
    return (now() - t0) / n;
}

static int load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    static struct sock_filter insns[4096];
    size_t n = fread(insns, sizeof insns[0], 4096, f);
    fclose(f);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("prctl(PR_SET_NO_NEW_PRIVS)"); return -1; }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
        perror("seccomp(SECCOMP_SET_MODE_FILTER)");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s PROGRAM|- CPU BATCH_US BATCHES\n", argv[0]); return 2; }
    double batch_ns = atof(argv[3]) * 1e3;
    int batches = atoi(argv[4]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[2]), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("sched_setaffinity"); return 1; }
    zero_fd = open("/dev/zero", O_RDONLY);
    null_fd = open("/dev/null", O_WRONLY);
    FILE *status = fopen("/proc/self/status", "r"); /* generated on first read, i.e. after loading */
    if (zero_fd < 0 || null_fd < 0 || !status) { perror("open"); return 1; }
    if (strcmp(argv[1], "-") != 0 && load(argv[1]) != 0) return 1;
    char line[256];
    while (fgets(line, sizeof line, status))
        if (strncmp(line, "Seccomp_filters:", 16) == 0) printf("filters %d\n", atoi(line + 16));
    for (size_t c = 0; c < sizeof CALLS / sizeof CALLS[0]; c++) {
        errno = 0;
        int err = CALLS[c].fn() < 0 ? errno : 0;
        double per = batch(CALLS[c].fn, 200);  /* calibrate: each batch takes about BATCH_US */
        long n = (long)(batch_ns / (per > 1 ? per : 1));
        if (n < 100) n = 100;
        double best = 1e18;
        for (int b = 0; b < batches; b++) {
            per = batch(CALLS[c].fn, n);
            if (per < best) best = per;
        }
        printf("%s %.2f %d\n", CALLS[c].name, best, err);
    }
    return 0;
}
