/*-------------------------------------------------------------------------
 *
 * cq.h
 *	  The analysed continuous query: its options and its plan of state.
 *
 * Types only: the engine builds a CqDef at CREATE and for every batch;
 * the sinks read it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_CQ_H
#define PGS_CQ_H

#include "base/base.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"

/*
 * Options of a continuous query, from the view's reloptions
 * (CREATE MATERIALIZED VIEW ... WITH (...)), see engine/options.c.
 */
typedef enum CqOutputMode
{
	OUTPUT_DEFAULT = 0,			/* not given: append or update */
	OUTPUT_APPEND,
	OUTPUT_UPDATE,
	OUTPUT_COMPLETE
} CqOutputMode;

typedef enum CqTriggerKind
{
	TRIGGER_DEFAULT = 0,		/* as data arrives */
	TRIGGER_INTERVAL,
	TRIGGER_CONTINUOUS,
	TRIGGER_MANUAL
} CqTriggerKind;

typedef struct CqOptions
{
	CqOutputMode output_mode;
	CqTriggerKind trigger;
	int64		trigger_interval_ms;
	int64		max_batch_rows;
	char	   *sink;			/* a relation, or "notify" */
	bool		sink_outbox;	/* sink is an exactly-once kafka table: the
								 * worker delivers its outbox after the batch
								 * (set by the batch; a flag, as no pointer
								 * outlives it) */
	char	   *sink_function;	/* regprocedure text */
	char	   *sink_function_per_row;
	char	   *notify_channel;
	bool		has_watermark;	/* watermark given: overrides the streams' delay */
	int64		watermark_usecs;
	bool		has_retention;	/* rows of windows ended that long before
								 * the watermark are deleted */
	int64		retention_usecs;
	int			parallelism;	/* workers sharing the input (1: one) */
} CqOptions;

#define PGS_MAX_PARALLELISM 64

/*
 * The analysed continuous query (engine/analyze.c).
 */
typedef struct CqAgg
{
	Aggref	   *aggref;			/* as in the user's query */
	char	   *initval;		/* agginitval (text form), or NULL */
	Oid			transtype;		/* resolved transition type */
	Oid			statetype;		/* stored type: bytea for internal states */
	int16		transtyplen;
	bool		transtypbyval;
	Oid			combinefn;
	Oid			serialfn;
	Oid			deserialfn;
	Oid			finalfn;
	int			numFinalArgs;
	Oid			resulttype;
} CqAgg;

/* a stream a query reads with event time and a watermark delay */
typedef struct CqTime
{
	Oid			relid;
	AttrNumber	attno;			/* its event-time column */
	Oid			typid;			/* timestamptz or timestamp */
	int64		delay;			/* microseconds */
} CqTime;

/*
 * A join of two streams (engine/join.c). Each side keeps the rows it has
 * read as state until no row of the other side can match them any more:
 * a row expires at the least of its bounds, each the latest event time
 * of the other side that can still match it, derived from the join
 * condition (other.ts <= ts + offset; or equal tumbling windows).
 * Rows are reached by key: the condition's equalities of a column of
 * each side (a.k = b.k) are the key pairs, and a side's state is read
 * for the keys of the other side's new rows.
 */
/* the streams one view may join */
#define PGS_JOIN_MAX_SIDES 8

typedef struct CqBound
{
	int			other;			/* the side whose event time it bounds */
	bool		tumble;			/* tumble(ts, size, origin) + size */
	int64		offset;			/* else ts + offset */
	int64		size;
	int64		origin;
} CqBound;

typedef struct CqJoinSide
{
	Oid			relid;			/* the stream */
	Index		rtindex;		/* its entry in the query's range table, if
								 * read there directly, else 0 */
	AttrNumber	ts_attno;		/* its event-time column, or 0 */
	Oid			ts_typid;
	bool		watermarked;	/* in the view's watermark */
	bool		preserved;		/* outer join: unmatched rows come out
								 * NULL-padded */
	List	   *bounds;			/* CqBound *; NIL: rows never expire */
	int64		lag;			/* expiry - ts is at most this */
	int			nkeys;			/* equi-join keys: the side's column of */
	AttrNumber *keycols;		/* each pair, in the same order on both
								 * sides (side[0].keycols[i] = side[1]...) */
	int			npkeys[PGS_JOIN_MAX_SIDES]; /* key pairs with each other side */
	AttrNumber *pkeys[PGS_JOIN_MAX_SIDES];	/* (this side's columns of
											 * them; of two sides: keycols) */
	int32		pvia[PGS_JOIN_MAX_SIDES];	/* the third sides the pairs with
											 * each are derived through (a
											 * mask): they hold where those
											 * are joined, not padded */
	List	   *own;			/* conjuncts of the matching condition on
								 * this side alone (its Vars, no others): a
								 * row failing them never matches */
	/* stacked joins (CqJoin.stacked, engine/join.c): */
	int			anchor;			/* the side the join bringing this one in
								 * compares it with, or -1 (the first) */
	bool		padded;			/* brought in by an outer join: NULL-padded
								 * where its anchor's row has no match */
	List	   *abounds;		/* CqBound *: the anchor's bounds against
								 * this side (when no match can come) */
	Node	   *acond;			/* that join's ON condition, over the
								 * query's range table */
	bool		full;			/* brought in by a FULL JOIN: its anchor is
								 * NULL-padded too, where this side's row
								 * has no match */
	List	   *rbounds;		/* CqBound *: of a full one, its bounds
								 * against its anchor */
} CqJoinSide;

typedef struct CqJoin
{
	JoinType	jointype;		/* of side[0] with side[1] */
	int			nsides;			/* 2, or more: an inner join of as many
								 * streams (an outer join only at the top) */
	CqJoinSide	side[PGS_JOIN_MAX_SIDES];
	Node	   *cond;			/* outer joins: the ON condition, over
								 * varnos 1 and 2 (the sides) */
	bool		self;			/* a self-join: one stream read twice, the
								 * sides share its state (engine/join.c) */
	JoinExpr   *outer;			/* more than two streams: the outer join at
								 * the top, or NULL */
	bool		window_wm;		/* only one side has a watermark, and the
								 * sides' equal windows let it bound both */
	bool		stacked;		/* more streams, several outer joins, or one
								 * below a join: each stream joined to one
								 * other (its anchor) */
} CqJoin;

/* stacked joins: at most this many outer joins of streams in one view */
#define PGS_JOIN_MAX_PADDED 4

/*
 * Deduplication (engine/dedup.c): a filter that passes the first row of
 * each key and records the key in a keyed state table of its own (the
 * view's seen tables, slot by slot). SELECT DISTINCT and DISTINCT ON,
 * at the top or in a subquery, and each aggregate(DISTINCT ...), whose
 * keys are the group's keys and the aggregate's arguments.
 */
typedef enum CqDedupKind
{
	DEDUP_DISTINCT,				/* SELECT DISTINCT: the keys are the row */
	DEDUP_DISTINCT_ON,			/* SELECT DISTINCT ON (keys) */
	DEDUP_AGG					/* aggregate(DISTINCT args): group keys, args */
} CqDedupKind;

typedef struct CqDedup
{
	int			slot;			/* its place in the view's seen tables */
	CqDedupKind kind;
	int			nkeys;
	Oid		   *keytypes;
	int32	   *keytypmods;
	Oid		   *keycolls;
	/*
	 * Expiry, when the filter is given a time (its second argument: the
	 * event time, or the start of a window): a key expires at that time
	 * plus expire_offset, and is evicted once the watermark reaches it. A
	 * row is late if the time plus late_offset is at or before the
	 * watermark (drops_late), as a window is final when its end is.
	 */
	bool		has_time;
	int64		expire_offset;
	bool		drops_late;
	int64		late_offset;
} CqDedup;

/*
 * A stream read beside a windowed aggregation (engine/stage.c): its rows
 * wait in a state of their own (the table of its stream.positions row's
 * join_state) until the window they join is final, then go, with the
 * aggregation's rows of that window, to the query over it.
 */
typedef struct CqStageSide
{
	Oid			relid;			/* the stream */
	char	   *enrname;		/* the relation standing for its rows */
	AttrNumber	ts_attno;		/* its event-time column */
	Oid			ts_typid;
	bool		own_late;		/* its late rows are counted here: not the
								 * aggregation's stream */
	/*
	 * Which rows the windows handed on to stage 2 reach, cut the start of
	 * the first window not handed on (engine/stage_side.c): rows with ts
	 * < cut + reach_off may join one of them; rows with ts < cut +
	 * keep_off join none of the others (they are evicted, and not kept
	 * when new). Both 0 when joined by stream.tumble(ts) = the window;
	 * else from a range (ts >= w + a AND ts < w + b: keep_off a,
	 * reach_off b - s; b > s makes the windows wait, whole windows).
	 */
	int64		reach_off;
	int64		keep_off;
	/*
	 * The columns stage 2 reads (attribute numbers), or all_cols: only
	 * they (and the event time) are kept in the state, the others are
	 * NULL in the rows stage 2 gets.
	 */
	Bitmapset  *used_cols;
	bool		all_cols;
	/*
	 * Read only through a GROUP BY without aggregates, its event time
	 * only as stream.tumble(ts) by stage 1's window (q8's auctions): stage
	 * 2 gives the same rows for any number of copies of a row, so the
	 * state keeps a window's rows once each, the event time as the
	 * window's start (engine/stage_side.c).
	 */
	bool		distinct;
	void	   *rows;			/* in a batch: the Tuplestorestate of its
								 * rows of the windows made final, or NULL */
} CqStageSide;

/* a query over an aggregation computed by deltas (engine/reagg_delta.c) */
typedef struct DeltaShape DeltaShape;

typedef struct CqDef
{
	Oid			viewid;
	char	   *viewname;		/* qualified, for messages */
	Query	   *query;			/* rewritten user query */
	List	   *streams;		/* OIDs of the stream foreign tables read */
	CqOptions	opts;
	CqOutputMode mode;			/* effective output mode */
	bool		is_agg;
	/* aggregation only: */
	int			nkeys;			/* group keys, the first nkeys columns */
	AttrNumber *key_viewcols;	/* view column of each key */
	List	   *aggs;			/* CqAgg *, the state columns */
	List	   *final_tlist;	/* output tlist over (keys, finals) */
	Expr	   *final_having;	/* HAVING over (keys, finals), or NULL */
	Query	   *batch_query;	/* per-batch query: keys + partial aggs */
	bool		sorted_groups;	/* ... ordered by the keys, as their index */
	bool		planned;		/* pgs_plan_batch resolved the aggs' types */
	bool		plan_unordered; /* a join's plan relied on an index order its
								 * batches lose: planned without index scans */
	/* event time (engine/eventtime.c): */
	List	   *wm_streams;		/* CqTime *, the streams with a watermark */
	int			window_key;		/* group key (0-based) that is a window on
								 * their event time, or -1 */
	Oid			window_relid;	/* (of that stream's event time) */
	int64		window_size;	/* its size, microseconds (0: the time itself) */
	bool		evicts;			/* final windows: late rows dropped, state
								 * evicted (append and update modes) */
	AttrNumber	late_col;		/* batch output column counting each
								 * group's rows, or 0 */
	int64		window_lag;		/* over a join: how far behind the watermark
								 * the window's event time may still come */
	AttrNumber	session_col;	/* group key (1-based) that is a session
								 * window, stream.session(), or 0
								 * (engine/session.c) */
	int64		session_gap;	/* its gap, microseconds */
	bool		session_wm;		/* over the watermarked event time */
	CqJoin	   *join;			/* a join of two streams, or NULL */
	List	   *dedups;			/* CqDedup *, in slot order */
	int64		dedup_nonce;	/* their calls' secret (engine/dedup.c) */
	List	   *seen_relids;	/* their tables, in slot order (once loaded) */
	Oid			state_relid;
	Oid			rows_relid;		/* the copy of the final rows, or InvalidOid */
	/*
	 * A query over a windowed aggregation (engine/stage.c): the levels
	 * above it, reading the rows of the windows a batch made final, whose
	 * output is the view's; the rest of the CqDef is the aggregation's.
	 */
	Query	   *stage_query;	/* or NULL */
	int64		stage_window_size;	/* an outer window over the aggregation's
									 * (stream.tumble(w, size, origin)): its
									 * groups stay until it is final, or 0 */
	int64		stage_window_origin;
	bool		stage_update;	/* over an aggregation without a window, in
								 * update mode: recomputed (engine/reagg.c) */
	bool		stage_skips;	/* ... only when a row of the aggregation
								 * changed (it reads no table, calls only
								 * immutable functions) */
	DeltaShape *stage_delta;	/* ... or by deltas, if its shape allows
								 * and its rows_table is an outer state
								 * (engine/reagg_delta.c), or NULL */
	List	   *stage_sides;	/* CqStageSide *: streams read beside it */
	int64		stage_tumble_origin;	/* with sides: the aggregation's
										 * stream.tumble origin (its size is
										 * window_size) */
	Oid			output_stream;	/* where its new rows go for the views
								 * reading it (engine/chain.c), or InvalidOid */
} CqDef;


#endif							/* PGS_CQ_H */
