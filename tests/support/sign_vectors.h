/* The secret and signature the unit tests of sign.c share (test_sign_*.c): each
 * expected value was computed with Python's hmac module, independent of this code:
 *   python3 -c 'import hmac,hashlib;print(hmac.new(KEY,MSG,hashlib.sha256).hexdigest())' */
#ifndef SEGOPS_TEST_SIGN_VECTORS_H
#define SEGOPS_TEST_SIGN_VECTORS_H

#define SECRET_32 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* A timestamp, and the signature of user "user_42" at TS with SECRET_32. */
#define TS 1700000000
#define GOOD_SIG "da1041f6ca1ba9024ec707a87e22d6a439439512bd7643b3b19d3626a543f3f7"

#endif
