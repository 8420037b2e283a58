# fling: broker, worker host, CLI and the example handler module.
#   docker build -t fling .
# Build stage: compiles from source (Release), runs the unit tests.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      libzmq3-dev libczmq-dev libjansson-dev libcmocka-dev libmicrohttpd-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DFLING_WERROR=ON -DCMAKE_INSTALL_PREFIX=/opt/fling \
 && cmake --build /build -j "$(nproc)" \
 && (cd /build && ctest -L unit --output-on-failure --timeout 300) \
 && cmake --install /build

# Runtime stage: the daemons, `fling`, the example handler module and the runtime libraries only.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libzmq5 libczmq4 libjansson4 libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/fling --shell /usr/sbin/nologin fling \
 && mkdir -p /var/lib/fling /var/lib/fling-ledger \
      /var/lib/fling-keys/broker /var/lib/fling-keys/producer /var/lib/fling-keys/worker \
      /var/lib/fling-keys/admin \
 && chown fling:fling /var/lib/fling /var/lib/fling-ledger \
 && chown -R fling:fling /var/lib/fling-keys \
 && chmod 700 /var/lib/fling-keys/broker /var/lib/fling-keys/producer /var/lib/fling-keys/worker \
      /var/lib/fling-keys/admin
COPY --from=build /opt/fling /opt/fling
RUN rm -rf /opt/fling/include /opt/fling/lib/cmake /opt/fling/lib/pkgconfig /opt/fling/lib/*.a
ENV PATH=/opt/fling/bin:$PATH \
    FLING_STORE_DIR=/var/lib/fling
USER fling
WORKDIR /var/lib/fling
VOLUME /var/lib/fling
EXPOSE 5555 5556 5557
STOPSIGNAL SIGTERM
CMD ["fling-broker"]

# Test image (docker build --target testing): the runtime plus the ledger
# handlers that tests/compose uses to count lost and duplicated tasks.
FROM runtime AS testing
COPY --from=build /build/lib/fling_test_handlers.so /opt/fling/lib/fling/

# The default image is the runtime.
FROM runtime
