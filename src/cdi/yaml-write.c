/* cdi_yaml_dump(): a jansson document as block YAML, two spaces a level, sequences under a key
 * at the key's column (as go-yaml writes NVIDIA's specs). Only JSON's types occur, so the YAML
 * needs no tags, anchors or block scalars; a string is written plain only when every YAML 1.1
 * and 1.2 reader takes it back as that same string. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdi/cdi.h"
#include "util/macros.h"

static const char *const reserved[] = {
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
};

static bool is_plain_char(char c) {
        return isalnum((unsigned char) c) || strchr("_./:=+,@-", c);
}

static bool is_plain_start(const char *s) {
        if (isalpha((unsigned char) s[0]) || s[0] == '_' || s[0] == '/')
                return true;
        /* "--link" and "../lib" are plain; "-1", "-.5", ".5", ".inf" are numbers. */
        if (s[0] == '-')
                return s[1] == '-' || isalpha((unsigned char) s[1]);
        if (s[0] == '.')
                return s[1] == '.' || s[1] == '/';
        return false;
}

/* "0.5.0", "580.159.04": digits with two dots or more are no number in any YAML version. */
static bool is_dotted_version(const char *s) {
        int dots = 0;

        if (!isdigit((unsigned char) s[0]))
                return false;
        for (const char *c = s; *c; c++) {
                if (*c == '.' && isdigit((unsigned char) c[-1]) && isdigit((unsigned char) c[1]))
                        dots++;
                else if (!isdigit((unsigned char) *c))
                        return false;
        }
        return dots >= 2;
}

/* Whether S reads back as the same string when written without quotes. */
static bool is_plain_safe(const char *s) {
        size_t len = strlen(s);

        if (is_dotted_version(s))
                return true;
        if (len == 0 || !is_plain_start(s) || s[len - 1] == ':')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strcasecmp(s, reserved[i]) == 0)
                        return false;
        for (const char *c = s; *c; c++)
                if (!is_plain_char(*c))
                        return false;
        return true;
}

static void put_string(FILE *f, const char *s) {
        if (is_plain_safe(s)) {
                fputs(s, f);
                return;
        }
        /* A JSON string is a valid YAML double-quoted scalar. */
        json_t *js = json_string(s);
        char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;

        json_decref(js);
        fputs(q ? q : "\"\"", f);
        free(q);
}

static void put_scalar(FILE *f, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING: put_string(f, json_string_value(v)); break;
        case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
        case JSON_REAL: fprintf(f, "%.17g", json_real_value(v)); break;
        case JSON_TRUE: fputs("true", f); break;
        case JSON_FALSE: fputs("false", f); break;
        case JSON_NULL: fputs("null", f); break;
        case JSON_OBJECT: fputs("{}", f); break;
        case JSON_ARRAY: fputs("[]", f); break;
        }
}

static bool is_block(const json_t *v) {
        return (json_is_object(v) && json_object_size(v) > 0) ||
               (json_is_array(v) && json_array_size(v) > 0);
}

static void emit(FILE *f, const json_t *v, int indent, bool inline_first);

static void pad(FILE *f, int n) {
        fprintf(f, "%*s", n, "");
}

/* A mapping at column INDENT; with INLINE_FIRST the first key goes where the cursor is (after
 * a sequence's "- "). */
static void emit_mapping(FILE *f, const json_t *obj, int indent, bool inline_first) {
        const char *key;
        json_t *v;
        bool first = true;

        json_object_foreach((json_t *) obj, key, v) {
                if (!(first && inline_first))
                        pad(f, indent);
                first = false;
                put_string(f, key);
                fputc(':', f);
                if (!is_block(v)) {
                        fputc(' ', f);
                        put_scalar(f, v);
                        fputc('\n', f);
                } else {
                        fputc('\n', f);
                        /* A sequence under a key sits at the key's column. */
                        emit(f, v, json_is_array(v) ? indent : indent + 2, false);
                }
        }
}

static void emit_sequence(FILE *f, const json_t *arr, int indent, bool inline_first) {
        size_t i;
        json_t *v;

        json_array_foreach((json_t *) arr, i, v) {
                if (!(i == 0 && inline_first))
                        pad(f, indent);
                fputs("- ", f);
                if (is_block(v))
                        emit(f, v, indent + 2, true);
                else {
                        put_scalar(f, v);
                        fputc('\n', f);
                }
        }
}

static void emit(FILE *f, const json_t *v, int indent, bool inline_first) {
        if (json_is_object(v) && json_object_size(v) > 0)
                emit_mapping(f, v, indent, inline_first);
        else if (json_is_array(v) && json_array_size(v) > 0)
                emit_sequence(f, v, indent, inline_first);
        else {
                put_scalar(f, v);
                fputc('\n', f);
        }
}

char *cdi_yaml_dump(const json_t *doc) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fputs("---\n", f);
        emit(f, doc, 0, false);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
