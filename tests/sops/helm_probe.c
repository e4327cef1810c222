/*
 * helm_probe: a stand-in for helm that runs the real one and checks, from inside the render's
 * Landlock confinement, what it was given and what the sandbox holds. tests/render_sops.rs
 * compiles it at test time (gcc) and appends the real helm binary to it: confined, a tool may
 * read only its own program file, its sandbox and the system libraries, so helm travels inside
 * the probe and runs from a memfd.
 *
 * Compiled-in settings (the sandbox passes no environment of the test's):
 *   PROBE_CLEARTEXTS  string literals no file of the sandbox and no argument may contain
 *   PROBE_FORBIDDEN   a string no argument may contain (the encrypted values file's name)
 *   PROBE_CIPHERTEXT  a string some file of the sandbox must contain (sops' ciphertext marker)
 *
 * For `helm template` it walks the sandbox (the parent of its working directory, `repo/`)
 * before and after helm runs, then appends `# helm-probe …` comment lines to helm's output
 * (ordo keeps them in the rendered files): a run id, whether the values came on stdin
 * (`-f -`), each argument, and how many files held a cleartext or the ciphertext. When a
 * check fails it says why on stderr and exits 3, which fails the render. Other helm
 * commands are passed through untouched.
 *
 * Layout of the program file: this ELF, then helm's bytes, then helm's length (8 bytes,
 * little-endian).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const CLEARTEXTS[] = {PROBE_CLEARTEXTS};
#define N_CLEARTEXTS (sizeof(CLEARTEXTS) / sizeof(CLEARTEXTS[0]))

extern char **environ;

static void die(const char *what) {
    fprintf(stderr, "helm-probe: %s: %s\n", what, strerror(errno));
    exit(4);
}

/* helm, copied from the end of our own program file into an executable memfd. */
static int helm_memfd(void) {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) die("open /proc/self/exe");
    struct stat st;
    if (fstat(self, &st) < 0) die("stat self");
    uint64_t len = 0;
    unsigned char tail[8];
    if (pread(self, tail, 8, st.st_size - 8) != 8) die("read trailer");
    for (int i = 7; i >= 0; i--) len = (len << 8) | tail[i];
    if (len == 0 || len > (uint64_t)st.st_size - 8) {
        fprintf(stderr, "helm-probe: no helm appended to the probe\n");
        exit(4);
    }
    off_t at = st.st_size - 8 - (off_t)len;
    int mem = memfd_create("helm", MFD_CLOEXEC);
    if (mem < 0) die("memfd_create");
    static char buf[1 << 20];
    uint64_t left = len;
    while (left > 0) {
        size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
        ssize_t n = pread(self, buf, want, at);
        if (n <= 0) die("read helm");
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(mem, buf + done, (size_t)(n - done));
            if (w < 0) die("write memfd");
            done += w;
        }
        at += n;
        left -= (uint64_t)n;
    }
    close(self);
    return mem;
}

/* Runs helm with our arguments, stdin, stdout and stderr; its exit status. */
static int run_helm(char **argv) {
    int mem = helm_memfd();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        fexecve(mem, argv, environ);
        die("fexecve helm");
    }
    close(mem);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid");
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static int contains(const char *hay, size_t n, const char *needle) {
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

struct walk {
    int cleartext_files;
    int ciphertext_files;
    int unreadable;
    char first_cleartext[4096];
};

/* Every regular file under `dir` (symbolic links not followed). */
static void walk(const char *dir, struct walk *w) {
    DIR *d = opendir(dir);
    if (!d) {
        w->unreadable++;
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) < 0) {
            w->unreadable++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk(path, w);
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            w->unreadable++;
            continue;
        }
        char *data = malloc((size_t)st.st_size + 1);
        if (!data) die("malloc");
        size_t got = 0;
        for (ssize_t n; got < (size_t)st.st_size; got += (size_t)n) {
            n = read(fd, data + got, (size_t)st.st_size - got);
            if (n <= 0) break;
        }
        close(fd);
        int clear = 0;
        for (size_t i = 0; i < N_CLEARTEXTS; i++) clear |= contains(data, got, CLEARTEXTS[i]);
        if (clear) {
            if (!w->cleartext_files) snprintf(w->first_cleartext, sizeof w->first_cleartext, "%s", path);
            w->cleartext_files++;
        }
        if (contains(data, got, PROBE_CIPHERTEXT)) w->ciphertext_files++;
        free(data);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    int template = 0, stdin_values = 0, forbidden = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "template")) template = 1;
        if (!strcmp(argv[i], "-f") && i + 1 < argc && !strcmp(argv[i + 1], "-")) stdin_values = 1;
        int bad = strstr(argv[i], PROBE_FORBIDDEN) != NULL;
        for (size_t c = 0; c < N_CLEARTEXTS; c++) bad |= strstr(argv[i], CLEARTEXTS[c]) != NULL;
        if (bad) forbidden++;
    }
    if (!template) return run_helm(argv);

    struct walk before = {0}, after = {0};
    walk("..", &before);
    int status = run_helm(argv);
    if (status != 0) return status;
    walk("..", &after);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    printf("# helm-probe run: %ld-%ld-%ld\n", (long)getpid(), (long)now.tv_sec, now.tv_nsec);
    printf("# helm-probe stdin-values: %s\n", stdin_values ? "yes" : "no");
    printf("# helm-probe forbidden-args: %d\n", forbidden);
    for (int i = 1; i < argc; i++) printf("# helm-probe arg: %s\n", argv[i]);
    printf("# helm-probe cleartext-files: %d before, %d after\n", before.cleartext_files,
           after.cleartext_files);
    printf("# helm-probe ciphertext-files: %d before, %d after\n", before.ciphertext_files,
           after.ciphertext_files);
    printf("# helm-probe unreadable: %d\n", before.unreadable + after.unreadable);
    fflush(stdout);

    int failed = 0;
    if (!stdin_values) {
        fprintf(stderr, "helm-probe: helm template got no `-f -` (values on stdin)\n");
        failed = 1;
    }
    if (forbidden) {
        fprintf(stderr, "helm-probe: %d argument(s) name the encrypted file or a cleartext\n",
                forbidden);
        failed = 1;
    }
    if (before.cleartext_files || after.cleartext_files) {
        fprintf(stderr, "helm-probe: cleartext in the sandbox: %s\n",
                after.cleartext_files ? after.first_cleartext : before.first_cleartext);
        failed = 1;
    }
    if (!after.ciphertext_files) {
        fprintf(stderr, "helm-probe: no file in the sandbox holds the ciphertext\n");
        failed = 1;
    }
    if (before.unreadable || after.unreadable) {
        fprintf(stderr, "helm-probe: %d path(s) of the sandbox unreadable\n",
                before.unreadable + after.unreadable);
        failed = 1;
    }
    return failed ? 3 : 0;
}
