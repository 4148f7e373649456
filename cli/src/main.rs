//! `tollgate`, the operator's command: the tokens of a tollgate store, managed from the shell
//! straight on the store (`--store`), through the same rules as the admin API.
//!
//! Exit codes, which scripts rely on: 0 done; 1 refused (by the store, an unknown id, an
//! invalid token, a bad checksum); 2 usage (clap's own errors are 2 as well); 3 the store is
//! unreachable. See [`error::Failure`].

mod args;
mod copy;
mod error;
mod import;
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
        // One thread: a command makes a few store calls in a row.
        Command::Tokens(command) => runtime(false)?.block_on(tokens::run(command, &cli.global)),
        // Two threads: many store calls run at once.
        Command::Import(args) => runtime(true)?.block_on(async {
            let opened = store::open(&cli.global).await?;
            store::note_without_pepper(&cli.global);
            // A dry run writes nothing, its fingerprint included.
            store::check_pepper(&opened, !args.dry_run).await?;
            import::run(args, &opened, cli.global.json).await
        }),
        Command::Copy(args) => runtime(true)?.block_on(copy::run(args, &cli.global)),
        Command::Inspect { token } => inspect::run(&token, cli.global.json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tollgate", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// A runtime of one thread, or of two for the commands that make many store calls at once.
fn runtime(busy: bool) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = if busy {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|err| Failure::refused(format!("cannot start: {err}")))
}
