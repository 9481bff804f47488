/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  The ProcessUtility hook: continuous views as materialized views.
 *
 * The top layer: it calls every other unit, none calls it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_DDL_H
#define PGS_DDL_H

#include "base/base.h"

/* in ddl.c */
extern void pgs_ddl_init(void);
extern void pgs_check_cq_owner(Oid viewid);

#endif							/* PGS_DDL_H */
