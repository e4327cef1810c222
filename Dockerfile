# The ordo image: one static (musl) binary on an empty base, with CA certificates, run as the
# numeric non-root user 65532.
#
#   docker build -t <your-registry>/ordo:0.1.0 --build-arg ORDO_GIT_COMMIT="$(git rev-parse HEAD)" .
#
# Needs BuildKit (the default builder of current Docker and Podman/Buildah) for the cache mounts
# that keep the cargo registry and target directory between builds.
#
# Base images are named without a registry host: the builder's default resolves them. Point
# RUST_IMAGE at your mirror's copy if you use one (it must be an Alpine-based Rust image, whose
# host target is x86_64-unknown-linux-musl).
ARG RUST_IMAGE=rust:1.95-alpine

FROM ${RUST_IMAGE} AS build
# gcc and musl-dev compile the bundled C code (ring, libgit2, libssh2, zlib); git2's HTTPS
# links OpenSSL, found through pkgconf and taken statically from openssl-libs-static.
RUN apk add --no-cache gcc musl-dev pkgconf openssl-dev openssl-libs-static ca-certificates

WORKDIR /src
# Only what the build reads (see .dockerignore); benches/ because Cargo.toml declares one.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src

# Baked into `ordo version`.
ARG ORDO_GIT_COMMIT=unknown
# Everything static: the C libraries are built from their bundled sources or linked from
# their .a files, and RUSTFLAGS (which --target keeps away from build scripts) asks for a
# statically linked C runtime.
ENV OPENSSL_STATIC=1 \
    LIBZ_SYS_STATIC=1 \
    RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    ORDO_GIT_COMMIT="${ORDO_GIT_COMMIT}" \
      cargo build --release --locked --target x86_64-unknown-linux-musl --bin ordo \
    && install -D -m 0755 target/x86_64-unknown-linux-musl/release/ordo /out/ordo \
    && /out/ordo version

# The final image has no shell and no package manager: a user entry (so git and ssh can look
# up the home directory of uid 65532), a writable /tmp, the CA bundle and the binary.
RUN mkdir -p /out/etc/ssl/certs /out/tmp \
    && chmod 1777 /out/tmp \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
    && printf 'nonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >/out/etc/passwd \
    && printf 'nonroot:x:65532:\n' >/out/etc/group

FROM scratch
ARG ORDO_VERSION=0.1.0
LABEL org.opencontainers.image.title="ordo" \
      org.opencontainers.image.description="GitOps sync agent for Kubernetes that applies manifests in inferred dependency order" \
      org.opencontainers.image.version="${ORDO_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /
ENV HOME=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ordo"]
CMD ["run", "--config", "/etc/ordo/ordo.yaml"]
