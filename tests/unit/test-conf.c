#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "conf.h"
#include "error.h"

static char tmpdir[256];

/* "@DIR@" in a test text stands for the temporary directory. */
static char *
subst(const char *text)
{
	size_t cap = strlen(text) + 1, dl = strlen(tmpdir);
	const char *p;
	char *out, *o;

	for (p = text; (p = strstr(p, "@DIR@")) != NULL; p += 5)
		cap += dl;
	out = malloc(cap);
	assert_non_null(out);
	for (o = out, p = text; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(o, tmpdir, dl);
			o += dl;
			p += 5;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Write text (after subst) to tmpdir/name.yaml; returns the path. */
static char *
write_conf(const char *name, const char *text)
{
	char *path, *body;

	assert_true(asprintf(&path, "%s/%s.yaml", tmpdir, name) > 0);
	body = subst(text);
	write_file(path, body, 0644);
	free(body);
	return path;
}

static int
group_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char p[512];

	snprintf(tmpdir, sizeof(tmpdir), "%s/anchor-conf-XXXXXX",
	    base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/pin", tmpdir);
	write_file(p, "1234\n", 0600);
	snprintf(p, sizeof(p), "%s/pin-644", tmpdir);
	write_file(p, "1234\n", 0644);
	snprintf(p, sizeof(p), "%s/pin-640", tmpdir);
	write_file(p, "1234\n", 0640);
	snprintf(p, sizeof(p), "%s/pin-link", tmpdir);
	if (symlink("pin", p) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/pin-dir", tmpdir);
	if (mkdir(p, 0700) != 0)
		return -1;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
group_teardown(void **state)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- helpers ------------------------------------------------------ */

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} good[] = {
		{ "0", 0 }, { "300", 300 }, { "300s", 300 }, { "15m", 900 },
		{ "2h", 7200 }, { "30d", 2592000 }, { "1w", 604800 },
		{ "9223372036854775807", INT64_MAX },
		{ "9223372036854775807s", INT64_MAX },
		{ "15250284452471w", INT64_C(15250284452471) * 604800 },
	};
	static const char *const bad[] = {
		"", "s", "-5s", "+5s", "5 s", " 5s", "5s ", "5x", "5ss", "5S",
		"1.5h", "0x10", "5sm", "9223372036854775808",
		"15250284452472w", "106751991167301d", "99999999999999999999",
		"2562047788015216h",
	};
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		assert_int_equal(anchor_parse_duration(good[i].s, &v),
		    ANCHOR_OK);
		assert_true(v == good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		assert_int_equal(anchor_parse_duration(bad[i], &v),
		    ANCHOR_E_INVAL);
		assert_true(v == 42);
	}
	assert_int_equal(anchor_parse_duration(NULL, &v), ANCHOR_E_INVAL);
}

static void
test_roles_and_algs(void **state)
{
	enum anchor_role role;

	assert_string_equal(anchor_role_name(ANCHOR_ROLE_X509_CA), "x509-ca");
	assert_string_equal(anchor_role_name(ANCHOR_ROLE_JWT), "jwt");
	assert_string_equal(anchor_role_name(ANCHOR_ROLE_BUNDLE_SIGNING),
	    "bundle-signing");
	assert_null(anchor_role_name((enum anchor_role)7));
	assert_int_equal(anchor_role_parse("x509-ca", &role), ANCHOR_OK);
	assert_int_equal(role, ANCHOR_ROLE_X509_CA);
	assert_int_equal(anchor_role_parse("jwt", &role), ANCHOR_OK);
	assert_int_equal(role, ANCHOR_ROLE_JWT);
	assert_int_equal(anchor_role_parse("bundle-signing", &role), ANCHOR_OK);
	assert_int_equal(role, ANCHOR_ROLE_BUNDLE_SIGNING);
	assert_int_equal(anchor_role_parse("bundle_signing", &role),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_role_parse("", &role), ANCHOR_E_INVAL);
	assert_int_equal(anchor_role_parse(NULL, &role), ANCHOR_E_INVAL);

	assert_string_equal(anchor_alg_name(ANCHOR_ALG_EC_P256), "ec-p256");
	assert_string_equal(anchor_alg_name(ANCHOR_ALG_EC_P384), "ec-p384");
	assert_string_equal(anchor_alg_name(ANCHOR_ALG_RSA_3072), "rsa-3072");
	assert_null(anchor_alg_name((enum anchor_alg)0));
}

#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16
#define A255 A64 A64 A64 A16 A16 A16 "aaaaaaaaaaaaaaa"

static void
test_trust_domain_valid(void **state)
{
	assert_true(anchor_trust_domain_valid("example.org"));
	assert_true(anchor_trust_domain_valid("prod-1.example_x.org"));
	assert_true(anchor_trust_domain_valid("localhost"));
	assert_true(anchor_trust_domain_valid(A255));
	assert_false(anchor_trust_domain_valid(A255 "a"));
	assert_false(anchor_trust_domain_valid(""));
	assert_false(anchor_trust_domain_valid(NULL));
	assert_false(anchor_trust_domain_valid("Example.org"));
	assert_false(anchor_trust_domain_valid("spiffe://example.org"));
	assert_false(anchor_trust_domain_valid("example.org:8443"));
	assert_false(anchor_trust_domain_valid("example.org/path"));
	assert_false(anchor_trust_domain_valid("exa mple.org"));
	assert_false(anchor_trust_domain_valid("user@example.org"));
}

/* ---- whole files ---------------------------------------------------- */

static const char full_yaml[] =
    "# a configuration that sets every key\n"
    "trust_domain: prod.example.com\n"
    "state_dir: /srv/anchor\n"
    "pkcs11:\n"
    "  module: /usr/lib/softhsm/libsofthsm2.so\n"
    "  token: \"pkcs11:token=anchor-prod;serial=0123abc\"\n"
    "  pin_source: file:@DIR@/pin\n"
    "ca_subject:\n"
    "  country: [US, DE]\n"
    "  organization: Example Corp\n"
    "  organizational_unit: [PKI, \"Trust Anchors\"]\n"
    "  locality: Springfield\n"
    "  province: [Oregon]\n"
    "  common_name: Example Root\n"
    "keys:\n"
    "  x509_ca:        { algorithm: ec-p384, lifetime: 60d, prepublish: 3h,"
    " overlap: 4h, purge: 10d }\n"
    "  jwt:            { algorithm: rsa-3072, lifetime: 1w, prepublish: 90m,"
    " overlap: 7200, purge: 1d }\n"
    "  bundle_signing:\n"
    "    algorithm: ec-p256\n"
    "    lifetime: 400d\n"
    "    prepublish: 8d\n"
    "    overlap: 9d\n"
    "    purge: 30d\n"
    "    threshold: 2\n"
    "bundle: { refresh_hint: 10m, signature_validity: 12h }\n"
    "federation:\n"
    "  allow_insecure_http: true\n"
    "  bundle_endpoint:\n"
    "    address: 127.0.0.1\n"
    "    port: 9443\n"
    "    profile: https_spiffe\n"
    "    endpoint_spiffe_id: spiffe://prod.example.com/anchor/endpoint\n"
    "    dns_names: [bundles.prod.example.com, anchor-1.prod.example.com]\n"
    "  federates_with:\n"
    "    staging.example.com:\n"
    "      bundle_endpoint_url: https://spiffe-federation.staging.example.com:8443\n"
    "      bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: "
    "spiffe://staging.example.com/spire/server } }\n"
    "      signers: /etc/anchor/peers/staging.example.com.signers-1.jws\n"
    "      allow: [\"spiffe://staging.example.com/ns/*/sa/*\", "
    "spiffe://staging.example.com/db]\n"
    "    web.example.net:\n"
    "      bundle_endpoint_url: https://web.example.net/bundle\n"
    "      bundle_endpoint_profile: https_web\n"
    "      allow: spiffe://web.example.net/ns/*\n"
    "    mirror.example.org:\n"
    "      bundle_endpoint_url: http://mirror.example.org/td\n"
    "      bundle_endpoint_profile: { https_web: {} }\n"
    "      signers: /etc/anchor/peers/mirror.jws\n";

static void
assert_list(char **list, ...)
{
	va_list ap;
	const char *want;
	size_t i = 0;

	assert_non_null(list);
	va_start(ap, list);
	while ((want = va_arg(ap, const char *)) != NULL) {
		assert_non_null(list[i]);
		assert_string_equal(list[i], want);
		i++;
	}
	va_end(ap);
	assert_null(list[i]);
}

static void
assert_policy(const struct anchor_key_policy *p, enum anchor_alg alg,
    int64_t lifetime, int64_t prepublish, int64_t overlap, int64_t purge,
    unsigned threshold)
{
	assert_int_equal(p->algorithm, alg);
	assert_true(p->lifetime == lifetime);
	assert_true(p->prepublish == prepublish);
	assert_true(p->overlap == overlap);
	assert_true(p->purge == purge);
	assert_int_equal(p->threshold, threshold);
}

#define H 3600
#define D 86400

static void
test_full(void **state)
{
	char *path = write_conf("full", full_yaml), *pin;
	struct anchor_conf *c = NULL;
	char err[512] = "";
	const struct anchor_peer *p;

	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_string_equal(err, "");
	assert_non_null(c);
	assert_string_equal(c->path, path);
	assert_string_equal(c->trust_domain, "prod.example.com");
	assert_string_equal(c->state_dir, "/srv/anchor");
	assert_string_equal(c->pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(c->pkcs11_token, "pkcs11:token=anchor-prod;serial=0123abc");
	pin = subst("file:@DIR@/pin");
	assert_string_equal(c->pin_source, pin);
	free(pin);

	assert_list(c->subj_country, "US", "DE", NULL);
	assert_list(c->subj_organization, "Example Corp", NULL);
	assert_list(c->subj_organizational_unit, "PKI", "Trust Anchors", NULL);
	assert_list(c->subj_locality, "Springfield", NULL);
	assert_list(c->subj_province, "Oregon", NULL);
	assert_list(c->subj_common_name, "Example Root", NULL);

	assert_policy(&c->keys[ANCHOR_ROLE_X509_CA], ANCHOR_ALG_EC_P384,
	    60 * D, 3 * H, 4 * H, 10 * D, 1);
	assert_policy(&c->keys[ANCHOR_ROLE_JWT], ANCHOR_ALG_RSA_3072,
	    7 * D, 90 * 60, 7200, 1 * D, 1);
	assert_policy(&c->keys[ANCHOR_ROLE_BUNDLE_SIGNING], ANCHOR_ALG_EC_P256,
	    400 * D, 8 * D, 9 * D, 30 * D, 2);

	assert_true(c->refresh_hint == 600);
	assert_true(c->signature_validity == 12 * H);

	assert_true(c->allow_insecure_http);
	assert_string_equal(c->listen_address, "127.0.0.1");
	assert_int_equal(c->listen_port, 9443);
	assert_string_equal(c->endpoint_profile, "https_spiffe");
	assert_null(c->cert_file);
	assert_null(c->key);
	assert_string_equal(c->endpoint_spiffe_id,
	    "spiffe://prod.example.com/anchor/endpoint");
	assert_string_equal(c->endpoint_dns_names[0], "bundles.prod.example.com");
	assert_string_equal(c->endpoint_dns_names[1], "anchor-1.prod.example.com");
	assert_null(c->endpoint_dns_names[2]);

	assert_int_equal(c->n_peers, 3);
	p = &c->peers[0];
	assert_string_equal(p->trust_domain, "staging.example.com");
	assert_string_equal(p->bundle_endpoint_url,
	    "https://spiffe-federation.staging.example.com:8443");
	assert_string_equal(p->profile, "https_spiffe");
	assert_string_equal(p->endpoint_spiffe_id,
	    "spiffe://staging.example.com/spire/server");
	assert_string_equal(p->signers,
	    "/etc/anchor/peers/staging.example.com.signers-1.jws");
	assert_int_equal(p->n_allow, 2);
	assert_list(p->allow, "spiffe://staging.example.com/ns/*/sa/*",
	    "spiffe://staging.example.com/db", NULL);

	p = &c->peers[1];
	assert_string_equal(p->trust_domain, "web.example.net");
	assert_string_equal(p->bundle_endpoint_url,
	    "https://web.example.net/bundle");
	assert_string_equal(p->profile, "https_web");
	assert_null(p->endpoint_spiffe_id);
	assert_null(p->signers);
	assert_int_equal(p->n_allow, 1);
	assert_list(p->allow, "spiffe://web.example.net/ns/*", NULL);

	p = &c->peers[2];
	assert_string_equal(p->trust_domain, "mirror.example.org");
	assert_string_equal(p->bundle_endpoint_url,
	    "http://mirror.example.org/td");
	assert_string_equal(p->profile, "https_web");
	assert_null(p->endpoint_spiffe_id);
	assert_string_equal(p->signers, "/etc/anchor/peers/mirror.jws");
	assert_int_equal(p->n_allow, 0);
	assert_list(p->allow, NULL);

	anchor_conf_free(c);
	free(path);
}

static const char minimal_yaml[] =
    "trust_domain: example.org\n"
    "pkcs11:\n"
    "  module: libsofthsm2\n"
    "  token: pkcs11:token=anchor\n"
    "  pin_source: prompt\n";

static void
test_defaults(void **state)
{
	char *path = write_conf("minimal", minimal_yaml);
	struct anchor_conf *c = NULL;
	char err[512] = "";

	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_non_null(c);
	assert_string_equal(c->trust_domain, "example.org");
	assert_string_equal(c->state_dir, "/var/lib/anchor");
	assert_string_equal(c->pkcs11_module, "libsofthsm2");
	assert_string_equal(c->pkcs11_token, "pkcs11:token=anchor");
	assert_string_equal(c->pin_source, "prompt");
	assert_list(c->subj_country, NULL);
	assert_list(c->subj_organization, NULL);
	assert_list(c->subj_organizational_unit, NULL);
	assert_list(c->subj_locality, NULL);
	assert_list(c->subj_province, NULL);
	assert_list(c->subj_common_name, NULL);
	assert_policy(&c->keys[ANCHOR_ROLE_X509_CA], ANCHOR_ALG_EC_P256,
	    30 * D, 2 * H, 3 * H, 14 * D, 1);
	assert_policy(&c->keys[ANCHOR_ROLE_JWT], ANCHOR_ALG_EC_P256,
	    7 * D, 2 * H, 2 * H, 14 * D, 1);
	assert_policy(&c->keys[ANCHOR_ROLE_BUNDLE_SIGNING], ANCHOR_ALG_EC_P256,
	    365 * D, 7 * D, 7 * D, 14 * D, 1);
	assert_true(c->refresh_hint == 300);
	assert_true(c->signature_validity == 24 * H);
	assert_false(c->allow_insecure_http);
	assert_string_equal(c->listen_address, "0.0.0.0");
	assert_int_equal(c->listen_port, 8443);
	assert_string_equal(c->endpoint_profile, "https_web");
	assert_null(c->cert_file);
	assert_null(c->key);
	assert_null(c->endpoint_spiffe_id);
	assert_int_equal(c->n_peers, 0);
	anchor_conf_free(c);
	free(path);
}

/* Sections present but empty, and a partly given policy. */
static void
test_partial_sections(void **state)
{
	char *path = write_conf("partial",
	    "trust_domain: example.org\n"
	    "pkcs11: { module: m, token: \"pkcs11:token=t\", pin_source: shares }\n"
	    "ca_subject: {}\n"
	    "keys:\n"
	    "  jwt:\n"
	    "    lifetime: 3d\n"
	    "  x509_ca:\n"
	    "bundle:\n"
	    "federation:\n"
	    "  federates_with: {}\n");
	struct anchor_conf *c = NULL;
	char err[512] = "";

	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_string_equal(c->pin_source, "shares");
	assert_list(c->subj_country, NULL);
	assert_policy(&c->keys[ANCHOR_ROLE_JWT], ANCHOR_ALG_EC_P256,
	    3 * D, 2 * H, 2 * H, 14 * D, 1);
	assert_policy(&c->keys[ANCHOR_ROLE_X509_CA], ANCHOR_ALG_EC_P256,
	    30 * D, 2 * H, 3 * H, 14 * D, 1);
	assert_true(c->refresh_hint == 300);
	assert_int_equal(c->n_peers, 0);
	anchor_conf_free(c);
	free(path);
}

/* Endpoint variants: https_web with files or a token key, and http. */
static void
test_endpoint_variants(void **state)
{
	char *path = write_conf("web",
	    "trust_domain: example.org\n"
	    "pkcs11: { module: m, token: \"pkcs11:token=t\", pin_source: prompt }\n"
	    "federation:\n"
	    "  bundle_endpoint:\n"
	    "    profile: https_web\n"
	    "    cert_file: /etc/anchor/tls/chain.pem\n"
	    "    key: \"pkcs11:token=tls;object=web\"\n");
	struct anchor_conf *c = NULL;
	char err[512] = "";

	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_string_equal(c->endpoint_profile, "https_web");
	assert_string_equal(c->cert_file, "/etc/anchor/tls/chain.pem");
	assert_string_equal(c->key, "pkcs11:token=tls;object=web");
	anchor_conf_free(c);
	free(path);

	path = write_conf("http",
	    "trust_domain: example.org\n"
	    "pkcs11: { module: m, token: \"pkcs11:token=t\", pin_source: prompt }\n"
	    "federation:\n"
	    "  bundle_endpoint: { profile: http, port: 8080, address: \"::1\" }\n"
	    "  allow_insecure_http: true\n");
	c = NULL;
	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_string_equal(c->endpoint_profile, "http");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->listen_address, "::1");
	assert_true(c->allow_insecure_http);
	anchor_conf_free(c);
	free(path);
}

/* The example of DESIGN.md §9, with real files for the endpoint. */
static void
test_design_example(void **state)
{
	char *path = write_conf("design",
	    "trust_domain: prod.example.com\n"
	    "state_dir: /var/lib/anchor\n"
	    "pkcs11:\n"
	    "  module: /usr/lib/softhsm/libsofthsm2.so     # or a p11-kit module name\n"
	    "  token: \"pkcs11:token=anchor-prod\"            # RFC 7512\n"
	    "  pin_source: file:@DIR@/pin             # 0600 file\n"
	    "ca_subject: { country: [US], organization: [Example Corp] }\n"
	    "keys:\n"
	    "  x509_ca:        { algorithm: ec-p256, lifetime: 30d, prepublish: 2h, overlap: 3h }\n"
	    "  jwt:            { algorithm: ec-p256, lifetime: 7d,  prepublish: 2h, overlap: 2h }\n"
	    "  bundle_signing: { algorithm: ec-p256, lifetime: 365d, prepublish: 7d, overlap: 7d, threshold: 1 }\n"
	    "bundle: { refresh_hint: 300s, signature_validity: 24h }\n"
	    "federation:\n"
	    "  bundle_endpoint: { address: 0.0.0.0, port: 8443, profile: https_web, cert_file: /etc/anchor/tls.pem, key: /etc/anchor/tls.key }\n"
	    "  federates_with:\n"
	    "    staging.example.com:\n"
	    "      bundle_endpoint_url: https://spiffe-federation.staging.example.com:8443\n"
	    "      bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: spiffe://staging.example.com/spire/server } }\n"
	    "      signers: /etc/anchor/peers/staging.example.com.signers-1.jws\n"
	    "      allow: [\"spiffe://staging.example.com/ns/*/sa/*\"]\n");
	struct anchor_conf *c = NULL;
	char err[512] = "";

	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_OK);
	assert_string_equal(c->trust_domain, "prod.example.com");
	assert_list(c->subj_country, "US", NULL);
	assert_list(c->subj_organization, "Example Corp", NULL);
	assert_int_equal(c->n_peers, 1);
	assert_string_equal(c->peers[0].profile, "https_spiffe");
	assert_string_equal(c->key, "/etc/anchor/tls.key");
	anchor_conf_free(c);
	free(path);
}

static void
test_missing_file(void **state)
{
	struct anchor_conf *c = (struct anchor_conf *)1;
	char err[512] = "", *path;

	assert_true(asprintf(&path, "%s/does-not-exist.yaml", tmpdir) > 0);
	assert_int_equal(anchor_conf_load(path, &c, err, sizeof(err)),
	    ANCHOR_E_CONFIG);
	assert_null(c);
	assert_non_null(strstr(err, path));
	free(path);
	anchor_conf_free(NULL);
}

/* ---- one test per bad configuration --------------------------------- */

/* A valid head, five lines; a case's own lines start at line 6. */
#define HEAD \
	"trust_domain: example.org\n" \
	"pkcs11:\n" \
	"  module: /usr/lib/softhsm/libsofthsm2.so\n" \
	"  token: \"pkcs11:token=anchor\"\n" \
	"  pin_source: file:@DIR@/pin\n"
#define PKCS11_OK \
	"pkcs11: { module: m, token: \"pkcs11:token=t\", pin_source: prompt }\n"

struct bad {
	const char *name;
	const char *yaml;
	unsigned line;
	const char *key;	/* the KEY.PATH the message must name */
	const char *what;	/* a part of the message, or NULL */
};

static const struct bad bad_cases[] = {
	/* unknown keys */
	{ "unknown_top_key", HEAD "frobnicate: 1\n", 6, "frobnicate",
	    "unknown key at the top level (known: trust_domain, state_dir, pkcs11, "
	    "ca_subject, keys, bundle, federation, audit)" },
	{ "audit_unknown_key", HEAD "audit:\n  sislog: true\n", 7, "audit.sislog",
	    "unknown key in audit (known: syslog)" },
	{ "audit_syslog_not_bool", HEAD "audit:\n  syslog: maybe\n", 7,
	    "audit.syslog", "" },
	{ "unknown_nested_key", HEAD "keys:\n  x509_ca:\n    lifetme: 30d\n",
	    8, "keys.x509_ca.lifetme", "unknown key in keys.x509_ca" },
	{ "unknown_role", HEAD "keys:\n  ssh: { lifetime: 1d }\n", 7,
	    "keys.ssh", "unknown key in keys" },
	{ "unknown_pkcs11_key",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: prompt\n  slot: 0\n",
	    6, "pkcs11.slot", "unknown key in pkcs11" },
	{ "unknown_subject_key", HEAD "ca_subject:\n  street: Main St\n", 7,
	    "ca_subject.street", "unknown key" },
	{ "unknown_peer_key",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      trust: all\n", 10,
	    "federation.federates_with.peer.example.trust", "unknown key" },
	{ "threshold_not_for_jwt", HEAD "keys:\n  jwt: { threshold: 2 }\n", 7,
	    "keys.jwt.threshold", "unknown key in keys.jwt" },
	{ "threshold_not_for_x509_ca",
	    HEAD "keys:\n  x509_ca:\n    threshold: 1\n", 8,
	    "keys.x509_ca.threshold", "unknown key" },
	/* duplicates */
	{ "duplicate_top_key", HEAD "trust_domain: example.net\n", 6,
	    "trust_domain", "duplicate key (first given on line 1)" },
	{ "duplicate_nested_key",
	    HEAD "bundle:\n  refresh_hint: 5m\n  refresh_hint: 6m\n", 8,
	    "bundle.refresh_hint", "duplicate key" },
	{ "duplicate_peer",
	    HEAD "federation:\n  federates_with:\n"
	    "    peer.example: { bundle_endpoint_url: https://a }\n"
	    "    peer.example: { bundle_endpoint_url: https://b }\n", 9,
	    "federation.federates_with.peer.example", "duplicate key" },
	/* types */
	{ "sequence_for_scalar",
	    "trust_domain: [example.org, example.net]\n" PKCS11_OK, 1,
	    "trust_domain", "expected a string, found a sequence" },
	{ "mapping_for_duration", HEAD "bundle:\n  refresh_hint: { a: 1 }\n",
	    7, "bundle.refresh_hint", "found a mapping" },
	{ "scalar_for_section", HEAD "keys: 5\n", 6, "keys",
	    "expected a mapping, found a scalar" },
	{ "sequence_for_section", HEAD "federation:\n  - a\n", 7, "federation",
	    "expected a mapping, found a sequence" },
	{ "bad_bool", HEAD "federation:\n  allow_insecure_http: maybe\n", 7,
	    "federation.allow_insecure_http", "expected true or false" },
	{ "subject_mapping", HEAD "ca_subject:\n  country: { a: b }\n", 7,
	    "ca_subject.country", "found a mapping" },
	{ "subject_nested_list",
	    HEAD "ca_subject:\n  organization: [ok, [nested]]\n", 7,
	    "ca_subject.organization[1]", "found a sequence" },
	{ "subject_country_not_two_letters",
	    HEAD "ca_subject: { country: USA }\n", 6, "ca_subject.country",
	    "two-letter" },
	{ "subject_too_long", HEAD "ca_subject: { common_name: " A64 "x }\n",
	    6, "ca_subject.common_name", "longer than 64 bytes" },
	{ "empty_value",
	    "trust_domain: example.org\npkcs11:\n  module:\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: prompt\n", 3,
	    "pkcs11.module", "empty value" },
	{ "not_a_mapping", "- trust_domain\n- example.org\n", 1, "(document)",
	    "expected a mapping" },
	{ "sequence_key", HEAD "[a, b]: c\n", 6, "(document)",
	    "a key must be a string" },
	/* durations */
	{ "duration_bad_unit", HEAD "keys:\n  jwt:\n    lifetime: 7y\n", 8,
	    "keys.jwt.lifetime", "bad duration \"7y\"" },
	{ "duration_negative", HEAD "bundle:\n  refresh_hint: -5s\n", 7,
	    "bundle.refresh_hint", "bad duration \"-5s\"" },
	{ "duration_overflow",
	    HEAD "keys:\n  bundle_signing:\n    purge: 99999999999999999w\n", 8,
	    "keys.bundle_signing.purge", "bad duration" },
	{ "duration_overflow_digits",
	    HEAD "keys:\n  x509_ca:\n    overlap: 99999999999999999999\n", 8,
	    "keys.x509_ca.overlap", "bad duration" },
	{ "duration_space", HEAD "keys:\n  x509_ca: { overlap: 5 h }\n", 7,
	    "keys.x509_ca.overlap", "bad duration" },
	{ "duration_fraction", HEAD "keys:\n  x509_ca: { prepublish: 1.5h }\n",
	    7, "keys.x509_ca.prepublish", "bad duration" },
	{ "duration_empty", HEAD "bundle:\n  signature_validity: \"\"\n", 7,
	    "bundle.signature_validity", "bad duration" },
	{ "lifetime_zero", HEAD "keys:\n  x509_ca: { lifetime: 0 }\n", 7,
	    "keys.x509_ca.lifetime", "greater than zero" },
	{ "lifetime_zero_days", HEAD "keys:\n  jwt:\n    lifetime: 0d\n", 8,
	    "keys.jwt.lifetime", "greater than zero" },
	{ "refresh_hint_zero", HEAD "bundle: { refresh_hint: 0s }\n", 6,
	    "bundle.refresh_hint", "greater than zero" },
	{ "signature_validity_too_long",
	    HEAD "bundle: { signature_validity: 31d }\n", 6,
	    "bundle.signature_validity", "longer than 30d" },
	{ "refresh_hint_not_below_validity",
	    HEAD "bundle:\n  refresh_hint: 2h\n  signature_validity: 2h\n", 8,
	    "bundle.signature_validity", "not longer than refresh_hint (2h)" },
	{ "prepublish_longer_than_lifetime",
	    HEAD "keys:\n  jwt: { lifetime: 1d, prepublish: 2d }\n", 7,
	    "keys.jwt.prepublish", "prepublish (2d) is longer than lifetime (1d)" },
	{ "overlap_longer_than_lifetime",
	    HEAD "keys:\n  x509_ca:\n    lifetime: 1h\n    prepublish: 30m\n"
	    "    overlap: 2h\n", 10, "keys.x509_ca.overlap",
	    "overlap (2h) is longer than lifetime (1h)" },
	{ "default_prepublish_longer_than_lifetime",
	    HEAD "keys:\n  x509_ca:\n    lifetime: 1h\n", 8,
	    "keys.x509_ca.prepublish", "is longer than lifetime (1h)" },
	/* algorithms and threshold */
	{ "bad_algorithm", HEAD "keys:\n  jwt: { algorithm: ec-p521 }\n", 7,
	    "keys.jwt.algorithm", "unknown algorithm \"ec-p521\"" },
	{ "rsa_for_bundle_signing",
	    HEAD "keys:\n  bundle_signing:\n    algorithm: rsa-3072\n", 8,
	    "keys.bundle_signing.algorithm", "not allowed for bundle_signing" },
	{ "threshold_zero", HEAD "keys:\n  bundle_signing: { threshold: 0 }\n",
	    7, "keys.bundle_signing.threshold", "from 1 to 8" },
	{ "threshold_too_large",
	    HEAD "keys:\n  bundle_signing: { threshold: 9 }\n", 7,
	    "keys.bundle_signing.threshold", "from 1 to 8" },
	{ "threshold_negative",
	    HEAD "keys:\n  bundle_signing: { threshold: -1 }\n", 7,
	    "keys.bundle_signing.threshold", "not a number" },
	/* ports */
	{ "port_zero", HEAD "federation:\n  bundle_endpoint:\n    port: 0\n", 8,
	    "federation.bundle_endpoint.port", "from 1 to 65535" },
	{ "port_too_large",
	    HEAD "federation:\n  bundle_endpoint: { port: 65536 }\n", 7,
	    "federation.bundle_endpoint.port", "from 1 to 65535" },
	{ "port_not_a_number",
	    HEAD "federation:\n  bundle_endpoint: { port: https }\n", 7,
	    "federation.bundle_endpoint.port", "not a number" },
	/* trust domains */
	{ "trust_domain_uppercase", "trust_domain: Example.org\n" PKCS11_OK, 1,
	    "trust_domain", "invalid trust domain" },
	{ "trust_domain_scheme", "trust_domain: spiffe://example.org\n"
	    PKCS11_OK, 1, "trust_domain", "invalid trust domain" },
	{ "trust_domain_port", "trust_domain: \"example.org:8443\"\n"
	    PKCS11_OK, 1, "trust_domain", "invalid trust domain" },
	{ "trust_domain_too_long", PKCS11_OK "trust_domain: " A255 "a\n", 2,
	    "trust_domain", "at most 255 bytes" },
	{ "trust_domain_missing", PKCS11_OK "state_dir: /srv/anchor\n", 1,
	    "trust_domain", "required key is missing" },
	{ "peer_trust_domain_invalid",
	    HEAD "federation:\n  federates_with:\n    Peer.Example:\n"
	    "      bundle_endpoint_url: https://peer.example\n", 8,
	    "federation.federates_with.Peer.Example", "invalid trust domain" },
	{ "peer_is_self",
	    HEAD "federation:\n  federates_with:\n    example.org:\n"
	    "      bundle_endpoint_url: https://peer.example\n", 8,
	    "federation.federates_with.example.org", "itself" },
	/* the token */
	{ "token_not_a_uri",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: anchor-prod\n  pin_source: prompt\n", 4, "pkcs11.token",
	    "not a pkcs11: URI" },
	{ "token_pin_value",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=anchor?pin-value=1234\"\n"
	    "  pin_source: prompt\n", 4, "pkcs11.token", "pin-value" },
	{ "token_pin_source",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=anchor?pin-source=file:/etc/pin\"\n"
	    "  pin_source: prompt\n", 4, "pkcs11.token", "pin-source" },
	{ "token_pin_value_in_path",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:PIN-VALUE=1;token=anchor\"\n"
	    "  pin_source: prompt\n", 4, "pkcs11.token", "pin-value" },
	{ "token_slot_id",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:slot-id=0\"\n  pin_source: prompt\n", 4,
	    "pkcs11.token", "slot-id" },
	{ "token_missing",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  pin_source: prompt\n", 3, "pkcs11.token",
	    "required key is missing" },
	{ "module_missing",
	    "trust_domain: example.org\npkcs11:\n  token: \"pkcs11:token=t\"\n"
	    "  pin_source: prompt\n", 3, "pkcs11.module",
	    "required key is missing" },
	{ "pkcs11_missing", "trust_domain: example.org\n", 1, "pkcs11",
	    "required key is missing" },
	{ "endpoint_key_pin_value",
	    HEAD "federation:\n  bundle_endpoint:\n    cert_file: /c.pem\n"
	    "    key: \"pkcs11:token=tls;object=k?pin-value=1\"\n", 9,
	    "federation.bundle_endpoint.key", "pin-value" },
	/* the PIN source */
	{ "pin_source_missing",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n", 3, "pkcs11.pin_source",
	    "required key is missing" },
	{ "pin_source_env",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: env:ANCHOR_PIN\n", 5,
	    "pkcs11.pin_source", "not a PIN source" },
	{ "pin_source_literal",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: 1234\n", 5,
	    "pkcs11.pin_source", "not a PIN source" },
	{ "pin_source_relative",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: file:pin\n", 5,
	    "pkcs11.pin_source", "absolute path" },
	{ "pin_file_missing",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n"
	    "  pin_source: file:@DIR@/no-such-pin\n", 5, "pkcs11.pin_source",
	    "does not exist" },
	{ "pin_file_world_readable",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: file:@DIR@/pin-644\n",
	    5, "pkcs11.pin_source", "mode 0644" },
	{ "pin_file_group_readable",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: file:@DIR@/pin-640\n",
	    5, "pkcs11.pin_source", "mode 0640" },
	{ "pin_file_symlink",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: file:@DIR@/pin-link\n",
	    5, "pkcs11.pin_source", "symbolic link" },
	{ "pin_file_directory",
	    "trust_domain: example.org\npkcs11:\n  module: m\n"
	    "  token: \"pkcs11:token=t\"\n  pin_source: file:@DIR@/pin-dir\n",
	    5, "pkcs11.pin_source", "not a regular file" },
	/* state_dir */
	{ "state_dir_relative", HEAD "state_dir: var/lib/anchor\n", 6,
	    "state_dir", "absolute path" },
	/* profiles */
	{ "endpoint_https_spiffe_without_id",
	    HEAD "federation:\n  bundle_endpoint:\n    profile: https_spiffe\n", 8,
	    "federation.bundle_endpoint.endpoint_spiffe_id",
	    "required with profile https_spiffe" },
	{ "endpoint_dns_name_invalid",
	    HEAD "federation:\n  bundle_endpoint:\n    profile: https_spiffe\n"
	    "    endpoint_spiffe_id: spiffe://example.org/anchor\n"
	    "    dns_names: [ok.example.org, -bad.example.org]\n", 10,
	    "federation.bundle_endpoint.dns_names[1]", "is not a DNS name" },
	{ "endpoint_dns_names_without_spiffe",
	    HEAD "federation:\n  bundle_endpoint:\n    profile: https_web\n"
	    "    dns_names: [a.example.org]\n", 9,
	    "federation.bundle_endpoint.dns_names", "only used with profile https_spiffe" },
	{ "endpoint_spiffe_id_other_domain",
	    HEAD "federation:\n  bundle_endpoint:\n    profile: https_spiffe\n"
	    "    endpoint_spiffe_id: spiffe://example.net/anchor\n", 9,
	    "federation.bundle_endpoint.endpoint_spiffe_id",
	    "must be in trust domain example.org" },
	{ "endpoint_spiffe_id_with_https_web",
	    HEAD "federation:\n  bundle_endpoint:\n"
	    "    endpoint_spiffe_id: spiffe://example.org/anchor\n", 8,
	    "federation.bundle_endpoint.endpoint_spiffe_id",
	    "only used with profile https_spiffe" },
	{ "endpoint_unknown_profile",
	    HEAD "federation:\n  bundle_endpoint: { profile: https }\n", 7,
	    "federation.bundle_endpoint.profile", "unknown profile" },
	{ "endpoint_cert_without_key",
	    HEAD "federation:\n  bundle_endpoint:\n    cert_file: /c.pem\n", 8,
	    "federation.bundle_endpoint.key", "go together" },
	{ "http_without_allow_insecure",
	    HEAD "federation:\n  bundle_endpoint: { profile: http }\n", 7,
	    "federation.bundle_endpoint.profile",
	    "needs federation.allow_insecure_http: true" },
	{ "http_with_allow_insecure_false",
	    HEAD "federation:\n  allow_insecure_http: false\n"
	    "  bundle_endpoint:\n    profile: http\n", 9,
	    "federation.bundle_endpoint.profile",
	    "needs federation.allow_insecure_http: true" },
	{ "peer_https_spiffe_scalar",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      bundle_endpoint_profile: https_spiffe\n", 10,
	    "federation.federates_with.peer.example.bundle_endpoint_profile."
	    "https_spiffe.endpoint_spiffe_id", "needs an endpoint_spiffe_id" },
	{ "peer_https_spiffe_without_id",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      bundle_endpoint_profile: { https_spiffe: {} }\n", 10,
	    "federation.federates_with.peer.example.bundle_endpoint_profile."
	    "https_spiffe.endpoint_spiffe_id", "required key is missing" },
	{ "peer_https_spiffe_bad_id",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      bundle_endpoint_profile:\n"
	    "        https_spiffe: { endpoint_spiffe_id: peer.example/server }\n",
	    11, "federation.federates_with.peer.example.bundle_endpoint_profile."
	    "https_spiffe.endpoint_spiffe_id", "not a SPIFFE ID" },
	{ "peer_two_profiles",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      bundle_endpoint_profile:\n        https_web: {}\n"
	    "        https_spiffe: { endpoint_spiffe_id: spiffe://p/s }\n", 12,
	    "federation.federates_with.peer.example.bundle_endpoint_profile",
	    "exactly one profile" },
	{ "peer_unknown_profile",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      bundle_endpoint_profile: { tls: {} }\n", 10,
	    "federation.federates_with.peer.example.bundle_endpoint_profile.tls",
	    "unknown key" },
	{ "peer_url_missing",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      signers: /s.jws\n", 9,
	    "federation.federates_with.peer.example.bundle_endpoint_url",
	    "required key is missing" },
	{ "peer_url_bad_scheme",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: ftp://peer.example/\n", 9,
	    "federation.federates_with.peer.example.bundle_endpoint_url",
	    "not an https:// URL" },
	{ "peer_http_without_signers",
	    HEAD "federation:\n  allow_insecure_http: true\n  federates_with:\n"
	    "    peer.example:\n      bundle_endpoint_url: http://peer.example/\n",
	    10, "federation.federates_with.peer.example.bundle_endpoint_url",
	    "only for a peer with signers" },
	{ "peer_http_without_allow_insecure",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: http://peer.example/\n"
	    "      signers: /etc/anchor/peer.jws\n", 9,
	    "federation.federates_with.peer.example.bundle_endpoint_url",
	    "needs federation.allow_insecure_http: true" },
	{ "peer_http_with_https_spiffe",
	    HEAD "federation:\n  allow_insecure_http: true\n  federates_with:\n"
	    "    peer.example:\n      bundle_endpoint_url: http://peer.example/\n"
	    "      signers: /s.jws\n"
	    "      bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id:"
	    " spiffe://peer.example/s } }\n", 12,
	    "federation.federates_with.peer.example.bundle_endpoint_profile",
	    "needs an https:// bundle_endpoint_url" },
	{ "peer_allow_other_domain",
	    HEAD "federation:\n  federates_with:\n    peer.example:\n"
	    "      bundle_endpoint_url: https://peer.example\n"
	    "      allow:\n        - spiffe://peer.example/ns/*\n"
	    "        - spiffe://example.org/admin\n", 12,
	    "federation.federates_with.peer.example.allow[1]",
	    "outside trust domain peer.example" },
	{ "peer_not_a_mapping",
	    HEAD "federation:\n  federates_with:\n"
	    "    peer.example: https://peer.example\n", 8,
	    "federation.federates_with.peer.example", "expected a mapping" },
	/* YAML itself */
	{ "yaml_unclosed_flow",
	    HEAD "keys:\n  jwt: { lifetime: 7d\nbundle: {}\n", 8,
	    "YAML syntax error", "(while parsing a flow mapping that starts on "
	    "line 7)" },
	{ "yaml_bad_indentation",
	    HEAD "bundle:\n    refresh_hint: 5m\n  signature_validity: 1h\n", 8,
	    "YAML syntax error", NULL },
	{ "yaml_tab", HEAD "bundle:\n\trefresh_hint: 5m\n", 7,
	    "YAML syntax error", NULL },
	{ "yaml_undefined_alias", HEAD "state_dir: *nowhere\n", 6,
	    "YAML syntax error", "undefined alias" },
	{ "yaml_two_documents", HEAD "---\nfoo: 1\n", 7, "(document)",
	    "a second YAML document" },
};

static void
test_bad(void **state)
{
	const struct bad *b = *state;
	struct anchor_conf *c = (struct anchor_conf *)1;
	char err[1024] = "", *path, *want;
	int r;

	path = write_conf(b->name, b->yaml);
	r = anchor_conf_load(path, &c, err, sizeof(err));
	print_message("# %s: %s\n", b->name, err);
	assert_int_equal(r, ANCHOR_E_CONFIG);
	assert_null(c);
	/* FILE:LINE: KEY.PATH: what is wrong */
	assert_true(asprintf(&want, "%s:%u: %s: ", path, b->line, b->key) > 0);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("expected a message starting with \"%s\", got \"%s\"",
		    want, err);
	if (b->what != NULL && strstr(err + strlen(want), b->what) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", b->what, err);
	free(want);
	free(path);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_roles_and_algs),
		cmocka_unit_test(test_trust_domain_valid),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_partial_sections),
		cmocka_unit_test(test_endpoint_variants),
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_missing_file),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]);
	struct CMUnitTest *tests;
	size_t i;
	int r;

	tests = calloc(nfixed + nbad, sizeof(*tests));
	if (tests == NULL)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < nbad; i++) {
		tests[nfixed + i].name = bad_cases[i].name;
		tests[nfixed + i].test_func = test_bad;
		tests[nfixed + i].initial_state = (void *)&bad_cases[i];
	}
	r = _cmocka_run_group_tests("conf", tests, nfixed + nbad, group_setup,
	    group_teardown);
	free(tests);
	return r;
}
