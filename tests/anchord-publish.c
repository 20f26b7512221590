/*
 * A writer for anchord's tests: publishes a new bundle (same keys, next
 * sequence) through the domain layer under the writer lock, as anchorctl
 * rotate would.
 *
 * usage: anchord-publish CONFIG
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "domain.h"
#include "error.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct anchor_conf *conf = NULL;
	struct anchor_domain *d = NULL;
	char err[512] = "";
	uint64_t seq = 0;
	int r, rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: anchord-publish CONFIG\n");
		return 2;
	}
	if ((r = anchor_conf_load(argv[1], &conf, err, sizeof(err))) !=
	    ANCHOR_OK) {
		fprintf(stderr, "anchord-publish: %s\n", err);
		goto out;
	}
	r = anchor_domain_open(conf, ANCHOR_OPEN_TOKEN | ANCHOR_OPEN_LOCK, NULL,
	    &d);
	if (r == ANCHOR_OK)
		r = anchor_domain_publish_bundle(d, anchor_now(), &seq);
	if (r != ANCHOR_OK) {
		fprintf(stderr, "anchord-publish: %s: %s\n", anchor_strerror(r),
		    d && anchor_domain_errdetail(d) ? anchor_domain_errdetail(d) :
		    "");
		goto out;
	}
	printf("%" PRIu64 "\n", seq);
	rc = 0;
 out:
	anchor_domain_close(d);
	anchor_conf_free(conf);
	return rc;
}
