/*
 * orphans.h - processes that handlers leave behind. A worker killed with
 * SIGKILL takes its handler with it (PR_SET_PDEATHSIG), but not what the
 * handler started (`sh -c 'convert ...'`): those would run on after
 * `kwq run --local`, as would a handler's `cmd &`. kwq adopts them instead
 * (PR_SET_CHILD_SUBREAPER), reaps those that end, and kills the rest when
 * the run ends.
 */
#ifndef KWQ_ORPHANS_H
#define KWQ_ORPHANS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * From now on, orphaned descendants of this process become its children.
 * The children it has now (the private redis-server, any inherited across
 * exec) are noted: orphans_reap() and orphans_kill() leave them alone.
 */
void orphans_adopt(void);

/*
 * Reap the adopted orphans that have ended, all but keep[0..nkeep) (the
 * workers, reaped by their owner): a handler's `cmd &` that outlives it
 * must not stay a zombie, holding a pid, until the run ends.
 */
void orphans_reap(const pid_t *keep, size_t nkeep);

/*
 * SIGKILL and reap every child of this process that orphans_adopt() did not
 * note, and those the killed ones leave in turn, waiting 5s at most. Call it
 * once the workers are reaped. Returns how many were still running (not
 * counting those already ended or being killed, e.g. by PR_SET_PDEATHSIG).
 */
size_t orphans_kill(void);

#endif /* KWQ_ORPHANS_H */
