# The `scim` server as a small container image: built in one stage, run in another as an
# unprivileged user, with the data directory as a volume.
#
#   docker build -t scim .
#   docker run -p 8080:8080 -v scim-data:/var/lib/scim \
#     -e SCIM_PUBLIC_URL=https://scim.example.com scim
#
# Administration runs the same binary in the running container, on the same data:
#   docker exec -it <container> scim tenant list

# --- build -----------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates ./crates
RUN cargo build --release --locked -p scim-cli \
    && cp target/release/scim /usr/local/bin/scim \
    && strip /usr/local/bin/scim

# --- run -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# CA certificates: JWT mode fetches signing keys (JWKS) over HTTPS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 scim \
    && useradd --system --uid 10001 --gid scim --home-dir /var/lib/scim --shell /usr/sbin/nologin scim \
    && mkdir -p /var/lib/scim \
    && chown scim:scim /var/lib/scim \
    && chmod 0700 /var/lib/scim
COPY --from=build /usr/local/bin/scim /usr/local/bin/scim
USER 10001:10001
WORKDIR /var/lib/scim
# Every instance listens on all interfaces inside the container; set SCIM_PUBLIC_URL to the
# URL identity providers reach (else base URLs name 127.0.0.1, with a warning in the log).
ENV SCIM_LISTEN=0.0.0.0:8080 \
    SCIM_DATA_DIR=/var/lib/scim \
    SCIM_LOG_FORMAT=json
VOLUME ["/var/lib/scim"]
EXPOSE 8080
# /health answers "ok" while the server runs (bash's /dev/tcp: no HTTP client needed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^HTTP/1.[01] 200' <&3"]
ENTRYPOINT ["/usr/local/bin/scim"]
CMD ["serve"]
