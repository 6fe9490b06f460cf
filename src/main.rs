//! The `disims` command line: run the gateway, print the identity, run a DHT node, or
//! start the demo. Nothing else lives here.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use disims::cli;
use disims::config::Config;
use disims::daemon::{Gateway, Options};
use disims::demo::{ALICE_IRC, BOB_IRC, Demo, DemoCommand, parse_command};
use disims::identity::{self, PeerId};

/// DiSIMS: serverless, end-to-end encrypted messaging, with your IRC client as the interface.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: IRC for your client on one side, peers over the DHT on the other.
    Run {
        /// Config file, which must exist [default: $XDG_CONFIG_HOME/disims/gateway.toml,
        /// where a missing file means all defaults]
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print your nick (first line of stdout) and, on stderr, the data dir it was read from.
    /// Creates nothing unless given --create.
    Id {
        /// Config file (for `data_dir`) [default: as `run`]; must exist when given
        #[arg(long)]
        config: Option<PathBuf>,
        /// Create an identity in the data dir when there is none
        #[arg(long)]
        create: bool,
    },
    /// Run a standalone mainline DHT node (server mode) for private networks and tests.
    DhtNode {
        /// UDP address to serve on, e.g. 0.0.0.0:6881 (IPv4)
        #[arg(long)]
        listen: SocketAddr,
        /// Other DHT nodes to join ("host:port"); none makes this the first node.
        #[arg(long)]
        bootstrap: Vec<String>,
    },
    /// Start a private DHT and two gateways (alice on 127.0.0.1:6667, bob on :6668) in one
    /// process, with no internet, and print what to type in two IRC clients. Reads `stop
    /// bob` / `start bob` (or alice) on stdin, to try offline delivery.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colours only for a terminal: the journal and log files would show escape codes.
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                format!(
                    "disims=info,{}",
                    disims::directory::mainline::LOG_DIRECTIVES
                )
                .into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Run { config } => {
            // First, before the key or any message is in memory.
            core_dumps_off()?;
            let (config, source) = Config::load_chosen(config.as_deref())?;
            tracing::info!("{source}");
            raise_file_limit();
            let data_dir = config.data_dir.clone();
            let gateway = Gateway::start(config, Options::default()).await?;
            if gateway.created_identity {
                eprintln!("Created a new identity in {}", data_dir.display());
            }
            println!("{}", gateway.peer_id);
            eprintln!(
                "DiSIMS gateway running (data dir {}). Your nick: {}\nConnect your IRC client to {} and /msg a friend's nick.",
                data_dir.display(),
                gateway.peer_id,
                cli::connect_hint(gateway.irc_addr)
            );
            wait_for_signal().await?;
            gateway.shutdown().await;
        }
        Command::Id { config, create } => {
            let (config, source) = Config::load_chosen(config.as_deref())?;
            let dir = &config.data_dir;
            let (key, created) = match identity::load(dir)? {
                Some(key) => (key, false),
                None if create => identity::load_or_create(dir)?,
                None => bail!("{}", cli::no_identity(dir, &source.to_string())),
            };
            println!("{}", PeerId::of(&key));
            let what = if created {
                "created now in"
            } else {
                "read from"
            };
            eprintln!(
                "The nick of the identity {what} data dir {} ({source}).",
                dir.display()
            );
            if let Some(note) = cli::other_identity_note(dir, Path::new(cli::UNIT_DATA_DIR)) {
                eprintln!("{note}");
            }
        }
        Command::DhtNode { listen, bootstrap } => {
            let SocketAddr::V4(listen) = listen else {
                bail!("--listen: the mainline DHT is IPv4 only");
            };
            let (_dht, addr) =
                disims::directory::mainline::standalone_node(listen, &bootstrap).await?;
            println!("{addr}");
            eprintln!(
                "DHT node serving on {addr}. Gateways use it with [dht] bootstrap = [\"{addr}\"]."
            );
            wait_for_signal().await?;
        }
        Command::Demo => {
            core_dumps_off()?;
            let dir = tempfile_dir()?;
            let mut demo = Demo::start(dir.path(), ALICE_IRC.parse()?, BOB_IRC.parse()?).await?;
            println!("{}", demo.instructions());
            demo_console(&mut demo).await?;
            demo.shutdown().await;
        }
    }
    Ok(())
}

/// Reads the demo's commands (`stop bob`, `start bob`...) from stdin until `quit`, Ctrl-C
/// or SIGTERM. Without a stdin (EOF) the demo runs until a signal.
async fn demo_console(demo: &mut Demo) -> Result<()> {
    // A thread, not tokio's stdin: a blocked read there would hold up the runtime's exit.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            stopped = &mut signal => return stopped,
            Some(line) = lines.recv() => match parse_command(&line) {
                Ok(None) => {}
                Ok(Some(DemoCommand::Quit)) => {
                    eprintln!("Stopping...");
                    return Ok(());
                }
                Ok(Some(command)) => match demo.execute(command).await {
                    Ok(text) => println!("{text}"),
                    Err(e) => println!("error: {}", cli::error_chain(&e)),
                },
                Err(why) => println!("{why}"),
            },
        }
    }
}

fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("disims-demo-")
        .tempdir()
        .context("cannot create a temporary directory")
}

/// Core dumps off ([`disims::hardening`]); a switch that could not be set is a warning,
/// both failing is fatal.
fn core_dumps_off() -> Result<()> {
    let off = disims::hardening::disable_core_dumps()?;
    if let Err(why) = off.limit {
        tracing::warn!(%why, "cannot set the core-file size limit to 0 (the process is non-dumpable)");
    }
    if let Err(why) = off.not_dumpable {
        tracing::warn!(%why, "cannot make the process non-dumpable (its core-file size limit is 0)");
    }
    Ok(())
}

/// Every peer session holds a socket: raise the soft limit on open files to the hard limit
/// (often 1024 -> 524288 on Linux), so that the gateway is not stopped at a thousand peers
/// by a default meant for select(). Failing to raise it is not fatal: say so and go on.
fn raise_file_limit() {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) if soft < hard => match rlimit::Resource::NOFILE.set(hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-file limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    eprintln!("Stopping...");
    Ok(())
}
