# syntax=docker/dockerfile:1
#
# One image for both services (and the RD Station sandbox); the command picks which:
#   docker run IMAGE                                          # ingest (the default command)
#   docker run IMAGE python -m services.crm_writer            # crm_writer
#   docker run IMAGE python -m sandbox.rdstation --host 0.0.0.0 --port 8090
# Python is PID 1 and gets SIGTERM directly (exec-form CMD, no shell): both services drain on it.
#
# The base is pinned by digest: the tag says which Python, the digest fixes the exact image (tags
# are rebuilt for Debian updates), so two builds of one commit start from the same bytes. With
# both, Docker pulls by digest. Refresh it (for Debian security fixes, or a new 3.11 patch
# release: change the tag too) with
#   docker buildx imagetools inspect python:3.11.14-slim-trixie   # the "Digest:" line (the index)
# or let Renovate/Dependabot keep it. The digest below is python:3.11-slim = 3.11.14-slim-trixie
# as public build logs recorded it pulled in December 2025; it was not read from Docker Hub here.
# Another base (a mirror, a hardened image): --build-arg PYTHON_IMAGE=<image>@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie@sha256:193fdd0bbcb3d2ae612bd6cc3548d2f7c78d65b549fcaa8af75624c47474444d

# --- build: a virtualenv with signdeal and its pinned dependencies (wheels only, no compiler) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The base image's pip installs into a virtualenv that has none: no pip, no setuptools at run time.
RUN python -m venv --without-pip /opt/venv
# Dependencies first, from the pinned constraints, so a code change reuses this layer.
COPY pyproject.toml constraints.txt README.md ./
# Wheels only: the final image needs no compiler, and neither does this stage.
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > /tmp/requirements.txt \
 && pip install --no-cache-dir --python /opt/venv/bin/python --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt
# Then signdeal itself: a regular (non-editable) install, dependencies already satisfied.
COPY shared ./shared
COPY services ./services
COPY sandbox ./sandbox
COPY signdeal_cli ./signdeal_cli
RUN pip install --no-cache-dir --python /opt/venv/bin/python --no-deps -c constraints.txt . \
 && pip --python /opt/venv/bin/python check

# --- runtime: the interpreter, the virtualenv, an unprivileged user; no pip cache, no sources ---
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="signdeal" \
      org.opencontainers.image.description="Clicksign signed documents to RD Station CRM deals (ingest, crm_writer)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1
# A numeric UID/GID so Kubernetes' runAsNonRoot can verify it; /app/data holds the SQLite store
# when STORE_URL keeps its default (sqlite:///data/signdeal.db, relative to /app).
RUN groupadd --system --gid 10001 signdeal \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin signdeal \
 && mkdir -p /app/data \
 && chown 10001:10001 /app/data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.ingest"]
