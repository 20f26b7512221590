/*
 * anchord: options, configuration, the listening socket, the process split
 * (signer, fetcher, network) and privilege separation.  See anchord.h for what each process does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "a11.h"
#include "anchord.h"
#include "error.h"
#include "log.h"
#include "util.h"

#define EXIT_USAGE 2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: anchord [-fv] [-c FILE] [-u USER] [-s USER] [-p PIDFILE]\n"
	    "               [--max-connections N] [--max-per-ip N]\n"
	    "               [--connection-memory BYTES] [--threads N]\n"
	    "               [--timeout SECONDS] [--probe-interval SECONDS]\n"
	    "               [--backoff-max SECONDS] [--svid-ttl DURATION]\n"
	    "               [--tls-sign-rate N] [--fetch-interval-max SECONDS]\n");
}

static bool
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;

	if (anchor_parse_u64(s, &v) != ANCHOR_OK || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static int
bind_one(const struct addrinfo *ai, bool reuseport, int *out)
{
	int fd, one = 1, r = ANCHOR_E_IO;

	*out = -1;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0)
		return ANCHOR_E_IO;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto out;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
		goto out;
	*out = fd;
	fd = -1;
	r = ANCHOR_OK;
 out:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * The network process's listening sockets, made before privileges drop:
 * one per HTTP thread, in one SO_REUSEPORT group, so that the kernel
 * spreads connections over the threads (a shared socket lets one thread
 * take most of them).  A plain bind first makes sure that nobody else
 * listens there: a reuseport group would otherwise share the port.
 */
static int
listen_on(const char *addr, unsigned port, unsigned n, int *fds)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	unsigned i;
	int probe = -1, rc, r = ANCHOR_E_IO;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rc = getaddrinfo(addr, portstr, &hints, &res)) != 0) {
		error_f("bundle_endpoint address %.100s: %s", addr,
		    gai_strerror(rc));
		r = ANCHOR_E_CONFIG;
		goto out;
	}
	if (n == 1) {
		if ((r = bind_one(res, false, &fds[0])) != ANCHOR_OK)
			error_f("listen on %.100s port %u: %s", addr, port,
			    strerror(errno));
		goto out;
	}
	if ((r = bind_one(res, false, &probe)) != ANCHOR_OK) {
		error_f("listen on %.100s port %u: %s", addr, port,
		    strerror(errno));
		goto out;
	}
	close(probe);
	for (i = 0; i < n; i++) {
		if ((r = bind_one(res, true, &fds[i])) != ANCHOR_OK) {
			error_f("listen on %.100s port %u: %s", addr, port,
			    strerror(errno));
			goto out;
		}
	}
	r = ANCHOR_OK;
 out:
	if (r != ANCHOR_OK)
		for (i = 0; i < n; i++)
			if (fds[i] >= 0) {
				close(fds[i]);
				fds[i] = -1;
			}
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

static void
close_all(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int
drop_privileges(uid_t uid, gid_t gid, const char *user)
{
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		error_f("switching to user %.100s: %s", user, strerror(errno));
		return ANCHOR_E_INTERNAL;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		error_f("privileges could be regained after the switch to %.100s",
		    user);
		return ANCHOR_E_INTERNAL;
	}
	return ANCHOR_OK;
}

/* The endpoint settings that anchord cannot run without. */
static int
check_conf(const struct anchor_conf *c)
{
	const char *p = c->endpoint_profile;

	if (p == NULL || c->listen_address == NULL || c->listen_port == 0 ||
	    c->listen_port > 65535) {
		error_f("%.200s: federation.bundle_endpoint needs an address, "
		    "a port and a profile", c->path);
		return ANCHOR_E_CONFIG;
	}
	if (strcmp(p, "http") == 0) {
		if (!c->allow_insecure_http) {
			error_f("%.200s: profile http needs "
			    "federation.allow_insecure_http: true", c->path);
			return ANCHOR_E_CONFIG;
		}
	} else if (strcmp(p, "https_web") == 0) {
		if (c->cert_file == NULL || c->key == NULL) {
			error_f("%.200s: profile https_web needs cert_file and "
			    "key", c->path);
			return ANCHOR_E_CONFIG;
		}
	} else if (strcmp(p, "https_spiffe") == 0) {
		if (c->endpoint_spiffe_id == NULL ||
		    !anchord_spiffe_id_in(c->endpoint_spiffe_id,
		    c->trust_domain)) {
			error_f("%.200s: profile https_spiffe needs an "
			    "endpoint_spiffe_id in spiffe://%.100s/", c->path,
			    c->trust_domain);
			return ANCHOR_E_CONFIG;
		}
	} else {
		error_f("%.200s: unknown bundle_endpoint profile %.50s", c->path,
		    p);
		return ANCHOR_E_CONFIG;
	}
	if (strcmp(p, "http") != 0 &&
	    MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		error_f("this libmicrohttpd has no TLS support");
		return ANCHOR_E_UNSUPPORTED;
	}
	if (c->pin_source == NULL || strncmp(c->pin_source, "file:", 5) != 0) {
		error_f("%.200s: anchord reads the PIN from a file "
		    "(pin_source: file:PATH)", c->path);
		return ANCHOR_E_CONFIG;
	}
	return ANCHOR_OK;
}

static int
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0) {
		error_f("fork: %s", strerror(errno));
		return ANCHOR_E_INTERNAL;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return ANCHOR_E_INTERNAL;
	if (chdir("/") != 0)
		return ANCHOR_E_IO;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return ANCHOR_OK;
}

static int
write_pid_file(const char *path)
{
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (anchor_write_atomic(path, buf, (size_t)n, 0644) != ANCHOR_OK) {
		error_f("pid file %.200s: cannot write", path);
		return ANCHOR_E_IO;
	}
	return ANCHOR_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "user", required_argument, NULL, 'u' },
		{ "signer-user", required_argument, NULL, 's' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "max-connections", required_argument, NULL, 1 },
		{ "max-per-ip", required_argument, NULL, 2 },
		{ "connection-memory", required_argument, NULL, 3 },
		{ "threads", required_argument, NULL, 4 },
		{ "timeout", required_argument, NULL, 5 },
		{ "probe-interval", required_argument, NULL, 6 },
		{ "backoff-max", required_argument, NULL, 7 },
		{ "svid-ttl", required_argument, NULL, 8 },
		{ "tls-sign-rate", required_argument, NULL, 9 },
		{ "fetch-interval-max", required_argument, NULL, 10 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct anchord_opts o;
	struct anchor_conf *conf = NULL;
	struct passwd *pw;
	sigset_t set;
	char err[512] = "", *config_abs = NULL;
	uid_t uid = 0, suid = 0;
	gid_t gid = 0, sgid = 0;
	unsigned mem;
	int ch, sv[2] = { -1, -1 }, fv[2] = { -1, -1 };
	int listen_fds[ANCHORD_MAX_THREADS];
	int rc = EXIT_FAILURE, r;
	pid_t signer, fetcher;

	for (r = 0; r < ANCHORD_MAX_THREADS; r++)
		listen_fds[r] = -1;
	memset(&o, 0, sizeof(o));
	o.config_path = ANCHOR_DEFAULT_CONFIG;
	o.max_connections = 1024;
	o.max_per_ip = 64;
	o.conn_memory = 32 * 1024;
	o.threads = 2;
	o.timeout = 10;
	o.probe_interval = 10;
	o.backoff_max = 60;
	o.svid_ttl = 3600;
	o.tls_sign_rate = 50;
	o.fetch_interval_max = 86400;
	anchor_log_init(argv[0], false);

	while ((ch = getopt_long(argc, argv, "c:fvu:s:p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'f':
			o.foreground = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 's':
			o.signer_user = optarg;
			break;
		case 'p':
			o.pid_file = optarg;
			break;
		case 1:
			if (!parse_uint(optarg, 1, 1000000, &o.max_connections))
				goto badarg;
			break;
		case 2:
			if (!parse_uint(optarg, 1, 1000000, &o.max_per_ip))
				goto badarg;
			break;
		case 3:
			if (!parse_uint(optarg, 4096, 1024 * 1024, &mem))
				goto badarg;
			o.conn_memory = mem;
			break;
		case 4:
			if (!parse_uint(optarg, 1, ANCHORD_MAX_THREADS,
			    &o.threads))
				goto badarg;
			break;
		case 5:
			if (!parse_uint(optarg, 1, 3600, &o.timeout))
				goto badarg;
			break;
		case 6:
			if (!parse_uint(optarg, 1, 86400, &o.probe_interval))
				goto badarg;
			break;
		case 7:
			if (!parse_uint(optarg, 1, 86400, &o.backoff_max))
				goto badarg;
			break;
		case 8:
			if (anchor_parse_duration(optarg, &o.svid_ttl) !=
			    ANCHOR_OK || o.svid_ttl < 10)
				goto badarg;
			break;
		case 9:
			if (!parse_uint(optarg, 1, 100000, &o.tls_sign_rate))
				goto badarg;
			break;
		case 10:
			if (!parse_uint(optarg, 1, 86400, &o.fetch_interval_max))
				goto badarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	anchor_log_set_verbose(o.verbose);
	/* A reload reads it again after the daemon has left the directory. */
	if ((config_abs = realpath(o.config_path, NULL)) != NULL)
		o.config_path = config_abs;

	if ((r = anchor_conf_load(o.config_path, &conf, err, sizeof(err))) !=
	    ANCHOR_OK) {
		error_f("%s", err[0] ? err : anchor_strerror(r));
		goto out;
	}
	if (check_conf(conf) != ANCHOR_OK)
		goto out;
	if (o.user != NULL) {
		if ((pw = getpwnam(o.user)) == NULL) {
			error_f("no user %.100s", o.user);
			goto out;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (geteuid() != 0) {
			error_f("--user needs anchord to start as root");
			goto out;
		}
	} else if (geteuid() == 0) {
		warn_f("the network process runs as root: give --user");
	}
	if (o.signer_user != NULL) {
		if ((pw = getpwnam(o.signer_user)) == NULL) {
			error_f("no user %.100s", o.signer_user);
			goto out;
		}
		suid = pw->pw_uid;
		sgid = pw->pw_gid;
		if (geteuid() != 0) {
			error_f("--signer-user needs anchord to start as root");
			goto out;
		}
	}
	if (listen_on(conf->listen_address, conf->listen_port, o.threads,
	    listen_fds) != ANCHOR_OK)
		goto out;
	if (!o.foreground) {
		if (daemonize() != ANCHOR_OK)
			goto out;
		anchor_log_init(argv[0], true);
	}
	if (o.pid_file != NULL && write_pid_file(o.pid_file) != ANCHOR_OK)
		goto out;

	/* Every process takes signals through signalfd. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		error_f("socketpair: %s", strerror(errno));
		goto out;
	}
	if ((signer = fork()) < 0) {
		error_f("fork: %s", strerror(errno));
		goto out;
	}
	if (signer == 0) {
		pid_t parent = getppid();

		close(sv[0]);
		close_all(listen_fds, o.threads);
		if (o.signer_user != NULL &&
		    drop_privileges(suid, sgid, o.signer_user) != ANCHOR_OK)
			_exit(1);
		/* After the switch: a change of credentials clears it. */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		if (getppid() != parent)
			_exit(0);
		(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		anchor_log_init("anchord-signer", !o.foreground);
		/* The signer owns conf from here on (a reload replaces it). */
		rc = anchord_signer_main(&o, conf, sv[1]);
		close(sv[1]);
		free(config_abs);
		exit(rc);
	}
	close(sv[1]);
	sv[1] = -1;

	/* The fetcher: the signer's user, never the module, never the PIN. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fv) != 0) {
		error_f("socketpair: %s", strerror(errno));
		goto out;
	}
	if ((fetcher = fork()) < 0) {
		error_f("fork: %s", strerror(errno));
		goto out;
	}
	if (fetcher == 0) {
		pid_t parent = getppid();

		close(sv[0]);
		close(fv[0]);
		close_all(listen_fds, o.threads);
		if (o.signer_user != NULL &&
		    drop_privileges(suid, sgid, o.signer_user) != ANCHOR_OK)
			_exit(1);
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		if (getppid() != parent)
			_exit(0);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(1);
		(void)prctl(PR_SET_NAME, "anchord-fetcher", 0, 0, 0);
		anchor_log_init("anchord-fetcher", !o.foreground);
		/* The fetcher owns conf from here on (a reload replaces it). */
		rc = anchord_fetcher_main(&o, conf, fv[1]);
		close(fv[1]);
		free(config_abs);
		exit(rc);
	}
	close(fv[1]);
	fv[1] = -1;
	if (o.user != NULL && drop_privileges(uid, gid, o.user) != ANCHOR_OK) {
		close(sv[0]);	/* the signer sees the end and stops */
		sv[0] = -1;
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		error_f("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		goto out;
	}
	rc = anchord_web_main(&o, conf, sv[0], listen_fds, signer, fv[0],
	    fetcher);
	sv[0] = -1;
	fv[0] = -1;
	if (o.pid_file != NULL)
		(void)unlink(o.pid_file);
 out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (fv[0] >= 0)
		close(fv[0]);
	close_all(listen_fds, ANCHORD_MAX_THREADS);
	anchor_conf_free(conf);
	free(config_abs);
	return rc;
 badarg:
	error_f("bad value for option: %.100s", optarg);
	usage(stderr);
	return EXIT_USAGE;
}
