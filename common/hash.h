/* hash.h - FNV-1a (32 and 64 bit) and the splitmix64 finaliser. */
#ifndef LTXCOMMON_HASH_H
#define LTXCOMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV32_INIT 2166136261u
#define HASH_FNV64_INIT 14695981039346656037ull

/* FNV-1a over n bytes, continuing from h (start with HASH_FNV*_INIT). */
uint32_t hash_fnv1a32(uint32_t h, const void *data, size_t n);
uint64_t hash_fnv1a64(uint64_t h, const void *data, size_t n);

/* FNV-1a of a NUL-terminated string from the standard offset basis. */
uint32_t hash_fnv1a32_str(const char *s);
uint64_t hash_fnv1a64_str(const char *s);

/* splitmix64's finaliser: spreads every input bit over the output. */
uint64_t hash_mix64(uint64_t x);

#endif
