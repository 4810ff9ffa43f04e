/*
 * tollgate.h: write tollgate policies in C. A single header, no dependency but wasi-libc.
 *
 * A policy is one function from the input document (the Claude Code event plus live usage
 * figures) to a decision; this header turns it into the module's exports (sdk/ABI.md, style A:
 * memory, tollgate_alloc, tollgate_evaluate, tollgate_abi_version) and gives a small JSON
 * reader for the input and the writer for the output.
 *
 *     #define TOLLGATE_IMPLEMENTATION      // in exactly one .c file
 *     #include "tollgate.h"
 *
 *     tg_output tollgate_policy(tg_value input) {
 *         double cost = tg_number(tg_path(input, "usage.block.cost_usd"), 0);
 *         if (cost > 5) return tg_warn(tg_format("this block cost $%.2f", cost));
 *         return tg_allow();
 *     }
 *
 * Build (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32):
 *
 *     clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wl,--strip-all -o policy.wasm policy.c
 *
 * Reading is lenient, as the ABI asks: a missing field, or one of another type, reads as
 * missing and each reader takes a fallback. Values are spans of the input text, found by
 * walking the document (no tree is built); strings are unescaped on demand (\uXXXX and
 * surrogate pairs become UTF-8). Memory is never freed: every evaluation runs in a fresh
 * instance that the host drops afterwards.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A JSON value: the span [start, end) of the input text; start == NULL when missing. */
typedef struct {
    const char *start;
    const char *end;
} tg_value;

/* The JSON type of a value. */
typedef enum {
    TG_MISSING = 0,
    TG_NULL,
    TG_BOOL,
    TG_NUMBER,
    TG_STRING,
    TG_ARRAY,
    TG_OBJECT
} tg_type;

/* The type of `value` (TG_MISSING for a missing value). */
tg_type tg_type_of(tg_value value);

/* Member `key` of an object; missing if `object` is not an object or has no such member. */
tg_value tg_get(tg_value object, const char *key);

/* A nested member by a dotted path: tg_path(input, "usage.block.cost_usd"). Keys containing
 * a dot need tg_get. */
tg_value tg_path(tg_value root, const char *path);

/* Element `index` of an array; missing past its end or if `array` is not an array. */
tg_value tg_at(tg_value array, size_t index);

/* A number as a double (any JSON number: integers beyond 2^53 round, 1e400 is HUGE_VAL);
 * `fallback` if the value is not a number. */
double tg_number(tg_value value, double fallback);

/* A boolean; `fallback` if the value is not true or false. */
int tg_bool(tg_value value, int fallback);

/* A string, unescaped, as a new NUL-terminated UTF-8 string; NULL if the value is not a string.
 * A \u0000 in the JSON ends the C string early. */
char *tg_string(tg_value value);

/* Whether the value is the string `text`. */
int tg_string_is(tg_value value, const char *text);

/* printf into a new string (for reasons and messages). */
char *tg_format(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* The output document. Only `decision` is required; `model` for downgrades. A non-NULL `error`
 * makes it an error report ({"error": ...}): the host applies the policy's on_error. */
typedef struct {
    const char *decision; /* "allow", "warn", "downgrade", "ask" or "deny" */
    const char *reason;   /* why, for the user and Claude */
    const char *model;    /* downgrade target: "sonnet", "haiku", or a model id */
    const char *message;  /* optional text for the user */
    const char *context;  /* optional text added to Claude's context */
    const char *state;    /* optional JSON text stored for the next call (input "state") */
    const char *error;    /* set to report an error instead of a decision */
} tg_output;

tg_output tg_allow(void);
tg_output tg_warn(const char *reason);
tg_output tg_ask(const char *reason);
tg_output tg_deny(const char *reason);
tg_output tg_downgrade(const char *model, const char *reason);
tg_output tg_error(const char *message);

/* Log levels of tg_log. */
enum { TG_ERROR = 0, TG_WARN = 1, TG_INFO = 2, TG_DEBUG = 3 };

/* Writes a line to the policy log (shown with TOLLGATE_LOG=debug). */
void tg_log(int level, const char *message);

/* Your policy: define it in your .c file. */
tg_output tollgate_policy(tg_value input);

/* Optional: exports `tollgate_describe`, answering `json`, a description whose "config_schema"
 * declares the policy's config keys. With "additionalProperties": false, `tollgate policy list`
 * and `tollgate doctor` report a key it does not declare (naming the closest one) and a value
 * of another JSON type than declared. At file scope, once:
 *
 *     TOLLGATE_DESCRIBE("{\"name\":\"my-policy\",\"config_schema\":{\"type\":\"object\","
 *                       "\"additionalProperties\":false,"
 *                       "\"properties\":{\"block_usd\":{\"type\":\"number\"}}}}")
 */
#define TOLLGATE_DESCRIBE(json)                                                               \
    __attribute__((export_name("tollgate_describe"))) int64_t tollgate_describe(void) {      \
        static const char tg_description_[] = json;                                          \
        return ((int64_t)(uintptr_t)tg_description_ << 32) |                                  \
               (int64_t)(sizeof tg_description_ - 1);                                         \
    }

#ifdef __cplusplus
}
#endif
#endif /* TOLLGATE_H */

#ifdef TOLLGATE_IMPLEMENTATION
#ifndef TOLLGATE_IMPLEMENTED
#define TOLLGATE_IMPLEMENTED

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ---------------------------------------------------------------------------- */

static const tg_value tg_missing_ = {NULL, NULL};

static const char *tg_ws_(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the string starting at the quote `p`, past its closing quote; NULL if unclosed. */
static const char *tg_skip_string_(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

/* The end of the value starting at `p` (no leading whitespace); NULL if malformed. Nested
 * containers are skipped by counting brackets, without recursion. */
static const char *tg_skip_(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return tg_skip_string_(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = tg_skip_string_(p, end);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p > start ? p : NULL;
}

static tg_value tg_span_(const char *p, const char *end) {
    p = tg_ws_(p, end);
    const char *value_end = tg_skip_(p, end);
    if (!value_end) return tg_missing_;
    tg_value value = {p, value_end};
    return value;
}

tg_type tg_type_of(tg_value value) {
    if (!value.start || value.start >= value.end) return TG_MISSING;
    switch (*value.start) {
    case '{': return TG_OBJECT;
    case '[': return TG_ARRAY;
    case '"': return TG_STRING;
    case 't':
    case 'f': return TG_BOOL;
    case 'n': return TG_NULL;
    default: return TG_NUMBER;
    }
}

/* Appends the UTF-8 encoding of `code` at `out`; returns the new end. */
static char *tg_utf8_(char *out, uint32_t code) {
    if (code < 0x80) {
        *out++ = (char)code;
    } else if (code < 0x800) {
        *out++ = (char)(0xC0 | (code >> 6));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out++ = (char)(0xE0 | (code >> 12));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (code >> 18));
        *out++ = (char)(0x80 | ((code >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    }
    return out;
}

/* Four hex digits at `p` (within `end`); -1 if not. */
static int32_t tg_hex4_(const char *p, const char *end) {
    if (end - p < 4) return -1;
    int32_t code = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0) return -1;
        code = code * 16 + digit;
    }
    return code;
}

char *tg_string(tg_value value) {
    if (tg_type_of(value) != TG_STRING) return NULL;
    const char *p = value.start + 1, *end = value.end - 1;
    /* Unescaping never makes a string longer (\uXXXX is 6 bytes, at most 4 in UTF-8). */
    char *text = malloc((size_t)(end - p) + 1), *out = text;
    if (!text) return NULL;
    while (p < end) {
        if (*p != '\\') {
            *out++ = *p++;
            continue;
        }
        p++;
        char c = p < end ? *p++ : 0;
        switch (c) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            int32_t code = tg_hex4_(p, end);
            if (code < 0) break;
            p += 4;
            if (code >= 0xD800 && code < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                int32_t low = tg_hex4_(p + 2, end);
                if (low >= 0xDC00 && low < 0xE000) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
            }
            out = tg_utf8_(out, (uint32_t)code);
            break;
        }
        default: *out++ = c; /* \" \\ \/ */
        }
    }
    *out = 0;
    return text;
}

int tg_string_is(tg_value value, const char *text) {
    char *string = tg_string(value);
    return string && strcmp(string, text) == 0;
}

tg_value tg_get(tg_value object, const char *key) {
    if (tg_type_of(object) != TG_OBJECT) return tg_missing_;
    const char *p = object.start + 1, *end = object.end - 1;
    for (;;) {
        p = tg_ws_(p, end);
        if (p >= end || *p != '"') return tg_missing_;
        tg_value name = tg_span_(p, end);
        if (!name.start) return tg_missing_;
        p = tg_ws_(name.end, end);
        if (p >= end || *p != ':') return tg_missing_;
        tg_value member = tg_span_(p + 1, end);
        if (!member.start) return tg_missing_;
        if (tg_string_is(name, key)) return member;
        p = tg_ws_(member.end, end);
        if (p >= end || *p != ',') return tg_missing_;
        p++;
    }
}

tg_value tg_at(tg_value array, size_t index) {
    if (tg_type_of(array) != TG_ARRAY) return tg_missing_;
    const char *p = array.start + 1, *end = array.end - 1;
    for (size_t i = 0;; i++) {
        tg_value element = tg_span_(p, end);
        if (!element.start) return tg_missing_;
        if (i == index) return element;
        p = tg_ws_(element.end, end);
        if (p >= end || *p != ',') return tg_missing_;
        p++;
    }
}

tg_value tg_path(tg_value root, const char *path) {
    char key[256];
    while (*path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof key) return tg_missing_;
        memcpy(key, path, len);
        key[len] = 0;
        root = tg_get(root, key);
        path += len + (path[len] == '.');
    }
    return root;
}

double tg_number(tg_value value, double fallback) {
    if (tg_type_of(value) != TG_NUMBER) return fallback;
    char text[64];
    size_t len = (size_t)(value.end - value.start);
    if (len >= sizeof text) return fallback;
    memcpy(text, value.start, len);
    text[len] = 0;
    char *rest;
    double number = strtod(text, &rest);
    return *rest == 0 ? number : fallback;
}

int tg_bool(tg_value value, int fallback) {
    if (tg_type_of(value) != TG_BOOL) return fallback;
    return *value.start == 't';
}

char *tg_format(const char *format, ...) {
    va_list args;
    va_start(args, format);
    int len = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (len < 0) return NULL;
    char *text = malloc((size_t)len + 1);
    if (!text) return NULL;
    va_start(args, format);
    vsnprintf(text, (size_t)len + 1, format, args);
    va_end(args);
    return text;
}

/* ---- writing ---------------------------------------------------------------------------- */

tg_output tg_allow(void) {
    tg_output output = {0};
    output.decision = "allow";
    return output;
}

static tg_output tg_decision_(const char *decision, const char *reason) {
    tg_output output = tg_allow();
    output.decision = decision;
    output.reason = reason;
    return output;
}

tg_output tg_warn(const char *reason) { return tg_decision_("warn", reason); }
tg_output tg_ask(const char *reason) { return tg_decision_("ask", reason); }
tg_output tg_deny(const char *reason) { return tg_decision_("deny", reason); }

tg_output tg_downgrade(const char *model, const char *reason) {
    tg_output output = tg_decision_("downgrade", reason);
    output.model = model;
    return output;
}

tg_output tg_error(const char *message) {
    tg_output output = {0};
    output.error = message ? message : "error";
    return output;
}

typedef struct {
    char *data;
    size_t len, cap;
} tg_buffer_;

static void tg_put_(tg_buffer_ *buffer, const char *bytes, size_t len) {
    if (buffer->len + len > buffer->cap) {
        size_t cap = buffer->cap ? buffer->cap : 256;
        while (cap < buffer->len + len) cap *= 2;
        char *data = realloc(buffer->data, cap);
        if (!data) abort(); /* out of memory: a trap, which the host reports */
        buffer->data = data;
        buffer->cap = cap;
    }
    memcpy(buffer->data + buffer->len, bytes, len);
    buffer->len += len;
}

static void tg_puts_(tg_buffer_ *buffer, const char *text) { tg_put_(buffer, text, strlen(text)); }

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 as is. */
static void tg_put_string_(tg_buffer_ *buffer, const char *text) {
    tg_puts_(buffer, "\"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\') {
            escaped[0] = '\\';
            escaped[1] = (char)*p;
            tg_put_(buffer, escaped, 2);
        } else if (*p < 0x20) {
            snprintf(escaped, sizeof escaped, "\\u%04x", *p);
            tg_put_(buffer, escaped, 6);
        } else {
            tg_put_(buffer, (const char *)p, 1);
        }
    }
    tg_puts_(buffer, "\"");
}

static void tg_put_field_(tg_buffer_ *buffer, const char *name, const char *text) {
    if (!text) return;
    if (buffer->len > 1) tg_puts_(buffer, ",");
    tg_put_string_(buffer, name);
    tg_puts_(buffer, ":");
    tg_put_string_(buffer, text);
}

/* The output document as JSON. */
static tg_buffer_ tg_write_(tg_output output) {
    tg_buffer_ buffer = {0};
    tg_puts_(&buffer, "{");
    if (output.error || !output.decision) {
        tg_put_field_(&buffer, "error", output.error ? output.error : "the policy returned no decision");
    } else if (strcmp(output.decision, "downgrade") == 0 && !output.model) {
        tg_put_field_(&buffer, "error", "a downgrade needs a model");
    } else {
        tg_put_field_(&buffer, "decision", output.decision);
        tg_put_field_(&buffer, "reason", output.reason);
        tg_put_field_(&buffer, "model", output.model);
        tg_put_field_(&buffer, "message", output.message);
        tg_put_field_(&buffer, "context", output.context);
        if (output.state) {
            tg_puts_(&buffer, ",\"state\":");
            tg_puts_(&buffer, output.state);
        }
    }
    tg_puts_(&buffer, "}");
    return buffer;
}

/* ---- the ABI ---------------------------------------------------------------------------- */

__attribute__((import_module("tollgate"), import_name("log"))) void tg_host_log_(int32_t level,
                                                                                 const char *text,
                                                                                 int32_t len);

void tg_log(int level, const char *message) {
    tg_host_log_(level, message, (int32_t)strlen(message));
}

__attribute__((export_name("tollgate_abi_version"))) int32_t tollgate_abi_version(void) {
    return 1;
}

__attribute__((export_name("tollgate_alloc"))) int32_t tollgate_alloc(int32_t len) {
    /* One spare byte: tollgate_evaluate ends the input with a NUL. */
    return (int32_t)(uintptr_t)malloc((size_t)len + 1);
}

__attribute__((export_name("tollgate_evaluate"))) int64_t tollgate_evaluate(int32_t ptr,
                                                                            int32_t len) {
    char *text = (char *)(uintptr_t)ptr;
    text[len] = 0;
    tg_value input = tg_span_(text, text + len);
    tg_output output = tg_type_of(input) == TG_OBJECT
                           ? tollgate_policy(input)
                           : tg_error("cannot read the input document: not a JSON object");
    tg_buffer_ json = tg_write_(output);
    return ((int64_t)(uintptr_t)json.data << 32) | (int64_t)json.len;
}

#endif /* TOLLGATE_IMPLEMENTED */
#endif /* TOLLGATE_IMPLEMENTATION */
