//! `tollgate`, the operator's command: the tokens of a tollgate store, managed from the shell
//! straight on the store (`--store`), through the same rules as the admin API.
//!
//! Exit codes, which scripts rely on: 0 done; 1 refused (by the store, an unknown id, an
//! invalid token, a bad checksum); 2 usage (clap's own errors are 2 as well); 3 the store is
//! unreachable. See [`error::Failure`].

mod args;
mod copy;
mod error;
mod inspect;
mod output;
mod progress;
mod store;
mod tokens;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::args::{Cli, Command};
use crate::error::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Tokens(command) => {
            // One thread: a command makes a few store calls in a row.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| Failure::refused(format!("cannot start: {err}")))?;
            runtime.block_on(tokens::run(command, &cli.global))
        }
        Command::Copy(args) => {
            // Two threads: the writes to the target run a few at once.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|err| Failure::refused(format!("cannot start: {err}")))?;
            runtime.block_on(copy::run(args, &cli.global))
        }
        Command::Inspect { token } => inspect::run(&token, cli.global.json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tollgate", &mut std::io::stdout());
            Ok(())
        }
    }
}
