/* hash.c - FNV-1a and splitmix64 finaliser (see hash.h). */
#include "hash.h"

#include <string.h>

uint32_t hash_fnv1a32(uint32_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

uint64_t hash_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint32_t hash_fnv1a32_str(const char *s) { return hash_fnv1a32(HASH_FNV32_INIT, s, strlen(s)); }

uint64_t hash_fnv1a64_str(const char *s) { return hash_fnv1a64(HASH_FNV64_INIT, s, strlen(s)); }

uint64_t hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}
