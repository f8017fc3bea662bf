#!/usr/bin/env bash
# The self-hosted runners' job-started hook (docs/delivery.md, "Runners"): the runner runs it with
# `bash -e` before each job's first step, and fails the job on a non-zero exit. GitHub picks the
# hook's shell by its extension (.sh, .ps1, .js), so this runs job_started.py, copied beside it on
# the runner host:
#   ACTIONS_RUNNER_HOOK_JOB_STARTED=/opt/talos-platform/job-started.sh
#   TALOS_PLATFORM_RUNNER_ROLE=deploy   # or preview
#   TALOS_PLATFORM_REPOSITORY=<owner>/<repo>
exec python3 "$(dirname "${BASH_SOURCE[0]}")/job_started.py"
