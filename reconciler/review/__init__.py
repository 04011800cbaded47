"""Reviewing a change (`nbjobs diff`): manifests and job code at two git revisions, what the change does
to the desired state and the code, and what the head would do in a database.

`types` holds the values, `delta` the pure comparison (DeepDiff), `revisions` the reading of a revision
without checking it out, `compare` the whole, and `render` its text, JSON and Markdown.
"""
