//! Command-line interface: `ringwrite <command>`. Flags follow Prometheus's spelling and
//! take both `--flag=value` and `--flag value`.

mod bench;
mod demo;
mod format;
mod healthcheck;
mod inspect;
mod run;
mod signal;
mod sink;

pub use bench::BenchArgs;
pub use format::{format_float, parse_float, write_labels};

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ringwrite",
    version = crate::build_info::VERSION,
    long_version = crate::build_info::LONG_VERSION,
    about = "A fast, durable Prometheus remote-write sender that tails the Prometheus WAL."
)]
pub struct Cli {
    /// Only log messages with the given severity or above: error, warn, info, debug, trace
    /// (or a tracing filter such as `info,ringwrite::http=debug`).
    #[arg(
        long = "log.level",
        global = true,
        default_value = "info",
        help_heading = "Logging"
    )]
    pub log_level: String,
    /// Output format of log messages (on standard error).
    #[arg(long = "log.format", global = true, value_enum, default_value_t = crate::logging::LogFormat::Logfmt, help_heading = "Logging")]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ship a Prometheus WAL to the configured remote-write endpoints.
    Run(RunArgs),
    /// Check a configuration file.
    Check(CheckArgs),
    /// Ship a bundled Prometheus WAL through the whole pipeline to an in-process receiver.
    Demo(DemoArgs),
    /// Generate a WAL, ship it with the real pipeline to an in-process receiver that
    /// verifies every sample, and report throughput, CPU, memory and lag.
    Bench(BenchArgs),
    /// Probe a running ringwrite's health endpoint (for container HEALTHCHECKs, where no
    /// curl is installed): exit 0 on a 2xx answer, 1 otherwise.
    Healthcheck(HealthcheckArgs),
    /// Work with a Prometheus WAL directory.
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
    /// A null remote-write receiver that acks everything (for bench/peers).
    #[command(hide = true)]
    Sink(sink::SinkArgs),
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

/// `ringwrite run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Configuration file: a prometheus.yml (its `global.external_labels` and
    /// `remote_write` are used) or a ringwrite file.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: PathBuf,
    /// The Prometheus WAL directory (`<data>/wal`, or the data directory); read only.
    /// Default: `ringwrite.wal_dir` from the config file.
    #[arg(long = "wal.dir", value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// Where ringwrite keeps its own state (saved progress per endpoint); must be writable.
    /// Default: `ringwrite.storage_path` from the config file, else `ringwrite-data`.
    #[arg(long = "storage.path", value_name = "DIR")]
    pub storage_path: Option<PathBuf>,
    /// Address for /metrics, /-/healthy, /-/ready, /-/reload and /status (`host:port`,
    /// `:port`). Default: `ringwrite.web_listen_address`, else `0.0.0.0:9096`.
    #[arg(long = "web.listen-address", value_name = "ADDR")]
    pub web_listen_address: Option<String>,
    /// Serve `POST /-/reload` and `POST /-/quit` (403 without it, as in Prometheus;
    /// SIGHUP reloads either way).
    #[arg(long = "web.enable-lifecycle")]
    pub web_enable_lifecycle: bool,
    /// Cores to pin event loops to: `auto` or a list like `0,1` or `2-5`. Default:
    /// `ringwrite.cores`, else `auto` (every core this process may run on).
    #[arg(long = "cores", value_name = "LIST")]
    pub cores: Option<String>,
    /// Ship everything on disk, not only samples written after the start.
    #[arg(long = "from-start")]
    pub from_start: bool,
    /// How long a shutdown (or a reload that restarts an endpoint) may spend sending what
    /// is queued.
    #[arg(long = "flush-deadline", value_name = "DURATION", default_value = "1m", value_parser = parse_duration_arg)]
    pub flush_deadline: std::time::Duration,
    /// Fix the shard count per endpoint (turns resharding off).
    #[arg(long = "shards", value_name = "N")]
    pub shards: Option<usize>,
}

/// `ringwrite demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The WAL to ship (default: the bundled Prometheus 2.42 fixture).
    #[arg(
        long = "wal.dir",
        value_name = "DIR",
        default_value = "tests/fixtures/prom242-basic"
    )]
    pub wal_dir: PathBuf,
    /// Send Remote-Write 2.0 instead of 1.0.
    #[arg(long)]
    pub rw2: bool,
    /// Cores to pin event loops to: `auto` or a list like `0,1` or `2-5`.
    #[arg(long = "cores", value_name = "LIST")]
    pub cores: Option<String>,
}

/// `ringwrite check`.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The configuration file to check (as `run --config.file`).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: PathBuf,
}

/// `ringwrite healthcheck`.
#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The URL to probe: plain `http://`, a host and port, and a path.
    #[arg(
        long = "url",
        value_name = "URL",
        default_value = "http://127.0.0.1:9096/-/healthy"
    )]
    pub url: String,
    /// Give up (exit 1) after this long.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "5s", value_parser = parse_duration_arg)]
    pub timeout: std::time::Duration,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s).map_err(|e| e.to_string())
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
        Command::Run(args) => run::run(&args),
        Command::Check(args) => run::check(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sink(args) => sink::run(&args),
        Command::Healthcheck(args) => healthcheck::run(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag and argument of every subcommand has help text (`--help` documents all).
    #[test]
    fn every_flag_is_documented() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() && path != "ringwrite help" {
                missing.push(format!("{path}: no about"));
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin
                    && arg
                        .get_help()
                        .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "ringwrite", &mut missing);
        assert!(missing.is_empty(), "undocumented: {missing:?}");
        // And the walk does look at flags: run has --config.file.
        let run = cmd
            .find_subcommand("run")
            .map(|c| c.get_arguments().count());
        assert!(run.is_some_and(|n| n >= 8), "{run:?}");
    }
}
