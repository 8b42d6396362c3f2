/* probe: runs inside test containers and reports what the container can do, one line per check:
 *   probe dlopen NAME...          "dlopen NAME PATH" (the file the loader chose) or "dlopen NAME
 * error" probe open PATH...            "open PATH ok" or "open PATH <errno name>" probe mknod-open
 * PATH MAJ MIN  creates a char device node, opens it: "mknod-open PATH <result>" Dynamically linked
 * on purpose: it proves that the container's ld.so.cache finds the driver. */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *errname(int e) {
        switch (e) {
        case 0: return "ok";
        case EPERM: return "EPERM";
        case EACCES: return "EACCES";
        case ENOENT: return "ENOENT";
        case ENXIO: return "ENXIO";
        case ENODEV: return "ENODEV";
        case EROFS: return "EROFS";
        case EEXIST: return "EEXIST";
        default: return strerror(e);
        }
}

static void do_dlopen(const char *name) {
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        struct link_map *lm = NULL;

        if (!h || dlinfo(h, RTLD_DI_LINKMAP, &lm) < 0 || !lm) {
                printf("dlopen %s error\n", name);
                return;
        }
        char *real = realpath(lm->l_name, NULL);

        printf("dlopen %s %s\n", name, real ? real : lm->l_name);
        free(real);
}

static void do_open(const char *path) {
        int fd = open(path, O_RDWR | O_CLOEXEC);

        printf("open %s %s\n", path, errname(fd < 0 ? errno : 0));
        if (fd >= 0)
                close(fd);
}

static void do_mknod_open(const char *path, const char *maj, const char *min) {
        dev_t dev = makedev((unsigned) atoi(maj), (unsigned) atoi(min));
        int fd;

        if (mknod(path, S_IFCHR | 0666, dev) < 0) {
                printf("mknod-open %s mknod:%s\n", path, errname(errno));
                return;
        }
        fd = open(path, O_RDWR | O_CLOEXEC);
        printf("mknod-open %s %s\n", path, errname(fd < 0 ? errno : 0));
        if (fd >= 0)
                close(fd);
        unlink(path);
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "dlopen") == 0)
                for (int i = 2; i < argc; i++)
                        do_dlopen(argv[i]);
        else if (argc >= 2 && strcmp(argv[1], "open") == 0)
                for (int i = 2; i < argc; i++)
                        do_open(argv[i]);
        else if (argc == 5 && strcmp(argv[1], "mknod-open") == 0)
                do_mknod_open(argv[2], argv[3], argv[4]);
        else {
                fprintf(stderr,
                        "usage: probe dlopen NAME... | open PATH... | mknod-open PATH MAJ MIN\n");
                return 2;
        }
        return 0;
}
