/*
 * tls.c - how a request proves the server is the cluster's, and who we are.
 * The server's certificate is checked against the configured CA only (a
 * file, or the kubeconfig's certificate-authority-data), never against the
 * system's store as well, so a certificate some public CA issued for the
 * same address does not pass. With no CA configured (a plain URL) the
 * system's store is used. Verification is off only for a kubeconfig that
 * says insecure-skip-tls-verify; the client logs a warning for it.
 */
#include <stdio.h>

#include "kwq/error.h"

#include "http_int.h"
#include "kube/config.h"

void kube__tls_ca_source(const struct kube_config *cfg, char *buf, size_t len)
{
    if (cfg->ca_file)
        (void)snprintf(buf, len, "the CA file %s", cfg->ca_file);
    else if (cfg->ca_data)
        (void)snprintf(buf, len, "the certificate-authority-data of %s",
                       cfg->source ? cfg->source : "the configuration");
    else
        (void)snprintf(buf, len, "the system's CA certificates");
}

static int set_blob(CURL *easy, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob b = {.data = (void *)(uintptr_t)data, .len = len, .flags = CURL_BLOB_COPY};

    return curl_easy_setopt(easy, opt, &b) == CURLE_OK ? 0 : KWQ_ENOMEM;
}

static int set_str(CURL *easy, CURLoption opt, const char *s)
{
    return curl_easy_setopt(easy, opt, s) == CURLE_OK ? 0 : KWQ_ENOMEM;
}

/* The server's side: which CA, whether to verify at all. */
static int tls_server(CURL *easy, const struct kube_config *cfg)
{
    int rc = 0;

    if (cfg->insecure) {
        (void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        (void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
        return 0;
    }
    (void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    (void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!cfg->ca_file && !cfg->ca_data)
        return 0;
    /* The configured CA alone: drop the CA directory libcurl was built with. */
    rc = set_str(easy, CURLOPT_CAPATH, NULL);
    if (rc == 0 && cfg->ca_data)
        rc = set_blob(easy, CURLOPT_CAINFO_BLOB, cfg->ca_data, cfg->ca_len);
    else if (rc == 0)
        rc = set_str(easy, CURLOPT_CAINFO, cfg->ca_file);
    return rc;
}

/* Our side: a client certificate and key, from files or PEM bytes. */
static int tls_client(CURL *easy, const struct kube_config *cfg)
{
    int rc = 0;

    if (cfg->cert_data)
        rc = set_blob(easy, CURLOPT_SSLCERT_BLOB, cfg->cert_data, cfg->cert_len);
    else if (cfg->cert_file)
        rc = set_str(easy, CURLOPT_SSLCERT, cfg->cert_file);
    if (rc == 0 && (cfg->cert_data || cfg->cert_file))
        rc = set_str(easy, CURLOPT_SSLCERTTYPE, "PEM");
    if (rc == 0 && cfg->key_data)
        rc = set_blob(easy, CURLOPT_SSLKEY_BLOB, cfg->key_data, cfg->key_len);
    else if (rc == 0 && cfg->key_file)
        rc = set_str(easy, CURLOPT_SSLKEY, cfg->key_file);
    if (rc == 0 && (cfg->key_data || cfg->key_file))
        rc = set_str(easy, CURLOPT_SSLKEYTYPE, "PEM");
    return rc;
}

int kube__tls_setup(CURL *easy, const struct kube_config *cfg)
{
    int rc = tls_server(easy, cfg);

    return rc ? rc : tls_client(easy, cfg);
}
