/* The container request read from OCI specs: a table of spec snippets under config switches (and
 * the runtime's cdi mode), asserting the whole request or the exact error, plus the value parsers
 * and the input bounds.
 * Specs are written with ' for " to stay readable. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "2-select/request.h"
#include "2-select/values.h"
#include "config/toml.h"
#include "unit-tap.h"
#include "util/macros.h"

enum cfg_switch {
        CFG_UNPRIV_DENY = 1u << 0,  /* accept-...-envvar-when-unprivileged = false */
        CFG_VOLUMES = 1u << 1,      /* accept-...-as-volume-mounts = true */
        CFG_DISABLE_REQ = 1u << 2,  /* disable-require = true */
        CFG_IGNORE_IMEX = 1u << 3,  /* features.ignore-imex-channel-requests */
        CFG_SWARM = 1u << 4,        /* swarm-resource = "DOCKER_RESOURCE_GPU, OTHER_GPU" */
        CFG_SUP_LIMITED = 1u << 5,  /* supported-driver-capabilities = "utility,compute" */
        CFG_SUP_BAD = 1u << 6,      /* supported-driver-capabilities = "compute,foo" */
        CFG_SUP_ALL = 1u << 7,      /* supported-driver-capabilities = "all" */
        CFG_CDI_MODE = 1u << 8,     /* the runtime in cdi mode: CDI annotations are read */
        CFG_PREFIXES = 1u << 9,     /* annotation-prefixes = ["x.io/", "", "cdi.k8s.io/gpu-"] */
        CFG_NO_PREFIXES = 1u << 10, /* annotation-prefixes = [] */
};

#define U NCTK_CAP_UTILITY
#define C NCTK_CAP_COMPUTE
#define ALL NCTK_CAP_ALL
#define ROOT REQUEST_DEVICE_MOUNT_ROOT
#define VD "NVIDIA_VISIBLE_DEVICES="
#define DC "NVIDIA_DRIVER_CAPABILITIES="
#define UUID0 "GPU-0b3a285d-9edb-4fc8-e082-c898e3a0f209"
#define MIGU "MIG-5c4e3b2a-1d0f-5e6a-9b8c-7d6e5f4a3b2c"

/* JOIN("A=1", "B=2") is "'A=1','B=2'" */
#define Q(a) "'" a "'"
#define J1(a) Q(a)
#define J2(a, b) Q(a) "," J1(b)
#define J3(a, b, c) Q(a) "," J2(b, c)
#define J4(a, b, c, d) Q(a) "," J3(b, c, d)
#define PICK(_1, _2, _3, _4, name, ...) name
#define JOIN(...) PICK(__VA_ARGS__, J4, J3, J2, J1, -)(__VA_ARGS__)

#define ENV(...) "{'process':{'env':[" JOIN(__VA_ARGS__) "]}}"
#define PRIV(...)                                                                                  \
        "{'process':{'capabilities':{'bounding':['CAP_CHOWN','CAP_SYS_ADMIN']},'env':[" JOIN(      \
                __VA_ARGS__) "]}}"
#define UNPRIV(...)                                                                                \
        "{'process':{'capabilities':{'bounding':['CAP_CHOWN','CAP_MKNOD']},'env':[" JOIN(          \
                __VA_ARGS__) "]}}"
#define MOUNTS(m, ...) "{'mounts':[" m "],'process':{'env':[" JOIN(__VA_ARGS__) "]}}"
#define NULLMNT(dst) "{'source':'/dev/null','destination':'" dst "'}"
/* ANNOT("'k':'v'", env...): annotations and an unprivileged container's environment */
#define ANNOT(a, ...)                                                                              \
        "{'annotations':{" a                                                                       \
        "},'process':{'capabilities':{'bounding':['CAP_CHOWN']},'env':[" JOIN(__VA_ARGS__) "]}}"
#define CDI_MODE CFG_CDI_MODE
#define NOT_CDI_NAME                                                                               \
        "is not a fully-qualified CDI device name (vendor/class=name, e.g. nvidia.com/gpu=0)"

struct req_case {
        const char *name;
        const char *spec;
        unsigned cfg;
        int ret;
        const char *msg;     /* the error message, exactly */
        const char *devices; /* NULL: not a GPU container */
        unsigned caps;
        bool compat32;
        const char *require;        /* joined with " | " */
        const char *mig;            /* "config|monitor" */
        const char *imex;           /* "0,3" */
        int cdi;                    /* 0 none, 1 some, 2 only CDI names */
        bool ignored;               /* envvar_request_ignored */
        enum request_source source; /* checked when not REQUEST_SOURCE_NONE */
};

#define OK(n, s, cf, dev, cp, ...)                                                                 \
        { n, s, cf, 0, NULL, dev, cp, __VA_ARGS__ }
#define NOGPU(n, s, cf)                                                                            \
        { n, s, cf, 0, NULL, NULL, 0 }
#define ERR(n, s, cf, r, m)                                                                        \
        { n, s, cf, r, m }
#define NOT_A_DEVICE                                                                               \
        "is not a GPU index, GPU or MIG UUID, <gpu>:<mig> index, PCI bus id or CDI "               \
        "device name"
#define SUPPORTED "compat32,compute,display,graphics,ngx,utility,video"

static const struct req_case cases[] = {
        /* NVIDIA_VISIBLE_DEVICES */
        NOGPU("unset", ENV("PATH=/bin"), 0),
        OK("all", ENV(VD "all"), 0, "all", U | C),
        OK("none", ENV(VD "none"), 0, "none", U | C),
        NOGPU("void", ENV(VD "void"), 0),
        NOGPU("empty", ENV(VD ""), 0),
        NOGPU("only commas and blanks", ENV(VD " , ,"), 0),
        OK("list trimmed", ENV(VD " 0, 1 ,,2\\t"), 0, "0,1,2", U | C),
        NOGPU("void anywhere", ENV(VD "0,void,1"), 0),
        NOGPU("void beats a malformed item", ENV(VD "void,GPU-nope"), 0),
        OK("none beats all", ENV(VD "all,none,0"), 0, "none", U | C),
        OK("all beats items", ENV(VD "0,all"), 0, "all", U | C),
        OK("uuids", ENV(VD "" UUID0 "," MIGU), 0, UUID0 "," MIGU, U | C),
        OK("old MIG uuid", ENV(VD "MIG-" UUID0 "/7/0"), 0, "MIG-" UUID0 "/7/0", U | C),
        OK("bus ids", ENV(VD "00000000:65:00.0,0:3b:0.0"), 0, "00000000:65:00.0,0:3b:0.0", U | C),
        OK("mig index", ENV(VD "3:0"), 0, "3:0", U | C),
        OK("cdi only", ENV(VD "nvidia.com/gpu=0"), 0, "nvidia.com/gpu=0", U | C, .cdi = 2),
        OK("cdi mixed", ENV(VD "0,nvidia.com/gpu=all"), 0, "0,nvidia.com/gpu=all", U | C, .cdi = 1),
        ERR("bad uuid", ENV(VD "GPU-nope"), 0, -EINVAL,
            "invalid NVIDIA_VISIBLE_DEVICES 'GPU-nope': 'GPU-nope' " NOT_A_DEVICE),
        ERR("bad item after an empty one", ENV(VD "1,,x"), 0, -EINVAL,
            "invalid NVIDIA_VISIBLE_DEVICES '1,,x': 'x' " NOT_A_DEVICE),
        ERR("shell", ENV(VD "0;rm -rf /"), 0, -EINVAL,
            "invalid NVIDIA_VISIBLE_DEVICES '0;rm -rf /': '0;rm -rf /' " NOT_A_DEVICE),
        ERR("control bytes quoted", ENV(VD "0,\\u001b[2J"), 0, -EINVAL,
            "invalid NVIDIA_VISIBLE_DEVICES '0,?[2J': '?[2J' " NOT_A_DEVICE),
        ERR("upper case ALL", ENV(VD "ALL"), 0, -EINVAL,
            "invalid NVIDIA_VISIBLE_DEVICES 'ALL': 'ALL' " NOT_A_DEVICE),
        NOGPU("last value wins", ENV(VD "0", VD "void"), 0),
        ERR("env entry without =", ENV(VD "0", "JUNK"), 0, -EINVAL,
            "invalid environment variable 'JUNK' (want NAME=VALUE)"),
        ERR("env not a list", "{'process':{'env':'NVIDIA_VISIBLE_DEVICES=0'}}", 0, -EINVAL,
            "invalid OCI spec: process.env is not a list"),
        ERR("env item not a string", "{'process':{'env':[1]}}", 0, -EINVAL,
            "invalid OCI spec: process.env[0] is not a string"),
        NOGPU("no process", "{}", 0),

        /* swarm-resource */
        OK("swarm over visible devices", ENV(VD "all", "DOCKER_RESOURCE_GPU=2"), CFG_SWARM, "2",
           U | C),
        OK("all swarm variables", ENV("OTHER_GPU=3", "DOCKER_RESOURCE_GPU=1"), CFG_SWARM, "1,3",
           U | C),
        OK("swarm unset", ENV(VD "0"), CFG_SWARM, "0", U | C),
        NOGPU("swarm empty is void", ENV(VD "all", "DOCKER_RESOURCE_GPU="), CFG_SWARM),
        NOGPU("swarm ignored without the switch", ENV("DOCKER_RESOURCE_GPU=1"), 0),
        ERR("swarm error names the variable", ENV("DOCKER_RESOURCE_GPU=gpu!"), CFG_SWARM, -EINVAL,
            "invalid DOCKER_RESOURCE_GPU 'gpu!': 'gpu!' " NOT_A_DEVICE),

        /* legacy images */
        OK("legacy", ENV("CUDA_VERSION=12.4.1"), 0, "all", ALL, true, "cuda>=12.4"),
        NOGPU("not legacy with NVIDIA_REQUIRE_CUDA",
              ENV("CUDA_VERSION=12.4.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.4"), 0),
        OK("legacy with devices", ENV("CUDA_VERSION=12.4.1", VD "0"), 0, "0", ALL, true,
           "cuda>=12.4"),
        NOGPU("legacy with empty devices", ENV("CUDA_VERSION=12.4.1", VD ""), 0),
        OK("legacy with capabilities", ENV("CUDA_VERSION=v11", DC "compute"), 0, "all", C, false,
           "cuda>=11.0"),
        ERR("legacy with a bad version", ENV("CUDA_VERSION=12.04"), 0, -EINVAL,
            "invalid CUDA_VERSION '12.04': not a version (MAJOR[.MINOR[.PATCH]])"),
        OK("bad version, requirements disabled",
           ENV("CUDA_VERSION=junk", "NVIDIA_DISABLE_REQUIRE=1"), 0, "all", ALL, true, ""),
        OK("legacy with an empty NVIDIA_REQUIRE_CUDA",
           ENV("CUDA_VERSION=12.0", "NVIDIA_REQUIRE_CUDA="), 0, "all", ALL, true, "cuda>=12.0"),
        NOGPU("empty CUDA_VERSION is not legacy", ENV("CUDA_VERSION="), 0),

        /* NVIDIA_DRIVER_CAPABILITIES */
        OK("caps list", ENV(VD "0", DC "compute,utility"), 0, "0", U | C),
        OK("caps all", ENV(VD "0", DC "all"), 0, "0", ALL, true),
        OK("caps trimmed", ENV(VD "0", DC " video , graphics "), 0, "0",
           NCTK_CAP_VIDEO | NCTK_CAP_GRAPHICS),
        ERR("caps unknown", ENV(VD "0", DC "compute,foo"), 0, -EINVAL,
            "invalid NVIDIA_DRIVER_CAPABILITIES 'compute,foo': 'foo' is not a supported driver "
            "capability (supported: " SUPPORTED ")"),
        ERR("caps none is not a capability", ENV(VD "0", DC "none"), 0, -EINVAL,
            "invalid NVIDIA_DRIVER_CAPABILITIES 'none': 'none' is not a supported driver "
            "capability (supported: " SUPPORTED ")"),
        OK("caps all wins over junk", ENV(VD "0", DC "foo,all"), 0, "0", ALL, true),
        OK("caps empty is the default", ENV(VD "0", DC ""), 0, "0", U | C),
        OK("caps only commas is nothing", ENV(VD "0", DC ","), 0, "0", 0),
        OK("caps compat32", ENV(VD "0", DC "compat32"), 0, "0", 0, true),
        ERR("caps outside supported", ENV(VD "0", DC "graphics"), CFG_SUP_LIMITED, -EINVAL,
            "invalid NVIDIA_DRIVER_CAPABILITIES 'graphics': 'graphics' is not a supported "
            "driver capability (supported: compute,utility)"),
        OK("caps all within supported", ENV(VD "0", DC "all"), CFG_SUP_LIMITED, "0", U | C),
        OK("supported all", ENV("CUDA_VERSION=12.0"), CFG_SUP_ALL, "all", ALL, true, "cuda>=12.0"),
        ERR("supported with an unknown name", ENV("PATH=/bin"), CFG_SUP_BAD, -EINVAL,
            "invalid supported-driver-capabilities 'compute,foo': 'foo' is not a driver "
            "capability (known: compat32, compute, display, graphics, ngx, utility, video, all)"),

        /* NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE, disable-require */
        OK("requirements by name",
           ENV(VD "0", "NVIDIA_REQUIRE_DRIVER=driver>=500",
               "NVIDIA_REQUIRE_CUDA=cuda>=12.0 brand=tesla"),
           0, "0", U | C, false, "cuda>=12.0 brand=tesla | driver>=500"),
        OK("jetpack is no requirement", ENV(VD "0", "NVIDIA_REQUIRE_JETPACK=csv-mounts=all"), 0,
           "0", U | C, false, ""),
        OK("repeated requirement once",
           ENV(VD "0", "NVIDIA_REQUIRE_CUDA=cuda>=11", "NVIDIA_REQUIRE_CUDA=cuda>=12"), 0, "0",
           U | C, false, "cuda>=12"),
        OK("disable require",
           ENV(VD "0", "NVIDIA_REQUIRE_CUDA=cuda>=99", "NVIDIA_DISABLE_REQUIRE=true"), 0, "0",
           U | C, false, ""),
        OK("disable require not a bool",
           ENV(VD "0", "NVIDIA_REQUIRE_CUDA=cuda>=99", "NVIDIA_DISABLE_REQUIRE=yes"), 0, "0", U | C,
           false, "cuda>=99"),
        OK("disable-require in the config", ENV(VD "0", "NVIDIA_REQUIRE_CUDA=cuda>=99"),
           CFG_DISABLE_REQ, "0", U | C, false, ""),
        ERR("malformed requirement", ENV(VD "0", "NVIDIA_REQUIRE_X=cuda>>1"), 0, -EINVAL,
            "NVIDIA_REQUIRE_X: invalid requirement 'cuda>>1': unknown operator '>>' (use =, !=, "
            "<, <=, >, >=)"),
        ERR("hostile requirement name", ENV(VD "0", "NVIDIA_REQUIRE_\\u001b[2J=cuda>=1\\u0001"), 0,
            -EINVAL,
            "NVIDIA_REQUIRE_?[2J: invalid requirement: byte 0x01 at offset 7 is not "
            "printable ASCII"),
        NOGPU("requirements of no GPU container are not read",
              ENV("NVIDIA_REQUIRE_X=cuda>>1", "CUDA_VERSION=junk", VD "void"), 0),

        /* MIG */
        OK("mig privileged",
           PRIV(VD "0", "NVIDIA_MIG_CONFIG_DEVICES=all", "NVIDIA_MIG_MONITOR_DEVICES=all"), 0, "0",
           U | C, false, "", "all|all"),
        ERR("mig config unprivileged", UNPRIV(VD "0", "NVIDIA_MIG_CONFIG_DEVICES=all"), 0, -EPERM,
            "NVIDIA_MIG_CONFIG_DEVICES is honoured only in privileged containers "
            "(CAP_SYS_ADMIN in the bounding set): unset it or run the container privileged"),
        ERR("mig monitor unprivileged", ENV(VD "0", "NVIDIA_MIG_MONITOR_DEVICES=0"), 0, -EPERM,
            "NVIDIA_MIG_MONITOR_DEVICES is honoured only in privileged containers "
            "(CAP_SYS_ADMIN in the bounding set): unset it or run the container privileged"),
        OK("mig empty unprivileged", UNPRIV(VD "0", "NVIDIA_MIG_CONFIG_DEVICES="), 0, "0", U | C),
        OK("mig pre-rc5 capability list",
           "{'ociVersion':'1.0.0-rc2','process':{'capabilities':['CAP_SYS_ADMIN'],'env':["
           "'NVIDIA_VISIBLE_DEVICES=0','NVIDIA_MIG_CONFIG_DEVICES=all']}}",
           0, "0", U | C, false, "", "all|"),
        NOGPU("mig of no GPU container is not read", UNPRIV("NVIDIA_MIG_CONFIG_DEVICES=all"), 0),

        /* IMEX */
        OK("imex", ENV(VD "0", "NVIDIA_IMEX_CHANNELS=0, 3"), 0, "0", U | C, false, "", "|", "0,3"),
        OK("imex all ignored", ENV(VD "0", "NVIDIA_IMEX_CHANNELS=all"), 0, "0", U | C),
        OK("imex ignored by feature", ENV(VD "0", "NVIDIA_IMEX_CHANNELS=1"), CFG_IGNORE_IMEX, "0",
           U | C),
        ERR("imex not a number", ENV(VD "0", "NVIDIA_IMEX_CHANNELS=1,x"), 0, -EINVAL,
            "invalid NVIDIA_IMEX_CHANNELS '1,x': 'x' is not an IMEX channel number"),
        ERR("imex out of range", ENV(VD "0", "NVIDIA_IMEX_CHANNELS=1048576"), 0, -EINVAL,
            "invalid NVIDIA_IMEX_CHANNELS '1048576': channel 1048576 is out of range (0 "
            "to 1048575)"),

        /* accept-nvidia-visible-devices-envvar-when-unprivileged = false */
        {"unprivileged env dropped", UNPRIV(VD "all"), CFG_UNPRIV_DENY, 0, .ignored = true},
        {"unprivileged legacy dropped", ENV("CUDA_VERSION=12.0"), CFG_UNPRIV_DENY, 0,
         .ignored = true},
        OK("privileged env kept", PRIV(VD "1", "NVIDIA_IMEX_CHANNELS=2"), CFG_UNPRIV_DENY, "1",
           U | C, false, "", "|", "2"),
        OK("unprivileged kept by default", UNPRIV(VD "1"), 0, "1", U | C),

        /* accept-nvidia-visible-devices-as-volume-mounts */
        OK("mounts over env", MOUNTS(NULLMNT(ROOT "/" UUID0) "," NULLMNT(ROOT "/1"), VD "all"),
           CFG_VOLUMES, UUID0 ",1", U | C),
        OK("mounts ignored without the switch", MOUNTS(NULLMNT(ROOT "/1"), VD "all"), 0, "all",
           U | C),
        OK("mounts of another source ignored",
           MOUNTS("{'source':'/tmp/x','destination':'" ROOT "/1'}", VD "0"), CFG_VOLUMES, "0",
           U | C),
        OK("mounts granted to unprivileged containers",
           "{'mounts':[" NULLMNT(ROOT "/2") "],'process':{'capabilities':{'bounding':[]},"
                                            "'env':['NVIDIA_VISIBLE_DEVICES=all']}}",
           CFG_VOLUMES | CFG_UNPRIV_DENY, "2", U | C),
        OK("mounts cleaned out of the root", MOUNTS(NULLMNT(ROOT "/../../etc"), VD "0"),
           CFG_VOLUMES, "0", U | C),
        OK("mounts need a slash after the root", MOUNTS(NULLMNT(ROOT "-x/1"), VD "0"), CFG_VOLUMES,
           "0", U | C),
        OK("mount imex and device", MOUNTS(NULLMNT(ROOT "/imex/3") "," NULLMNT(ROOT "/0"), "A=1"),
           CFG_VOLUMES, "0", U | C, false, "", "|", "3"),
        OK("mount cdi", MOUNTS(NULLMNT(ROOT "/cdi/nvidia.com/gpu/0"), "A=1"), CFG_VOLUMES,
           "nvidia.com/gpu=0", U | C, .cdi = 2),
        OK("mount duplicates once", MOUNTS(NULLMNT(ROOT "/0") "," NULLMNT(ROOT "//0/"), "A=1"),
           CFG_VOLUMES, "0", U | C),
        OK("mount source cleaned",
           MOUNTS("{'source':'/dev/../dev//null','destination':'" ROOT "/1'}", "A=1"), CFG_VOLUMES,
           "1", U | C),
        ERR("mount bad id", MOUNTS(NULLMNT(ROOT "/0,1"), "A=1"), CFG_VOLUMES, -EINVAL,
            "invalid device volume mount '" ROOT "/0,1': '0,1' " NOT_A_DEVICE),

        /* CDI annotations (runtime.modes.cdi.annotation-prefixes), in cdi mode only */
        OK("annotation", ANNOT("'cdi.k8s.io/nvidia-device-plugin_0':'nvidia.com/gpu=1'", "A=1"),
           CDI_MODE, "nvidia.com/gpu=1", U | C, .cdi = 2, .source = REQUEST_SOURCE_ANNOTATIONS),
        NOGPU("annotation ignored outside cdi mode",
              ANNOT("'cdi.k8s.io/x':'nvidia.com/gpu=1'", "A=1"), 0),
        OK("annotation outside cdi mode leaves env",
           ANNOT("'cdi.k8s.io/x':'nvidia.com/gpu=1'", VD "2"), 0, "2", U | C,
           .source = REQUEST_SOURCE_ENV),
        OK("annotations over mounts and env",
           "{'annotations':{'cdi.k8s.io/a':'nvidia.com/gpu=3'},'mounts':[" NULLMNT(
                   ROOT "/1") "],'process':{'env':['NVIDIA_VISIBLE_DEVICES=all']}}",
           CDI_MODE | CFG_VOLUMES, "nvidia.com/gpu=3", U | C, .cdi = 2,
           .source = REQUEST_SOURCE_ANNOTATIONS),
        OK("mounts when no annotation matches",
           "{'annotations':{'other.io/a':'nvidia.com/gpu=3'},'mounts':[" NULLMNT(
                   ROOT "/1") "],'process':{'env':['NVIDIA_VISIBLE_DEVICES=all']}}",
           CDI_MODE | CFG_VOLUMES, "1", U | C, .source = REQUEST_SOURCE_MOUNTS),
        OK("annotations of unprivileged containers kept",
           ANNOT("'cdi.k8s.io/a':'nvidia.com/gpu=0'", VD "all"), CDI_MODE | CFG_UNPRIV_DENY,
           "nvidia.com/gpu=0", U | C, .cdi = 2),
        OK("annotation keys in byte order, lists trimmed",
           ANNOT("'cdi.k8s.io/b':' nvidia.com/gpu=2 ,, nvidia.com/gpu=0','cdi.k8s.io/a':"
                 "'nvidia.com/gpu=GPU-x'",
                 DC "utility"),
           CDI_MODE, "nvidia.com/gpu=GPU-x,nvidia.com/gpu=2,nvidia.com/gpu=0", U, .cdi = 2),
        OK("annotation of another vendor", ANNOT("'cdi.k8s.io/a':'vendor.com/nic=eth0'", "A=1"),
           CDI_MODE, "vendor.com/nic=eth0", U | C, .cdi = 2),
        OK("empty annotation falls back to env", ANNOT("'cdi.k8s.io/a':' , '", VD "1"), CDI_MODE,
           "1", U | C, .source = REQUEST_SOURCE_ENV),
        OK("annotation prefixes from the config",
           ANNOT("'cdi.k8s.io/a':'nvidia.com/gpu=9','x.io/b':'nvidia.com/gpu=1','cdi.k8s.io/"
                 "gpu-c':'nvidia.com/gpu=2'",
                 "A=1"),
           CDI_MODE | CFG_PREFIXES, "nvidia.com/gpu=2,nvidia.com/gpu=1", U | C, .cdi = 2),
        NOGPU("no annotation prefixes", ANNOT("'cdi.k8s.io/a':'nvidia.com/gpu=1'", "A=1"),
              CDI_MODE | CFG_NO_PREFIXES),
        ERR("annotation with an index", ANNOT("'cdi.k8s.io/a':'nvidia.com/gpu=0,1'", "A=1"),
            CDI_MODE, -EINVAL,
            "invalid CDI annotation cdi.k8s.io/a 'nvidia.com/gpu=0,1': '1' " NOT_CDI_NAME),
        ERR("annotation all", ANNOT("'cdi.k8s.io/a':'all'", VD "void"), CDI_MODE, -EINVAL,
            "invalid CDI annotation cdi.k8s.io/a 'all': 'all' " NOT_CDI_NAME),
        ERR("annotation not a string", "{'annotations':{'cdi.k8s.io/a':['nvidia.com/gpu=0']}}",
            CDI_MODE, -EINVAL, "invalid OCI spec: CDI annotation cdi.k8s.io/a is not a string"),
        ERR("annotation key quoted", ANNOT("'cdi.k8s.io/\\u001b[2J':'x'", "A=1"), CDI_MODE, -EINVAL,
            "invalid CDI annotation cdi.k8s.io/?[2J 'x': 'x' " NOT_CDI_NAME),
        ERR("annotation item too long",
            ANNOT("'cdi.k8s.io/a':'nvidia.com/gpu="
                  "0123456789012345678901234567890123456789012345678901234567890123456789012345678"
                  "901234567890123456789012345678901234567890123456789'",
                  "A=1"),
            CDI_MODE, -EINVAL,
            "invalid CDI annotation cdi.k8s.io/a 'nvidia.com/gpu=0123456789012345678901234567890"
            "123456789012345678...': 'nvidia.com/gpu=012345678901234567890123456789012345678901"
            "2345678...' is longer than 127 bytes"),
        NOGPU("annotations not an object", "{'annotations':['cdi.k8s.io/a=nvidia.com/gpu=0']}",
              CDI_MODE),
};

static json_t *spec_parse(const char *s) {
        _cleanup_free_ char *j = strdup(s);
        json_error_t e;
        json_t *spec;

        assert_non_null(j);
        for (char *p = j; *p; p++)
                if (*p == '\'')
                        *p = '"';
        spec = json_loads(j, 0, &e);
        if (!spec)
                fail_msg("bad test spec '%s': %s", j, e.text);
        return spec;
}

static void set_str(char **field, const char *v) {
        free(*field);
        *field = strdup(v);
}

static struct nctk_config *config_with(unsigned sw) {
        struct nctk_config *cfg = NULL;

        assert_int_equal(config_load(NULL, false, &cfg, NULL), 0);
        cfg->accept_envvar_when_unprivileged = !(sw & CFG_UNPRIV_DENY);
        cfg->accept_volume_mounts = sw & CFG_VOLUMES;
        cfg->disable_require = sw & CFG_DISABLE_REQ;
        cfg->features.ignore_imex_channel_requests = sw & CFG_IGNORE_IMEX;
        if (sw & CFG_SWARM)
                set_str(&cfg->swarm_resource, "DOCKER_RESOURCE_GPU, OTHER_GPU");
        if (sw & CFG_SUP_LIMITED)
                set_str(&cfg->supported_driver_capabilities, "utility,compute");
        if (sw & CFG_SUP_BAD)
                set_str(&cfg->supported_driver_capabilities, "compute,foo");
        if (sw & CFG_SUP_ALL)
                set_str(&cfg->supported_driver_capabilities, "all");
        if (sw & (CFG_PREFIXES | CFG_NO_PREFIXES)) {
                char **v = calloc(4, sizeof(char *));

                assert_non_null(v);
                if (sw & CFG_PREFIXES) {
                        v[0] = strdup("x.io/");
                        v[1] = strdup(""); /* an empty prefix would match every key: skipped */
                        v[2] = strdup("cdi.k8s.io/gpu-");
                }
                toml_strv_free(cfg->runtime.cdi_annotation_prefixes);
                cfg->runtime.cdi_annotation_prefixes = v;
        }
        return cfg;
}

static void join(char *buf, size_t size, char *const *v, size_t n) {
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? " | " : "", v[i]);
}

static void check_request(const struct req_case *t, const struct container_request *r) {
        char buf[512];

        assert_int_equal(r->is_gpu_container, t->devices != NULL);
        if (!t->devices) {
                assert_null(r->devices);
                assert_int_equal(r->envvar_request_ignored, t->ignored);
                return;
        }
        assert_string_equal(r->devices, t->devices);
        assert_int_equal(r->caps, t->caps);
        assert_int_equal(r->compat32, t->compat32);
        join(buf, sizeof(buf), r->requirements, r->n_requirements);
        assert_string_equal(buf, t->require ? t->require : "");
        if (r->n_requirements)
                assert_null(r->requirements[r->n_requirements]);
        snprintf(buf, sizeof(buf), "%s|%s", r->mig_config ? r->mig_config : "",
                 r->mig_monitor ? r->mig_monitor : "");
        assert_string_equal(buf, t->mig ? t->mig : "|");
        buf[0] = '\0';
        for (size_t i = 0; i < r->n_imex; i++)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%u", i ? "," : "",
                         r->imex[i]);
        assert_string_equal(buf, t->imex ? t->imex : "");
        assert_int_equal(r->has_cdi_devices, t->cdi >= 1);
        assert_int_equal(r->only_cdi_devices, t->cdi == 2);
        assert_int_equal(r->envvar_request_ignored, t->ignored);
        if (t->source != REQUEST_SOURCE_NONE)
                assert_int_equal(r->source, t->source);
}

static void test_case(void **state) {
        const struct req_case *t = *state;
        struct nctk_config *cfg = config_with(t->cfg);
        struct container_request *r = NULL;
        struct nctk_error *err = NULL;
        json_t *spec = spec_parse(t->spec);
        int ret;

        ret = container_request_from_spec_in_mode(spec, cfg, t->cfg & CFG_CDI_MODE, &r, &err);
        if (ret != t->ret)
                fail_msg("%s: got %d (%s), want %d", t->name, ret, err ? err->msg : "", t->ret);
        if (ret < 0) {
                assert_null(r);
                assert_non_null(err);
                assert_string_equal(err->msg, t->msg);
        } else {
                assert_null(err);
                check_request(t, r);
        }
        container_request_free(r);
        nctk_error_free(&err);
        json_decref(spec);
        config_free(cfg);
}

static int run(const char *spec, unsigned sw, struct container_request **r,
               struct nctk_error **err) {
        struct nctk_config *cfg = config_with(sw);
        json_t *j = spec_parse(spec);
        int ret = container_request_from_spec(j, cfg, r, err);

        json_decref(j);
        config_free(cfg);
        return ret;
}

/* A spec with one env entry NAME=VALUE where VALUE is N copies of ITEM joined by SEP. */
static char *spec_repeat(const char *name, const char *item, const char *sep, size_t n) {
        size_t size = strlen(name) + n * (strlen(item) + strlen(sep)) + 64;
        char *s = malloc(size), *p = s;

        assert_non_null(s);
        p += snprintf(p, size, "{'process':{'env':['NVIDIA_VISIBLE_DEVICES=0','%s=", name);
        for (size_t i = 0; i < n; i++)
                p += snprintf(p, size - (size_t) (p - s), "%s%s", i ? sep : "", item);
        snprintf(p, size - (size_t) (p - s), "']}}");
        return s;
}

static void expect_error(char *spec, const char *msg) {
        struct container_request *r = NULL;
        struct nctk_error *err = NULL;

        assert_int_equal(run(spec, 0, &r, &err), -EINVAL);
        assert_null(r);
        if (!strstr(err->msg, msg))
                fail_msg("'%s' lacks '%s'", err->msg, msg);
        assert_true(strlen(err->msg) < 400);
        nctk_error_free(&err);
        free(spec);
}

static void test_bounds(void **state) {
        char item[200];
        (void) state;

        memset(item, 'a', sizeof(item) - 1);
        item[sizeof(item) - 1] = '\0';
        /* ENV() puts its own NVIDIA_VISIBLE_DEVICES=0 first: the later value wins. */
        expect_error(spec_repeat("NVIDIA_VISIBLE_DEVICES", item, ",", 1),
                     "is longer than 127 bytes");
        expect_error(spec_repeat("NVIDIA_VISIBLE_DEVICES", "0", ",", 3000), "more than 2048 items");
        expect_error(spec_repeat("NVIDIA_VISIBLE_DEVICES", "0", ",,,,,,,,", 10000),
                     "longer than 65536 bytes");
        expect_error(spec_repeat("NVIDIA_IMEX_CHANNELS", "1", ",", 65), "more than 64 channels");
        expect_error(spec_repeat("NVIDIA_DRIVER_CAPABILITIES", "compute", ",", 10000),
                     "longer than 65536 bytes");
        expect_error(spec_repeat("NVIDIA_REQUIRE_CUDA", "cuda>=1", " ", 1000),
                     "NVIDIA_REQUIRE_CUDA: ");
        /* 33 distinct NVIDIA_REQUIRE_* variables */
        {
                char spec[4096] = ENV(VD "0");
                char *p = spec + strlen(spec) - 3;

                for (int i = 0; i < 33; i++)
                        p += snprintf(p, sizeof(spec) - (size_t) (p - spec),
                                      ",'NVIDIA_REQUIRE_%d=cuda>=1'", i);
                snprintf(p, sizeof(spec) - (size_t) (p - spec), "]}}");
                expect_error(strdup(spec), "too many NVIDIA_REQUIRE_* variables (at most 32)");
        }
}

static void test_not_an_object(void **state) {
        struct container_request *r = NULL;
        struct nctk_error *err = NULL;
        struct nctk_config *cfg = config_with(0);
        json_t *j = json_array();
        (void) state;

        assert_int_equal(container_request_from_spec(j, cfg, &r, &err), -EINVAL);
        assert_string_equal(err->msg, "invalid OCI spec: not a JSON object");
        nctk_error_free(&err);
        json_decref(j);
        config_free(cfg);
        assert_null(container_request_free(NULL));
}

static void test_path_clean(void **state) {
        static const char *const t[][2] = {
                {"/dev/null", "/dev/null"},
                {"/dev//null/", "/dev/null"},
                {"/a/./b/../c", "/a/c"},
                {"/../../x", "/x"},
                {"", "."},
                {"a/../../b", "../b"},
                {"/", "/"},
                {"//", "/"},
                {"./", "."},
                {"a/b/..", "a"},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *c = path_clean(t[i][0]);
                assert_string_equal(c, t[i][1]);
        }
}

static void test_go_bool(void **state) {
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
        static const char *const bad[] = {"", "yes", "tRUE", " true", "2", "on"};
        bool b;
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                assert_int_equal(parse_go_bool(yes[i], &b), 0);
                assert_true(b);
                assert_int_equal(parse_go_bool(no[i], &b), 0);
                assert_false(b);
                assert_int_equal(parse_go_bool(bad[i], &b), -EINVAL);
        }
}

static void test_cuda_version(void **state) {
        static const struct {
                const char *v;
                int ret;
                unsigned long major, minor;
        } t[] = {
                {"12.4.1", 0, 12, 4},
                {"v11", 0, 11, 0},
                {"12.4", 0, 12, 4},
                {"0.0.0", 0, 0, 0},
                {"12.4.0-rc.1+b.2", 0, 12, 4},
                {"12.4.0-01", -EINVAL},
                {"12.4-rc1", -EINVAL},
                {"012.4", -EINVAL},
                {"12.", -EINVAL},
                {"12.4.1.2", -EINVAL},
                {"4294967296.0", -EINVAL},
                {"4294967295.1", 0, 4294967295ul, 1},
                {"", -EINVAL},
                {"vv1", -EINVAL},
                {"12.4.1+", -EINVAL},
                {"12.4.1-", -EINVAL},
                {"12.4.1-a..b", -EINVAL},
                {" 12", -EINVAL},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                unsigned long major = 99, minor = 99;
                int r = cuda_version_parse(t[i].v, &major, &minor);

                if (r != t[i].ret)
                        fail_msg("'%s': got %d, want %d", t[i].v, r, t[i].ret);
                if (r == 0) {
                        assert_int_equal(major, t[i].major);
                        assert_int_equal(minor, t[i].minor);
                }
        }
}

static void test_device_ids(void **state) {
        static const struct {
                const char *id;
                enum device_kind kind;
        } t[] = {
                {"0", DEVICE_GPU},
                {"1234567", DEVICE_GPU},
                {"12345678", DEVICE_BAD},
                {UUID0, DEVICE_GPU},
                {"gpu-ABCDEF", DEVICE_GPU},
                {"GPU-", DEVICE_BAD},
                {"GPU---", DEVICE_BAD},
                {MIGU, DEVICE_GPU},
                {"MIG-GPU-ab/1/", DEVICE_BAD},
                {"0:0", DEVICE_GPU},
                {"0:", DEVICE_BAD},
                {"00000000:65:00.0", DEVICE_GPU},
                {"000000000:65:00.0", DEVICE_BAD},
                {"0:65:00", DEVICE_BAD},
                {"a.b/c=d", DEVICE_CDI},
                {"nvidia.com/gpu=GPU-1:0", DEVICE_CDI},
                {"/gpu=0", DEVICE_BAD},
                {"nvidia.com/=0", DEVICE_BAD},
                {"nvidia.com/gpu=", DEVICE_BAD},
                {"nvidia.com/g.pu=0", DEVICE_BAD},
                {"", DEVICE_BAD},
                {"-1", DEVICE_BAD},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (device_id_classify(t[i].id, strlen(t[i].id)) != t[i].kind)
                        fail_msg("'%s': want %d", t[i].id, t[i].kind);
        /* LEN bounds the item: the bytes after it do not count */
        assert_int_equal(device_id_classify("GPU-----,0", 8), DEVICE_BAD);
        assert_int_equal(device_id_classify("12,x", 2), DEVICE_GPU);
}

static void test_privileged(void **state) {
        static const struct {
                const char *spec;
                bool priv;
        } t[] = {
                {PRIV("A=1"), true},
                {UNPRIV("A=1"), false},
                {"{'process':{'capabilities':{'effective':['CAP_SYS_ADMIN']}}}", false},
                {"{'process':{'capabilities':['CAP_SYS_ADMIN']}}", true},
                {"{'process':{'capabilities':{'bounding':'CAP_SYS_ADMIN'}}}", false},
                {"{'process':{}}", false},
                {"{}", false},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                json_t *j = spec_parse(t[i].spec);
                assert_int_equal(oci_spec_is_privileged(j), t[i].priv);
                json_decref(j);
        }
}

/* The feature gates: exactly "enabled", and only in a GPU container. */
static void test_gates(void **state) {
        static const struct {
                const char *spec;
                unsigned gates;
        } t[] = {
                {ENV(VD "0", "NVIDIA_NVSWITCH=enabled"), NCTK_GATE_NVSWITCH},
                {ENV(VD "none", "NVIDIA_GDRCOPY=enabled"), NCTK_GATE_GDRCOPY},
                {ENV(VD "all", "NVIDIA_GDS=enabled", "NVIDIA_MOFED=enabled"),
                 NCTK_GATE_GDS | NCTK_GATE_MOFED},
                {ENV(VD "0", "NVIDIA_GDS=enabled", "NVIDIA_GDS=disabled"), 0}, /* the last wins */
                {ENV(VD "0", "NVIDIA_NVSWITCH=true", "NVIDIA_GDRCOPY=ENABLED",
                     "NVIDIA_GDS=enabled "),
                 0},
                {ENV(VD "0", "NVIDIA_MOFED=", "NVIDIA_GDS=1"), 0},
                {ENV(VD "void", "NVIDIA_NVSWITCH=enabled"), 0},
                {ENV("NVIDIA_GDRCOPY=enabled"), 0},
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct container_request *r = NULL;
                assert_int_equal(run(t[i].spec, 0, &r, NULL), 0);
                if (r->gates != t[i].gates)
                        fail_msg("%s: gates 0x%x, want 0x%x", t[i].spec, r->gates, t[i].gates);
                container_request_free(r);
        }
}

int main(void) {
        size_t n = ELEMENTSOF(cases) + 8;
        struct CMUnitTest *tests = calloc(n, sizeof(*tests));
        int r;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                tests[i] = (struct CMUnitTest){.name = cases[i].name,
                                               .test_func = test_case,
                                               .initial_state = (void *) &cases[i]};
        tests[n - 8] = (struct CMUnitTest) cmocka_unit_test(test_gates);
        tests[n - 7] = (struct CMUnitTest) cmocka_unit_test(test_bounds);
        tests[n - 6] = (struct CMUnitTest) cmocka_unit_test(test_not_an_object);
        tests[n - 5] = (struct CMUnitTest) cmocka_unit_test(test_path_clean);
        tests[n - 4] = (struct CMUnitTest) cmocka_unit_test(test_go_bool);
        tests[n - 3] = (struct CMUnitTest) cmocka_unit_test(test_cuda_version);
        tests[n - 2] = (struct CMUnitTest) cmocka_unit_test(test_device_ids);
        tests[n - 1] = (struct CMUnitTest) cmocka_unit_test(test_privileged);
        r = unit_run_group("request", tests, n, NULL, NULL);
        free(tests);
        return r;
}
