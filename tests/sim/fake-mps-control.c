/* Fake nvidia-cuda-mps-control for the simulated driver.
 *
 * It has the real program's interface, as far as a toolkit that manages MPS daemons uses it:
 *   -d            start the control daemon in the background (returns once it listens)
 *   -f            run the control daemon in the foreground
 *   (no option)   read commands from stdin, send each to the running daemon, print its answers;
 *                 exits 1 with "Cannot find MPS control daemon process" when none runs
 * CUDA_MPS_PIPE_DIRECTORY (default /tmp/nvidia-mps) holds the daemon's `control` endpoint and
 * its pid file nvidia-cuda-mps-control.pid; CUDA_MPS_LOG_DIRECTORY (default /var/log/nvidia-mps)
 * its control.log (and server.log once a server runs). The endpoint is a UNIX socket here; the
 * real daemon uses named pipes, which is the same to anyone who only mounts the directory.
 *
 * Commands, with the real daemon's answers: quit, get_server_list, get_client_list PID,
 * set_default_active_thread_percentage N (prints the value as "N.0"),
 * get_default_active_thread_percentage, set_default_device_pinned_mem_limit DEV SIZE,
 * get_default_device_pinned_mem_limit DEV. There is no CUDA behind the simulated GPUs, so no
 * client ever connects by itself; two commands exist only here, for tests:
 *   sim_connect PID   registers PID as a client (starting the server process first: a child
 *                     named nvidia-cuda-mps that lives until quit) and prints the server's pid
 *   sim_hang          the daemon stops answering and ignores SIGTERM (a hung daemon)
 * and NCTK_SIM_MPS_HANG=1 in the daemon's environment makes it hang from the start. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONTROL "control"
#define PID_FILE "nvidia-cuda-mps-control.pid"
#define MAX_DEVICES 64
#define MAX_CLIENTS 64

static char pipe_dir[PATH_MAX], log_dir[PATH_MAX];
static FILE *control_log;
static int foreground;

static double thread_percentage = 100.0;
static char pinned_limit[MAX_DEVICES][32];
static pid_t server_pid;
static pid_t clients[MAX_CLIENTS];
static int n_clients;
static volatile sig_atomic_t hung, stop_requested;

static void log_line(FILE *f, const char *who, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void log_line(FILE *f, const char *who, const char *fmt, ...) {
        struct timeval tv;
        struct tm tm;
        char ts[32];
        va_list ap;

        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
        for (int i = 0; i < 2; i++) {
                FILE *out = i == 0 ? f : (foreground ? stdout : NULL);
                if (out == NULL)
                        continue;
                fprintf(out, "[%s.%03d %s %d] ", ts, (int) (tv.tv_usec / 1000), who,
                        (int) getpid());
                va_start(ap, fmt);
                vfprintf(out, fmt, ap);
                va_end(ap);
                fputc('\n', out);
                fflush(out);
        }
}

static int mkdir_p(const char *dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/", dir);
        for (char *p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
                *p = '\0';
                if (mkdir(path, 0755) != 0 && errno != EEXIST)
                        return -1;
                *p = '/';
        }
        return 0;
}

/* A path under the pipe directory can be longer than sun_path: bind and connect relative to an
 * open descriptor of the directory, through /proc/self/fd. */
static int control_address(struct sockaddr_un *sa, int dirfd) {
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/" CONTROL, dirfd);
        return n > 0 && (size_t) n < sizeof(sa->sun_path) ? 0 : -1;
}

static int connect_control(void) {
        struct sockaddr_un sa;
        int dirfd = open(pipe_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -1;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = fd >= 0 && control_address(&sa, dirfd) == 0
                        ? connect(fd, (struct sockaddr *) &sa, sizeof(sa))
                        : -1;
        close(dirfd);
        if (r != 0 && fd >= 0) {
                close(fd);
                fd = -1;
        }
        return fd;
}

static void reap(int sig) {
        (void) sig;
        int saved = errno;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        errno = saved;
}

static void on_term(int sig) {
        (void) sig;
        if (!hung)
                stop_requested = 1;
}

/* The server: a child named like the real one (nvidia-cuda-mps-server, as the kernel's 15-byte
 * comm shows it), which does nothing but exist until the daemon goes. */
static pid_t start_server(void) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        /* Not the client connection the daemon is answering on: its peer waits for EOF. */
        close_range(3, ~0u, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "nvidia-cuda-mps");
        signal(SIGTERM, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/server.log", log_dir);
        FILE *f = fopen(path, "ae");
        if (f != NULL) {
                log_line(f, "Server", "Server %d has started", (int) getpid());
                log_line(f, "Server", "Default active thread percentage: %.1f", thread_percentage);
                for (int d = 0; d < MAX_DEVICES; d++)
                        if (pinned_limit[d][0] != '\0')
                                log_line(f, "Server", "Device %d pinned memory limit: %s", d,
                                         pinned_limit[d]);
                fclose(f);
        }
        for (;;)
                pause();
}

static int alive(pid_t pid) {
        return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* "2G", "512M", "1024K", "4096": a number and an optional unit. */
static int valid_size(const char *s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || v == 0)
                return 0;
        return *end == '\0' || (strchr("KMGkmg", *end) != NULL && end[1] == '\0');
}

static int device_arg(const char *s) {
        char *end;
        long d = strtol(s, &end, 10);
        return end != s && *end == '\0' && d >= 0 && d < MAX_DEVICES ? (int) d : -1;
}

static void cleanup_and_exit(int dirfd) {
        if (server_pid > 0) {
                signal(SIGCHLD, SIG_DFL);
                kill(server_pid, SIGKILL);
                waitpid(server_pid, NULL, 0);
        }
        unlinkat(dirfd, CONTROL, 0);
        unlinkat(dirfd, PID_FILE, 0);
        log_line(control_log, "Control", "Exit");
        exit(0);
}

/* One command, one answer. Returns 1 for quit. */
static int handle(FILE *out, char *line) {
        char *argv[4] = {NULL, NULL, NULL, NULL};
        int argc = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t != NULL && argc < 4;
             t = strtok_r(NULL, " \t\r\n", &save))
                argv[argc++] = t;
        if (argc == 0)
                return 0;
        log_line(control_log, "Control", "Cmd:%s%s%s%s%s", argv[0], argc > 1 ? " " : "",
                 argc > 1 ? argv[1] : "", argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
        const char *cmd = argv[0];
        if (strcmp(cmd, "quit") == 0)
                return 1;
        if (strcmp(cmd, "get_server_list") == 0) {
                if (alive(server_pid))
                        fprintf(out, "%d\n", (int) server_pid);
        } else if (strcmp(cmd, "get_client_list") == 0 && argc == 2) {
                if (alive(server_pid) && atoi(argv[1]) == server_pid)
                        for (int i = 0; i < n_clients; i++)
                                if (alive(clients[i]))
                                        fprintf(out, "%d\n", (int) clients[i]);
        } else if (strcmp(cmd, "get_default_active_thread_percentage") == 0) {
                fprintf(out, "%.1f\n", thread_percentage);
        } else if (strcmp(cmd, "set_default_active_thread_percentage") == 0 && argc == 2) {
                char *end;
                double v = strtod(argv[1], &end);
                if (end == argv[1] || *end != '\0' || !(v > 0.0 && v <= 100.0))
                        fprintf(out, "Invalid active thread percentage %s\n", argv[1]);
                else {
                        thread_percentage = v;
                        fprintf(out, "%.1f\n", thread_percentage);
                }
        } else if (strcmp(cmd, "set_default_device_pinned_mem_limit") == 0 && argc == 3) {
                int d = device_arg(argv[1]);
                if (d < 0)
                        fprintf(out, "Invalid device %s\n", argv[1]);
                else if (!valid_size(argv[2]))
                        fprintf(out, "Invalid memory limit %s\n", argv[2]);
                else
                        snprintf(pinned_limit[d], sizeof(pinned_limit[d]), "%s", argv[2]);
        } else if (strcmp(cmd, "get_default_device_pinned_mem_limit") == 0 && argc == 2) {
                int d = device_arg(argv[1]);
                if (d < 0)
                        fprintf(out, "Invalid device %s\n", argv[1]);
                else
                        fprintf(out, "%s\n", pinned_limit[d][0] ? pinned_limit[d] : "0");
        } else if (strcmp(cmd, "sim_connect") == 0 && argc == 2) {
                if (!alive(server_pid))
                        server_pid = start_server();
                if (n_clients < MAX_CLIENTS)
                        clients[n_clients++] = (pid_t) atoi(argv[1]);
                log_line(control_log, "Control", "New client %s connected", argv[1]);
                fprintf(out, "%d\n", (int) server_pid);
        } else if (strcmp(cmd, "sim_hang") == 0) {
                hung = 1;
        } else {
                fprintf(out, "Unrecognized command %s\n", cmd);
        }
        return 0;
}

static void serve(int lfd, int dirfd) {
        for (;;) {
                if (stop_requested)
                        cleanup_and_exit(dirfd);
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue; /* EINTR: a child ended, or SIGTERM */
                if (hung) {
                        /* Accept and keep the connection, never answer: the caller must give
                         * up on its own. */
                        continue;
                }
                char line[512];
                struct pollfd p = {fd, POLLIN, 0};
                ssize_t n = poll(&p, 1, 2000) == 1 ? read(fd, line, sizeof(line) - 1) : -1;
                if (n > 0) {
                        line[n] = '\0';
                        FILE *out = fdopen(dup(fd), "w");
                        int quit = out != NULL ? handle(out, line) : 0;
                        if (out != NULL)
                                fclose(out);
                        if (quit) {
                                close(fd);
                                cleanup_and_exit(dirfd);
                        }
                }
                close(fd);
        }
}

static int write_pid_file(int dirfd) {
        int fd = openat(dirfd, PID_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        dprintf(fd, "%d\n", (int) getpid());
        close(fd);
        return 0;
}

/* Binds the control endpoint. A leftover socket of a daemon that died is replaced; a live one
 * means another daemon owns this directory. */
static int listen_control(int dirfd) {
        struct sockaddr_un sa;
        int probe = connect_control();
        if (probe >= 0) {
                close(probe);
                fprintf(stderr, "An instance of this daemon is already running\n");
                log_line(control_log, "Control", "An instance of this daemon is already running");
                return -1;
        }
        unlinkat(dirfd, CONTROL, 0);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || control_address(&sa, dirfd) != 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
                fprintf(stderr, "Failed to create %s/" CONTROL ": %s\n", pipe_dir, strerror(errno));
                return -1;
        }
        return fd;
}

static int daemon_main(int ready_fd) {
        char path[PATH_MAX + 16];

        if (mkdir_p(pipe_dir) != 0 || mkdir_p(log_dir) != 0) {
                fprintf(stderr, "Failed to create the pipe or log directory: %s\n",
                        strerror(errno));
                return 1;
        }
        snprintf(path, sizeof(path), "%s/control.log", log_dir);
        control_log = fopen(path, "ae");
        if (control_log == NULL) {
                fprintf(stderr, "Failed to open %s: %s\n", path, strerror(errno));
                return 1;
        }
        int dirfd = open(pipe_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int lfd = dirfd >= 0 ? listen_control(dirfd) : -1;
        if (lfd < 0 || write_pid_file(dirfd) != 0)
                return 1;
        const char *vis = getenv("CUDA_VISIBLE_DEVICES");
        log_line(control_log, "Control", "Starting control daemon using socket %s/" CONTROL,
                 pipe_dir);
        log_line(control_log, "Control",
                 "To connect CUDA applications to this daemon, set env CUDA_MPS_PIPE_DIRECTORY=%s",
                 pipe_dir);
        if (vis != NULL)
                log_line(control_log, "Control", "CUDA_VISIBLE_DEVICES=%s", vis);
        const char *h = getenv("NCTK_SIM_MPS_HANG");
        hung = h != NULL && strcmp(h, "1") == 0;

        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = reap;
        sigaction(SIGCHLD, &sa, NULL);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (ready_fd >= 0) {
                /* Started with -d: the caller may wait for our output to end. */
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, 2);
                (void) !write(ready_fd, "r", 1);
                close(ready_fd);
        }
        serve(lfd, dirfd);
        return 0;
}

static int start_background(void) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
                return 1;
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                close(p[0]);
                setsid();
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, 0);
                        dup2(null, 1);
                }
                /* stderr stays until ready: start-up errors reach the caller */
                if (fork() != 0)
                        _exit(0);
                int r = daemon_main(p[1]);
                _exit(r);
        }
        close(p[1]);
        waitpid(pid, NULL, 0);
        char c;
        ssize_t n = read(p[0], &c, 1);
        close(p[0]);
        return n == 1 ? 0 : 1;
}

static int client(void) {
        char line[512];
        int status = 0;
        while (fgets(line, sizeof(line), stdin) != NULL) {
                if (strspn(line, " \t\r\n") == strlen(line))
                        continue;
                int fd = connect_control();
                if (fd < 0) {
                        fprintf(stderr, "Cannot find MPS control daemon process\n");
                        return 1;
                }
                size_t len = strlen(line);
                if (write(fd, line, len) != (ssize_t) len) {
                        close(fd);
                        return 1;
                }
                shutdown(fd, SHUT_WR);
                char buf[4096];
                ssize_t n;
                while ((n = read(fd, buf, sizeof(buf))) > 0)
                        fwrite(buf, 1, (size_t) n, stdout);
                fflush(stdout);
                close(fd);
        }
        return status;
}

static void dir_from_env(char *buf, const char *var, const char *def) {
        const char *v = getenv(var);
        snprintf(buf, PATH_MAX, "%s", v != NULL && *v != '\0' ? v : def);
}

int main(int argc, char **argv) {
        dir_from_env(pipe_dir, "CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps");
        dir_from_env(log_dir, "CUDA_MPS_LOG_DIRECTORY", "/var/log/nvidia-mps");
        if (argc == 1)
                return client();
        if (argc == 2 && strcmp(argv[1], "-d") == 0)
                return start_background();
        if (argc == 2 && strcmp(argv[1], "-f") == 0) {
                foreground = 1;
                return daemon_main(-1);
        }
        if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
                printf("nvidia-cuda-mps-control: version %s (nctk simulated driver)\n",
                       NCTK_SIM_VERSION);
                return 0;
        }
        fprintf(stderr, "Usage: nvidia-cuda-mps-control [-d | -f]\n");
        return 1;
}
