#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include <openssl/asn1t.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "internal.h"

/*
 * Made on first use, never changed afterwards and never freed (the process
 * owns them until it exits); every thread reads them.  A failure (out of
 * memory) is not remembered: the next call tries again.
 */
static struct av_shared *shared;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void
shared_free(struct av_shared *sh)
{
	size_t i;

	if (sh == NULL)
		return;
	for (i = 0; i < AV_NCURVES; i++)
		EC_GROUP_free(sh->group[i]);
	EVP_MD_free(sh->sha256);
	EVP_MD_free(sh->sha384);
	OSSL_LIB_CTX_free(sh->x509_ctx);
	free(sh);
}

static struct av_shared *
shared_make(void)
{
	static const int nids[AV_NCURVES] = {
		NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1,
	};
	struct av_shared *sh, *ret = NULL;
	size_t i;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		goto out;
	for (i = 0; i < AV_NCURVES; i++)
		if ((sh->group[i] = EC_GROUP_new_by_curve_name(nids[i])) ==
		    NULL)
			goto out;
	if ((sh->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL ||
	    (sh->sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL)) == NULL)
		goto out;
	/*
	 * A library context with only the null provider: nothing can be
	 * fetched from it, and a provider loaded explicitly keeps OpenSSL
	 * from loading the default one into it.
	 */
	if ((sh->x509_ctx = OSSL_LIB_CTX_new()) == NULL ||
	    OSSL_PROVIDER_load(sh->x509_ctx, "null") == NULL)
		goto out;
	ret = sh;
	sh = NULL;
 out:
	shared_free(sh);
	return ret;
}

const struct av_shared *
av_shared(void)
{
	struct av_shared *sh = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);

	if (sh != NULL)
		return sh;
	if (pthread_mutex_lock(&shared_lock) != 0)
		return NULL;
	if ((sh = shared) == NULL && (sh = shared_make()) != NULL)
		__atomic_store_n(&shared, sh, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&shared_lock);
	return sh;
}

X509 *
av_d2i_x509(const struct av_shared *sh, const uint8_t **p, long len)
{
	/*
	 * The templates of d2i_X509(), in a context without providers: the
	 * opportunistic decoding of the public key into an EVP_PKEY finds no
	 * decoder and is skipped (parsing does not depend on it).  In OpenSSL
	 * 3.0 that decoding costs far more than the rest of the certificate.
	 */
	return (X509 *)ASN1_item_d2i_ex(NULL, p, len, ASN1_ITEM_rptr(X509),
	    sh->x509_ctx, NULL);
}
