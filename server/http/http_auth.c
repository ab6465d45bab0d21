/* http_auth.c - bearer tokens. Tokens are kept as SHA-256 digests and
 * compared in constant time (CRYPTO_memcmp), so neither the token's
 * length nor its bytes leak through timing. Which route needs which token
 * is the route table's "auth" column (http_route.c). */
#include "http_int.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

void http_auth_hash(const char *token, unsigned char out[32])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

int http_auth_check(const char *a, const unsigned char want[32])
{
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return 0;
    a += 7;
    while (*a == ' ')
        a++;
    unsigned char got[32];
    http_auth_hash(a, got);
    return CRYPTO_memcmp(got, want, 32) == 0;
}
