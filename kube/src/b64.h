/*
 * b64.h - the base64 fields of a kubeconfig (certificate-authority-data,
 * client-certificate-data, client-key-data) decoded into bytes.
 */
#ifndef KUBE_B64_H
#define KUBE_B64_H

#include <stddef.h>

struct kwq_error;

/*
 * Decode text (standard alphabet, padding required; spaces and line breaks
 * anywhere are skipped, as a YAML block scalar or a wrapped line leaves
 * them) into *ret, a malloc'd buffer of *ret_len bytes with one NUL after
 * them, so that PEM bytes can also be read as a string. what names the
 * field in the message ("certificate-authority-data of cluster 'c' in
 * kubeconfig /p"). Returns 0, KWQ_EINVAL ("<what> is not valid base64 ...";
 * no byte of the text is quoted: it may be a key) or KWQ_ENOMEM. Nothing is
 * allocated on error.
 */
int kube__b64_field(const char *what, const char *text, size_t len, char **ret, size_t *ret_len,
                    struct kwq_error *err);

#endif /* KUBE_B64_H */
