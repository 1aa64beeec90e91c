/* The payload builder. Its text is always one complete JSON object or array:
 * "{", the members as "key":value separated by ",", then "}". An index records
 * where each member's key and value sit, so setting a key again replaces its
 * value in place. Every setter validates and reserves memory before changing
 * anything: a failed call leaves the builder as it was. */
#include "props.h"

#include "buf.h"
#include "json_number.h"
#include "json_text.h"
#include "last_error.h"

#define INLINE_MEMBERS 8

typedef struct member {
    size_t key_off;   /* the key's opening quote (objects only) */
    size_t key_len;   /* escaped key, quotes excluded */
    size_t value_off; /* the value's first byte */
    size_t value_len;
    unsigned depth; /* containers the value opens: 0 for a scalar */
} member_t;

struct segops_props {
    segops__buf_t text;
    member_t *members; /* `inline_members` until more are needed */
    size_t count, cap;
    bool array;
    unsigned depth; /* containers the text opens: 1 + the deepest member */
    member_t inline_members[INLINE_MEMBERS];
};

/* A value ready to write: bytes copied as they are, or a string escaped and
 * quoted. len is the exact number of bytes written. */
typedef struct piece {
    const char *src;
    size_t src_len;
    size_t len;
    bool quoted;
    unsigned depth;
} piece_t;

static segops_err_t props_create(segops_props_t **out, bool array) {
    if (!out) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_new: out is NULL");
    *out = NULL;
    segops_props_t *p = segops__calloc(1, sizeof *p);
    if (!p) return segops__fail(SEGOPS_E_NOMEM, "segops_props_new: out of memory");
    p->members = p->inline_members;
    p->cap = INLINE_MEMBERS;
    p->array = array;
    p->depth = 1;
    if (segops__buf_append(&p->text, array ? "[]" : "{}", 2) != SEGOPS_OK) {
        segops__free(p);
        return segops__fail(SEGOPS_E_NOMEM, "segops_props_new: out of memory");
    }
    *out = p;
    return SEGOPS_OK;
}

segops_err_t segops_props_new(segops_props_t **out) { return props_create(out, false); }

segops_err_t segops_props_new_array(segops_props_t **out) { return props_create(out, true); }

void segops_props_free(segops_props_t *props) {
    if (!props) return;
    segops__buf_free(&props->text);
    if (props->members != props->inline_members) segops__free(props->members);
    segops__free(props);
}

void segops_props_clear(segops_props_t *props) {
    if (!props) return;
    props->text.data[1] = props->array ? ']' : '}';
    props->text.data[2] = '\0';
    props->text.len = 2;
    props->count = 0;
    props->depth = 1;
}

const char *segops_props_json(const segops_props_t *props, size_t *len) {
    const char *text = props ? props->text.data : "{}";
    if (len) *len = props ? props->text.len : 2;
    return text;
}

bool segops__props_is_array(const segops_props_t *props) { return props->array; }

/* ---- writing ---- */

static char *write_piece(char *d, const piece_t *v) {
    if (!v->quoted) {
        memcpy(d, v->src, v->len);
        return d + v->len;
    }
    *d++ = '"';
    if (v->len - 2 == v->src_len) {
        memcpy(d, v->src, v->src_len);
        d += v->src_len;
    } else {
        d += segops__json_escape(d, v->src, v->src_len);
    }
    *d++ = '"';
    return d;
}

static void refresh_depth(segops_props_t *p) {
    unsigned deepest = 0;
    for (size_t i = 0; i < p->count; i++) deepest = SEGOPS__MAX(deepest, p->members[i].depth);
    p->depth = 1 + deepest;
}

/* The index of the member whose escaped key is esc[0..esc_len), or count. */
static size_t find_key(const segops_props_t *p, const char *esc, size_t esc_len) {
    for (size_t i = 0; i < p->count; i++) {
        const member_t *m = &p->members[i];
        if (m->key_len == esc_len && memcmp(p->text.data + m->key_off + 1, esc, esc_len) == 0)
            return i;
    }
    return p->count;
}

/* The member holding key (raw, key_len bytes, escaped length esc_len), or count.
 * A key that needs escaping is compared in its escaped form, as stored. */
static segops_err_t lookup(const segops_props_t *p, const char *key, size_t key_len, size_t esc_len,
                           size_t *index) {
    if (esc_len == key_len) {
        *index = find_key(p, key, key_len);
        return SEGOPS_OK;
    }
    char stack[256];
    char *esc = esc_len <= sizeof stack ? stack : segops__malloc(esc_len);
    if (!esc) return SEGOPS_E_NOMEM;
    segops__json_escape(esc, key, key_len);
    *index = find_key(p, esc, esc_len);
    if (esc != stack) segops__free(esc);
    return SEGOPS_OK;
}

static segops_err_t replace_value(segops_props_t *p, size_t index, const piece_t *v) {
    member_t *m = &p->members[index];
    if (v->len > m->value_len) {
        segops_err_t err = segops__buf_reserve(&p->text, v->len - m->value_len);
        if (err != SEGOPS_OK) return err;
    }
    char *data = p->text.data;
    size_t tail = m->value_off + m->value_len; /* what follows moves, NUL included */
    memmove(data + m->value_off + v->len, data + tail, p->text.len + 1 - tail);
    write_piece(data + m->value_off, v);
    p->text.len = p->text.len - m->value_len + v->len;
    for (size_t i = index + 1; i < p->count; i++) {
        p->members[i].key_off = p->members[i].key_off - m->value_len + v->len;
        p->members[i].value_off = p->members[i].value_off - m->value_len + v->len;
    }
    m->value_len = v->len;
    m->depth = v->depth;
    refresh_depth(p);
    return SEGOPS_OK;
}

static segops_err_t grow_members(segops_props_t *p) {
    if (p->count < p->cap) return SEGOPS_OK;
    if (p->cap > SIZE_MAX / 2 / sizeof(member_t)) return SEGOPS_E_NOMEM;
    size_t cap = p->cap * 2;
    member_t *grown = segops__malloc(cap * sizeof *grown);
    if (!grown) return SEGOPS_E_NOMEM;
    memcpy(grown, p->members, p->count * sizeof *grown);
    if (p->members != p->inline_members) segops__free(p->members);
    p->members = grown;
    p->cap = cap;
    return SEGOPS_OK;
}

/* Appends a member before the closing bracket; key NULL for arrays. */
static segops_err_t append_member(segops_props_t *p, const char *key, size_t key_len,
                                  size_t esc_len, const piece_t *v) {
    if (v->len > SIZE_MAX / 4 || esc_len > SIZE_MAX / 4) return SEGOPS_E_NOMEM;
    size_t add = (p->count ? 1 : 0) + (key ? esc_len + 3 : 0) + v->len;
    segops_err_t err = grow_members(p);
    if (err == SEGOPS_OK) err = segops__buf_reserve(&p->text, add);
    if (err != SEGOPS_OK) return err;

    char *data = p->text.data, *d = data + p->text.len - 1; /* on the closing bracket */
    char close = *d;
    member_t m = {0, 0, 0, v->len, v->depth};
    if (p->count) *d++ = ',';
    if (key) {
        m.key_off = (size_t)(d - data);
        m.key_len = esc_len;
        piece_t k = {key, key_len, esc_len + 2, true, 0};
        d = write_piece(d, &k);
        *d++ = ':';
    }
    m.value_off = (size_t)(d - data);
    d = write_piece(d, v);
    *d++ = close;
    *d = '\0';
    p->text.len = (size_t)(d - data);
    p->members[p->count++] = m;
    p->depth = SEGOPS__MAX(p->depth, 1 + v->depth);
    return SEGOPS_OK;
}

/* Sets key (NULL: appends, for arrays) to v; the one path of every setter. */
static segops_err_t put(segops_props_t *p, const char *key, size_t key_len, const piece_t *v) {
    if (p->array != (key == NULL))
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_set: %s",
                            key ? "an array builder takes key NULL"
                                : "an object builder needs a key (NULL appends to arrays only)");
    if (1 + v->depth > SEGOPS__PROPS_MAX_DEPTH)
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_props_set: the value would nest deeper than %d levels",
                            (int)SEGOPS__PROPS_MAX_DEPTH);
    size_t esc_len = 0, index = p->count;
    if (key) {
        if (!segops__json_string_measure(key, key_len, &esc_len))
            return segops__fail(SEGOPS_E_INVALID_ARG,
                                "segops_props_set: the key is not valid UTF-8 or holds a NUL");
        segops_err_t err = lookup(p, key, key_len, esc_len, &index);
        if (err != SEGOPS_OK) return err;
    }
    if (index < p->count) return replace_value(p, index, v);
    return append_member(p, key, key_len, esc_len, v);
}

/* ---- values ---- */

/* Containers the (validated) JSON text s opens at its deepest. */
static unsigned json_depth(const char *s, size_t len) {
    unsigned depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
            deepest = SEGOPS__MAX(deepest, depth);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Fills *v from value; buf holds number text (SEGOPS__JSON_NUMBER_MAX bytes). */
static segops_err_t make_piece(const segops_value_t *value, const segops_props_t *self, char *buf,
                               piece_t *v) {
    *v = (piece_t){NULL, 0, 0, false, 0};
    switch (value->type) {
    case SEGOPS_VALUE_NULL: v->src = "null"; break;
    case SEGOPS_VALUE_BOOL: v->src = value->as.boolean ? "true" : "false"; break;
    case SEGOPS_VALUE_INT:
        v->len = segops__json_int(buf, value->as.integer);
        v->src = buf;
        return SEGOPS_OK;
    case SEGOPS_VALUE_DOUBLE:
        v->len = segops__json_double(buf, value->as.number);
        v->src = buf;
        return v->len ? SEGOPS_OK
                      : segops__fail(SEGOPS_E_INVALID_ARG,
                                     "segops_props_set: a NaN or infinite double has no JSON form");
    case SEGOPS_VALUE_STRING: {
        const char *s = value->as.text.data;
        size_t len = value->as.text.len, esc;
        if (!s && len)
            return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_set: the string is NULL");
        if (!s) s = "";
        if (!segops__json_string_measure(s, len, &esc))
            return segops__fail(SEGOPS_E_INVALID_ARG,
                                "segops_props_set: the string is not valid UTF-8 or holds a NUL");
        *v = (piece_t){s, len, esc + 2, true, 0};
        return SEGOPS_OK;
    }
    case SEGOPS_VALUE_JSON: {
        const char *s = value->as.text.data;
        size_t len = value->as.text.len;
        if (!s || segops__json_check_value(s, len) != SEGOPS_OK)
            return segops__fail(SEGOPS_E_INVALID_JSON,
                                "segops_props_set_json: the text is not one JSON value");
        while (is_json_space(*s)) s++, len--;
        while (is_json_space(s[len - 1])) len--;
        *v = (piece_t){s, len, len, false, json_depth(s, len)};
        return SEGOPS_OK;
    }
    case SEGOPS_VALUE_PROPS: {
        const segops_props_t *child = value->as.props;
        if (!child || child == self)
            return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_set_props: the child is %s",
                                child ? "the builder itself" : "NULL");
        *v = (piece_t){child->text.data, child->text.len, child->text.len, false, child->depth};
        return SEGOPS_OK;
    }
    default:
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_set_value: type %d is unknown",
                            (int)value->type);
    }
    v->len = strlen(v->src);
    return SEGOPS_OK;
}

segops_err_t segops_props_set_value(segops_props_t *props, const char *key, size_t key_len,
                                    const segops_value_t *value) {
    if (!props || !value)
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_props_set: %s is NULL",
                            props ? "value" : "props");
    char buf[SEGOPS__JSON_NUMBER_MAX];
    piece_t v;
    segops_err_t err = make_piece(value, props, buf, &v);
    if (err == SEGOPS_OK) err = put(props, key, key_len, &v);
    if (err == SEGOPS_E_NOMEM) segops__fail(err, "segops_props_set: out of memory");
    return err;
}

/* The typed setters: a NUL-terminated key (NULL for arrays) and one value. */
static segops_err_t set(segops_props_t *props, const char *key, segops_value_t value) {
    return segops_props_set_value(props, key, key ? strlen(key) : 0, &value);
}

segops_err_t segops_props_set_string(segops_props_t *props, const char *key, const char *value) {
    if (!value)
        return segops__fail(
            SEGOPS_E_INVALID_ARG,
            "segops_props_set_string: the value is NULL (use segops_props_set_null)");
    segops_value_t v = {SEGOPS_VALUE_STRING, {.text = {value, strlen(value)}}};
    return set(props, key, v);
}

segops_err_t segops_props_set_int(segops_props_t *props, const char *key, int64_t value) {
    return set(props, key, (segops_value_t){SEGOPS_VALUE_INT, {.integer = value}});
}

segops_err_t segops_props_set_double(segops_props_t *props, const char *key, double value) {
    return set(props, key, (segops_value_t){SEGOPS_VALUE_DOUBLE, {.number = value}});
}

segops_err_t segops_props_set_bool(segops_props_t *props, const char *key, bool value) {
    return set(props, key, (segops_value_t){SEGOPS_VALUE_BOOL, {.boolean = value}});
}

segops_err_t segops_props_set_null(segops_props_t *props, const char *key) {
    return set(props, key, (segops_value_t){SEGOPS_VALUE_NULL, {.integer = 0}});
}

segops_err_t segops_props_set_json(segops_props_t *props, const char *key, const char *json) {
    if (!json)
        return segops__fail(SEGOPS_E_INVALID_JSON, "segops_props_set_json: the text is NULL");
    segops_value_t v = {SEGOPS_VALUE_JSON, {.text = {json, strlen(json)}}};
    return set(props, key, v);
}

segops_err_t segops_props_set_props(segops_props_t *props, const char *key,
                                    const segops_props_t *child) {
    return set(props, key, (segops_value_t){SEGOPS_VALUE_PROPS, {.props = child}});
}
