# Runtime-only image: no torch, no training stack (those are the `train` extra).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent agent
COPY tools tools
COPY sandbox sandbox
COPY trajectories trajectories
COPY train train
COPY serve serve
RUN pip install --no-cache-dir . && mkdir /data && chown 65534 /data
USER 65534
ENTRYPOINT []
CMD ["opsagent", "--help"]
