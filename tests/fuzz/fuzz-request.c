/* Fuzzes the container request read from an OCI spec: the first byte picks the config switches
 * (its top bit: the runtime's cdi mode, which reads CDI annotations), the rest is config.json.
 * Besides the sanitizers, checks the contract: a request within its bounds, or one error line that
 * names what was wrong. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "2-select/request.h"
#include "util/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void config_of(uint8_t sw, struct nctk_config *c) {
        static char *prefixes[] = {"cdi.k8s.io/", "", "x/", NULL};

        memset(c, 0, sizeof(*c));
        c->runtime.cdi_annotation_prefixes = prefixes;
        c->accept_envvar_when_unprivileged = !(sw & 1);
        c->accept_volume_mounts = sw & 2;
        c->disable_require = sw & 4;
        c->features.ignore_imex_channel_requests = sw & 8;
        c->swarm_resource = (sw & 16) ? "DOCKER_RESOURCE_GPU,,OTHER " : "";
        c->supported_driver_capabilities = (sw & 32)   ? "utility,compute,compat32"
                                           : (sw & 64) ? "all"
                                                       : NULL;
}

static void check_request(const struct container_request *r) {
        if (!r->is_gpu_container) {
                if (r->devices || r->n_requirements || r->n_imex || r->mig_config)
                        abort();
                return;
        }
        if (!r->devices || !*r->devices || strlen(r->devices) > REQUEST_DEVICES_MAX * 128 ||
            (r->caps & ~(unsigned) NCTK_CAP_ALL) || r->n_requirements > REQUEST_REQUIRE_MAX ||
            r->n_imex > REQUEST_IMEX_MAX || (r->requirements_disabled && r->n_requirements))
                abort();
        if (r->n_requirements && r->requirements[r->n_requirements])
                abort();
        for (size_t i = 0; i < r->n_imex; i++)
                if (r->imex[i] >= REQUEST_IMEX_CHANNEL_MAX)
                        abort();
        for (const char *p = r->devices; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        abort();
}

static void check_error(int r, const struct nctk_error *err) {
        if (r != -EINVAL && r != -EPERM && r != -ENOMEM)
                abort();
        if (!err || !err->msg || err->errnum != -r)
                abort();
        for (const char *p = err->msg; *p; p++)
                if ((unsigned char) *p < ' ' || (unsigned char) *p >= 0x7f)
                        abort(); /* one printable line, whatever the spec held */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct container_request *req = NULL;
        struct nctk_error *err = NULL;
        struct nctk_config cfg;
        json_t *spec;
        int r;

        if (size < 1)
                return 0;
        spec = json_loadb((const char *) data + 1, size - 1, 0, NULL);
        if (!spec)
                return 0;
        config_of(data[0], &cfg);
        r = container_request_from_spec_in_mode(spec, &cfg, data[0] & 128, &req, &err);
        if (r == 0 && (err || !req))
                abort();
        if (r == 0)
                check_request(req);
        else
                check_error(r, err);
        (void) oci_spec_is_privileged(spec);
        container_request_free(req);
        nctk_error_free(&err);
        json_decref(spec);
        return 0;
}
