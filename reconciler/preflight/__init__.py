"""Queue preflight: is anything actually there to run the jobs nbjobs routes?

A source, like the database and the code: it reads a Celery broker (which workers consume each queue)
and a Kubernetes API server (namespace, RBAC, a server-side dry run of the Job Nautobot would submit).
Its results are plain values (types.py) that the renderers and the loop consume.
"""
