/* nvidia-ctk runtime configure|unconfigure: registers the NVIDIA runtime with docker, containerd
 * or CRI-O (or writes the hooks.d JSON of podman and CRI-O), through the pure editors of
 * src/engine/, every write through conf_file (locked, atomic, with a backup). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/ctk.h"
#include "engine/engine.h"
#include "util/conffile.h"
#include "util/fileio.h"
#include "util/macros.h"
#include "util/udiff.h"

#define BACKUP_SUFFIX ".nctk.bak"
#define HOOK_PATH "/usr/bin/nvidia-container-runtime-hook"

enum engine { ENGINE_DOCKER, ENGINE_CONTAINERD, ENGINE_CRIO };

struct rt_args {
        bool unconfigure;
        enum engine engine;
        const char *config;
        const char *drop_in; /* NULL: the engine's default; "": edit --config in place */
        bool source_command;
        bool oci_hook;
        const char *oci_hook_path;
        const char *hook_path;
        struct engine_runtime rt;
        bool dry_run;
};

/* One file to change: what is there (read and locked) and what it becomes. */
struct change {
        struct conf_file f;
        struct engine_text text;
        bool remove;
};

static const char *const engine_names[] = {"docker", "containerd", "crio"};
static const char *const default_config[] = {"/etc/docker/daemon.json",
                                             "/etc/containerd/config.toml", "/etc/crio/crio.conf"};
static const char *const default_drop_in[] = {NULL, "/etc/containerd/conf.d/99-nvidia.toml",
                                              "/etc/crio/crio.conf.d/99-nvidia.toml"};
static const char *const restart_unit[] = {"docker", "containerd", "crio"};

static void runtime_help(FILE *f, const char *prog) {
        fprintf(f,
                "Usage: %s runtime configure|unconfigure [OPTION...]\n"
                "\n"
                "Registers the NVIDIA runtime with a container engine (configure), or takes out\n"
                "exactly what configure added (unconfigure). Every other line of the file is "
                "kept.\n"
                "Nothing is restarted; the last line says what to restart.\n"
                "\n"
                "  --runtime=docker|containerd|crio   the engine (docker)\n"
                "  --config=FILE                      its config (/etc/docker/daemon.json,\n"
                "                                     /etc/containerd/config.toml, "
                "/etc/crio/crio.conf)\n"
                "  --drop-in-config=FILE              containerd and CRI-O: the drop-in to write\n"
                "                                     (/etc/containerd/conf.d/99-nvidia.toml,\n"
                "                                     /etc/crio/crio.conf.d/99-nvidia.toml); \"\" "
                "edits --config\n"
                "  --config-source=file|command       containerd: read the config from the file, "
                "or\n"
                "                                     from `containerd config dump` (file)\n"
                "  --config-mode=config-file|oci-hook CRI-O and podman: oci-hook writes a hooks.d "
                "JSON\n"
                "  --oci-hook-path=FILE               (/usr/share/containers/oci/hooks.d/"
                "oci-nvidia-hook.json)\n"
                "  --nvidia-runtime-name=NAME         (nvidia)\n"
                "  --nvidia-runtime-path=PATH         (docker: nvidia-container-runtime, others:\n"
                "                                     /usr/bin/nvidia-container-runtime)\n"
                "  --nvidia-runtime-hook-path=PATH    (" HOOK_PATH ")\n"
                "  --nvidia-set-as-default            make it the engine's default runtime\n"
                "  --cdi.enabled                      enable CDI in the engine (docker, "
                "containerd)\n"
                "  --dry-run                          print the change as a unified diff; write "
                "nothing\n"
                "  -h, --help                         print this help\n"
                "\n"
                "unconfigure takes the same options; give it --cdi.enabled to take CDI out too.\n"
                "A changed file's old bytes are kept as FILE" BACKUP_SUFFIX ".\n",
                prog);
}

enum {
        OPT_RUNTIME = 256,
        OPT_CONFIG,
        OPT_DROP_IN,
        OPT_SOURCE,
        OPT_MODE,
        OPT_HOOK_FILE,
        OPT_NAME,
        OPT_PATH,
        OPT_HOOK_PATH,
        OPT_DEFAULT,
        OPT_CDI,
        OPT_DRY_RUN,
};

static const struct option runtime_options[] = {
        {"runtime", required_argument, NULL, OPT_RUNTIME},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"drop-in-config", required_argument, NULL, OPT_DROP_IN},
        {"config-source", required_argument, NULL, OPT_SOURCE},
        {"config-mode", required_argument, NULL, OPT_MODE},
        {"oci-hook-path", required_argument, NULL, OPT_HOOK_FILE},
        {"nvidia-runtime-name", required_argument, NULL, OPT_NAME},
        {"nvidia-runtime-path", required_argument, NULL, OPT_PATH},
        {"nvidia-runtime-hook-path", required_argument, NULL, OPT_HOOK_PATH},
        {"nvidia-set-as-default", optional_argument, NULL, OPT_DEFAULT},
        {"cdi.enabled", optional_argument, NULL, OPT_CDI},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"help", no_argument, NULL, 'h'},
        {},
};

/* VALUE of a boolean flag: none means true. Returns 0/1, or -1 when it is neither. */
static int parse_bool(const char *value) {
        if (!value || STREQ(value, "true") || STREQ(value, "1"))
                return 1;
        if (STREQ(value, "false") || STREQ(value, "0"))
                return 0;
        return -1;
}

static int pick(const char *value, const char *const *words, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (STREQ(value, words[i]))
                        return (int) i;
        return -1;
}

/* Sets one option of A; returns 0, or -1 after printing why. */
static int set_option(struct ctk_ctx *c, struct rt_args *a, int opt, const char *val) {
        static const char *const sources[] = {"file", "command"};
        static const char *const modes[] = {"config-file", "oci-hook"};
        int v;

        switch (opt) {
        case OPT_RUNTIME: v = pick(val, engine_names, ELEMENTSOF(engine_names)); break;
        case OPT_SOURCE: v = pick(val, sources, 2); break;
        case OPT_MODE: v = pick(val, modes, 2); break;
        case OPT_DEFAULT:
        case OPT_CDI: v = parse_bool(val); break;
        default: v = 0; break;
        }
        if (v < 0)
                return cmd_error(&c->out, "invalid value '%s' for --%s; see '%s runtime --help'",
                                 val, runtime_options[opt - OPT_RUNTIME].name, c->out.prog);
        switch (opt) {
        case OPT_RUNTIME: a->engine = (enum engine) v; break;
        case OPT_CONFIG: a->config = val; break;
        case OPT_DROP_IN: a->drop_in = val; break;
        case OPT_SOURCE: a->source_command = v == 1; break;
        case OPT_MODE: a->oci_hook = v == 1; break;
        case OPT_HOOK_FILE: a->oci_hook_path = val; break;
        case OPT_NAME: a->rt.name = val; break;
        case OPT_PATH: a->rt.path = val; break;
        case OPT_HOOK_PATH: a->hook_path = val; break;
        case OPT_DEFAULT: a->rt.set_as_default = v; break;
        case OPT_CDI: a->rt.cdi_enabled = v; break;
        case OPT_DRY_RUN: a->dry_run = true; break;
        }
        return 0;
}

/* Writes NAME with control characters and quotes escaped, so an error stays on one line. */
static char *printable(const char *name) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (const char *p = name; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == '\'' || *p == '\\' || *p == 0x7f)
                        fprintf(f, "\\x%02x", (unsigned char) *p);
                else
                        fputc(*p, f);
        return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static int check_args(struct ctk_ctx *c, struct rt_args *a) {
        if (engine_runtime_name_check(a->rt.name, NULL) < 0) {
                _cleanup_free_ char *shown = printable(a->rt.name);

                return cmd_error(&c->out,
                                 "invalid --nvidia-runtime-name '%s': use 1 to 64 letters, digits, "
                                 "'-', '_' or '.'",
                                 shown ? shown : "?");
        }
        if (a->oci_hook && a->engine != ENGINE_CRIO)
                return cmd_error(&c->out, "--config-mode=oci-hook is for CRI-O and podman: add "
                                          "--runtime=crio");
        if (a->drop_in && a->engine == ENGINE_DOCKER)
                return cmd_error(&c->out,
                                 "--drop-in-config is for containerd and CRI-O; docker has "
                                 "one daemon.json (--config)");
        if (a->drop_in && !a->drop_in[0] && a->engine == ENGINE_CRIO && !a->oci_hook)
                return cmd_error(&c->out, "CRI-O is configured through a drop-in only: give "
                                          "--drop-in-config a path");
        return 0;
}

static void apply_defaults(struct rt_args *a) {
        if (!a->config)
                a->config = default_config[a->engine];
        if (!a->drop_in)
                a->drop_in = default_drop_in[a->engine];
        if (!a->rt.name)
                a->rt.name = "nvidia";
        if (!a->rt.path)
                a->rt.path = a->engine == ENGINE_DOCKER ? "nvidia-container-runtime"
                                                        : "/usr/bin/nvidia-container-runtime";
        if (!a->hook_path)
                a->hook_path = HOOK_PATH;
        if (!a->oci_hook_path)
                a->oci_hook_path = "/usr/share/containers/oci/hooks.d/oci-nvidia-hook.json";
}

/* Returns the index of the first argument after the options, or -1 after printing why, or 0
 * for --help. */
static int parse_args(struct ctk_ctx *c, int argc, char **argv, struct rt_args *a) {
        int opt;

        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", runtime_options, NULL)) != -1) {
                if (opt == 'h') {
                        runtime_help(stdout, c->out.prog);
                        return 0;
                }
                if (opt == '?' || opt == ':')
                        return cmd_error(
                                &c->out,
                                "unknown or incomplete option '%s'; see '%s runtime --help'",
                                argv[optind - 1], c->out.prog);
                if (set_option(c, a, opt, optarg) < 0)
                        return -1;
        }
        if (optind < argc)
                return cmd_error(&c->out, "unexpected argument '%s'; see '%s runtime --help'",
                                 argv[optind], c->out.prog);
        apply_defaults(a);
        return check_args(c, a) < 0 ? -1 : optind;
}

/* Whether PATH names an executable: as given when it has a '/', else on $PATH. */
static bool executable_exists(const char *path) {
        const char *env = getenv("PATH");
        _cleanup_free_ char *dirs = NULL;
        char *save = NULL;

        if (strchr(path, '/'))
                return access(path, X_OK) == 0;
        dirs = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
        if (!dirs)
                return true;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", d, path) >= 0 && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static void warn_missing(struct ctk_ctx *c, const char *what, const char *path) {
        if (!c->out.quiet && !executable_exists(path))
                fprintf(stderr,
                        "%s: warning: %s '%s' was not found%s; the engine cannot start it until it "
                        "is installed\n",
                        c->out.prog, what, path, strchr(path, '/') ? "" : " (on $PATH)");
}

/* Runs ARGV and captures its standard output (stderr passes through). */
static int run_capture(char *const *argv, struct engine_text *out, struct nctk_error **err) {
        int pipefd[2], status, r;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(pipefd[1]);
        r = read_full_fd(pipefd[0], CONF_FILE_MAX, &out->data, &out->len);
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r >= 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                engine_text_free(out);
                return nctk_error_set(err, EIO, "'%s %s' failed (exit status %d); is it installed?",
                                      argv[0], argv[1],
                                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        return r;
}

/* The containerd config version for a new file: 3 for containerd 2.x, else 2. */
static int containerd_new_version(void) {
        char *argv[] = {(char *) "containerd", (char *) "--version", NULL};
        struct engine_text t = {};
        int v = 2;

        if (run_capture(argv, &t, NULL) >= 0 && (strstr(t.data, " v2.") || strstr(t.data, " 2.")))
                v = 3;
        engine_text_free(&t);
        return v;
}

static int open_change(struct change *ch, const char *path, struct nctk_error **err) {
        return conf_file_open(&ch->f, path, err);
}

/* A file of ours in a drop-in folder that a stock engine package does not make (Debian 12's
 * containerd has /etc/containerd but no conf.d): the folder is made when its parent exists, so
 * a missing engine still gets the "is the engine installed?" line. Never on a dry run. */
static int open_own_change(const struct rt_args *a, struct change *ch, const char *path,
                           struct nctk_error **err) {
        const char *slash = strrchr(path, '/');

        if (!a->unconfigure && !a->dry_run && slash && slash != path) {
                _cleanup_free_ char *dir = strndup(path, (size_t) (slash - path));
                if (!dir)
                        return nctk_error_set(err, ENOMEM, "out of memory");
                if (mkdir(dir, 0755) < 0 && errno != EEXIST && errno != ENOENT)
                        return nctk_error_set(err, errno, "%s: cannot create '%s': %s", path, dir,
                                              strerror(errno));
        }
        return open_change(ch, path, err);
}

static int edit_docker(const struct rt_args *a, struct change *ch, struct nctk_error **err) {
        int r = open_change(ch, a->config, err);

        if (r < 0)
                return r;
        r = a->unconfigure ? docker_unconfigure(ch->f.data, ch->f.len, &a->rt, &ch->text, err)
                           : docker_configure(ch->f.data, ch->f.len, &a->rt, &ch->text, err);
        return r < 0 ? nctk_error_prefix(err, "%s", a->config) : r;
}

/* The whole text of a file of ours (a drop-in, a hooks.d JSON): written, or removed. */
static int edit_own_file(const struct rt_args *a, const char *path, struct change *ch,
                         struct nctk_error **err) {
        int r = open_own_change(a, ch, path, err);

        if (r < 0 || a->unconfigure) {
                ch->remove = true;
                return r;
        }
        if (a->oci_hook)
                return ocihook_json(a->hook_path, &ch->text, err);
        return crio_dropin(&a->rt, &ch->text, err);
}

/* The text containerd's config is edited from: the file, or `containerd config dump`. */
static int containerd_source(const struct rt_args *a, const struct change *main,
                             struct engine_text *ret, struct nctk_error **err) {
        char *argv[] = {(char *) "containerd", (char *) "--config", (char *) a->config,
                        (char *) "config",     (char *) "dump",     NULL};

        if (a->source_command)
                return run_capture(argv, ret, err);
        ret->data = strndup(main->f.data, main->f.len);
        ret->len = main->f.len;
        return ret->data ? 0 : -ENOMEM;
}

static int containerd_dropin(const struct rt_args *a, const struct engine_text *src, int v,
                             const char *glob, struct change ch[2], struct nctk_error **err);

/* containerd: CH[0] the main config, CH[1] the drop-in (unless editing in place). */
static int edit_containerd(const struct rt_args *a, struct change ch[2], struct nctk_error **err) {
        _cleanup_free_ char *glob = NULL;
        struct engine_text src = {};
        const char *slash;
        int v, r;

        r = open_change(&ch[0], a->config, err);
        if (r >= 0)
                r = containerd_source(a, &ch[0], &src, err);
        if (r < 0)
                return r;
        v = containerd_config_version(src.data, src.len);
        if (v == 0)
                v = containerd_new_version();
        if (v < 0) {
                struct engine_text none = {};

                /* the editor's parse names the line and column of what is wrong */
                if (v != -EOPNOTSUPP &&
                    containerd_configure(src.data, src.len, &a->rt, 2, &none, err) < 0)
                        v = nctk_error_prefix(err, "%s", a->config);
                else
                        v = nctk_error_set(err, -v, "%s: %s", a->config,
                                           v == -EOPNOTSUPP ? "a config version nctk does not know "
                                                              "(1, 2 and 3 are known)"
                                                            : "not a containerd config");
                engine_text_free(&none);
                engine_text_free(&src);
                return v;
        }
        if (!a->drop_in[0]) {
                r = a->unconfigure
                            ? containerd_unconfigure(src.data, src.len, &a->rt, &ch[0].text, err)
                            : containerd_configure(src.data, src.len, &a->rt, v, &ch[0].text, err);
                engine_text_free(&src);
                return r < 0 ? nctk_error_prefix(err, "%s", a->config) : r;
        }
        slash = strrchr(a->drop_in, '/');
        if (asprintf(&glob, "%.*s/*.toml", slash ? (int) (slash - a->drop_in) : 1,
                     slash ? a->drop_in : ".") < 0) {
                engine_text_free(&src);
                return -ENOMEM;
        }
        r = containerd_dropin(a, &src, v, glob, ch, err);
        engine_text_free(&src);
        return r;
}

/* The drop-in CH[1], made from the main config SRC (its CRI plugin keys, for containerd 1.x),
 * and the main config CH[0] importing it. */
static int containerd_dropin(const struct rt_args *a, const struct engine_text *src, int v,
                             const char *glob, struct change ch[2], struct nctk_error **err) {
        int r = a->unconfigure
                        ? containerd_import_remove(ch[0].f.data, ch[0].f.len, glob, &ch[0].text,
                                                   err)
                        : containerd_import_add(ch[0].f.data, ch[0].f.len, glob, &ch[0].text, err);
        if (r < 0)
                return nctk_error_prefix(err, "%s", a->config);
        r = open_own_change(a, &ch[1], a->drop_in, err);
        if (r < 0 || a->unconfigure) {
                ch[1].remove = true;
                return r;
        }
        r = containerd_configure_dropin(src->data, src->len, ch[1].f.data, ch[1].f.len, &a->rt, v,
                                        &ch[1].text, err);
        return r < 0 ? nctk_error_prefix(err, "%s", a->drop_in) : r;
}

static bool changes(const struct change *ch) {
        if (!ch->f.path)
                return false;
        if (ch->remove)
                return ch->f.exists;
        if (!ch->f.exists)
                return ch->text.len > 0;
        return ch->text.len != ch->f.len || memcmp(ch->text.data, ch->f.data, ch->f.len) != 0;
}

static int apply_change(struct change *ch, bool dry_run, struct nctk_error **err) {
        if (!changes(ch))
                return 0;
        if (dry_run) {
                int r = udiff_write(stdout, ch->f.exists ? ch->f.path : "/dev/null",
                                    ch->remove ? "/dev/null" : ch->f.path, ch->f.data, ch->f.len,
                                    ch->remove ? "" : ch->text.data, ch->remove ? 0 : ch->text.len);
                return r < 0 ? r : 1;
        }
        if (ch->remove)
                return conf_file_remove(&ch->f, err) < 0 ? -EIO : 1;
        return conf_file_replace(&ch->f, ch->text.data, ch->text.len, 0644, BACKUP_SUFFIX, err) < 0
                       ? -EIO
                       : 1;
}

static void say_done(struct ctk_ctx *c, const struct rt_args *a, int changed) {
        const char *what = a->unconfigure ? "removed" : "registered";

        if (c->out.quiet || a->dry_run)
                return;
        if (!changed) {
                printf("%s: nothing to change: runtime '%s' is already %s\n", c->out.prog,
                       a->rt.name, what);
                return;
        }
        if (a->oci_hook)
                printf("%s: hooks.d file %s; podman uses it from its next container on, CRI-O "
                       "after a restart: systemctl restart crio\n",
                       a->unconfigure ? "removed" : "written", a->oci_hook_path);
        else
                printf("%s: runtime '%s' %s; restart %s to apply it: systemctl restart %s\n",
                       c->out.prog, a->rt.name, what, engine_names[a->engine],
                       restart_unit[a->engine]);
}

static int plan(const struct rt_args *a, struct change ch[2], struct nctk_error **err) {
        if (a->oci_hook)
                return edit_own_file(a, a->oci_hook_path, &ch[0], err);
        switch (a->engine) {
        case ENGINE_DOCKER: return edit_docker(a, &ch[0], err);
        case ENGINE_CRIO: return edit_own_file(a, a->drop_in, &ch[0], err);
        case ENGINE_CONTAINERD: return edit_containerd(a, ch, err);
        }
        return -EINVAL;
}

static int run_edit(struct ctk_ctx *c, struct rt_args *a) {
        struct change ch[2] = {{.f = CONF_FILE_INIT}, {.f = CONF_FILE_INIT}};
        struct nctk_error *err = NULL;
        int r, changed = 0;

        r = plan(a, ch, &err);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ch); i++) {
                r = apply_change(&ch[i], a->dry_run, &err);
                changed |= r > 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(ch); i++) {
                conf_file_close(&ch[i].f);
                engine_text_free(&ch[i].text);
        }
        if (r < 0) {
                r = cmd_error(&c->out, "%s%s", err ? err->msg : strerror(-r),
                              changed || (err && strstr(err->msg, "unchanged"))
                                      ? ""
                                      : "; nothing was changed");
                nctk_error_free(&err);
                return r;
        }
        say_done(c, a, changed);
        return 0;
}

int ctk_runtime_main(struct ctk_ctx *c, int argc, char **argv) {
        struct rt_args a = {};
        int r;

        if (argc < 2 || STREQ(argv[1], "--help") || STREQ(argv[1], "-h")) {
                runtime_help(argc < 2 ? stderr : stdout, c->out.prog);
                return argc < 2;
        }
        if (!STREQ(argv[1], "configure") && !STREQ(argv[1], "unconfigure"))
                return -cmd_error(&c->out, "unknown command 'runtime %s'; see '%s runtime --help'",
                                  argv[1], c->out.prog);
        a.unconfigure = STREQ(argv[1], "unconfigure");
        r = parse_args(c, argc - 1, argv + 1, &a);
        if (r <= 0)
                return r < 0;
        r = run_edit(c, &a);
        if (r < 0)
                return 1;
        if (!a.unconfigure)
                warn_missing(c, a.oci_hook ? "hook" : "runtime",
                             a.oci_hook ? a.hook_path : a.rt.path);
        return 0;
}
