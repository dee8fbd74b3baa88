use clap::Parser;
use ringwrite::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    if let Err(e) = ringwrite::logging::init(&cli.log_level, cli.log_format) {
        eprintln!("ringwrite: error: {e}");
        std::process::exit(2);
    }
    match cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ringwrite: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::exit(2);
        }
    }
}
