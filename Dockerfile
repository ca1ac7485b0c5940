# The image of the codebuild-retry-gate Action.
#
# Three build stages and a final one:
#   chef     the Rust toolchain with cargo-chef
#   planner  reduces the workspace to a recipe of its dependencies (Cargo.toml/Cargo.lock)
#   builder  compiles the dependencies from the recipe first (a layer that is reused until
#            Cargo.toml or Cargo.lock change), then the gate itself, and runs `--version`
#   final    gcr.io/distroless/cc-debian12: glibc, libgcc_s, CA certificates and nothing
#            else: no shell, no package manager. The binary links only libc, libm and
#            libgcc_s (`ldd`), and its TLS is rustls, which reads the system CA bundle
#            (/etc/ssl/certs) for both the AWS SDK and octocrab. The builder is Debian 12
#            (bookworm) too, so the glibc it links against is the one the image runs.
#
# Multi-architecture: the base images are published for linux/amd64 and linux/arm64 (among
# others) and nothing here is x86-specific: cargo-chef is built from source, and aws-lc-sys
# and ring build their C and assembly for the target with the image's C compiler. Docker
# builds for the machine it runs on; CI builds on x64 and arm64 runners, and releases
# publish both architectures under one digest.
#
# GitHub runs container actions as root with `--workdir /github/workspace`: the final stage
# has no USER and no WORKDIR on purpose (distroless `latest` runs as root; `nonroot` would
# break writing $GITHUB_OUTPUT and reading the workspace).

FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin codebuild-retry-gate --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin codebuild-retry-gate \
    && ./target/release/codebuild-retry-gate --version

# distroless publishes no version tags, only `latest` (rebuilt for every Debian security
# update). Pin it by digest with Renovate or Dependabot if you want byte-for-byte rebuilds;
# releases record the digest of the image they publish.
# hadolint ignore=DL3007
FROM gcr.io/distroless/cc-debian12:latest
COPY --from=builder /build/target/release/codebuild-retry-gate /usr/local/bin/codebuild-retry-gate
# Smoke run in the final image: proves the binary starts with this image's libraries.
RUN ["/usr/local/bin/codebuild-retry-gate", "--version"]
ENTRYPOINT ["/usr/local/bin/codebuild-retry-gate"]
