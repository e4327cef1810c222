use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ordo::cli::run(ordo::cli::Cli::parse())
}
