/* daemon.json, edited as text: the members configure adds are spliced in with the indentation,
 * separators and newlines the file already uses, and every other byte stays where it was, so that
 * unconfigure can take exactly those bytes out again.
 *
 * Layout rules (the inverse pairs that make unconfigure(configure(x)) == x):
 *  - a member goes after the last member of its object as ',' + the white space that precedes
 *    that last member + the member; removing a member that is not first takes out the bytes from
 *    the end of the previous value to the end of its own, the same bytes;
 *  - into an empty top-level object it goes as NL + one indentation unit + member + NL right after
 *    '{'; removing the only member of the top level takes the same out;
 *  - into an existing empty "runtimes" or "features" object it goes as ' ' + member right after
 *    '{'. A fresh "runtimes"/"features" object never starts with "{ \"", so unconfigure can tell
 *    that the object was there before it and keep it, empty as it was, instead of removing it.
 * A value configure replaces (a "default-runtime", "features.cdi", a runtime entry of the same
 * name with another path) is kept, as raw text, in the new entry's "nctk-replaced" object, and
 * unconfigure splices it back. So unconfigure(configure(x)) == x for every x except one where
 * configure found (part of) its work done already (an entry with the same path, the default
 * already NAME, cdi already true), and a blank file, which comes back as "{}". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/jsonscan.h"
#include "util/macros.h"

/* A slice of the current text. */
struct span {
        const char *p;
        size_t n;
};

/* The document being edited, scanned again after every splice. */
struct doc {
        struct engine_text t;
        const char *nl;   /* the file's newline: "\n" or "\r\n" */
        struct span unit; /* one level of indentation: the top level's, or two spaces */
        struct json_object top;
};

/* A value to write: the few shapes configure adds. */
struct jv {
        const char *key;
        enum { JV_OBJECT, JV_STRING, JV_RAW } kind;
        const char *s; /* JV_STRING, JV_RAW */
        const struct jv *kids;
        size_t n;
};

/* How members are laid out in the object that gets one. */
struct style {
        const struct doc *d;
        bool multiline;     /* each member on a line of its own, INDENT before it */
        struct span indent; /* multiline */
        struct span sep;    /* compact: the white space after ',' */
        struct span unit;   /* multiline: one more level of indentation */
        struct span colon;  /* between a name and its value */
};

static void doc_release(struct doc *d) {
        engine_text_free(&d->t);
        json_object_release(&d->top);
}

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int pos_error(const struct doc *d, size_t off, struct nctk_error **err, const char *what,
                     const char *key) {
        size_t line, col;

        json_position(d->t.data, off, &line, &col);
        return nctk_error_set(err, EINVAL, "line %zu, column %zu: '%s' %s", line, col, key, what);
}

/* The white space before member M's name. */
static struct span ws_before(const struct doc *d, const struct json_member *m) {
        size_t s = m->key;

        while (s > 0 && is_ws(d->t.data[s - 1]))
                s--;
        return (struct span){d->t.data + s, m->key - s};
}

/* What follows the last newline in WS, or NULL when WS has none. */
static const char *after_newline(struct span ws) {
        const char *nl = memrchr(ws.p, '\n', ws.n);

        return nl ? nl + 1 : NULL;
}

static int doc_scan(struct doc *d, struct nctk_error **err) {
        const char *text = d->t.data, *lf = memchr(text, '\n', d->t.len);
        size_t open;
        int r;

        json_object_release(&d->top);
        r = json_scan_document(text, d->t.len, &open, err);
        if (r < 0)
                return r;
        r = json_object_members(text, d->t.len, open, &d->top);
        if (r < 0)
                return r;
        d->nl = lf && lf > text && lf[-1] == '\r' ? "\r\n" : "\n";
        d->unit = (struct span){"  ", 2};
        if (d->top.n > 0) {
                struct span ws = ws_before(d, &d->top.m[0]);
                const char *ind = after_newline(ws);

                if (ind && ind < ws.p + ws.n)
                        d->unit = (struct span){ind, (size_t) (ws.p + ws.n - ind)};
        }
        return 0;
}

/* Replaces [OFF, OFF+DEL) of the text with INS and scans the result. */
static int doc_splice(struct doc *d, size_t off, size_t del, const char *ins, size_t ins_len,
                      struct nctk_error **err) {
        size_t len = d->t.len - del + ins_len;
        char *p = malloc(len + 1);
        int r;

        if (!p)
                return -ENOMEM;
        memcpy(p, d->t.data, off);
        memcpy(p + off, ins, ins_len);
        memcpy(p + off + ins_len, d->t.data + off + del, d->t.len - off - del);
        p[len] = '\0';
        free(d->t.data);
        d->t = (struct engine_text){p, len};
        r = doc_scan(d, err);
        if (r < 0)
                return nctk_error_prefix(err, "internal error: the edit broke the document");
        return 0;
}

static void put(FILE *f, struct span s) {
        if (s.n > 0) /* an empty span may have no pointer */
                fwrite(s.p, 1, s.n, f);
}

static void put_indent(FILE *f, const struct style *st, unsigned depth) {
        put(f, st->indent);
        for (unsigned i = 0; i < depth; i++)
                put(f, st->unit);
}

static void write_member(FILE *f, const struct style *st, const struct jv *v, unsigned depth);

static void write_value(FILE *f, const struct style *st, const struct jv *v, unsigned depth) {
        if (v->kind == JV_STRING) {
                json_write_string(f, v->s);
                return;
        }
        if (v->kind == JV_RAW) {
                fputs(v->s, f);
                return;
        }
        fputc('{', f);
        for (size_t i = 0; i < v->n; i++) {
                if (i > 0)
                        fputc(',', f);
                if (st->multiline) {
                        fputs(st->d->nl, f);
                        put_indent(f, st, depth + 1);
                } else if (i > 0) {
                        put(f, st->sep);
                }
                write_member(f, st, &v->kids[i], depth + 1);
        }
        if (st->multiline && v->n > 0) {
                fputs(st->d->nl, f);
                put_indent(f, st, depth);
        }
        fputc('}', f);
}

static void write_member(FILE *f, const struct style *st, const struct jv *v, unsigned depth) {
        json_write_string(f, v->key);
        put(f, st->colon);
        write_value(f, st, v, depth);
}

/* Writes PRE, then V as a member (or only its value) in style ST, then POST; splices the text
 * in at OFF in place of DEL bytes. */
static int splice_jv(struct doc *d, const struct style *st, size_t off, size_t del, const char *pre,
                     struct span pre_ws, const struct jv *v, bool value_only, const char *post,
                     struct nctk_error **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return -ENOMEM;
        fputs(pre, f);
        put(f, pre_ws);
        if (value_only)
                write_value(f, st, v, 0);
        else
                write_member(f, st, v, 0);
        fputs(post, f);
        if (fclose(f) != 0)
                return -ENOMEM;
        return doc_splice(d, off, del, buf, len, err);
}

/* The style of the members of M's object, from M; NESTED: that object is the value of a
 * top-level member, whose own indentation the levels inside it extend. */
static struct style object_style(const struct doc *d, const struct json_member *m, bool nested) {
        struct span ws = ws_before(d, m);
        const char *ind = after_newline(ws);
        struct style st = {.d = d, .multiline = ind != NULL, .sep = ws, .unit = d->unit};

        st.colon = (struct span){d->t.data + m->key_end, m->value - m->key_end};
        if (!ind)
                return st;
        st.indent = (struct span){ind, (size_t) (ws.p + ws.n - ind)};
        if (nested && st.indent.n > d->unit.n && memcmp(st.indent.p, d->unit.p, d->unit.n) == 0)
                st.unit = (struct span){st.indent.p + d->unit.n, st.indent.n - d->unit.n};
        return st;
}

static int insert_member(struct doc *d, const struct json_object *o, bool top, const struct jv *v,
                         struct nctk_error **err) {
        if (o->n > 0) {
                const struct json_member *last = &o->m[o->n - 1];
                struct style st = object_style(d, last, !top);

                return splice_jv(d, &st, last->value_end, 0, ",", ws_before(d, last), v, false, "",
                                 err);
        }
        if (top) {
                struct style st = {.d = d,
                                   .multiline = true,
                                   .indent = d->unit,
                                   .unit = d->unit,
                                   .colon = {": ", 2}};

                return splice_jv(d, &st, o->open + 1, 0, d->nl, d->unit, v, false, d->nl, err);
        }
        struct style st = {.d = d, .sep = {" ", 1}, .unit = d->unit, .colon = {": ", 2}};

        return splice_jv(d, &st, o->open + 1, 0, " ", (struct span){}, v, false, "", err);
}

/* Replaces member M's value with V's, laid out as M's object lays out members. */
static int replace_value(struct doc *d, const struct json_member *m, bool nested,
                         const struct jv *v, struct nctk_error **err) {
        struct style st = object_style(d, m, nested);

        if (!st.multiline)
                st.sep = (struct span){" ", 1};
        return splice_jv(d, &st, m->value, m->value_end - m->value, "", (struct span){}, v, true,
                         "", err);
}

static size_t newline_at(const struct engine_text *t, size_t off) {
        if (off < t->len && t->data[off] == '\n')
                return 1;
        if (off + 1 < t->len && t->data[off] == '\r' && t->data[off + 1] == '\n')
                return 2;
        return 0;
}

/* Takes member I out of O. O is the top level, or the value of the top-level member PARENT,
 * which goes too when I was its only member and O was not there before configure. */
static int remove_member(struct doc *d, const struct json_object *o, size_t i, int parent,
                         struct nctk_error **err) {
        const struct json_member *m = o->m;
        size_t from, to;

        if (o->n > 1) {
                from = i > 0 ? m[i - 1].value_end : m[0].key;
                to = i > 0 ? m[i].value_end : m[1].key;
                return doc_splice(d, from, to - from, "", 0, err);
        }
        from = o->open + 1;
        to = m[0].value_end;
        if (parent < 0)
                to += newline_at(&d->t, to);
        else if (!(m[0].key == from + 1 && d->t.data[from] == ' ')) {
                struct json_object top = d->top;

                return remove_member(d, &top, (size_t) parent, -1, err);
        }
        return doc_splice(d, from, to - from, "", 0, err);
}

/* The object value of top-level member I into RET; -ENOTDIR when it is not an object. */
static int member_object(const struct doc *d, size_t i, struct json_object *ret) {
        if (d->top.m[i].type != JSON_OBJECT)
                return -ENOTDIR;
        return json_object_members(d->t.data, d->t.len, d->top.m[i].value, ret);
}

static int find(const struct doc *d, const struct json_object *o, const char *key,
                struct nctk_error **err) {
        return json_object_find(d->t.data, d->t.len, o, key, err);
}

/* Whether runtime entry M already runs PATH. */
static bool entry_has_path(const struct doc *d, const struct json_member *m, const char *path) {
        struct json_object e = {};
        bool same = false;
        int k;

        if (m->type != JSON_OBJECT || json_object_members(d->t.data, d->t.len, m->value, &e) < 0)
                return false;
        k = find(d, &e, "path", NULL);
        if (k >= 0 && e.m[k].type == JSON_STRING)
                same = json_string_is(d->t.data, e.m[k].value, e.m[k].value_end, path);
        json_object_release(&e);
        return same;
}

/* What configure replaced, kept in the runtime's entry as "nctk-replaced" (the old values' raw
 * text) so that unconfigure can put it back byte for byte. dockerd ignores members of a runtime
 * entry it does not know. */
#define REPLACED_KEY "nctk-replaced"

struct replaced {
        char *default_runtime; /* the raw JSON text of the old value, or NULL */
        char *cdi;
        char *runtime; /* the runtime's old entry, when its path was another */
};

static void replaced_release(struct replaced *rep) {
        free(rep->default_runtime);
        free(rep->cdi);
        free(rep->runtime);
        *rep = (struct replaced){};
}

static char *raw_value(const struct doc *d, const struct json_member *m) {
        return strndup(d->t.data + m->value, m->value_end - m->value);
}

/* The object value of member KEY of O into RET: 1, or 0 when there is none (or it is no object). */
static int child_object(const struct doc *d, const struct json_object *o, const char *key,
                        struct json_object *ret) {
        int i = find(d, o, key, NULL);

        if (i < 0 || o->m[i].type != JSON_OBJECT)
                return 0;
        return json_object_members(d->t.data, d->t.len, o->m[i].value, ret) < 0 ? -ENOMEM : 1;
}

/* Copies the raw value of member KEY of O into *RET unless it is set already. */
static int keep_raw(const struct doc *d, const struct json_object *o, const char *key, char **ret) {
        int i = find(d, o, key, NULL);

        if (i < 0 || *ret)
                return 0;
        *ret = raw_value(d, &o->m[i]);
        return *ret ? 1 : -ENOMEM;
}

/* The record in runtimes.NAME.nctk-replaced, when there is one. */
static int read_replaced(const struct doc *d, const char *name, struct replaced *rep) {
        struct json_object runtimes = {}, entry = {}, rec = {};
        int r = child_object(d, &d->top, "runtimes", &runtimes);

        if (r > 0)
                r = child_object(d, &runtimes, name, &entry);
        if (r > 0)
                r = child_object(d, &entry, REPLACED_KEY, &rec);
        if (r > 0)
                r = keep_raw(d, &rec, "default-runtime", &rep->default_runtime);
        if (r >= 0 && rec.m)
                r = keep_raw(d, &rec, "cdi", &rep->cdi);
        if (r >= 0 && rec.m)
                r = keep_raw(d, &rec, "runtime", &rep->runtime);
        json_object_release(&runtimes);
        json_object_release(&entry);
        json_object_release(&rec);
        return r < 0 ? r : 0;
}

static bool is_true(const struct doc *d, const struct json_member *m) {
        return m->value_end - m->value == 4 && memcmp(d->t.data + m->value, "true", 4) == 0;
}

/* Adds to REP the old entry of the runtime when configure is about to replace it. */
static int find_replaced_entry(const struct doc *d, const struct engine_runtime *rt,
                               struct replaced *rep) {
        struct json_object runtimes = {};
        int i, r = child_object(d, &d->top, "runtimes", &runtimes);

        if (r > 0) {
                i = find(d, &runtimes, rt->name, NULL);
                r = i >= 0 && !entry_has_path(d, &runtimes.m[i], rt->path)
                            ? keep_raw(d, &runtimes, rt->name, &rep->runtime)
                            : 0;
        }
        json_object_release(&runtimes);
        return r;
}

/* Adds to REP what this configure is about to replace; returns 1 when it added anything. */
static int find_replaced(const struct doc *d, const struct engine_runtime *rt,
                         struct replaced *rep) {
        struct json_object features = {};
        int i, r, added;

        added = r = find_replaced_entry(d, rt, rep);
        i = find(d, &d->top, "default-runtime", NULL);
        if (r >= 0 && rt->set_as_default && i >= 0 &&
            !(d->top.m[i].type == JSON_STRING &&
              json_string_is(d->t.data, d->top.m[i].value, d->top.m[i].value_end, rt->name)))
                added |= r = keep_raw(d, &d->top, "default-runtime", &rep->default_runtime);
        if (r >= 0 && rt->cdi_enabled && child_object(d, &d->top, "features", &features) > 0) {
                i = find(d, &features, "cdi", NULL);
                if (i >= 0 && !is_true(d, &features.m[i]))
                        added |= r = keep_raw(d, &features, "cdi", &rep->cdi);
        }
        json_object_release(&features);
        return r < 0 ? r : added;
}

static int configure_runtime(struct doc *d, const struct engine_runtime *rt,
                             const struct replaced *rep, bool rewrite, struct nctk_error **err) {
        struct jv record[3], fields[3] = {{"path", JV_STRING, rt->path}, {"args", JV_RAW, "[]"}};
        struct jv entry = {rt->name, JV_OBJECT, NULL, fields, 2};
        const struct jv runtimes = {"runtimes", JV_OBJECT, NULL, &entry, 1};
        struct json_object o = {};
        size_t n = 0;
        int i, j, r;

        if (rep->default_runtime)
                record[n++] = (struct jv){"default-runtime", JV_RAW, rep->default_runtime};
        if (rep->cdi)
                record[n++] = (struct jv){"cdi", JV_RAW, rep->cdi};
        if (rep->runtime)
                record[n++] = (struct jv){"runtime", JV_RAW, rep->runtime};
        if (n > 0)
                fields[entry.n++] = (struct jv){REPLACED_KEY, JV_OBJECT, NULL, record, n};
        i = find(d, &d->top, "runtimes", err);
        if (i < -1)
                return i;
        if (i < 0)
                return insert_member(d, &d->top, true, &runtimes, err);
        r = member_object(d, (size_t) i, &o);
        if (r == -ENOTDIR)
                return pos_error(d, d->top.m[i].value, err, "must be an object", "runtimes");
        if (r < 0)
                return r;
        j = find(d, &o, rt->name, err);
        if (j < -1)
                r = j;
        else if (j < 0)
                r = insert_member(d, &o, false, &entry, err);
        else if (rewrite || !entry_has_path(d, &o.m[j], rt->path))
                r = replace_value(d, &o.m[j], true, &entry, err);
        json_object_release(&o);
        return r;
}

static int configure_default(struct doc *d, const struct engine_runtime *rt,
                             struct nctk_error **err) {
        const struct jv v = {"default-runtime", JV_STRING, rt->name, NULL, 0};
        int i = find(d, &d->top, "default-runtime", err);
        const struct json_member *m;

        if (i < -1)
                return i;
        if (i < 0)
                return insert_member(d, &d->top, true, &v, err);
        m = &d->top.m[i];
        if (m->type == JSON_STRING && json_string_is(d->t.data, m->value, m->value_end, rt->name))
                return 0;
        return replace_value(d, m, false, &v, err);
}

static int configure_cdi(struct doc *d, struct nctk_error **err) {
        const struct jv cdi = {"cdi", JV_RAW, "true", NULL, 0};
        const struct jv features = {"features", JV_OBJECT, NULL, &cdi, 1};
        struct json_object o = {};
        int i, j, r;

        i = find(d, &d->top, "features", err);
        if (i < -1)
                return i;
        if (i < 0)
                return insert_member(d, &d->top, true, &features, err);
        r = member_object(d, (size_t) i, &o);
        if (r == -ENOTDIR)
                return pos_error(d, d->top.m[i].value, err, "must be an object", "features");
        if (r < 0)
                return r;
        j = find(d, &o, "cdi", err);
        if (j < -1)
                r = j;
        else if (j < 0)
                r = insert_member(d, &o, false, &cdi, err);
        else if (!is_true(d, &o.m[j]))
                r = replace_value(d, &o.m[j], true, &cdi, err);
        json_object_release(&o);
        return r;
}

/* Blank (white space, perhaps a byte order mark): no document yet. */
static bool is_blank(const char *in, size_t len) {
        size_t i = len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;

        for (; i < len; i++)
                if (!is_ws(in[i]))
                        return false;
        return true;
}

/* Every key an edit may read is there once. Checked on load, so that configure and unconfigure
 * agree on a file: a key twice is refused by both, not only by the one that happens to read it
 * (configure without --set-as-default never reads default-runtime; unconfigure always does). */
static int doc_check_keys(const struct doc *d, struct nctk_error **err) {
        static const char *const keys[] = {"runtimes", "default-runtime", "features"};
        struct json_object features = {};
        int r = -1;

        for (size_t k = 0; k < ELEMENTSOF(keys) && r >= -1; k++)
                r = find(d, &d->top, keys[k], err);
        if (r >= -1 && (r = child_object(d, &d->top, "features", &features)) > 0)
                r = find(d, &features, "cdi", err);
        json_object_release(&features);
        return r < -1 ? r : 0;
}

static int doc_load(struct doc *d, const char *in, size_t len, bool blank_as_empty,
                    struct nctk_error **err) {
        bool bom = len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0;
        int r;

        if (blank_as_empty && is_blank(in, len)) {
                d->t.data = strdup(bom ? "\xef\xbb\xbf{}\n" : "{}\n");
                d->t.len = d->t.data ? strlen(d->t.data) : 0;
        } else {
                d->t.data = strndup(in, len);
                d->t.len = len;
        }
        if (!d->t.data)
                return -ENOMEM;
        if (memchr(in, '\0', len))
                return nctk_error_set(err, EINVAL, "a NUL byte in the file: not JSON text");
        r = doc_scan(d, err);
        return r < 0 ? r : doc_check_keys(d, err);
}

int docker_configure(const char *in, size_t len, const struct engine_runtime *rt,
                     struct engine_text *out, struct nctk_error **err) {
        struct replaced rep = {};
        struct doc d = {};
        int r, added = 0;

        r = engine_runtime_name_check(rt->name, err);
        if (r >= 0)
                r = doc_load(&d, in, len, true, err);
        if (r >= 0)
                r = read_replaced(&d, rt->name, &rep);
        if (r >= 0)
                r = added = find_replaced(&d, rt, &rep);
        if (r >= 0)
                r = configure_runtime(&d, rt, &rep, added > 0, err);
        if (r >= 0 && rt->set_as_default)
                r = configure_default(&d, rt, err);
        if (r >= 0 && rt->cdi_enabled)
                r = configure_cdi(&d, err);
        replaced_release(&rep);
        if (r < 0) {
                doc_release(&d);
                return r;
        }
        json_object_release(&d.top);
        *out = d.t;
        return 0;
}

/* Puts back the old value configure recorded in place of member M's, or removes M. */
static int restore_or_remove(struct doc *d, const struct json_object *o, size_t i, int parent,
                             const char *old, struct nctk_error **err) {
        const struct json_member *m = &o->m[i];

        if (old)
                return doc_splice(d, m->value, m->value_end - m->value, old, strlen(old), err);
        return remove_member(d, o, i, parent, err);
}

static int unconfigure_runtime(struct doc *d, const struct engine_runtime *rt, const char *old,
                               struct nctk_error **err) {
        struct json_object o = {};
        int i, j, r;

        i = find(d, &d->top, "runtimes", err);
        if (i < 0)
                return i == -1 ? 0 : i;
        r = member_object(d, (size_t) i, &o);
        if (r < 0)
                return r == -ENOTDIR ? 0 : r;
        j = find(d, &o, rt->name, err);
        r = j >= 0 ? restore_or_remove(d, &o, (size_t) j, i, old, err) : j == -1 ? 0 : j;
        json_object_release(&o);
        return r;
}

/* A default runtime that names a runtime no longer there would stop dockerd from starting: it
 * goes whether or not this unconfigure was asked to undo --nvidia-set-as-default. */
static int unconfigure_default(struct doc *d, const struct engine_runtime *rt, const char *old,
                               struct nctk_error **err) {
        int i = find(d, &d->top, "default-runtime", err);
        const struct json_member *m;

        if (i < 0)
                return i == -1 ? 0 : i;
        m = &d->top.m[i];
        if (m->type != JSON_STRING || !json_string_is(d->t.data, m->value, m->value_end, rt->name))
                return 0;
        return restore_or_remove(d, &d->top, (size_t) i, -1, old, err);
}

static int unconfigure_cdi(struct doc *d, const char *old, struct nctk_error **err) {
        struct json_object o = {};
        int i, j, r;

        i = find(d, &d->top, "features", err);
        if (i < 0)
                return i == -1 ? 0 : i;
        r = member_object(d, (size_t) i, &o);
        if (r < 0)
                return r == -ENOTDIR ? 0 : r;
        j = find(d, &o, "cdi", err);
        r = j >= 0 && is_true(d, &o.m[j]) ? restore_or_remove(d, &o, (size_t) j, i, old, err)
            : j < -1                      ? j
                                          : 0;
        json_object_release(&o);
        return r;
}

int docker_unconfigure(const char *in, size_t len, const struct engine_runtime *rt,
                       struct engine_text *out, struct nctk_error **err) {
        struct replaced rep = {};
        struct doc d = {};
        int r;

        r = engine_runtime_name_check(rt->name, err);
        if (r < 0)
                return r;
        if (is_blank(in, len)) {
                out->data = strndup(in, len);
                out->len = len;
                return out->data ? 0 : -ENOMEM;
        }
        r = doc_load(&d, in, len, false, err);
        if (r >= 0)
                r = read_replaced(&d, rt->name, &rep);
        if (r >= 0 && (rt->cdi_enabled || rep.cdi))
                r = unconfigure_cdi(&d, rep.cdi, err);
        if (r >= 0)
                r = unconfigure_default(&d, rt, rep.default_runtime, err);
        if (r >= 0)
                r = unconfigure_runtime(&d, rt, rep.runtime, err);
        replaced_release(&rep);
        if (r < 0) {
                doc_release(&d);
                return r;
        }
        json_object_release(&d.top);
        *out = d.t;
        return 0;
}
