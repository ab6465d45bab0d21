/* rng.h - a tiny non-cryptographic PRNG (Marsaglia's xorshift64) for
 * jitter and synthetic data. The state must start non-zero. */
#ifndef LTXCOMMON_RNG_H
#define LTXCOMMON_RNG_H

#include <stdint.h>

static inline uint64_t rng_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
