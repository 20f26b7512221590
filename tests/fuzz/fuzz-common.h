/*
 * Shared by the libFuzzer targets: a signer set pinned without a
 * signature check, for the key of RFC 7515 appendix A.3 (whose private
 * half is public, so seed inputs can carry valid signatures).
 */
#ifndef ANCHOR_FUZZ_COMMON_H
#define ANCHOR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FUZZ_TD "prod.example.com"
#define FUZZ_NOW INT64_C(1767225600)

static const char fuzz_signers_payload[] =
    "{\"spiffe_trust_domain\":\"prod.example.com\",\"version\":1,"
    "\"threshold\":1,\"min_sequence\":1,\"keys\":[{\"kty\":\"EC\","
    "\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
    "\"kid\":\"oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U\",\"alg\":\"ES256\"}]}";

static struct anchor_verify_signers *
fuzz_signers(void)
{
	struct anchor_verify_signers *s = NULL;
	json_t *pj = NULL;
	size_t len = sizeof(fuzz_signers_payload) - 1;

	if (av_json_parse((const uint8_t *)fuzz_signers_payload, len, "seed",
	    &pj, NULL) != 0 ||
	    av_signers_from_payload(FUZZ_TD, pj,
	    (const uint8_t *)fuzz_signers_payload, len, &s, NULL) != 0)
		abort();
	json_decref(pj);
	return s;
}

#endif /* ANCHOR_FUZZ_COMMON_H */
