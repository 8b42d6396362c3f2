/* Driver capabilities (NVIDIA_DRIVER_CAPABILITIES words) and their names. */
#include <errno.h>
#include <string.h>

#include "nctk/nctk.h"
#include "util/macros.h"

static const struct {
        unsigned bit;
        const char *name;
} cap_names[] = {
        {NCTK_CAP_COMPUTE, "compute"},   {NCTK_CAP_UTILITY, "utility"}, {NCTK_CAP_VIDEO, "video"},
        {NCTK_CAP_GRAPHICS, "graphics"}, {NCTK_CAP_DISPLAY, "display"}, {NCTK_CAP_NGX, "ngx"},
};

const char *nctk_cap_name(unsigned bit) {
        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
                if (cap_names[i].bit == bit)
                        return cap_names[i].name;
        return NULL;
}

static int cap_lookup(const char *word, size_t len, unsigned *ret) {
        if (len == 3 && strncmp(word, "all", 3) == 0) {
                *ret = NCTK_CAP_ALL;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
                if (strlen(cap_names[i].name) == len &&
                    strncmp(word, cap_names[i].name, len) == 0) {
                        *ret = cap_names[i].bit;
                        return 0;
                }
        return -EINVAL;
}

int nctk_caps_parse(const char *s, unsigned *ret_mask, struct nctk_error **err) {
        unsigned mask = 0;
        const char *p = s;

        while (*p) {
                size_t len = strcspn(p, ",");
                unsigned bit;

                /* Empty items (",,", a trailing comma) are ignored, as the reference does. */
                if (len > 0 && cap_lookup(p, len, &bit) < 0)
                        return nctk_error_set(err, EINVAL,
                                              "unknown driver capability '%.*s' (known: compute, "
                                              "utility, video, graphics, display, ngx, all)",
                                              (int) len, p);
                if (len > 0)
                        mask |= bit;
                p += len;
                if (*p == ',')
                        p++;
        }
        *ret_mask = mask;
        return 0;
}
