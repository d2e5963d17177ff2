# detector: a sidecar (or standalone) container image.
#
#   docker build -t detector .
#   docker run --rm -v /var/log/myapp:/logs:ro -v detector-state:/var/lib/detector \
#     -p 127.0.0.1:9464:9464 detector
#
# The default config (deploy/container/detector.toml) follows /logs/**/*.log; mount your
# own at /etc/detector/detector.toml. Secrets come from the environment (${VAR} in it).

# -- build: the wheel of detector and of everything it needs -------------------------------
FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md CHANGELOG.md ./
COPY detector/ detector/
COPY patterns/ patterns/
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime: no compiler, no pip cache, not root -------------------------------------------
FROM python:3.11.7-slim-bookworm
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/wheels /wheels/detector-*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 detector \
    && useradd --system --uid 10001 --gid detector --no-create-home \
       --home-dir /var/lib/detector --shell /usr/sbin/nologin detector \
    && install -d -o detector -g detector -m 0700 /var/lib/detector
COPY deploy/container/detector.toml /etc/detector/detector.toml
ENV STATE_DIRECTORY=/var/lib/detector \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/var/lib/detector"]
USER 10001:10001
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["detector", "health", "-c", "/etc/detector/detector.toml"]
ENTRYPOINT ["detector"]
CMD ["run", "-c", "/etc/detector/detector.toml"]
