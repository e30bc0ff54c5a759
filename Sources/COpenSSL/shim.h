// Typed wrappers for OpenSSL's function-like macros, which Swift cannot import.
#ifndef FLEETSTRAP_COPENSSL_SHIM_H
#define FLEETSTRAP_COPENSSL_SHIM_H
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

static inline long fs_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline void fs_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline int fs_BN_num_bytes(const BIGNUM *bn) { return BN_num_bytes(bn); }
static inline int fs_OPENSSL_init(void) {
    return OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL);
}
#endif
