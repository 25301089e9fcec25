/*
 * job_status.h - `kwq job status NAME`: a worker Job's counts, conditions
 * and pods, as text or one JSON object.
 */
#ifndef KWQ_JOB_STATUS_H
#define KWQ_JOB_STATUS_H

/* The subcommand; argv[0] is "status". Returns an exit code. */
int job_status_run(int argc, char **argv);

#endif /* KWQ_JOB_STATUS_H */
