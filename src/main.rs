//! `nflc`: compile `.nf` network functions to eBPF and run their tests.

mod cmd;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "nflc", version, about = "Compile declarative network functions (.nf) to verifier-ready eBPF")]
struct Cli {
    /// Colour in diagnostics: auto (on a terminal), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The parsed syntax tree of the root file.
    Ast,
    /// The IR as built from the checked program.
    Ir,
    /// The IR after optimisation.
    IrOpt,
    /// The eBPF disassembly.
    Asm,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a program; report every error.
    Check {
        file: PathBuf,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Compile a program to an eBPF ELF object.
    Build {
        file: PathBuf,
        /// Output object (default: FILE with extension .o).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also print an intermediate form to standard output.
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// Print instruction count, stack use and compile time.
        #[arg(long)]
        stats: bool,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Say what was specialized from the config and how each table is
        /// implemented.
        #[arg(long)]
        explain: bool,
    },
    /// Disassemble a program (.nf, compiled first) or an object (.o).
    Disasm {
        file: PathBuf,
    },
    /// Run the packet tests in FILE's `.test` file through the kernel
    /// (BPF_PROG_TEST_RUN).
    Test {
        file: PathBuf,
        /// The test file (default: FILE with extension .test).
        #[arg(long)]
        cases: Option<PathBuf>,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Attach a program to an interface and watch it until Ctrl-C (--iface),
    /// or drive a bounded burst of its test packets through it in a private
    /// network namespace and report what became of each.
    Run {
        file: PathBuf,
        /// Attach to this interface and stay in the foreground.
        #[arg(long)]
        iface: Option<String>,
        /// The hook (default: xdp for XDP programs, tc-ingress for TC ones).
        #[arg(long, value_parser = ["xdp", "xdp-generic", "tc-ingress", "tc-egress"])]
        hook: Option<String>,
        /// Send the frames of this capture instead of FILE's .test packets.
        #[arg(long, conflicts_with = "iface")]
        pcap: Option<PathBuf>,
        /// The run's name, for its pins and record (default: FILE's stem).
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = report::use_color(cli.color);
    let result = match cli.command {
        Command::Check { file, config } => cmd::check::run(&file, config.as_deref(), color),
        Command::Build { file, output, emit, stats, config, explain } => {
            let opts = cmd::build::Opts { output, emit, stats, config, explain };
            cmd::build::run(&file, &opts, color)
        }
        Command::Disasm { file } => cmd::disasm::run(&file, color),
        Command::Test { file, cases, config } => cmd::test::run(&file, cases.as_deref(), config.as_deref(), color),
        Command::Run { file, iface, hook, pcap, name } => {
            cmd::run::run(&cmd::run::Args { file, iface, hook, pcap, name }, color)
        }
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{}", report::error_line(&msg, color));
            ExitCode::FAILURE
        }
    }
}
