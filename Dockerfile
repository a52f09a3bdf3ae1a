# syntax=docker/dockerfile:1
# The function's runtime image (`make build`). Two stages:
#   build: Debian 12's Python 3.11 makes a virtualenv with the function and its run-time
#          dependencies only (no test tools);
#   image: distroless Python 3.11 on Debian 12 (same interpreter path, /usr/bin/python3),
#          no shell, no package manager, running as the unprivileged nonroot user.

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install --no-install-recommends --yes python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv/fn \
 && /venv/fn/bin/pip install --no-cache-dir --upgrade pip setuptools
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function/ function/
RUN /venv/fn/bin/pip install --no-cache-dir . \
 && /venv/fn/bin/function --help >/dev/null

FROM gcr.io/distroless/python3-debian12:nonroot AS image
COPY --from=build /venv/fn /venv/fn
# Crossplane calls RunFunction over gRPC on 9443 with mTLS; the certificates come from the
# TLS_SERVER_CERTS_DIR environment variable that Crossplane sets on the function's Deployment.
EXPOSE 9443
USER nonroot:nonroot
ENTRYPOINT ["/venv/fn/bin/function"]
