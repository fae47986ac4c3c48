# One image for the four services; compose picks the command.
FROM python:3.12-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN pip install .
RUN useradd --system --uid 10001 jamjet
USER jamjet
CMD ["jamjet-scheduler"]
