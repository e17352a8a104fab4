# wxbridge container image: wxbridge-ingress, wxbridge-router, wxbridge-replier
# (and wxbridge-sim, whose `api` subcommand is the fake WeChat API of the
# docker-compose demo) on Debian 12.
#
#   docker build -t wxbridge:dev .
#   docker run --rm wxbridge:dev                      # prints every program's --help
#   docker run --rm -e KAFKA_BROKERS=... -e WX_APPID=... -e WX_TOKEN=... -e WX_AES_KEY=... \
#       -v wxbridge-spool:/var/lib/wxbridge/spool -p 8080:8080 -p 9108:9108 \
#       wxbridge:dev wxbridge-ingress --config /etc/wxbridge/ingress.production.json
#
# Not built in this repository's CI (its machine has no Docker engine);
# scripts/check-deploy.sh checks what can be checked without one (see
# deploy/README.md, "What CI checks").

# ---- builder: compiles with CMake; nothing of it reaches the runtime image ----
FROM debian:12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        librdkafka-dev libmicrohttpd-dev libjansson-dev libxml2-dev libssl-dev \
        libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY common/ common/
COPY ingress/ ingress/
COPY consumer/ consumer/
COPY tools/ tools/
# BUILD_TESTING=OFF: the unit tests (and cmocka) are not needed to build the programs.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DWXB_WERROR=ON \
    && cmake --build /build -j"$(nproc)" \
        --target wxbridge-ingress wxbridge-router wxbridge-replier wxbridge-sim wxbridge-replay \
    && strip --strip-debug /build/bin/wxbridge-ingress /build/bin/wxbridge-router \
        /build/bin/wxbridge-replier /build/bin/wxbridge-sim /build/bin/wxbridge-replay

# ---- runtime: the Debian runtime libraries, the programs, configs and schemas ----
FROM debian:12-slim
# ca-certificates: the replier calls https://api.weixin.qq.com, and Kafka may use TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        librdkafka1 libmicrohttpd12 libjansson4 libxml2 libssl3 libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid so Kubernetes' runAsUser/fsGroup and volume owners can match it.
RUN groupadd --system --gid 10001 wxbridge \
    && useradd --system --uid 10001 --gid wxbridge --home-dir /var/lib/wxbridge \
        --no-create-home --shell /usr/sbin/nologin wxbridge \
    && install -d -o wxbridge -g wxbridge -m 0750 /var/lib/wxbridge /var/lib/wxbridge/spool
COPY --from=build /build/bin/wxbridge-ingress /build/bin/wxbridge-router \
    /build/bin/wxbridge-replier /build/bin/wxbridge-sim /build/bin/wxbridge-replay /usr/local/bin/
# Example configs (${NAME} placeholders, no secrets) and the record/rules schemas.
COPY deploy/*.json /etc/wxbridge/
COPY schema/ /usr/share/wxbridge/schema/
USER 10001:10001
WORKDIR /var/lib/wxbridge
# The ingress spool: give every ingress instance a persistent volume of its own here.
VOLUME ["/var/lib/wxbridge/spool"]
# 8080 WeChat pushes (ingress); 9108/9109/9110 /healthz /readyz /metrics of
# ingress/router/replier (their metrics_listen in the example configs).
EXPOSE 8080 9108 9109 9110
STOPSIGNAL SIGTERM
CMD ["/bin/sh", "-c", "for p in wxbridge-ingress wxbridge-router wxbridge-replier wxbridge-sim wxbridge-replay; do \"$p\" --version; \"$p\" --help; echo; done"]
