use std::process::ExitCode;

use clap::Parser;

// Returns freed memory to the system after a sync's peak (glibc keeps it), and is fast with
// many threads where musl's allocator is not (the static image).
// `--features system-allocator` keeps glibc's, for heap profilers that hook malloc.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ordo::cli::run(ordo::cli::Cli::parse())
}
