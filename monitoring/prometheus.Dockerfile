# Prometheus from Debian's package, for docker compose --profile monitoring:
# built from the same base image as fling, so it needs no registry.
#   docker build -f monitoring/prometheus.Dockerfile -t fling-prometheus .
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/*
COPY monitoring/prometheus.yml /etc/prometheus/prometheus.yml
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/var/lib/prometheus/metrics2", "--web.listen-address=:9090"]
