# The fleetstrap container image: a release build on the official Swift image, run on Debian slim with only the
# shared libraries it links (libcurl, OpenSSL, libgit2, SQLite) as a non-root user.
#   docker build -t registry.example.com/platform/fleetstrap:0.1.0 .
# (Not built in this repository's CI: its machines have no container runtime. The build steps are the ones
# scripts/install-deps.sh and `make release` run.)
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4-openssl-dev libssl-dev libgit2-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# SwiftPM reads every target of the manifest, tests included, even to build one product.
COPY Tests ./Tests
COPY inventories ./inventories
RUN swift build -c release --product fleetstrap --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/fleetstrap" /out/fleetstrap

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libgit2-1.5 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --home-dir /var/lib/fleetstrap --create-home fleetstrap
COPY --from=build /out/fleetstrap /usr/local/bin/fleetstrap
COPY --from=build /src/inventories/flux-v2.4.0 /usr/share/fleetstrap/flux-v2.4.0
USER 65532:65532
WORKDIR /var/lib/fleetstrap
ENTRYPOINT ["/usr/local/bin/fleetstrap"]
CMD ["--help"]
