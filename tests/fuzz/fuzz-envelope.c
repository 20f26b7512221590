/*
 * libFuzzer target: an F2 envelope through every rule, against a state
 * with no bundle and against one that holds sequence 5.
 */
#include "config.h"

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anchor_verify_options o = { FUZZ_TD, 0, 0 };
	struct anchor_verify_signers *s = fuzz_signers();
	struct anchor_verify_state *st = NULL, *ns = NULL, *ns2 = NULL;
	struct anchor_verify_result *res = NULL, *res2 = NULL;
	struct anchor_verify_diag d;

	if (anchor_verify_state_new(s, &st) != 0)
		abort();
	if (anchor_verify_signed_bundle(st, data, size, FUZZ_NOW, &o, &res, &ns,
	    &d) == 0) {
		size_t len;

		if (anchor_verify_result_payload(res, &len) == NULL)
			abort();
		/* the same bytes again: a refresh, never a failure */
		if (anchor_verify_signed_bundle(ns, data, size, FUZZ_NOW, &o,
		    &res2, &ns2, &d) != 0)
			abort();
	}
	anchor_verify_result_free(res);
	anchor_verify_result_free(res2);
	anchor_verify_state_free(ns);
	anchor_verify_state_free(ns2);
	anchor_verify_state_free(st);
	anchor_verify_signers_free(s);
	return 0;
}
