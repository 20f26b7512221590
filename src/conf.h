/*
 * anchor configuration (/etc/anchor/anchor.yaml), parsed with libyaml.
 *
 * Every documented key is known; an unknown key, a value of the wrong type,
 * a bad duration, a PIN file that others can read, or a pkcs11 URI with a
 * pin-value is an error naming the file, line and key.
 */
#ifndef ANCHOR_CONF_H
#define ANCHOR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANCHOR_DEFAULT_CONFIG "/etc/anchor/anchor.yaml"

enum anchor_role {
	ANCHOR_ROLE_X509_CA = 0,
	ANCHOR_ROLE_JWT = 1,
	ANCHOR_ROLE_BUNDLE_SIGNING = 2,
};
#define ANCHOR_ROLE_COUNT 3

enum anchor_alg {
	ANCHOR_ALG_EC_P256 = 1,		/* "ec-p256" */
	ANCHOR_ALG_EC_P384 = 2,		/* "ec-p384" */
	ANCHOR_ALG_RSA_3072 = 3,	/* "rsa-3072" (x509_ca and jwt only) */
};

struct anchor_key_policy {
	enum anchor_alg algorithm;
	int64_t lifetime;		/* seconds */
	int64_t prepublish;
	int64_t overlap;
	int64_t purge;
	unsigned threshold;		/* bundle_signing only; 1 elsewhere */
};

struct anchor_peer {
	char *trust_domain;
	char *bundle_endpoint_url;
	char *profile;			/* "https_web" or "https_spiffe" */
	char *endpoint_spiffe_id;	/* https_spiffe only */
	char *signers;			/* path to the pinned F3, or NULL */
	char **allow;			/* NULL-terminated */
	size_t n_allow;
};

struct anchor_conf {
	char *path;			/* the file this came from */
	char *trust_domain;
	char *state_dir;

	char *pkcs11_module;
	char *pkcs11_token;		/* RFC 7512 URI */
	char *pin_source;		/* "file:PATH", "prompt" or "shares" */

	/* ca_subject: each is a NULL-terminated list (may be empty) */
	char **subj_country, **subj_organization, **subj_organizational_unit;
	char **subj_locality, **subj_province, **subj_common_name;

	struct anchor_key_policy keys[ANCHOR_ROLE_COUNT];

	bool audit_syslog;		/* audit.syslog: copy audit records to syslog */

	int64_t refresh_hint;		/* seconds, default 300 */
	int64_t signature_validity;	/* seconds, default 24h */

	/* federation */
	bool allow_insecure_http;
	char *listen_address;		/* default 0.0.0.0 */
	unsigned listen_port;		/* default 8443 */
	char *endpoint_profile;		/* "https_web", "https_spiffe" or "http" */
	char *cert_file;		/* https_web */
	char *key;			/* https_web: file path or pkcs11: URI */
	char *endpoint_spiffe_id;	/* https_spiffe */
	char **endpoint_dns_names;	/* https_spiffe: DNS SANs beside the URI SAN */
	struct anchor_peer *peers;
	size_t n_peers;
};

/*
 * Parse `path`.  On success *out is set (free with anchor_conf_free()).  On
 * failure a message of the form "FILE:LINE: KEY: what is wrong" is written
 * to err (size errlen) and a negative ANCHOR_E_* code is returned.
 * Defaults of DESIGN.md §3 and §9 fill what the file leaves out.
 */
int anchor_conf_load(const char *path, struct anchor_conf **out,
    char *err, size_t errlen);

/* Accepts NULL. */
void anchor_conf_free(struct anchor_conf *c);

/*
 * Parse a duration such as "30d", "2h", "15m", "300s" (a bare number is
 * seconds).  Returns ANCHOR_OK and *out in seconds, or ANCHOR_E_INVAL.
 */
int anchor_parse_duration(const char *s, int64_t *out);

/* "x509-ca", "jwt", "bundle-signing"; NULL for an unknown role. */
const char *anchor_role_name(enum anchor_role role);
int anchor_role_parse(const char *s, enum anchor_role *out);
/* "ec-p256", "ec-p384", "rsa-3072". */
const char *anchor_alg_name(enum anchor_alg alg);

/* Check a SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_'). */
bool anchor_trust_domain_valid(const char *td);

#endif /* ANCHOR_CONF_H */
