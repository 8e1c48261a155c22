/*
 * C-side checks of libdistcache, compiled by tests/c_api.rs against the
 * installed header and library. Each subcommand is one scenario; it prints
 * what failed and exits 1, or prints "ok" and exits 0.
 *
 *   dc_ctx_check abi
 *   dc_ctx_check ops TARGET FLAGS      every function against a live server
 *   dc_ctx_check bad TARGET            bad arguments; the process must live
 *   dc_ctx_check fork TARGET           PIDCHECK: a child never uses the
 *                                      parent's socket
 *   dc_ctx_check restart TARGET FLAGS  an op, "ready" on stdout, wait for a
 *                                      line on stdin (the server restarts
 *                                      meanwhile), then more ops
 *   dc_ctx_check threads TARGET        one context per thread, in parallel
 *   dc_ctx_check unavailable TARGET    a dc_client with no server: -1 and
 *                                      0 at once, never a hang
 */
/* dladdr() */
#define _GNU_SOURCE
#include <distcache/dc_client.h>

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static const unsigned char *u(const char *s) {
    return (const unsigned char *)s;
}

static unsigned int len(const char *s) {
    return (unsigned int)strlen(s);
}

static int finish(void) {
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}

/* The prototypes, checked against the original's types. */
static int abi(void) {
    DC_CTX *(*new_fn)(const char *, unsigned int) = DC_CTX_new;
    void (*free_fn)(DC_CTX *) = DC_CTX_free;
    int (*add_fn)(DC_CTX *, const unsigned char *, unsigned int,
                  const unsigned char *, unsigned int, unsigned long) =
        DC_CTX_add_session;
    int (*remove_fn)(DC_CTX *, const unsigned char *, unsigned int) =
        DC_CTX_remove_session;
    int (*get_fn)(DC_CTX *, const unsigned char *, unsigned int,
                  unsigned char *, unsigned int, unsigned int *) =
        DC_CTX_get_session;
    int (*reget_fn)(DC_CTX *, const unsigned char *, unsigned int,
                    unsigned char *, unsigned int, unsigned int *) =
        DC_CTX_reget_session;
    int (*has_fn)(DC_CTX *, const unsigned char *, unsigned int) =
        DC_CTX_has_session;
    CHECK(new_fn && free_fn && add_fn && remove_fn && get_fn && reget_fn &&
          has_fn);
    CHECK(DC_CTX_FLAG_PERSISTENT == 1u);
    CHECK(DC_CTX_FLAG_PERSISTENT_PIDCHECK == 2u);
    CHECK(DC_CTX_FLAG_PERSISTENT_RETRY == 4u);
    CHECK(DC_CTX_FLAG_PERSISTENT_LATE == 8u);
    CHECK(DC_MIN_TIMEOUT == 500);
    CHECK(DISTCACHE_CLIENT_API == 1 && DISTCACHE_CLIENT_BINARY == 1);
    CHECK(sizeof(DC_CTX_FLAG_PERSISTENT) == sizeof(unsigned int));
    {
        /* Which file the loader took DC_CTX_new from. */
        Dl_info info;
        union { DC_CTX *(*fn)(const char *, unsigned int); void *p; } f;
        f.fn = DC_CTX_new;
        CHECK(dladdr(f.p, &info) != 0 && info.dli_fname != NULL);
        printf("library=%s\n", info.dli_fname ? info.dli_fname : "?");
    }
    return finish();
}

static int ops(const char *target, unsigned int flags) {
    unsigned char buf[40000];
    unsigned char big[32768];
    unsigned char id64[65];
    unsigned int used = 0;
    char id[64];
    const char *data = "session data of a TLS session";
    DC_CTX *ctx = DC_CTX_new(target, flags);

    CHECK(ctx != NULL);
    if (!ctx)
        return finish();
    /* Ids unique to this run, so persistent and not can share a server. */
    snprintf(id, sizeof id, "ops-%u-%ld", flags, (long)getpid());

    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 0);
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data), 60000) == 1);
    /* Already stored: refused, not replaced. */
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u("other"), 5, 60000) == 0);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 1);

    /* The whole session. */
    memset(buf, 0, sizeof buf);
    used = 0;
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 1);
    CHECK(used == len(data));
    CHECK(memcmp(buf, data, len(data)) == 0);

    /* A buffer too small: success, the full length, a prefix copied, and
     * nothing written past result_size. */
    memset(buf, 'X', sizeof buf);
    used = 0;
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, 7, &used) == 1);
    CHECK(used == len(data));
    CHECK(memcmp(buf, data, 7) == 0);
    CHECK(buf[7] == 'X');
    /* ...then reget with room, no I/O. */
    used = 0;
    CHECK(DC_CTX_reget_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 1);
    CHECK(used == len(data) && memcmp(buf, data, len(data)) == 0);
    /* reget for another id fails. */
    CHECK(DC_CTX_reget_session(ctx, u("other-id"), 8, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 1);

    /* NULL storage asks the size. */
    used = 0;
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), NULL, 0, &used) == 1);
    CHECK(used == len(data));
    /* Zero size with storage: nothing copied. */
    memset(buf, 'X', sizeof buf);
    used = 0;
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, 0, &used) == 1);
    CHECK(used == len(data) && buf[0] == 'X');

    /* Any other operation cancels the remembered GET. */
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 1);
    CHECK(DC_CTX_reget_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 0);

    /* A failed GET cancels it too (the original returned the status byte). */
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 1);
    CHECK(DC_CTX_get_session(ctx, u("missing"), 7, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, u("missing"), 7, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 0);

    CHECK(DC_CTX_remove_session(ctx, u(id), len(id)) == 1);
    CHECK(DC_CTX_remove_session(ctx, u(id), len(id)) == 0);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 0);
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 0);

    /* Sessions under 5 bytes are stored but cannot be fetched. */
    strcat(id, "-short");
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u("abcd"), 4, 60000) == 1);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 1);
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 0);

    /* Timeouts of 500 ms or less are clamped, not fatal: stored. */
    id[strlen(id) - 6] = '\0';
    strcat(id, "-t");
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data), 0) == 1);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 1);
    strcat(id, "5");
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data), 500) == 1);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 1);
    /* Over the server's 7-day limit: refused by it. */
    strcat(id, "x");
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data),
                             604800001UL) == 0);
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data), ULONG_MAX) == 0);
    CHECK(DC_CTX_has_session(ctx, u(id), len(id)) == 0);

    /* The largest session that fits: 32768 - 8 - id_len bytes. */
    memset(big, 'b', sizeof big);
    strcat(id, "-big");
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), big, 32768 - 8 - len(id) + 1,
                             60000) == 0);
    CHECK(DC_CTX_add_session(ctx, u(id), len(id), big, 32768 - 8 - len(id),
                             60000) == 1);
    used = 0;
    CHECK(DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) == 1);
    CHECK(used == 32768 - 8 - len(id) && memcmp(buf, big, used) == 0);

    /* Ids: 64 bytes is the longest ADD takes; longer ones never match. */
    memset(id64, 'i', sizeof id64);
    memcpy(id64, id, strlen(id) < 20 ? strlen(id) : 20);
    CHECK(DC_CTX_add_session(ctx, id64, 65, u(data), len(data), 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id64, 64, u(data), len(data), 60000) == 1);
    CHECK(DC_CTX_has_session(ctx, id64, 64) == 1);
    CHECK(DC_CTX_has_session(ctx, id64, 65) == 0);
    CHECK(DC_CTX_get_session(ctx, id64, 65, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_remove_session(ctx, id64, 64) == 1);

    DC_CTX_free(ctx);
    return finish();
}

static int bad(const char *target) {
    static const char *bad_targets[] = {
        "", "I", "IP:9001", "IP::9001", "IP:a:b:c", "TCP:127.0.0.1:9001",
        "nonsense", "FD:3", "UNIX:", "IP:127.0.0.1:99999", "IP:127.0.0.1:",
    };
    char long_target[1024];
    unsigned char buf[64];
    unsigned int used = 12345;
    const unsigned char *id = u("bad-args-id");
    size_t i;
    DC_CTX *ctx;

    /* Default SIGPIPE and SIGABRT dispositions: any abort kills us. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGABRT, SIG_DFL);

    CHECK(DC_CTX_new(NULL, 0) == NULL);
    CHECK(DC_CTX_new(NULL, DC_CTX_FLAG_PERSISTENT) == NULL);
    for (i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++) {
        if (DC_CTX_new(bad_targets[i], 0) != NULL) {
            fprintf(stderr, "target '%s' was accepted\n", bad_targets[i]);
            failures++;
        }
    }
    memset(long_target, 'a', sizeof long_target - 1);
    long_target[sizeof long_target - 1] = '\0';
    memcpy(long_target, "UNIX:/", 6);
    CHECK(DC_CTX_new(long_target, 0) == NULL);
    /* Nothing listens there: a persistent context cannot be made. */
    CHECK(DC_CTX_new("UNIX:/nonexistent/dc.sock", DC_CTX_FLAG_PERSISTENT) == NULL);
    CHECK(DC_CTX_new("IP:127.0.0.1:1", DC_CTX_FLAG_PERSISTENT) == NULL);

    /* A NULL context. */
    DC_CTX_free(NULL);
    CHECK(DC_CTX_add_session(NULL, id, 6, id, 6, 60000) == 0);
    CHECK(DC_CTX_remove_session(NULL, id, 6) == 0);
    CHECK(DC_CTX_get_session(NULL, id, 6, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(NULL, id, 6, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_has_session(NULL, id, 6) == -1);

    ctx = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT);
    CHECK(ctx != NULL);
    if (!ctx)
        return finish();
    /* NULL pointers and zero lengths. */
    CHECK(DC_CTX_add_session(ctx, NULL, 6, id, 6, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 0, id, 6, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 6, NULL, 6, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 6, id, 0, 60000) == 0);
    CHECK(DC_CTX_remove_session(ctx, NULL, 6) == 0);
    CHECK(DC_CTX_remove_session(ctx, id, 0) == 0);
    CHECK(DC_CTX_get_session(ctx, NULL, 6, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_get_session(ctx, id, 0, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, NULL, 6, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, id, 0, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_has_session(ctx, NULL, 6) == -1);
    CHECK(DC_CTX_has_session(ctx, id, 0) == -1);
    /* Lengths over the protocol's limits, with short buffers behind them:
     * refused before anything is read. */
    CHECK(DC_CTX_add_session(ctx, id, UINT_MAX, id, 6, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 6, id, UINT_MAX, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 32769, id, 6, 60000) == 0);
    CHECK(DC_CTX_add_session(ctx, id, 6, id, 32761, 60000) == 0);
    CHECK(DC_CTX_remove_session(ctx, id, UINT_MAX) == 0);
    CHECK(DC_CTX_get_session(ctx, id, UINT_MAX, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_reget_session(ctx, id, UINT_MAX, buf, sizeof buf, &used) == 0);
    CHECK(DC_CTX_has_session(ctx, id, UINT_MAX) == -1);
    CHECK(DC_CTX_has_session(ctx, id, 32769) == -1);
    /* Failures leave result_used alone. */
    CHECK(used == 12345);
    /* A reget before any GET. */
    CHECK(DC_CTX_reget_session(ctx, id, 6, buf, sizeof buf, &used) == 0);
    /* Timeouts that the original asserted on. */
    CHECK(DC_CTX_add_session(ctx, u("bad-t0"), 6, id, 6, 0) == 1);
    CHECK(DC_CTX_add_session(ctx, u("bad-t500"), 8, id, 6, 500) == 1);
    /* NULL result_used on a hit: the session is still copied. */
    CHECK(DC_CTX_add_session(ctx, id, 6, u("hello world"), 11, 60000) == 1);
    memset(buf, 0, sizeof buf);
    CHECK(DC_CTX_get_session(ctx, id, 6, buf, sizeof buf, NULL) == 1);
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK(DC_CTX_reget_session(ctx, id, 6, NULL, 0, NULL) == 1);
    /* The context still works after all that. */
    CHECK(DC_CTX_remove_session(ctx, id, 6) == 1);
    DC_CTX_free(ctx);
    return finish();
}

/* The inodes of this process's sockets, from /proc/self/fd. */
static size_t socket_inodes(unsigned long *out, size_t max) {
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;
    size_t n = 0;
    if (!dir)
        return 0;
    while ((entry = readdir(dir)) != NULL && n < max) {
        char path[300], link[128];
        ssize_t got;
        unsigned long inode;
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        got = readlink(path, link, sizeof link - 1);
        if (got <= 0)
            continue;
        link[got] = '\0';
        if (sscanf(link, "socket:[%lu]", &inode) == 1)
            out[n++] = inode;
    }
    closedir(dir);
    return n;
}

static int contains(const unsigned long *set, size_t n, unsigned long x) {
    size_t i;
    for (i = 0; i < n; i++)
        if (set[i] == x)
            return 1;
    return 0;
}

/* Adds, fetches and removes `rounds' sessions of its own. */
static int churn(DC_CTX *ctx, const char *who, int rounds) {
    unsigned char buf[256];
    unsigned int used;
    char id[64], data[96];
    int i, bad_ops = 0;
    for (i = 0; i < rounds; i++) {
        snprintf(id, sizeof id, "%s-%ld-%d", who, (long)getpid(), i);
        snprintf(data, sizeof data, "data of %s", id);
        bad_ops += DC_CTX_add_session(ctx, u(id), len(id), u(data), len(data), 60000) != 1;
        used = 0;
        bad_ops += DC_CTX_get_session(ctx, u(id), len(id), buf, sizeof buf, &used) != 1;
        bad_ops += used != len(data) || memcmp(buf, data, used) != 0;
        bad_ops += DC_CTX_remove_session(ctx, u(id), len(id)) != 1;
    }
    return bad_ops;
}

static int fork_check(const char *target) {
    unsigned long parent_sockets[16], child_sockets[16], again[16];
    size_t parent_n, child_n, again_n, i;
    int status = 0;
    pid_t child;
    DC_CTX *ctx = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT |
                                         DC_CTX_FLAG_PERSISTENT_PIDCHECK |
                                         DC_CTX_FLAG_PERSISTENT_RETRY);
    CHECK(ctx != NULL);
    if (!ctx)
        return finish();
    CHECK(churn(ctx, "parent-before", 3) == 0);
    parent_n = socket_inodes(parent_sockets, 16);
    CHECK(parent_n == 1);

    fflush(NULL);
    child = fork();
    if (child == 0) {
        int bad_ops = 0;
        bad_ops += churn(ctx, "child", 1);
        child_n = socket_inodes(child_sockets, 16);
        /* The inherited socket is closed; a new one carries the child. */
        if (child_n != 1) {
            fprintf(stderr, "child has %zu sockets\n", child_n);
            bad_ops++;
        }
        for (i = 0; i < child_n; i++)
            if (contains(parent_sockets, parent_n, child_sockets[i])) {
                fprintf(stderr, "child uses the parent's socket\n");
                bad_ops++;
            }
        /* Reconnected once, not at every operation. */
        bad_ops += churn(ctx, "child", 100);
        again_n = socket_inodes(again, 16);
        if (again_n != child_n || (again_n && again[0] != child_sockets[0])) {
            fprintf(stderr, "child reconnected again\n");
            bad_ops++;
        }
        DC_CTX_free(ctx);
        _exit(bad_ops ? 1 : 0);
    }
    CHECK(child > 0);
    /* Parent and child at once: shared, their answers would cross. */
    CHECK(churn(ctx, "parent", 100) == 0);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent kept its connection. */
    again_n = socket_inodes(again, 16);
    CHECK(again_n == 1 && again[0] == parent_sockets[0]);
    DC_CTX_free(ctx);
    return finish();
}

static int restart(const char *target, unsigned int flags) {
    char line[16];
    unsigned char buf[64];
    unsigned int used;
    int first, second;
    DC_CTX *ctx;

    signal(SIGPIPE, SIG_DFL);
    ctx = DC_CTX_new(target, flags);
    CHECK(ctx != NULL);
    if (!ctx)
        return finish();
    CHECK(DC_CTX_add_session(ctx, u("restart-1"), 9, u("before restart"), 14, 60000) == 1);
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        return 1;
    /* The server restarted: its store is empty, the old connection dead. */
    first = DC_CTX_add_session(ctx, u("restart-2"), 9, u("after restart"), 13, 60000);
    second = DC_CTX_add_session(ctx, u("restart-3"), 9, u("after restart"), 13, 60000);
    if ((flags & DC_CTX_FLAG_PERSISTENT) && !(flags & DC_CTX_FLAG_PERSISTENT_RETRY)) {
        /* Without RETRY the first call may fail; the next reconnects (the
         * original never recovered). */
        CHECK(second == 1);
    } else {
        CHECK(first == 1);
        CHECK(second == 1);
    }
    CHECK(DC_CTX_get_session(ctx, u("restart-3"), 9, buf, sizeof buf, &used) == 1);
    CHECK(DC_CTX_has_session(ctx, u("restart-1"), 9) == 0);
    printf("first=%d\n", first);
    DC_CTX_free(ctx);
    return finish();
}

struct thread_arg {
    const char *target;
    int index;
    int bad_ops;
};

static void *thread_main(void *p) {
    struct thread_arg *arg = p;
    char who[32];
    DC_CTX *ctx = DC_CTX_new(arg->target, DC_CTX_FLAG_PERSISTENT);
    snprintf(who, sizeof who, "thread%d", arg->index);
    if (!ctx) {
        arg->bad_ops = 1;
        return NULL;
    }
    arg->bad_ops = churn(ctx, who, 200);
    DC_CTX_free(ctx);
    return NULL;
}

static int threads(const char *target) {
    pthread_t tid[4];
    struct thread_arg args[4];
    int i;
    for (i = 0; i < 4; i++) {
        args[i].target = target;
        args[i].index = i;
        args[i].bad_ops = 0;
        CHECK(pthread_create(&tid[i], NULL, thread_main, &args[i]) == 0);
    }
    for (i = 0; i < 4; i++) {
        CHECK(pthread_join(tid[i], NULL) == 0);
        CHECK(args[i].bad_ops == 0);
    }
    return finish();
}

static int unavailable(const char *target) {
    unsigned char buf[64];
    unsigned int used;
    int i;
    DC_CTX *ctx = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT);
    CHECK(ctx != NULL);
    if (!ctx)
        return finish();
    /* The original failed the first call and hung in the second. */
    for (i = 0; i < 3; i++) {
        CHECK(DC_CTX_has_session(ctx, u("unavail"), 7) == -1);
        CHECK(DC_CTX_add_session(ctx, u("unavail"), 7, u("data!"), 5, 60000) == 0);
        CHECK(DC_CTX_get_session(ctx, u("unavail"), 7, buf, sizeof buf, &used) == 0);
        CHECK(DC_CTX_remove_session(ctx, u("unavail"), 7) == 0);
    }
    DC_CTX_free(ctx);
    return finish();
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "abi") == 0)
        return abi();
    if (strcmp(cmd, "ops") == 0 && argc == 4)
        return ops(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
    if (strcmp(cmd, "bad") == 0 && argc == 3)
        return bad(argv[2]);
    if (strcmp(cmd, "fork") == 0 && argc == 3)
        return fork_check(argv[2]);
    if (strcmp(cmd, "restart") == 0 && argc == 4)
        return restart(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
    if (strcmp(cmd, "threads") == 0 && argc == 3)
        return threads(argv[2]);
    if (strcmp(cmd, "unavailable") == 0 && argc == 3)
        return unavailable(argv[2]);
    fprintf(stderr, "usage: dc_ctx_check abi | ops|restart TARGET FLAGS | "
                    "bad|fork|threads|unavailable TARGET\n");
    return 2;
}
