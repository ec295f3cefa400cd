"""Builds the project's Python distributions from the repository's folders (`python distributions/build.py`).

- `multicluster-service-account`: the pod-side library, import package `multicluster_service_account`, built by
  the repository's own pyproject.toml (so `pip install .` installs it), needing only the Kubernetes client.
- `kubemcsa`: the CLI, import package `kubemcsa`, staged from bootstrap/ and the modules of hooks/ it imports
  (as `kubemcsa._hooks`), with those absolute imports rewritten; neither ships a top-level `hooks` or `bootstrap`.

The release version is the repository's VERSION file.
"""
