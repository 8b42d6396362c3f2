/* [nvidia-container-cli] as discover options: one translation for the hook and the shim, so
 * that both honour the same keys. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/macros.h"

/* A number, else a name in the user (IS_GROUP false) or group database. */
static int id_of(const char *s, bool is_group, unsigned *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (*s && !*end && !errno && v < UINT_MAX) {
                *ret = (unsigned) v;
                return 0;
        }
        if (is_group) {
                struct group *gr = getgrnam(s);
                if (!gr)
                        return -ENOENT;
                *ret = gr->gr_gid;
        } else {
                struct passwd *pw = getpwnam(s);
                if (!pw)
                        return -ENOENT;
                *ret = pw->pw_uid;
                ret[1] = pw->pw_gid; /* a user name brings its primary group */
        }
        return 0;
}

int config_user_parse(const char *user, struct nctk_discover_opts *o, struct nctk_error **err) {
        _cleanup_free_ char *u = strdup(user);
        char *g = u ? strchr(u, ':') : NULL;
        unsigned ids[2] = {0, UINT_MAX};

        if (!u)
                return nctk_error_set(err, ENOMEM, "out of memory");
        if (g)
                *g++ = '\0';
        if (id_of(u, false, ids) < 0)
                return nctk_error_set(err, EINVAL, "unknown [nvidia-container-cli] user '%s'", u);
        o->uid = ids[0];
        o->gid = ids[1] != UINT_MAX ? ids[1] : ids[0];
        if (g && id_of(g, true, ids) < 0)
                return nctk_error_set(err, EINVAL, "unknown [nvidia-container-cli] group '%s'", g);
        if (g)
                o->gid = ids[0];
        return 0;
}

int config_discover_opts(const struct nctk_config *cfg, struct nctk_discover_opts *opts,
                         struct nctk_error **err) {
        if (cfg->cli.root && *cfg->cli.root)
                opts->driver_root = cfg->cli.root;
        if (cfg->cli.ldcache && *cfg->cli.ldcache)
                opts->ldcache = cfg->cli.ldcache;
        if (cfg->cli.proc_root && *cfg->cli.proc_root)
                opts->proc_root = cfg->cli.proc_root;
        if (cfg->cli.user && *cfg->cli.user)
                return config_user_parse(cfg->cli.user, opts, err);
        return 0;
}
