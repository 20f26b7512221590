#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "policy.h"
#include "timeline.h"

/* Projection resolution: fine enough for the shortest sensible prepublish. */
#define PROJECTION_STEP 900
#define PROJECTION_MAX_KEYS 4096

static void
add_span(struct anchor_timeline_key *t, enum anchor_key_state st, int64_t from,
    int64_t to, int64_t now)
{
	if (from == 0 || (to != INT64_MAX && to <= from) || t->n_spans == 3)
		return;
	t->spans[t->n_spans].state = st;
	t->spans[t->n_spans].from = from;
	t->spans[t->n_spans].to = to;
	t->spans[t->n_spans].scheduled = from > now;
	t->n_spans++;
}

/* The first of the given times that is set, or INT64_MAX. */
static int64_t
first_set(int64_t a, int64_t b, int64_t c)
{
	int64_t v = INT64_MAX;

	if (a != 0 && a < v)
		v = a;
	if (b != 0 && b < v)
		v = b;
	if (c != 0 && c < v)
		v = c;
	return v;
}

static void
spans_of(const struct anchor_key_row *k, int64_t now, struct anchor_timeline_key *t)
{
	int64_t end_pub, end_act, end_ret;

	end_pub = first_set(k->activated_at, k->revoked_at, k->removed_at);
	end_act = first_set(k->retired_at, k->revoked_at, k->removed_at);
	end_ret = first_set(k->removed_at, k->revoked_at, 0);
	add_span(t, ANCHOR_KEY_PUBLISHED, k->published_at, end_pub, now);
	add_span(t, ANCHOR_KEY_ACTIVE, k->activated_at, end_act, now);
	add_span(t, ANCHOR_KEY_RETIRED, k->retired_at, end_ret, now);
	t->revoked_at = k->revoked_at;
}

int
anchor_timeline(const struct anchor_key_row *keys, size_t n,
    const struct anchor_key_policy policy[ANCHOR_ROLE_COUNT],
    const int64_t rollover_at[ANCHOR_ROLE_COUNT], int64_t now, int64_t until,
    struct anchor_timeline_key **out, size_t *nout)
{
	struct anchor_key_row *sim = NULL;
	struct anchor_timeline_key *tk = NULL;
	struct anchor_policy_input in;
	struct anchor_action *acts = NULL;
	size_t nsim = n, cap = n + 64, nacts = 0, i, j;
	unsigned serial[ANCHOR_ROLE_COUNT] = { 0, 0, 0 };
	int64_t t;
	int r = ANCHOR_E_NOMEM;

	*out = NULL;
	*nout = 0;
	if ((sim = calloc(cap, sizeof(*sim))) == NULL)
		goto out;
	/* Shallow copies: only the fixed fields are used or changed. */
	for (i = 0; i < n; i++) {
		sim[i] = keys[i];
		sim[i].jwk = NULL;
		sim[i].cert_der = NULL;
		sim[i].revoke_reason = NULL;
		if (keys[i].serial > serial[keys[i].role])
			serial[keys[i].role] = keys[i].serial;
	}

	memset(&in, 0, sizeof(in));
	in.policy = policy;
	memcpy(in.rollover_at, rollover_at, sizeof(in.rollover_at));
	for (t = now; t <= until; t += PROJECTION_STEP) {
		in.keys = sim;
		in.n_keys = nsim;
		in.now = t;
		if ((r = anchor_policy_plan(&in, &acts, &nacts)) != ANCHOR_OK)
			goto out;
		for (i = 0; i < nacts; i++) {
			struct anchor_action *a = &acts[i];
			struct anchor_key_row *k = a->key != SIZE_MAX ? &sim[a->key] : NULL;

			switch (a->kind) {
			case ANCHOR_ACT_GENERATE:
				if (nsim == PROJECTION_MAX_KEYS) {
					r = ANCHOR_E_INVAL;
					goto out;
				}
				if (nsim == cap) {
					struct anchor_key_row *ns;

					cap *= 2;
					if ((ns = realloc(sim, cap * sizeof(*ns))) == NULL) {
						r = ANCHOR_E_NOMEM;
						goto out;
					}
					sim = ns;
				}
				k = &sim[nsim++];
				memset(k, 0, sizeof(*k));
				k->role = a->role;
				k->serial = ++serial[a->role];
				k->state = a->activate ? ANCHOR_KEY_ACTIVE :
				    ANCHOR_KEY_PUBLISHED;
				k->created_at = k->published_at = t;
				k->activated_at = a->activate ? t : 0;
				break;
			case ANCHOR_ACT_ACTIVATE:
				k->state = ANCHOR_KEY_ACTIVE;
				k->activated_at = t;
				break;
			case ANCHOR_ACT_RETIRE:
				k->state = ANCHOR_KEY_RETIRED;
				k->retired_at = t;
				break;
			case ANCHOR_ACT_REMOVE:
				k->state = ANCHOR_KEY_REMOVED;
				k->removed_at = t;
				break;
			case ANCHOR_ACT_DESTROY:
				k->state = ANCHOR_KEY_DESTROYED;
				k->destroyed_at = t;
				break;
			default:
				break;
			}
		}
		free(acts);
		acts = NULL;
	}

	if ((tk = calloc(nsim + 1, sizeof(*tk))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	/* Ordered by role, then serial (stored keys come so already). */
	for (j = 0, i = 0; i < ANCHOR_ROLE_COUNT; i++) {
		size_t k;

		for (k = 0; k < nsim; k++) {
			if (sim[k].role != (enum anchor_role)i)
				continue;
			tk[j].role = sim[k].role;
			tk[j].serial = sim[k].serial;
			tk[j].projected = k >= n;
			memcpy(tk[j].kid, sim[k].kid, sizeof(tk[j].kid));
			spans_of(&sim[k], now, &tk[j]);
			j++;
		}
	}
	*out = tk;
	*nout = j;
	tk = NULL;
	r = ANCHOR_OK;
 out:
	free(acts);
	free(tk);
	free(sim);
	return r;
}

static char
glyph(enum anchor_key_state s)
{
	switch (s) {
	case ANCHOR_KEY_PUBLISHED:
		return '-';
	case ANCHOR_KEY_ACTIVE:
		return '#';
	case ANCHOR_KEY_RETIRED:
		return '=';
	default:
		return ' ';
	}
}

static void
fmt_day(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "?");
	else
		strftime(buf, len, "%m-%d", &tm);
}

void
anchor_timeline_draw(FILE *f, const struct anchor_timeline_key *tk, size_t n,
    int64_t from, int64_t until, int64_t now, unsigned cols)
{
	char line[512], day[16];
	int64_t w;
	unsigned c, nowcol;
	size_t i, s;

	if (cols < 10)
		cols = 10;
	if (cols > 400)
		cols = 400;
	if (until <= from)
		return;
	w = (until - from + cols - 1) / cols;
	nowcol = now >= from && now < until ? (unsigned)((now - from) / w) : cols;

	/* Axis: a date every 12 columns, and the now marker. */
	memset(line, ' ', cols);
	line[cols] = '\0';
	for (c = 0; c + 5 <= cols; c += 12) {
		fmt_day(from + (int64_t)c * w, day, sizeof(day));
		memcpy(line + c, day, strlen(day));
	}
	fprintf(f, "%-24s %s\n", "", line);
	memset(line, ' ', cols);
	if (nowcol < cols)
		line[nowcol] = 'v';
	fprintf(f, "%-24s %s  (now)\n", "", line);

	for (i = 0; i < n; i++) {
		char name[64];
		bool shown = false;

		memset(line, ' ', cols);
		line[cols] = '\0';
		for (c = 0; c < cols; c++) {
			int64_t t = from + (int64_t)c * w + w / 2;

			for (s = 0; s < tk[i].n_spans; s++) {
				if (t >= tk[i].spans[s].from && t < tk[i].spans[s].to) {
					line[c] = glyph(tk[i].spans[s].state);
					shown = true;
				}
			}
			if (tk[i].revoked_at != 0 && tk[i].revoked_at >= t - w / 2 &&
			    tk[i].revoked_at < t + w - w / 2) {
				line[c] = 'x';
				shown = true;
			}
		}
		if (!shown)
			continue;
		if (nowcol < cols && line[nowcol] == ' ')
			line[nowcol] = '|';
		snprintf(name, sizeof(name), "%s %u%s", anchor_role_name(tk[i].role),
		    tk[i].serial, tk[i].projected ? " (next)" : "");
		fprintf(f, "%-24s %s\n", name, line);
	}
	fprintf(f, "\n%-20s - published  # active  = retired  x revoked; one column = ",
	    "");
	if (w >= 86400 && w % 86400 == 0)
		fprintf(f, "%lldd\n", (long long)(w / 86400));
	else if (w >= 3600)
		fprintf(f, "%.1fh\n", (double)w / 3600);
	else
		fprintf(f, "%lldm\n", (long long)(w / 60));
}
