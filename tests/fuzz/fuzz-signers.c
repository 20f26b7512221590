/*
 * libFuzzer target: F3 signer sets (pinned, and as a chain step from a
 * fixed version 1) and the F4 state parser, on the same input.
 */
#include "config.h"

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anchor_verify_options o = { FUZZ_TD, 0, 0 };
	struct anchor_verify_signers *s = fuzz_signers(), *p = NULL, *c = NULL;
	struct anchor_verify_state *st = NULL;
	struct anchor_verify_buf b = { data, size };
	struct anchor_verify_diag d;
	char *text = NULL;
	size_t len;

	if (anchor_verify_signers_pin(&o, data, size, &p, &d) == 0 &&
	    anchor_verify_signers_key_count(p) == 0)
		abort();
	(void)anchor_verify_signers_chain(s, &b, 1, &o, &c, &d);
	if (anchor_verify_state_load(&o, data, size, &st, &d) == 0) {
		/* a state that loads saves and loads again */
		struct anchor_verify_state *again = NULL;

		if (anchor_verify_state_save(st, &text, &len) != 0 ||
		    anchor_verify_state_load(&o, (uint8_t *)text, len, &again,
		    &d) != 0)
			abort();
		anchor_verify_state_free(again);
	}
	free(text);
	anchor_verify_state_free(st);
	anchor_verify_signers_free(c);
	anchor_verify_signers_free(p);
	anchor_verify_signers_free(s);
	return 0;
}
