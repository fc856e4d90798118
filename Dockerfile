# The REST API in a container. Build after `dvc repro` (or `dvc pull`), so that
# models/model.joblib and its card models/model.json exist:
#   docker build -t music-genre .
#   docker run --rm -p 127.0.0.1:8080:8080 music-genre
# or mount another model: docker run -v $PWD/models:/app/models:ro -p 127.0.0.1:8080:8080 music-genre
# It follows SageMaker's container contract: started as `<image> serve`, it answers GET /ping and
# POST /invocations on port 8080 (set PORT to change it; --workers N, default one per CPU).
# BASE: any Debian-like image with python3 (3.11) and its venv module; the public slim image by
# default. docs/mlflow.md builds one offline with debootstrap and the image with podman
# (`--format docker` keeps the HEALTHCHECK); tests/integration/test_container.py does so in CI.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app

# LightGBM (the default model) links the system's OpenMP runtime, which a slim image lacks.
RUN if ! ldconfig -p | grep -q 'libgomp\.so\.1'; then \
      apt-get update && apt-get install -y --no-install-recommends libgomp1 \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# Dependencies first, from the serving lock only (requirements/serve.txt: what `serve` needs),
# so a change of the code reinstalls nothing.
# pip reaches the package index as the build host does, through two optional build secrets:
# `--secret id=pip.conf,src=FILE` (the host's index URL, proxy, timeout; `cert =
# /run/secrets/pip-ca`) and `--secret id=pip-ca,src=CA_BUNDLE`. A secret is mounted for its step
# only and stored in no layer, so credentials in an index URL stay out of the image; without
# them pip uses its defaults.
COPY requirements/serve.txt ./requirements/serve.txt
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    python3 -m venv /opt/venv && pip install -r requirements/serve.txt

# Then the package itself, without dependencies (the lock has them all).
COPY pyproject.toml README.md ./
COPY src ./src
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    pip install --no-deps . && rm -rf src build

RUN useradd --create-home --uid 10001 app
COPY --chown=app models/model.joblib models/model.json ./models/
# The references of /drift: the training data's profile and the test split's predicted classes.
COPY --chown=app data/reference_profile.json ./data/
COPY --chown=app plots/evaluate/custom/ ./plots/evaluate/custom/
USER app

# 0.0.0.0 inside the container only: docker's -p decides what the host exposes.
ENV PORT=8080 MUSIC_GENRE_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request, sys; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/ping').status != 200)"
ENTRYPOINT ["music-genre"]
CMD ["serve", "--model", "models/model.joblib"]
