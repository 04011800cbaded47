"""Outside `repo_a.jobs`: never imported by the walk, only through the jobs that import it."""

QUEUE = "git-queue"
