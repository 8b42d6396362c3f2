/* Unsafe libc string functions, banned at compile time: use snprintf, strndup, strtok_r and
 * bounded copies instead. Included into every translation unit by the build. */
#ifndef NCTK_BANNED_H
#define NCTK_BANNED_H

/* The real prototypes first, so that the macros below only catch calls. */
#include <stdio.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)

#endif
