/*
 * orphans.h - processes that handlers leave behind. A worker killed with
 * SIGKILL takes its handler with it (PR_SET_PDEATHSIG), but not what the
 * handler started (`sh -c 'convert ...'`): those would run on after
 * `kwq run --local`. kwq adopts them instead (PR_SET_CHILD_SUBREAPER) and
 * kills them when the run ends.
 */
#ifndef KWQ_ORPHANS_H
#define KWQ_ORPHANS_H

#include <stddef.h>
#include <sys/types.h>

/* From now on, orphaned descendants of this process become its children. */
void orphans_adopt(void);

/*
 * SIGKILL and reap every child of this process but keep (0: none), and
 * those the killed ones leave in turn. Call it once the workers are reaped.
 * Returns how many were still running.
 */
size_t orphans_kill(pid_t keep);

#endif /* KWQ_ORPHANS_H */
