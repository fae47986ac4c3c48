# One image for the four services; compose picks the command (deploy/compose.yml builds it once).
# Pinned packages: deploy/constraints.txt and deploy/build-constraints.txt (python deploy/lock.py).
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY deploy/constraints.txt deploy/build-constraints.txt /tmp/
RUN pip install -r /tmp/build-constraints.txt \
 && python -m venv /opt/jamjet \
 && /opt/jamjet/bin/pip install -r /tmp/constraints.txt
# Everything above depends on the pins only, so a code change rebuilds from here on.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
# The project's wheel (migrations and entry points included), on the pinned dependencies already there.
RUN pip wheel --no-build-isolation --no-deps --wheel-dir /wheels . \
 && /opt/jamjet/bin/pip install --no-deps /wheels/*.whl \
 && /opt/jamjet/bin/pip check

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 PATH=/opt/jamjet/bin:$PATH
COPY --from=build /opt/jamjet /opt/jamjet
RUN useradd --system --uid 10001 jamjet \
    && install -d -o jamjet /var/lib/jamjet-gateway
USER jamjet
CMD ["jamjet-scheduler"]
