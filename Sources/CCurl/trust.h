// A cluster's CA parsed once into an OpenSSL X509_STORE and handed to each of its connections, instead of libcurl
// parsing the PEM again for every connection (CURLOPT_CAINFO_BLOB): with OpenSSL 3.0 that parse (PEM, then the
// public key through the provider decoders) was about 7% of fleetstrap's CPU at 3,000 clusters.
#ifndef FLEETSTRAP_CCURL_TRUST_H
#define FLEETSTRAP_CCURL_TRUST_H
#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/// The certificates of `pem` as a store with libcurl's verification flags (trusted first; a CA that is not
/// self-signed is still an anchor, as libcurl's partial-chain default makes it). NULL when `pem` holds none.
static inline X509_STORE *fs_trust_store_new(const unsigned char *pem, size_t length) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return NULL;
    X509_STORE *store = X509_STORE_new();
    int added = 0;
    if (store != NULL) {
        X509 *certificate;
        while ((certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (X509_STORE_add_cert(store, certificate) == 1) added++;
            X509_free(certificate);
        }
        ERR_clear_error();  // the end of the PEM reads as an error
        X509_STORE_set_flags(store, X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
    }
    BIO_free(bio);
    if (added == 0) {
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}

static inline void fs_trust_store_free(X509_STORE *store) { X509_STORE_free(store); }

/// CURLOPT_SSL_CTX_FUNCTION: the connection's SSL_CTX verifies against the store (shared, reference counted).
static CURLcode fs_trust_store_install(CURL *curl, void *context, void *store) {
    (void)curl;
    if (store == NULL || X509_STORE_up_ref((X509_STORE *)store) != 1) return CURLE_SSL_CACERT_BADFILE;
    SSL_CTX_set_cert_store((SSL_CTX *)context, (X509_STORE *)store);
    return CURLE_OK;
}

/// No CA file (the caller has already turned off the CA directory), the store installed by the callback. And no CA
/// cache: libcurl 7.87+ caches a connection's store per multi handle for the same CA file, and "no file"
/// is the same for every pool, so the first pool's store was put back into every later connection after our
/// callback had run (another cluster's server then passed verification against the first cluster's CA).
static inline CURLcode fs_curl_setopt_trust_store(CURL *h, X509_STORE *store) {
    CURLcode code = curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
    if (code == CURLE_OK) code = curl_easy_setopt(h, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    if (code == CURLE_OK) code = curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, fs_trust_store_install);
    if (code == CURLE_OK) code = curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, (void *)store);
    return code;
}
#endif
