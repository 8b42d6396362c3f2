/* A JSON scanner for editing a document as text (docker.c): it checks a whole document against
 * RFC 8259 and reports where each member of one object lies, as byte offsets, so that an edit can
 * splice bytes in and out and leave every other byte of the file as it was. */
#ifndef NCTK_ENGINE_JSONSCAN_H
#define NCTK_ENGINE_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "nctk/nctk.h"

enum json_type { JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER, JSON_LITERAL };

struct json_member {
        size_t key;       /* the key's opening quote */
        size_t key_end;   /* just past its closing quote */
        size_t value;     /* the value's first byte */
        size_t value_end; /* just past its last byte */
        enum json_type type;
};

struct json_object {
        size_t open, close; /* the offsets of '{' and '}' */
        struct json_member *m;
        size_t n;
};

/* Checks that TEXT (LEN bytes, a UTF-8 byte order mark allowed) is exactly one JSON value with
 * white space around it, and that the value is an object; *RET_OPEN is the offset of its '{'.
 * Errors read "line L, column C: what" (-EINVAL). */
int json_scan_document(const char *text, size_t len, size_t *ret_open, struct nctk_error **err);

/* The members of the object whose '{' is at OPEN, in a text json_scan_document accepted. The
 * caller releases RET with json_object_release. */
int json_object_members(const char *text, size_t len, size_t open, struct json_object *ret);
void json_object_release(struct json_object *o);

/* The index of the member named KEY (compared after unescaping), or -1. With duplicates, the
 * second one is an -EINVAL error naming its line and column. */
int json_object_find(const char *text, size_t len, const struct json_object *o, const char *key,
                     struct nctk_error **err);

/* Whether the JSON string at [START, END) (quotes included) unescapes to exactly WANT. */
bool json_string_is(const char *text, size_t start, size_t end, const char *want);

/* Writes S as a JSON string, quotes included, escaping what must be. */
void json_write_string(FILE *f, const char *s);

/* "line L, column C" of byte offset OFF: lines count LF, columns count characters from 1. */
void json_position(const char *text, size_t off, size_t *ret_line, size_t *ret_col);

#endif
