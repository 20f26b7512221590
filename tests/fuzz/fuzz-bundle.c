/*
 * libFuzzer target: the F1 (SPIFFE bundle) parser and the JWK parser.
 */
#include "config.h"

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anchor_verify_bundle *b = NULL;
	struct anchor_verify_key *k = NULL;
	struct anchor_verify_diag d;
	size_t i, len;

	if (anchor_verify_bundle_parse(data, size, NULL, &b, &d) == 0) {
		for (i = 0; i < anchor_verify_bundle_x509_count(b); i++)
			if (anchor_verify_bundle_x509_der(b, i, &len) == NULL ||
			    len == 0)
				abort();
		for (i = 0; i < anchor_verify_bundle_jwt_count(b); i++)
			if (anchor_verify_bundle_jwt_jwk(b, i) == NULL ||
			    anchor_verify_bundle_jwt_spki(b, i, &len) == NULL)
				abort();
	}
	anchor_verify_bundle_free(b);
	if (anchor_verify_key_from_jwk(data, size, &k, &d) == 0 &&
	    anchor_verify_signature(k, anchor_verify_key_alg(k), data, size,
	    data, size) == 0 && size != 64 && size != 96)
		abort();
	anchor_verify_key_free(k);
	return 0;
}
