# nbjobs as a container image: the CLI is the entrypoint (`docker run nbjobs plan ...`, and the Kubernetes
# examples' `args: ["loop", ...]`). Build it in your own CI: docker build -t nbjobs:0.1.0 .
# tests/test_first_hour_cli.py runs this file's install command (the RUN pip install line) in a fresh venv.

# 1. Build the wheel from the source tree.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build
COPY . .
RUN python -m build --wheel --outdir /dist

# 2. Install the wheel, with both database drivers, into a clean image.
FROM python:3.11-slim
# GitPython runs git: `nbjobs diff` and the loop's manifests repository need it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist/ /dist/
RUN pip install --no-cache-dir "$(ls /dist/nbjobs-*.whl)[postgres,mysql]" && rm -rf /dist
# The user the Kubernetes examples run as (runAsUser: 10001); HOME is /work, for git and ~/.cache.
RUN groupadd --gid 10001 nbjobs \
    && useradd --uid 10001 --gid 10001 --home-dir /work --create-home --shell /usr/sbin/nologin nbjobs
USER 10001:10001
WORKDIR /work
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["nbjobs"]
CMD ["--help"]
