/*
 * error.c - names and texts of the KWQ_E* codes, generated from the one
 * table in kwq/error.h, and the mapping from a script's error reply.
 */
#include "kwq/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kwq_strerror(int code)
{
    switch (code) {
#define KWQ_ERR_TEXT(name, value, wire, text)                                                      \
    case KWQ_E##name:                                                                              \
        return text;
        KWQ_ERR_MAP(KWQ_ERR_TEXT)
#undef KWQ_ERR_TEXT
    default:
        return code < 0 && code > -1000 ? strerror(-code) : "unknown error";
    }
}

const char *kwq_err_name(int code)
{
    switch (code) {
#define KWQ_ERR_NAME(name, value, wire, text)                                                      \
    case KWQ_E##name:                                                                              \
        return "KWQ_E" #name;
        KWQ_ERR_MAP(KWQ_ERR_NAME)
#undef KWQ_ERR_NAME
    default:
        return "KWQ_EUNKNOWN";
    }
}

bool kwq_err_is_transient(int code)
{
    return code == KWQ_ECONN || code == KWQ_ETIMEOUT || code == KWQ_EOOM;
}

bool kwq_err_is_config(int code)
{
    return code == KWQ_EAUTH || code == KWQ_ENOPERM || code == KWQ_EREADONLY || code == KWQ_EPOLICY;
}

/* True when reply starts with the word w followed by a space or its end. */
static int starts_with_word(const char *reply, size_t len, const char *w)
{
    size_t wl = strlen(w);

    if (len < wl || memcmp(reply, w, wl) != 0)
        return 0;
    return len == wl || reply[wl] == ' ';
}

static const struct {
    int code;         /* KWQ_E* code */
    const char *wire; /* first word of the script's error reply, NULL if none */
} wire_names[] = {
#define KWQ_ERR_WIRE(name, value, wire, text) {KWQ_E##name, wire},
    KWQ_ERR_MAP(KWQ_ERR_WIRE)
#undef KWQ_ERR_WIRE
};

int kwq_err_from_wire(const char *reply, size_t len)
{
    if (!reply)
        return KWQ_EREDIS;
    for (size_t i = 0; i < sizeof(wire_names) / sizeof(wire_names[0]); i++) {
        if (wire_names[i].wire && starts_with_word(reply, len, wire_names[i].wire))
            return wire_names[i].code;
    }
    return KWQ_EREDIS;
}

int kwq_error_set(struct kwq_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}
