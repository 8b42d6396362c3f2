/* nvidia-docker: nvidia-docker2's wrapper. For `run` and `create` docker gets --runtime=nvidia and
 * the GPUs of NV_GPU; every other word goes to docker as it came, and we exec it, so that its
 * exit status, signals and terminal are docker's own. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/ctk.h"
#include "nctk/nctk.h"
#include "util/macros.h"
#include "util/shquote.h"
#include "util/strv.h"

#define PROG "nvidia-docker"
#define SEPARATORS " \t\n,"

static const struct cmd_sink sink = {.prog = PROG};

/* docker's global options that take a value (`docker --help`): the word after one of them is
 * its value, never the command. The others (--debug, --tls, --tlsverify, --help, --version) are
 * booleans, which take a value only as --tls=false. */
static const char *const value_options[] = {
        "--config", "--context", "--host", "--log-level", "--tlscacert", "--tlscert", "--tlskey",
};
static const char value_shorts[] = "cHl"; /* --context, --host, --log-level */

static bool takes_value(const char *opt) {
        for (size_t i = 0; i < ELEMENTSOF(value_options); i++)
                if (STREQ(opt, value_options[i]))
                        return true;
        return false;
}

/* Whether the word after the option cluster ARG ("-D", "-H", "-DlDEBUG") is the option's value:
 * pflag reads a cluster of short booleans until a short option that takes a value, whose value
 * is the rest of the cluster, or the next word when nothing is left. */
static bool short_takes_next(const char *arg) {
        for (const char *c = arg + 1; *c; c++)
                if (strchr(value_shorts, *c))
                        return c[1] == '\0';
        return false;
}

/* The index in ARGV of docker's command word, past its global options; ARGC when there is none
 * (only options, or "--"). */
static int find_command(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (STREQ(a, "--"))
                        return argc;
                if (a[0] != '-' || a[1] == '\0')
                        return i;
                if (a[1] == '-' ? takes_value(a) : short_takes_next(a))
                        i++;
        }
        return argc;
}

/* Where --runtime=nvidia goes: right after `run` or `create`, or after `container run|create`.
 * 0 when the command is neither. */
static int insert_point(int argc, char **argv, int cmd) {
        if (cmd >= argc)
                return 0;
        if (STREQ(argv[cmd], "container") && cmd + 1 < argc)
                cmd++;
        return STREQ(argv[cmd], "run") || STREQ(argv[cmd], "create") ? cmd + 1 : 0;
}

static bool all_of(const char *s, size_t n, const char *set) {
        for (size_t i = 0; i < n; i++)
                if (!strchr(set, s[i]))
                        return false;
        return n > 0;
}

#define DIGITS "0123456789"
#define HEX DIGITS "abcdefABCDEF"

/* One item of NV_GPU: an index ("1"), a GPU UUID ("GPU-" and hex digits), a MIG device by UUID
 * ("MIG-..." in both the current and the old "MIG-GPU-<uuid>/<gi>/<ci>" form) or by index
 * ("<gpu>:<mig>"). The runtime checks that it names a device; here only that it can be one. */
static bool is_device_item(const char *s, size_t n) {
        const char *colon = memchr(s, ':', n);

        if (colon)
                return all_of(s, (size_t) (colon - s), DIGITS) &&
                       all_of(colon + 1, n - (size_t) (colon - s) - 1, DIGITS);
        if (n > 4 && startswith(s, "GPU-"))
                return all_of(s + 4, n - 4, HEX "-");
        if (n > 4 && startswith(s, "MIG-"))
                return all_of(s + 4, n - 4, HEX "-/GPUgpu");
        return all_of(s, n, DIGITS);
}

static int bad_gpu(const char *item, size_t n) {
        char shown[64];
        size_t k = 0;

        /* The value is the user's: print it bounded and printable. */
        for (size_t i = 0; i < n && k < sizeof(shown) - 4; i++)
                shown[k++] = item[i] >= 0x20 && item[i] < 0x7f ? item[i] : '?';
        if (n > k)
                shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
        shown[k] = '\0';
        return cmd_error(&sink,
                         "invalid NV_GPU item '%s': use GPU indices (0), UUIDs (GPU-...), MIG "
                         "devices (MIG-... or 0:1), 'all' or 'none', separated by commas or "
                         "spaces",
                         shown);
}

/* NV_GPU's items joined with commas, in *RET (NULL when NV_GPU is unset or blank). -1 after
 * printing the one error line. */
static int parse_nv_gpu(const char *v, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0, items = 0;
        bool keyword = false;

        *ret = NULL;
        if (!v)
                return 0;
        out = malloc(strlen(v) + 1);
        if (!out)
                return cmd_error(&sink, "out of memory");
        for (const char *p = v + strspn(v, SEPARATORS); *p; p += strspn(p, SEPARATORS)) {
                size_t n = strcspn(p, SEPARATORS);
                bool is_kw = (n == 3 && startswith(p, "all")) || (n == 4 && startswith(p, "none"));

                if (!is_kw && !is_device_item(p, n))
                        return bad_gpu(p, n);
                keyword |= is_kw;
                if (items++)
                        out[len++] = ',';
                memcpy(out + len, p, n);
                len += n;
                p += n;
        }
        out[len] = '\0';
        if (keyword && items > 1)
                return cmd_error(&sink, "invalid NV_GPU '%s': 'all' and 'none' stand alone", out);
        if (items)
                *ret = TAKE_PTR(out);
        return 0;
}

/* NV_DOCKER's words, pointing into *RET_BUF: nvidia-docker2 expanded it unquoted, so that it
 * could carry arguments ("docker -H tcp://..."); split at blanks, never globbed. */
static char **docker_words(char **ret_buf, size_t *ret_n) {
        const char *v = getenv("NV_DOCKER");
        _cleanup_free_ char *buf = strdup(v && v[strspn(v, " \t\n")] ? v : "docker");
        _cleanup_free_ char **words = NULL;
        char *save = NULL;
        size_t n = 0;

        if (!buf)
                return NULL;
        for (char *w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
                char **slot = ARRAY_PUSH(words, n);
                if (!slot)
                        return NULL;
                *slot = w;
        }
        *ret_buf = TAKE_PTR(buf);
        *ret_n = n;
        return TAKE_PTR(words);
}

/* NV_DEBUG: the command as the shell trace of nvidia-docker2 showed it. */
static void trace(char **argv) {
        fputc('+', stderr);
        for (char **a = argv; *a; a++) {
                _cleanup_free_ char *q = shell_quote(*a);
                fprintf(stderr, " %s", q ? q : *a);
        }
        fputc('\n', stderr);
}

static int exec_docker(char **argv) {
        const char *v = getenv("NV_DEBUG");
        int e;

        if (v && *v)
                trace(argv);
        fflush(stdout);
        execvp(argv[0], argv);
        e = errno;
        cmd_error(&sink, "cannot run '%s': %s (NV_DOCKER names the docker program)", argv[0],
                  strerror(e));
        return e == ENOENT ? 127 : 126; /* as a shell reports a command it cannot run */
}

/* What run and create get: the runtime, and the GPUs when NV_GPU names some. */
static void push_nvidia(char **out, size_t *k, char *env) {
        out[(*k)++] = (char *) "--runtime=nvidia";
        if (env) {
                out[(*k)++] = (char *) "-e";
                out[(*k)++] = env;
        }
}

int nvidia_docker_main(int argc, char **argv) {
        _cleanup_free_ char *gpus = NULL, *env = NULL, *buf = NULL;
        _cleanup_free_ char **words = NULL, **out = NULL;
        size_t n_words = 0, k = 0;
        int cmd = find_command(argc, argv), at = insert_point(argc, argv, cmd);

        if (at && parse_nv_gpu(getenv("NV_GPU"), &gpus) < 0)
                return 1;
        if (gpus && asprintf(&env, "NVIDIA_VISIBLE_DEVICES=%s", gpus) < 0)
                env = NULL;
        words = docker_words(&buf, &n_words);
        out = calloc(n_words + (size_t) argc + 4, sizeof(char *));
        if (!words || !out || (gpus && !env))
                return cmd_error(&sink, "out of memory"), 1;
        for (size_t i = 0; i < n_words; i++)
                out[k++] = words[i];
        for (int i = 1; i < argc; i++) {
                if (i == at)
                        push_nvidia(out, &k, env);
                out[k++] = argv[i];
        }
        if (at == argc)
                push_nvidia(out, &k, env);
        /* As nvidia-docker2 did: its own version first, then docker's. */
        if (cmd < argc && STREQ(argv[cmd], "version"))
                printf("NVIDIA Docker: nctk %s\n", nctk_version());
        return exec_docker(out);
}
