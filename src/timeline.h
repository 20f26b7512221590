/*
 * Key timelines for `anchorctl status --timeline`: each key's states over
 * time, the past from its stored timestamps and the future projected by
 * running the rotation policy (src/policy.h) forward, successors that do
 * not exist yet included.  Pure: no token, clock or disk.
 */
#ifndef ANCHOR_TIMELINE_H
#define ANCHOR_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "store.h"

struct anchor_span {
	enum anchor_key_state state;	/* published, active or retired */
	int64_t from, to;		/* [from, to); to = INT64_MAX if open */
	bool scheduled;			/* projected, not yet happened */
};

struct anchor_timeline_key {
	enum anchor_role role;
	unsigned serial;
	char kid[64];			/* "" for a successor not yet generated */
	bool projected;			/* does not exist yet */
	int64_t revoked_at;		/* 0 if not revoked */
	struct anchor_span spans[3];
	size_t n_spans;
};

/*
 * The timeline of keys (stored rows) from their creation up to `until`,
 * projecting the policy from `now`.  *out is malloc'd (free()), ordered by
 * role then serial.
 */
int anchor_timeline(const struct anchor_key_row *keys, size_t n,
    const struct anchor_key_policy policy[ANCHOR_ROLE_COUNT],
    const int64_t rollover_at[ANCHOR_ROLE_COUNT], int64_t now, int64_t until,
    struct anchor_timeline_key **out, size_t *nout);

/*
 * Draw the keys whose spans meet [from, until) on f, `cols` columns wide:
 * '-' published, '#' active, '=' retired, 'x' revoked; scheduled spans in
 * the same glyphs after the '|' that marks now.
 */
void anchor_timeline_draw(FILE *f, const struct anchor_timeline_key *tk,
    size_t n, int64_t from, int64_t until, int64_t now, unsigned cols);

#endif /* ANCHOR_TIMELINE_H */
