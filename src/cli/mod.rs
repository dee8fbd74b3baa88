//! Command-line interface: `ringwrite <command>`. Flags follow Prometheus's spelling and
//! take both `--flag=value` and `--flag value`.

mod format;
mod inspect;

pub use format::{format_float, parse_float, write_labels};

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ringwrite",
    version,
    about = "A fast, durable Prometheus remote-write sender that tails the Prometheus WAL."
)]
pub struct Cli {
    /// Log level filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long = "log.level", global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Work with a Prometheus WAL directory.
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum WalCommand {
    /// Summarise (or dump) the records of a WAL directory.
    Inspect(InspectArgs),
}

/// `ringwrite wal inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// The WAL directory (`<data>/wal`), or the Prometheus data directory holding it.
    pub wal_dir: PathBuf,
    /// Print one line per sample, histogram, exemplar and metadata entry (see README,
    /// "Dump format"); the summary then goes to standard error.
    #[arg(long)]
    pub dump: bool,
    /// Keep reading as Prometheus writes, until interrupted (Ctrl-C / SIGTERM).
    #[arg(long)]
    pub follow: bool,
    /// Start at this record position, `SEGMENT:OFFSET` (series before it are still read).
    #[arg(long, value_name = "SEGMENT:OFFSET")]
    pub from: Option<ringwrite_position::Position>,
}

/// Re-export under a module name so clap's derive can name the type.
pub mod ringwrite_position {
    pub use crate::wal::Position;
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Wal {
            command: WalCommand::Inspect(args),
        } => inspect::run(&args),
    }
}
